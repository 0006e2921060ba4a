"""Archiving at completion and its renewal, through the running service.

Completion: with the certificates' OCSP responder and CRL server down, the last signer's job
raises Unavailable (to the worker: try later) and nothing is completed; once they answer, a
retry completes the envelope with B-LTA files that pass pyHanko's strict AdES validation.
Renewal: documents archived with the test PKI's short-lived TSA come due when the service clock
moves forward; the periodic job (and `cachet archive renew`) add validation data and a new
document timestamp as a new version of the signed file.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.envelopes.models import Document, Envelope
from app.jobs.worker import TryLater
from app.runtime import Runtime
from app.signing.failures import Unavailable
from app.worker import JOB_SPECS
from app.workflow.archive import RENEW_ARCHIVES
from app.workflow.models import SignatureRequest
from app.workflow.tasks import apply_signature_job
from tests.signing.testpki import SHORT_TSA_DAYS, TestPki
from tests.support import ApiClient
from tests.support.cli import cachet_env, run_cachet
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.workflow.signing_support import (
    check_archived,
    check_valid,
    sent_signature_envelope,
    sign,
    signature_png,
    wait_until_signed,
)
from tests.workflow.support import open_invitation
from tests.workflow.test_lifecycle import clock_moved


async def _row(runtime: Runtime, model: Any, envelope_id: str) -> Any:
    """The envelope's one row of that model (its one document, its one signature request)."""
    async with runtime.sessions() as session:
        return await session.scalar(
            select(model).where(model.envelope_id == uuid.UUID(envelope_id))
        )


async def _document(runtime: Runtime, envelope_id: str) -> Document:
    found = await _row(runtime, Document, envelope_id)
    assert isinstance(found, Document)
    return found


async def _events(api: ApiClient, envelope_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/envelopes/{envelope_id}/events")
    events: list[dict[str, Any]] = response.json()["data"]
    return events


async def _signed_file(api: ApiClient, envelope_id: str, document_id: str) -> bytes:
    url = f"/v1/envelopes/{envelope_id}/documents/{document_id}/content?version=signed"
    response = await api.get(url)
    assert response.status_code == 200, response.text
    return response.content


# --- completion -----------------------------------------------------------------------------


async def test_revocation_data_out_of_reach_completes_nothing_until_a_retry_can(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope = await sent_signature_envelope(api, "ltv-down", signers=1)
    envelope_id = envelope["id"]
    async with open_invitation(base_url, mail, "s0+ltv-down@example.com") as signer:
        with test_pki.animator.refused("ocsp", "crls"):
            assert (await sign(signer, signature_png())).status_code == 202
            request = await _request(runtime, envelope_id)
            # What the job raises (the worker runs it too, and fails the same way meanwhile):
            # the archive's Unavailable, as a job to try later.
            with pytest.raises(TryLater) as raised:
                await apply_signature_job(runtime, {"request_id": str(request.id)})
            assert isinstance(raised.value.__cause__, Unavailable)
            assert "revocation data" in str(raised.value)
            assert test_pki.base_url in str(raised.value)  # where it could not be fetched from

            after = await api.get_envelope(envelope_id)
            assert after["status"] == "in_progress"
            assert after["problem"]["code"] == "signing_service_unavailable"
            assert [d["signed_sha256"] for d in after["documents"]] == [None]
            assert (await _document(runtime, envelope_id)).archive_expires_at is None
            types = [e["type"] for e in await _events(api, envelope_id)]
            assert "documents.archived" not in types and "envelope.completed" not in types
            assert "recipient.signed" not in types  # rolled back with the rest
            assert (await signer.view())["me"]["status"] != "signed"

        # The responders answer again: a retry (ours, or the worker's own) completes it.
        await apply_signature_job(runtime, {"request_id": str(request.id)})
        await wait_until_signed(signer)
    completed = await eventually(
        lambda: api.get_envelope(envelope_id),
        lambda e: e["status"] == "completed",
        what="the envelope did not complete",
    )
    assert completed["problem"] is None
    document = completed["documents"][0]
    signed = await _signed_file(api, envelope_id, document["id"])
    await check_valid(signed, test_pki, tmp_path, "retried.pdf", signatures=1, archived=True)
    stored = await _document(runtime, envelope_id)
    assert stored.archive_expires_at == test_pki.tsa_cert.not_valid_after


async def _request(runtime: Runtime, envelope_id: str) -> SignatureRequest:
    """Once POST /sign has written it."""
    found = await eventually(
        lambda: _row(runtime, SignatureRequest, envelope_id),
        lambda row: row is not None,
        what="no signature request",
    )
    assert isinstance(found, SignatureRequest)
    return found


# --- renewal --------------------------------------------------------------------------------


@contextmanager
def short_lived_tsa(runtime: Runtime, pki: TestPki) -> Iterator[None]:
    """Archive timestamps from a TSA whose certificate expires in SHORT_TSA_DAYS days (the
    signing workers load the seal, and its TSA, that the settings describe)."""
    working = runtime.settings
    runtime.settings = working.model_copy(update={"tsa_url": pki.short_tsa_url})
    try:
        yield
    finally:
        runtime.settings = working


async def _completed_with_short_tsa(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, pki: TestPki, tag: str
) -> tuple[str, Document]:
    envelope = await sent_signature_envelope(api, tag, signers=1)
    with short_lived_tsa(runtime, pki):
        async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
            assert (await sign(signer, signature_png())).status_code == 202
            await wait_until_signed(signer)
    document = await _document(runtime, envelope["id"])
    assert document.signed_sha256 is not None and document.archive_expires_at is not None
    short_expiry = pki.cert("tsa-short").not_valid_after
    assert document.archive_expires_at == short_expiry
    async with runtime.sessions() as session:
        stored = await session.get(Envelope, uuid.UUID(envelope["id"]))
    assert stored is not None and stored.evidence_archive_expires_at == short_expiry
    return envelope["id"], document


def test_renewal_is_a_periodic_job() -> None:
    assert [(s.name, s.periodic) for s in JOB_SPECS if s.name == RENEW_ARCHIVES] == [
        (RENEW_ARCHIVES, True)
    ]


async def test_the_periodic_job_renews_what_expires_within_the_setting(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    test_pki: TestPki,
) -> None:
    envelope_id, archived = await _completed_with_short_tsa(
        api, base_url, mail, runtime, test_pki, "renew-clock"
    )
    before_days = runtime.settings.archive_renew_before_days
    assert before_days == 90 < SHORT_TSA_DAYS
    original = await _signed_file(api, envelope_id, str(archived.id))
    original_evidence = await _evidence(api, envelope_id)

    # Not due yet: the worker's periodic job (every second here) leaves it alone.
    await _ticks(runtime, 2)
    assert (await _document(runtime, envelope_id)).signed_sha256 == archived.signed_sha256

    # The service clock moves to within 90 days of the certificate's expiry: the worker renews.
    with clock_moved(runtime, timedelta(days=SHORT_TSA_DAYS - before_days + 5)):
        renewed = await eventually(
            lambda: _document(runtime, envelope_id),
            lambda d: d.signed_sha256 != archived.signed_sha256,
            what="the periodic job did not renew the archive timestamp",
        )
    assert renewed.archive_expires_at == test_pki.tsa_cert.not_valid_after  # the regular TSA

    current = await _signed_file(api, envelope_id, str(archived.id))
    assert current.startswith(original) and current != original  # a new version, appended
    await check_archived(current, test_pki)
    # The evidence PDF, sealed with the same TSA, is renewed in the same pass.
    evidence = await _evidence(api, envelope_id)
    assert evidence.startswith(original_evidence) and evidence != original_evidence
    await check_archived(evidence, test_pki)
    until = test_pki.tsa_cert.not_valid_after.isoformat()
    event = next(e for e in await _events(api, envelope_id) if e["type"] == "documents.renewed")
    assert event["data"]["documents"] == [
        {
            "id": str(archived.id),
            "sha256_previous": archived.signed_sha256,
            "sha256_signed": renewed.signed_sha256,
            "archive_expires_at": until,
        }
    ]
    assert event["data"]["evidence"] == {
        "sha256_previous": hashlib.sha256(original_evidence).hexdigest(),
        "sha256_signed": hashlib.sha256(evidence).hexdigest(),
        "archive_expires_at": until,
    }


async def _evidence(api: ApiClient, envelope_id: str) -> bytes:
    response = await api.get(f"/v1/envelopes/{envelope_id}/evidence")
    assert response.status_code == 200, response.text
    return response.content


async def _ticks(runtime: Runtime, seconds: float) -> None:
    """Long enough for the periodic jobs to run at least once (sweep_interval_seconds = 1)."""
    assert runtime.settings.sweep_interval_seconds <= seconds / 2
    await asyncio.sleep(seconds)


# --- the command ----------------------------------------------------------------------------


def _cli_env(settings: Settings, pki: TestPki, **overrides: str) -> dict[str, str]:
    """The running service's database, data directory and seal, for a `cachet` process."""
    values = {
        "database_url": settings.database_url or "",
        "data_dir": str(settings.data_dir),
        "signing_key_file": str(pki.seal_key_pem),
        "signing_cert_file": str(pki.seal_cert_pem),
        "signing_chain_file": str(pki.chain_pem),
        "tsa_url": pki.tsa_url,
        **overrides,
    }
    return cachet_env(**values)


async def test_cachet_archive_renew_renews_and_says_what(
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    settings: Settings,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope_id, archived = await _completed_with_short_tsa(
        api, base_url, mail, runtime, test_pki, "renew-cli"
    )
    # A TSA that does not answer: nothing renewed, the command says so and fails.
    down = _cli_env(settings, test_pki, tsa_url="http://127.0.0.1:9/tsa")
    failed = await run_cachet(
        "archive", "renew", "--before-days", str(SHORT_TSA_DAYS + 1), env=down, cwd=tmp_path
    )
    assert failed.returncode == 1, failed
    assert f"envelope {envelope_id}" in failed.stderr, failed.stderr
    assert "timestamp authority at http://127.0.0.1:9/tsa" in failed.stderr, failed.stderr
    assert (await _document(runtime, envelope_id)).signed_sha256 == archived.signed_sha256

    # Not within 10 days: nothing to do for this one.
    env = _cli_env(settings, test_pki)
    quiet = await run_cachet("archive", "renew", "--before-days", "10", env=env, cwd=tmp_path)
    assert quiet.returncode == 0, quiet
    assert str(archived.id) not in quiet.stdout

    done = await run_cachet(
        "archive", "renew", "--before-days", str(SHORT_TSA_DAYS + 1), env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done
    renewed = await _document(runtime, envelope_id)
    assert renewed.signed_sha256 != archived.signed_sha256
    assert f"renewed document {archived.id} of envelope {envelope_id}" in done.stdout, done
    assert f"renewed the evidence PDF of envelope {envelope_id}" in done.stdout, done
    assert renewed.signed_sha256 is not None and renewed.signed_sha256 in done.stdout
    await check_archived(await _signed_file(api, envelope_id, str(archived.id)), test_pki)
