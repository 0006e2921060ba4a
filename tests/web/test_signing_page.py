"""The signing page in a real browser (chromium): signers sign and download a valid PDF,
approvers approve and decline, the SMS code step, the phone viewport, and the pages for a
link that cannot be acted on."""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path

import httpx
import pikepdf
import pytest
from playwright.async_api import Browser, Page, expect

from app.api.dev import sample_pdf_bytes
from app.runtime import Runtime
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.cli import free_port
from tests.support.polling import eventually
from tests.support.sinks import MailSink
from tests.web.conftest import Screenshot
from tests.web.support import (
    SIGNING_TIMEOUT_MS,
    completed_with_signed_files,
    expect_signed,
    open_emailed_link,
    page_image_shown,
    platform_page,
    sign_on_page,
)
from tests.workflow.eidas_support import draft_eidas_envelope, grant_credits, newest_code, wrong
from tests.workflow.signing_support import check_valid, put_stamp, sent_signature_envelope
from tests.workflow.support import approval_envelope, send

# A page taller than its frame scrolls inside it: the signer's own box is brought into view.
MY_STAMP_SHOWN_IN_ITS_FRAME = """() => {
  const frame = document.querySelector(".page-frame").getBoundingClientRect();
  const mine = document.querySelector(".stamp.mine").getBoundingClientRect();
  return frame.top <= mine.top && mine.bottom <= frame.bottom;
}"""


def _tag() -> str:
    return uuid.uuid4().hex[:8]


def _two_pages_with_text() -> bytes:
    """The development sample contract (a line of text), twice: pages worth a screenshot."""
    pdf = pikepdf.open(io.BytesIO(sample_pdf_bytes()))
    pdf.pages.append(pdf.pages[0])
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


async def _two_documents_two_signers(api: ApiClient, tag: str) -> tuple[str, list[str]]:
    envelope = await api.envelope(kind="signature", name=f"Lease {tag}", locale="en")
    documents = []
    for name, pdf in (("lease.pdf", _two_pages_with_text()), ("annex.pdf", make_pdf())):
        uploaded = await api.upload(envelope["id"], pdf, filename=name)
        assert uploaded.status_code == 201, uploaded.text
        documents.append(uploaded.json()["id"])
    signers = [f"ana+{tag}@example.com", f"bob+{tag}@example.com"]
    for index, address in enumerate(signers):
        recipient = await api.add_recipient(envelope["id"], email=address, first_name=f"S{index}")
        for document_id in documents:
            await put_stamp(api, envelope["id"], document_id, recipient["id"], x=40 + 250 * index)
    await send(api, envelope["id"])
    return envelope["id"], signers


async def test_two_signers_sign_and_the_last_downloads_a_valid_signed_pdf(
    api: ApiClient,
    browser: Browser,
    base_url: str,
    mail: MailSink,
    test_pki: TestPki,
    tmp_path: Path,
    screenshot: Screenshot,
) -> None:
    envelope_id, signers = await _two_documents_two_signers(api, _tag())

    for address in signers:
        context, page = await open_emailed_link(browser, base_url, mail, address)
        await expect(page.get_by_role("heading", name="Your signature")).to_be_visible()
        await expect(page.get_by_text("Page 1 of 2")).to_be_visible()
        await expect(page.locator(".stamp.mine")).to_have_count(1)
        await page.get_by_role("button", name="Next page").click()
        await expect(page.get_by_text("Page 2 of 2")).to_be_visible()
        await page.get_by_role("button", name="Zoom in").click()
        await expect(page.get_by_text("125 %")).to_be_visible()
        await page_image_shown(page)
        await screenshot(page, f"{address.split('+')[0]}-before")
        await sign_on_page(page)
        await expect_signed(page, api, envelope_id)
        await screenshot(page, f"{address.split('+')[0]}-signed")
        if address != signers[-1]:
            await context.close()

    await completed_with_signed_files(api, envelope_id, within=60)
    await page.reload()  # the link again, once completed: the final documents
    await expect(page.get_by_text("Everyone has acted")).to_be_visible()
    async with page.expect_download() as download_info:
        await page.get_by_role("button", name="Download lease.pdf").click()
    download = await download_info.value
    assert download.suggested_filename == "lease.pdf"
    signed = await asyncio.to_thread(Path(await download.path()).read_bytes)
    await check_valid(signed, test_pki, tmp_path, "lease.pdf", signatures=2, archived=True)
    await context.close()


async def test_an_approval_envelope_is_approved(
    api: ApiClient, browser: Browser, base_url: str, mail: MailSink, screenshot: Screenshot
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag(), locale="en")
    await send(api, envelope["id"])

    context, page = await open_emailed_link(browser, base_url, mail, approvers[0]["email"])
    await expect(page.get_by_text("This file cannot be shown here")).to_be_visible()
    await page.get_by_label("Comment (optional)").fill("Looks right")
    await screenshot(page, "before")
    await page.get_by_role("button", name="Approve", exact=True).click()
    await expect(page.get_by_role("heading", name="You have approved. Thank you.")).to_be_visible()
    await context.close()

    shown = await api.get_envelope(envelope["id"])
    assert shown["status"] == "completed"
    assert shown["recipients"][0]["comment"] == "Looks right"


async def test_an_approval_envelope_is_declined_in_french(
    api: ApiClient, browser: Browser, base_url: str, mail: MailSink, screenshot: Screenshot
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=2, tag=_tag())  # locale fr

    await send(api, envelope["id"])
    context, page = await open_emailed_link(browser, base_url, mail, approvers[0]["email"])
    assert await page.get_attribute("html", "lang") == "fr"
    await expect(page.get_by_role("button", name="Approuver", exact=True)).to_be_visible()
    await page.get_by_role("button", name="Refuser", exact=True).click()
    await page.get_by_role("button", name="Confirmer le refus").click()
    await expect(page.get_by_text("Indiquez pourquoi vous refusez.")).to_be_visible()
    await page.get_by_label("Pourquoi refusez-vous ?").fill("Le budget est faux")
    await page.get_by_role("button", name="Confirmer le refus").click()
    await expect(
        page.get_by_role("heading", name="Vous avez refusé cette enveloppe.")
    ).to_be_visible()
    await screenshot(page, "declined")
    await page.reload()
    await expect(page.get_by_role("heading", name="Cette enveloppe est terminée")).to_be_visible()
    await context.close()

    shown = await api.get_envelope(envelope["id"])
    assert shown["status"] == "declined"
    assert shown["recipients"][0]["decline_reason"] == "Le budget est faux"


async def test_an_eidas_simple_signer_enters_the_sms_code_then_signs(
    api: ApiClient,
    browser: Browser,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    screenshot: Screenshot,
) -> None:
    await grant_credits(api, runtime, "eidas_simple", 1)
    envelope = await draft_eidas_envelope(api, _tag(), signers=1)
    signer = envelope["recipients"][0]
    english = await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{signer['id']}", json={"locale": "en"}
    )
    assert english.status_code == 200, english.text
    await send(api, envelope["id"])

    context, page = await open_emailed_link(browser, base_url, mail, signer["email"])
    await expect(page.get_by_role("heading", name="Confirm your phone")).to_be_visible()
    await page.get_by_role("button", name="Send code").click()
    await expect(page.get_by_role("button", name="Resend code in")).to_be_disabled()
    code = await newest_code(base_url, signer["id"])
    await page.get_by_label("Code received by SMS").fill(wrong(code))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_text("Wrong code. Tries left for this code: 4.")).to_be_visible()
    await screenshot(page, "wrong-code")
    await page.get_by_label("Code received by SMS").fill(code)
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Your signature")).to_be_focused()  # next step
    await page.wait_for_function(MY_STAMP_SHOWN_IN_ITS_FRAME, timeout=5_000)
    await sign_on_page(page)
    await expect_signed(page, api, envelope["id"])
    await context.close()


async def test_a_phone_signs_by_typing_their_name_in_french(
    api: ApiClient, browser: Browser, base_url: str, mail: MailSink, screenshot: Screenshot
) -> None:
    envelope = await sent_signature_envelope(api, _tag(), signers=1)  # locale fr

    address = envelope["recipients"][0]["email"]
    context, page = await open_emailed_link(
        browser,
        base_url,
        mail,
        address,
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    await expect(page.get_by_label("Zone de signature")).to_be_visible()
    await page_image_shown(page)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 375
    await screenshot(page, "phone")
    await page.get_by_label("Écrire").check()
    await page.get_by_label("Votre nom, comme signature").fill("Ana Martin")
    await page.get_by_label("J'accepte").check()
    await page.get_by_role("button", name="Signer", exact=True).click()
    await expect_signed(page, api, envelope["id"], "Vous avez signé. Merci.")
    await screenshot(page, "signed")
    await context.close()


async def test_not_your_turn_ended_and_unknown_links_say_so(
    api: ApiClient, browser: Browser, base_url: str, runtime: Runtime, screenshot: Screenshot
) -> None:
    envelope = await sent_signature_envelope(api, _tag(), signers=2)  # locale fr
    second = uuid.UUID(envelope["recipients"][1]["id"])
    context = await browser.new_context(locale="en-GB")
    page = await context.new_page()

    await page.goto(f"{base_url}/sign/{runtime.secrets.link_token(second)}")
    await expect(page.get_by_role("heading", name="Ce n'est pas encore votre tour")).to_be_visible()
    canceled = await api.post(f"/v1/envelopes/{envelope['id']}/cancel", json={})
    assert canceled.status_code == 200, canceled.text
    await page.reload()
    await expect(page.get_by_role("heading", name="Cette enveloppe est terminée")).to_be_visible()
    unknown = await page.goto(f"{base_url}/sign/not-a-link-of-ours")
    assert unknown is not None and unknown.status == 404
    await expect(page.get_by_role("heading", name="Unknown link")).to_be_visible()  # browser's
    await screenshot(page, "unknown")
    await context.close()


async def test_an_embedded_link_in_an_iframe_posts_its_message_to_the_platform(
    api: ApiClient,
    browser: Browser,
    base_url: str,
    mail: MailSink,
    embedding_origin: str,
    screenshot: Screenshot,
) -> None:
    envelope = await api.envelope(kind="approval", name=f"Embedded {_tag()}", locale="en")
    uploaded = await api.upload(envelope["id"], b"figures\n", filename="figures.txt")
    assert uploaded.status_code == 201, uploaded.text
    approver = await api.add_recipient(
        envelope["id"], email=f"embedded+{_tag()}@example.com", delivery="none"
    )
    await send(api, envelope["id"])
    link = await api.post(
        f"/v1/envelopes/{envelope['id']}/recipients/{approver['id']}/signing-link"
    )
    assert link.status_code == 201, link.text
    token = link.json()["url"].rsplit("/", 1)[-1]
    context = await browser.new_context()
    page = await context.new_page()

    async with platform_page(embedding_origin, f"{base_url}/sign/{token}") as platform_url:
        await page.goto(platform_url)
        frame = page.frame_locator("iframe")
        await frame.get_by_role("button", name="Approve", exact=True).click()
        await expect(frame.get_by_role("heading", name="You have approved")).to_be_visible()
        await page.wait_for_function("window.received.length > 0")
        received = await page.evaluate("window.received")
        await screenshot(page, "approved-in-frame")
    await context.close()

    expected = {"type": "cachet.approved", "envelope_id": envelope["id"]}
    assert received == [{"origin": base_url, "data": {**expected, "recipient_id": approver["id"]}}]
    assert mail.to(approver["email"]) == []  # delivery "none": the platform gave the link


@pytest.mark.parametrize("act", ["sign", "decline"])
async def test_an_embedded_signer_signs_or_declines_and_the_platform_is_told(
    api: ApiClient,
    browser: Browser,
    base_url: str,
    runtime: Runtime,
    embedding_origin: str,
    act: str,
) -> None:
    envelope = await api.envelope(kind="signature", name=f"Framed {_tag()}", locale="en")
    uploaded = await api.upload(envelope["id"], make_pdf(), filename="framed.pdf")
    assert uploaded.status_code == 201, uploaded.text
    signer = await api.add_recipient(
        envelope["id"], email=f"framed+{_tag()}@example.com", delivery="none"
    )
    await put_stamp(api, envelope["id"], uploaded.json()["id"], signer["id"])
    await send(api, envelope["id"])
    token = runtime.secrets.link_token(uuid.UUID(signer["id"]))  # what signing-link gives
    context = await browser.new_context()
    page = await context.new_page()

    async with platform_page(embedding_origin, f"{base_url}/sign/{token}") as platform_url:
        await page.goto(platform_url)
        frame = page.frame_locator("iframe")
        if act == "sign":
            await sign_on_page(page, within=frame)
            done = frame.get_by_role("heading", name="You have signed. Thank you.")
        else:
            await frame.get_by_role("button", name="Decline", exact=True).click()
            await frame.get_by_label("Why do you decline?").fill("Wrong amount")
            await frame.get_by_role("button", name="Confirm decline").click()
            done = frame.get_by_role("heading", name="You have declined this envelope.")
        await expect(done).to_be_visible(timeout=SIGNING_TIMEOUT_MS)
        await page.wait_for_function("window.received.length > 0")
        received = await page.evaluate("window.received")
    await context.close()

    kind = {"sign": "cachet.signed", "decline": "cachet.declined"}[act]
    expected = {"type": kind, "envelope_id": envelope["id"], "recipient_id": signer["id"]}
    assert received == [{"origin": base_url, "data": expected}]
    status = (await api.get_envelope(envelope["id"]))["recipients"][0]["status"]
    assert status == {"sign": "signed", "decline": "declined"}[act]


async def test_an_origin_not_listed_cannot_frame_the_page(
    api: ApiClient, browser: Browser, base_url: str, runtime: Runtime
) -> None:
    envelope, approvers = await approval_envelope(api, approvers=1, tag=_tag(), locale="en")
    await send(api, envelope["id"])
    token = runtime.secrets.link_token(uuid.UUID(approvers[0]["id"]))
    elsewhere = f"http://127.0.0.1:{free_port()}"
    context = await browser.new_context()
    page = await context.new_page()

    async with platform_page(elsewhere, f"{base_url}/sign/{token}") as platform_url:
        await page.goto(platform_url)
        # Chromium replaces a frame that CSP frame-ancestors refuses with its error page.
        await eventually(
            lambda: _child_frame_url(page),
            lambda url: url.startswith("chrome-error://"),
            what=lambda url: f"the frame was allowed: {url}",
        )
    await context.close()
    shown = await api.get_envelope(envelope["id"])
    assert shown["recipients"][0]["status"] == "invited"  # the page never ran


async def _child_frame_url(page: Page) -> str:
    return page.frames[1].url if len(page.frames) > 1 else ""


async def test_a_signer_signs_with_the_keyboard_alone(
    api: ApiClient, browser: Browser, base_url: str, mail: MailSink
) -> None:
    """Typing the name is the pad's keyboard way; then Tab, Space and Enter do the rest."""
    envelope = await api.envelope(kind="signature", name=f"Keys {_tag()}", locale="en")
    uploaded = await api.upload(envelope["id"], make_pdf(), filename="keys.pdf")
    assert uploaded.status_code == 201, uploaded.text
    signer = await api.add_recipient(envelope["id"], email=f"keys+{_tag()}@example.com")
    await put_stamp(api, envelope["id"], uploaded.json()["id"], signer["id"])
    await send(api, envelope["id"])

    complaints: list[str] = []
    context, page = await open_emailed_link(
        browser, base_url, mail, signer["email"], complaints=complaints
    )
    await page_image_shown(page)
    await page.get_by_label("Draw").focus()
    await page.keyboard.press("ArrowRight")  # the radio group moves to "Type"
    await expect(page.get_by_label("Your name, as your signature")).to_be_focused()
    await page.keyboard.type("Kay Board")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Clear")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("I agree")).to_be_focused()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Sign", exact=True)).to_be_focused()
    await page.keyboard.press("Enter")
    await expect_signed(page, api, envelope["id"])
    done = page.get_by_role("heading", name="You have signed. Thank you.")
    await expect(done).to_be_focused()  # each new page moves focus to its heading
    await context.close()
    assert complaints == []  # no CSP violation, no script error, all along


async def test_an_eidas_advanced_signer_passes_the_identity_check_then_signs(
    api: ApiClient,
    browser: Browser,
    base_url: str,
    mail: MailSink,
    runtime: Runtime,
    screenshot: Screenshot,
) -> None:
    await grant_credits(api, runtime, "eidas_advanced", 1)
    envelope = await draft_eidas_envelope(api, _tag(), signers=1, level="eidas_advanced")
    signer = envelope["recipients"][0]
    english = await api.patch(
        f"/v1/envelopes/{envelope['id']}/recipients/{signer['id']}", json={"locale": "en"}
    )
    assert english.status_code == 200, english.text
    await send(api, envelope["id"])

    context, page = await open_emailed_link(browser, base_url, mail, signer["email"])
    await page.get_by_role("button", name="Send code").click()
    await page.get_by_label("Code received by SMS").fill(await newest_code(base_url, signer["id"]))
    await page.get_by_role("button", name="Verify").click()
    await expect(page.get_by_role("heading", name="Check your identity")).to_be_visible()
    await page.get_by_role("button", name="Check my identity").click()
    opener = page.get_by_role("link", name="Open the identity check")
    await expect(opener).to_be_visible()
    session_id = str(await opener.get_attribute("href")).rstrip("/").rsplit("/", 1)[-1]
    await screenshot(page, "identity")
    # What the person does at the provider: the development provider's page, decided by hand.
    async with httpx.AsyncClient(base_url=base_url) as provider:
        decided = await provider.post(
            f"/dev/identity/{session_id}/complete",
            json={"outcome": "approved", "first_name": "SIGNATAIRE0", "last_name": "MARTIN"},
        )
        assert decided.status_code == 200, decided.text
    await expect(page.get_by_role("heading", name="Your signature")).to_be_visible(timeout=15_000)
    await sign_on_page(page)
    await expect_signed(page, api, envelope["id"])
    await context.close()
