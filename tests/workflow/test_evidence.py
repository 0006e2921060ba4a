"""The stored evidence log: `cachet evidence verify` finds an altered event, a chain cut short
(the last event, or the last four), a chain rewritten with every later hash recomputed, and an
evidence PDF whose sealed head the chain no longer has. Approval envelopes get their evidence
PDF too, and what the service does itself is attributed to the system."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from app.config import Settings
from app.db import transaction
from app.evidence.chain import (
    ChainedEvent,
    anchor_mac_message,
    chain_hash,
    event_mac_message,
)
from app.evidence.models import Event
from app.runtime import Runtime
from tests.signing.testpki import TestPki
from tests.support import ApiClient
from tests.support.cli import Completed, cachet_env, run_cachet
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.workflow.signing_support import check_valid
from tests.workflow.support import approval_envelope, open_invitation, send


async def _verify(envelope_id: str, postgres_url: str, settings: Settings) -> Completed:
    # The app's own data directory: the CLI derives the chain's key from the same secret key.
    env = cachet_env(database_url=postgres_url, data_dir=str(settings.data_dir))
    return await run_cachet("evidence", "verify", envelope_id, env=env, cwd=settings.data_dir)


async def _completed_approval(
    api: ApiClient, base_url: str, mail: MailSink, *, approvers: int = 2
) -> str:
    tag = uuid.uuid4().hex[:8]
    envelope, recipients = await approval_envelope(api, approvers=approvers, tag=tag)
    await send(api, envelope["id"])
    for recipient in recipients:
        async with open_invitation(base_url, mail, recipient["email"]) as approver:
            assert (await approver.approve()).status_code == 200
    return str(envelope["id"])


async def _sealed_evidence(api: ApiClient, envelope_id: str) -> bytes:
    async def fetch() -> Any:
        return await api.get(f"/v1/envelopes/{envelope_id}/evidence")

    response = await eventually(fetch, lambda r: r.status_code == 200, within=60)
    return bytes(response.content)


async def _events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await api.get(f"/v1/envelopes/{envelope_id}/events")).json()[
        "data"
    ]
    return data


async def _sent_and_settled(api: ApiClient, envelope_id: str) -> None:
    """Sends, then waits for the invitation's `email.sent`: a job records it after the send,
    and a test that rewrites the chain must not race the event appended behind it."""
    await send(api, envelope_id)
    await eventually(
        lambda: _events(api, envelope_id),
        lambda events: any(e["type"] == "email.sent" for e in events),
        what="the invitation's email.sent event",
    )


async def test_cachet_evidence_verify_finds_an_altered_event(
    api: ApiClient, runtime: Runtime, postgres_url: str, settings: Settings
) -> None:
    envelope, _ = await approval_envelope(api, approvers=2, tag=uuid.uuid4().hex[:8])
    await _sent_and_settled(api, envelope["id"])

    intact = await _verify(envelope["id"], postgres_url, settings)
    assert intact.returncode == 0, intact.stderr
    assert "evidence chain intact" in intact.stdout

    async with transaction(runtime.sessions) as session:
        await session.execute(
            text(
                "UPDATE events SET data = jsonb_set(data, '{kind}', '\"signature\"') "
                "WHERE envelope_id = :id AND sequence = 1"
            ),
            {"id": envelope["id"]},
        )
    broken = await _verify(envelope["id"], postgres_url, settings)
    assert broken.returncode == 1
    assert "broken at event 1" in broken.stderr

    unknown = await _verify(str(uuid.uuid4()), postgres_url, settings)
    assert unknown.returncode == 1 and "No such envelope" in unknown.stderr
    garbage = await _verify("nope", postgres_url, settings)
    assert garbage.returncode == 1 and "not an envelope id" in garbage.stderr


@pytest.mark.parametrize("cut", [1, 4])
async def test_a_chain_cut_short_is_found(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    postgres_url: str,
    settings: Settings,
    cut: int,
) -> None:
    envelope_id = await _completed_approval(api, base_url, mail)
    await _sealed_evidence(api, envelope_id)
    before = await _verify(envelope_id, postgres_url, settings)
    assert before.returncode == 0, before.stderr
    count = len(await _events(api, envelope_id))
    async with transaction(runtime.sessions) as session:
        await session.execute(
            text("DELETE FROM events WHERE envelope_id = :id AND sequence > :keep"),
            {"id": envelope_id, "keep": count - cut},
        )
    after = await _verify(envelope_id, postgres_url, settings)
    assert after.returncode == 1
    assert f"the anchor says the chain holds {count} events; {count - cut} are stored" in (
        after.stderr
    )


async def test_a_chain_rewritten_with_recomputed_hashes_is_found(
    api: ApiClient, runtime: Runtime, postgres_url: str, settings: Settings
) -> None:
    envelope, _ = await approval_envelope(api, approvers=2, tag=uuid.uuid4().hex[:8])
    await _sent_and_settled(api, envelope["id"])
    async with transaction(runtime.sessions) as session:
        events = await _rewrite(session, envelope["id"], mac=None)
    # Whoever rewrote the rows also moved the anchor, without the key.
    await _move_anchor(runtime, envelope["id"], events[-1], mac=None)
    after = await _verify(envelope["id"], postgres_url, settings)
    assert after.returncode == 1
    assert "broken at event 1: the event's keyed MAC does not match" in after.stderr


async def test_with_the_key_a_rewrite_still_disagrees_with_the_sealed_evidence_pdf(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    postgres_url: str,
    settings: Settings,
) -> None:
    """Even a rewrite made with the key (every MAC recomputed) is found once the envelope has
    completed: its evidence PDF seals the head of the chain as it was."""
    envelope_id = await _completed_approval(api, base_url, mail)
    await _sealed_evidence(api, envelope_id)
    async with transaction(runtime.sessions) as session:
        events = await _rewrite(session, envelope_id, mac=runtime.secrets.evidence_mac)
    await _move_anchor(runtime, envelope_id, events[-1], mac=runtime.secrets.evidence_mac)
    after = await _verify(envelope_id, postgres_url, settings)
    assert after.returncode == 1
    assert "the evidence PDF seals a chain head that the stored chain does not have" in (
        after.stderr
    )


async def _rewrite(session: Any, envelope_id: str, *, mac: Any) -> list[Event]:
    """Alters the first event, then recomputes every hash (and, given the key, every MAC)."""
    rows = list(
        await session.scalars(
            select(Event)
            .where(Event.envelope_id == uuid.UUID(envelope_id))
            .order_by(Event.sequence)
        )
    )
    rows[0].data = {**rows[0].data, "kind": "signature"}
    prev = rows[0].prev_hash
    for row in rows:
        linked = ChainedEvent(
            str(row.envelope_id),
            row.sequence,
            row.type,
            row.occurred_at,
            row.actor,
            row.ip,
            row.user_agent,
            row.data,
        )
        row.prev_hash, row.hash = prev, chain_hash(prev, linked)
        row.mac = mac(event_mac_message(row.hash)) if mac else row.mac
        prev = row.hash
    return rows


async def _move_anchor(runtime: Runtime, envelope_id: str, last: Event, *, mac: Any) -> None:
    new_mac = mac(anchor_mac_message(envelope_id, last.sequence, last.hash)) if mac else None
    async with transaction(runtime.sessions) as session:
        await session.execute(
            text(
                "UPDATE evidence_chains SET length = :length, head = :head,"
                " mac = COALESCE(:mac, mac) WHERE envelope_id = :id"
            ),
            {"length": last.sequence, "head": last.hash, "mac": new_mac, "id": envelope_id},
        )


async def test_a_completed_approval_envelope_has_a_sealed_evidence_pdf(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    postgres_url: str,
    settings: Settings,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope_id = await _completed_approval(api, base_url, mail, approvers=2)
    pdf = await _sealed_evidence(api, envelope_id)
    await check_valid(pdf, test_pki, tmp_path, "evidence.pdf", signatures=1)
    events = await _events(api, envelope_id)
    sealed = next(e for e in events if e["type"] == "evidence.sealed")
    assert sealed["data"]["chain_length"] == sealed["sequence"] - 1
    audit = await _verify(envelope_id, postgres_url, settings)
    assert audit.returncode == 0, audit.stderr
    assert f"seals events 1-{sealed['sequence'] - 1}" in audit.stdout


async def test_what_the_service_does_is_attributed_to_the_system(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    envelope_id = await _completed_approval(api, base_url, mail, approvers=1)
    await _sealed_evidence(api, envelope_id)
    actors = {e["type"]: e["actor"] for e in await _events(api, envelope_id)}
    assert actors["recipient.approved"]["kind"] == "recipient"
    assert actors["envelope.completed"] == {"kind": "system"}
    assert actors["evidence.sealed"] == {"kind": "system"}
