"""Credits: a ledger per tenant and eIDAS level. Send reserves one per signer (402 when short,
and exactly one of two racing sends takes the last ones), a signature consumes its signer's,
and an envelope that ends early gives back what was not consumed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest

from app.runtime import Runtime
from app.worker import sweep
from tests.support import ApiClient
from tests.support.cli import cachet_env, run_cachet
from tests.support.sinks import MailSink
from tests.workflow.eidas_support import (
    draft_eidas_envelope,
    grant_credits,
    newest_code,
    sent_eidas_envelope,
    verify,
)
from tests.workflow.signing_support import sign, signature_png, wait_until_signed
from tests.workflow.support import open_invitation, send
from tests.workflow.test_lifecycle import clock_moved


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _balance(api: ApiClient, level: str = "eidas_simple") -> dict[str, int]:
    response = await api.get("/v1/credits")
    assert response.status_code == 200, response.text
    balance: dict[str, int] = response.json()[level]
    return balance


async def test_a_new_tenant_has_none_and_readiness_says_so(api: ApiClient) -> None:
    assert await _balance(api) == {"available": 0, "reserved": 0, "consumed": 0}
    assert await _balance(api, "eidas_advanced") == {"available": 0, "reserved": 0, "consumed": 0}
    draft = await draft_eidas_envelope(api, _tag(), signers=2)
    assert not draft["ready_to_send"]
    assert [b["code"] for b in draft["blockers"]] == ["insufficient_credits"]
    refused = await api.post(f"/v1/envelopes/{draft['id']}/send")
    assert refused.status_code == 402, refused.text
    problem = refused.json()
    assert (problem["code"], problem["required"], problem["available"]) == (
        "insufficient_credits",
        2,
        0,
    )
    assert (await api.get_envelope(draft["id"]))["status"] == "draft"
    assert (await api.get("/v1/credits/ledger")).json()["data"] == []


async def test_send_reserves_a_signature_consumes_a_cancel_releases(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime
) -> None:
    tag = _tag()
    await grant_credits(api, runtime, "eidas_simple", 5)
    envelope = await draft_eidas_envelope(api, tag, signers=2)
    assert envelope["ready_to_send"]
    await send(api, envelope["id"])
    assert await _balance(api) == {"available": 3, "reserved": 2, "consumed": 0}
    signer_id = envelope["recipients"][0]["id"]
    async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
        assert (await signer.post("/v1/signing/otp")).status_code == 202
        assert (await verify(signer, await newest_code(base_url, signer_id))).status_code == 200
        assert (await sign(signer, signature_png())).status_code == 202
        await wait_until_signed(signer)
    assert await _balance(api) == {"available": 3, "reserved": 1, "consumed": 1}
    assert (await api.post(f"/v1/envelopes/{envelope['id']}/cancel")).status_code == 200
    assert await _balance(api) == {"available": 4, "reserved": 0, "consumed": 1}
    ledger = (await api.get("/v1/credits/ledger")).json()["data"]
    kinds = [(e["kind"], e["amount"]) for e in ledger]
    assert kinds == [
        ("grant", 5),
        ("reservation", 1),
        ("reservation", 1),
        ("consumption", 1),
        ("release", 1),
    ]
    events = (await api.get(f"/v1/envelopes/{envelope['id']}/events")).json()["data"]
    credit_events = [e["type"] for e in events if e["type"].startswith("credits.")]
    assert credit_events == ["credits.reserved", "credits.consumed", "credits.released"]


@pytest.mark.parametrize("ending", ["decline", "expire"])
async def test_every_early_end_releases(
    api: ApiClient, base_url: str, mail: MailSink, runtime: Runtime, ending: str
) -> None:
    tag = _tag()
    envelope = await sent_eidas_envelope(api, runtime, tag, signers=2)
    assert await _balance(api) == {"available": 0, "reserved": 2, "consumed": 0}
    if ending == "decline":
        async with open_invitation(base_url, mail, f"s0+{tag}@example.com") as signer:
            assert (await signer.decline("non")).status_code == 200
    else:
        with clock_moved(runtime, timedelta(days=31)):
            await sweep(runtime, {})
    assert (await api.get_envelope(envelope["id"]))["status"] in ("declined", "expired")
    assert await _balance(api) == {"available": 2, "reserved": 0, "consumed": 0}


async def test_two_sends_racing_for_the_last_credits_one_wins(
    api: ApiClient, runtime: Runtime
) -> None:
    await grant_credits(api, runtime, "eidas_simple", 2)
    drafts = [await draft_eidas_envelope(api, _tag(), signers=2) for _ in range(2)]
    answers = await asyncio.gather(*(api.post(f"/v1/envelopes/{d['id']}/send") for d in drafts))
    assert sorted(a.status_code for a in answers) == [200, 402]
    assert await _balance(api) == {"available": 0, "reserved": 2, "consumed": 0}


async def test_the_ledger_pages(api: ApiClient, runtime: Runtime) -> None:
    for amount in range(1, 6):
        await grant_credits(api, runtime, "eidas_advanced", amount)
    seen: list[Any] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await api.get("/v1/credits/ledger", params=params)).json()
        seen += [e["amount"] for e in page["data"]]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    assert seen == [1, 2, 3, 4, 5]
    assert (await api.get("/v1/credits/ledger", params={"cursor": "x"})).status_code == 400


async def test_cachet_credits_grant_and_show(
    api: ApiClient, postgres_url: str, runtime: Runtime
) -> None:
    env = cachet_env(database_url=postgres_url, data_dir=str(runtime.settings.data_dir))
    tenant = str(api.tenant_id)
    cwd = runtime.settings.data_dir
    granted = await run_cachet(
        "credits", "grant", tenant, "eidas_advanced", "3", "--reason", "pilot", env=env, cwd=cwd
    )
    assert granted.returncode == 0, granted.stderr
    assert "3 available" in granted.stdout
    shown = await run_cachet("credits", "show", tenant, env=env, cwd=cwd)
    assert "eidas_advanced\tavailable 3" in shown.stdout
    refused = await run_cachet("credits", "grant", tenant, "simple", "3", env=env, cwd=cwd)
    assert refused.returncode != 0
    assert (await _balance(api, "eidas_advanced"))["available"] == 3
