"""Bidirectional controls (U+202A-U+202E, U+2066-U+2069) reorder the text after them, so a name
could be shown in an email, a stamp or the evidence PDF reading otherwise than it was typed.
Every free-text field refuses them with 422 at its pointer; the marks U+200E, U+200F and U+061C
stay allowed (right-to-left text needs them)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support import ApiClient, make_pdf
from tests.support.sinks import MailSink
from tests.workflow.support import approval_envelope, open_invitation, send

PROBLEM = "application/problem+json"
# Written as escapes: this file must not itself hold the characters it is about.
CONTROLS = [chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
RLO = "\u202e"
MARKS = "\u200e\u200f\u061c"


def assert_refused_at(response: httpx.Response, pointer: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert [error["pointer"] for error in problem["errors"]] == [pointer]


def spoofed(control: str = RLO) -> str:
    """What shows as "Invoice.pdf" once reordered, while it reads "Invoice" + "fdp.exe"."""
    return f"Invoice{control}fdp.exe"


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
async def test_every_bidi_control_is_refused_in_an_envelope_name(
    api: ApiClient, control: str
) -> None:
    body = {"kind": "approval", "sender": {"email": "s@example.com"}, "name": spoofed(control)}
    assert_refused_at(await api.post("/v1/envelopes", json=body), "/name")


@pytest.mark.parametrize(
    ("field", "pointer"),
    [
        ({"name": spoofed()}, "/name"),
        ({"message": f"Please sign.\n{spoofed()}"}, "/message"),
        ({"sender": {"email": "s@example.com", "first_name": spoofed()}}, "/sender/first_name"),
        ({"sender": {"email": "s@example.com", "last_name": spoofed()}}, "/sender/last_name"),
    ],
)
async def test_envelope_fields_refuse_bidi_controls(
    api: ApiClient, field: dict[str, Any], pointer: str
) -> None:
    body = {"kind": "approval", "sender": {"email": "s@example.com"}, **field}
    assert_refused_at(await api.post("/v1/envelopes", json=body), pointer)
    envelope = await api.envelope(kind="approval")
    assert_refused_at(await api.patch(f"/v1/envelopes/{envelope['id']}", json=field), pointer)


async def test_bidi_marks_stay_allowed(api: ApiClient) -> None:
    name = f"{MARKS}\u05d7\u05d5\u05d6\u05d4 2026"  # a Hebrew name with its marks
    envelope = await api.envelope(kind="approval", name=name, message=f"{MARKS}\n")
    assert envelope["name"] == name


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_recipient_names_refuse_bidi_controls(api: ApiClient, field: str) -> None:
    envelope = await api.envelope(kind="approval")
    body = {"email": "r@example.com", field: spoofed()}
    response = await api.post(f"/v1/envelopes/{envelope['id']}/recipients", json=body)
    assert_refused_at(response, f"/{field}")


@pytest.mark.parametrize("field", ["first_name", "last_name"])
async def test_user_directory_names_refuse_bidi_controls(api: ApiClient, field: str) -> None:
    body = {"email": "u@example.com", field: spoofed()}
    assert_refused_at(await api.put(f"/v1/users/{uuid.uuid4().hex}", json=body), f"/{field}")


async def test_stamp_text_refuses_bidi_controls(api: ApiClient) -> None:
    envelope = await api.envelope(kind="signature")
    uploaded = await api.upload(envelope["id"], make_pdf())
    assert uploaded.status_code == 201, uploaded.text
    recipient = await api.add_recipient(envelope["id"], email="signer@example.com")
    url = f"/v1/envelopes/{envelope['id']}/documents/{uploaded.json()['id']}/stamps/"
    stamp = {"page": 1, "x": 50, "y": 600, "width": 180, "height": 60, "style": "with_text"}
    response = await api.put(url + recipient["id"], json={**stamp, "text": spoofed()})
    assert_refused_at(response, "/text")


async def test_webhook_descriptions_refuse_bidi_controls(api: ApiClient) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "description": spoofed()}
    assert_refused_at(await api.post("/v1/webhook-endpoints", json=body), "/description")


async def test_comments_and_reasons_refuse_bidi_controls(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    tag = uuid.uuid4().hex[:8]
    envelope, approvers = await approval_envelope(api, approvers=1, tag=tag)
    await send(api, envelope["id"])
    async with open_invitation(base_url, mail, approvers[0]["email"]) as recipient:
        assert_refused_at(await recipient.approve(comment=f"ok\n{spoofed()}"), "/comment")
        assert_refused_at(await recipient.decline(reason=spoofed()), "/reason")
        assert (await recipient.view())["me"]["status"] != "declined"
    cancel = await api.post(f"/v1/envelopes/{envelope['id']}/cancel", json={"reason": spoofed()})
    assert_refused_at(cancel, "/reason")
    assert (await api.get_envelope(envelope["id"]))["status"] == "in_progress"
