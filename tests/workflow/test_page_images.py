"""The signing page's document pages: PNG images drawn on the server for a recipient's
session, and the stamp boxes and page sizes the page draws them with."""

from __future__ import annotations

import io
import uuid

import pikepdf
from PIL import Image

from tests.support import A4, ApiClient, make_pdf
from tests.support.sinks import MailSink
from tests.workflow.signing_support import put_stamp
from tests.workflow.support import approval_envelope, open_invitation, send


def _tag() -> str:
    return uuid.uuid4().hex[:8]


async def _two_page_envelope(api: ApiClient, tag: str) -> tuple[str, str, list[dict[str, str]]]:
    """Sent: one PDF whose second page is turned a quarter (/Rotate 90), two signers."""
    envelope = await api.envelope(kind="signature", name=f"Pages {tag}")
    pdf = _rotated_second_page()
    uploaded = await api.upload(envelope["id"], pdf, filename="pages.pdf")
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()["id"]
    signers = [
        await api.add_recipient(envelope["id"], email=f"p{i}+{tag}@example.com") for i in (0, 1)
    ]
    await put_stamp(api, envelope["id"], document_id, signers[0]["id"], x=40, y=700)
    await put_stamp(api, envelope["id"], document_id, signers[1]["id"], page=2, x=300, y=100)
    await send(api, envelope["id"])
    return envelope["id"], document_id, signers


def _rotated_second_page() -> bytes:
    pdf = pikepdf.open(io.BytesIO(make_pdf(pages=2)))
    pdf.pages[1].obj.Rotate = 90
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def test_pages_are_png_images_of_the_page_as_displayed(
    api: ApiClient, base_url: str, mail: MailSink
) -> None:
    _, document_id, signers = await _two_page_envelope(api, _tag())
    async with open_invitation(base_url, mail, signers[0]["email"]) as signer:
        first = await signer.get(f"/v1/signing/documents/{document_id}/pages/1.png")
        turned = await signer.get(
            f"/v1/signing/documents/{document_id}/pages/2.png", params={"scale": 1}
        )
        view = await signer.view()
        again = await signer.get(
            f"/v1/signing/documents/{document_id}/pages/1.png",
            headers={"If-None-Match": first.headers["etag"]},
        )
        other_scale = await signer.get(
            f"/v1/signing/documents/{document_id}/pages/1.png",
            params={"scale": 2},
            headers={"If-None-Match": first.headers["etag"]},
        )

    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert again.status_code == 304 and again.content == b""  # not drawn again
    assert other_scale.status_code == 200
    portrait = Image.open(io.BytesIO(first.content))
    assert _about(portrait.size, (A4[0] * 1.5, A4[1] * 1.5))
    landscape = Image.open(io.BytesIO(turned.content))
    assert _about(landscape.size, (A4[1], A4[0]))  # the /Rotate is honoured
    document = view["documents"][0]
    assert [(p["width"], p["height"]) for p in document["pages"]] == [A4, A4[::-1]]
    assert [(s["position"], s["is_me"], s["page"]) for s in document["stamps"]] == [
        (1, True, 1),
        (2, False, 2),
    ]


def _about(pixels: tuple[int, int], points: tuple[float, float]) -> bool:
    """pdfium rounds a page's fractional size up or down: within a pixel."""
    return all(abs(p - q) <= 1 for p, q in zip(pixels, points, strict=True))


async def test_bad_page_requests_are_problems(
    api: ApiClient, other_api: ApiClient, base_url: str, mail: MailSink
) -> None:
    _, document_id, signers = await _two_page_envelope(api, _tag())
    foreign_envelope, _, _ = await _two_page_envelope(other_api, _tag())
    foreign_document = (await other_api.get_envelope(foreign_envelope))["documents"][0]["id"]
    pages = f"/v1/signing/documents/{document_id}/pages"
    async with open_invitation(base_url, mail, signers[0]["email"]) as signer:
        past_the_end = await signer.get(f"{pages}/3.png")
        zero = await signer.get(f"{pages}/0.png")
        huge_scale = await signer.get(f"{pages}/1.png", params={"scale": 50})
        not_a_number = await signer.get(f"{pages}/one.png")
        someone_elses = await signer.get(f"/v1/signing/documents/{foreign_document}/pages/1.png")
        signer.headers.pop("Authorization")
        anonymous = await signer.get(f"{pages}/1.png")

    assert past_the_end.status_code == 404 and past_the_end.json()["code"] == "page_not_found"
    for refused in (zero, huge_scale, not_a_number):
        assert refused.status_code == 422, refused.text
    assert someone_elses.status_code == 404
    assert anonymous.status_code == 401
    for problem in (past_the_end, zero, someone_elses, anonymous):
        assert problem.headers["content-type"].startswith("application/problem+json")


async def test_other_files_have_no_pages(api: ApiClient, base_url: str, mail: MailSink) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag())
    await send(api, envelope["id"])
    document_id = (await api.get_envelope(envelope["id"]))["documents"][0]["id"]
    async with open_invitation(base_url, mail, approvers[0]["email"]) as approver:
        answer = await approver.get(f"/v1/signing/documents/{document_id}/pages/1.png")
    assert answer.status_code == 409 and answer.json()["code"] == "not_a_pdf"


# --- the sender's side: the same images with the API key, for placing stamps ----------------


async def test_the_sender_sees_a_draft_s_pages_to_place_stamps_on(api: ApiClient) -> None:
    envelope = await api.envelope(kind="signature", name=f"Draft pages {_tag()}")
    uploaded = await api.upload(envelope["id"], _rotated_second_page(), filename="draft.pdf")
    assert uploaded.status_code == 201, uploaded.text
    pages = f"/v1/envelopes/{envelope['id']}/documents/{uploaded.json()['id']}/pages"

    first = await api.get(f"{pages}/1.png", params={"scale": 1})
    turned = await api.get(f"{pages}/2.png", params={"scale": 1})
    again = await api.get(
        f"{pages}/1.png", params={"scale": 1}, headers={"If-None-Match": first.headers["etag"]}
    )
    past_the_end = await api.get(f"{pages}/3.png")
    bad_scale = await api.get(f"{pages}/1.png", params={"scale": 100})

    assert first.status_code == 200 and first.headers["content-type"] == "image/png"
    assert _about(Image.open(io.BytesIO(first.content)).size, A4)
    assert _about(Image.open(io.BytesIO(turned.content)).size, (A4[1], A4[0]))
    assert again.status_code == 304
    assert past_the_end.status_code == 404 and past_the_end.json()["code"] == "page_not_found"
    assert bad_scale.status_code == 422


async def test_another_tenant_s_document_pages_are_not_found(
    api: ApiClient, other_api: ApiClient
) -> None:
    envelope = await api.envelope(kind="signature", name=f"Private pages {_tag()}")
    uploaded = await api.upload(envelope["id"], make_pdf(pages=1), filename="mine.pdf")
    path = f"/v1/envelopes/{envelope['id']}/documents/{uploaded.json()['id']}/pages/1.png"
    theirs = await other_api.get(path)
    assert theirs.status_code == 404
    assert theirs.headers["content-type"].startswith("application/problem+json")
