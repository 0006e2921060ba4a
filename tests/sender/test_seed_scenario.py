"""The seed's whole scenario through both pages, in a real browser: the sender builds a
2-document signature envelope with 2 signers and their stamps on the sender's screens and
sends it; each signer opens the emailed link on the signing page, draws a signature, consents
and signs; the last downloads a signed PDF that pyHanko and pdfsig both accept."""

from __future__ import annotations

import asyncio
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.sender.conftest import BrowserTab
from tests.sender.screens import (
    ANA,
    BOB,
    add_recipient,
    choose_kind,
    drop_stamp,
    only_draft,
    pick_files,
    sign_in,
)
from tests.signing.testpki import TestPki
from tests.support import ApiClient, make_pdf
from tests.support.sinks import MailSink
from tests.web.support import (
    completed_with_signed_files,
    draw_signature,
    expect_signed,
    open_emailed_link,
)
from tests.workflow.signing_support import check_valid

FILES = (("contrat.pdf", 2), ("annexe.pdf", 1))  # name, pages


async def send_from_the_sender_screens(tab: BrowserTab, api: ApiClient, base_url: str) -> str:
    """Signature, two documents, two signers (Ana then Bob), a stamp each on every document."""
    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await choose_kind(page, "Signature de documents")
    await pick_files(page, *((name, "application/pdf", make_pdf(pages)) for name, pages in FILES))
    await expect(page.locator("ul.documents li")).to_have_count(len(FILES))
    await page.get_by_role("button", name="Suivant").click()
    await page.get_by_role("radio", name="Signature manuscrite numérisée").check()
    await page.get_by_role("button", name="Suivant").click()

    await page.get_by_label("Nommez votre flux").fill("Bail et annexe")
    for address, first, last in ((ANA, "Ana", "Martin"), (BOB, "Bob", "Durand")):
        await add_recipient(page, address)
        await page.get_by_label(f"Prénom ({address})", exact=True).fill(first)
        await page.get_by_label(f"Nom ({address})", exact=True).fill(last)
        await page.get_by_label(f"Nom ({address})", exact=True).press("Tab")
    await expect(page.locator("#recipients li")).to_have_count(2)
    await page.get_by_role("button", name="Positionner les signatures").click()

    envelope = await only_draft(api)
    signers = [r["id"] for r in envelope["recipients"]]
    for document in envelope["documents"]:
        await page.locator(f'.document-tab[data-document-id="{document["id"]}"]').click()
        for signer_id, across in zip(signers, (0.3, 0.7), strict=True):
            await page.get_by_label("Cachet simple").check()
            await drop_stamp(page, signer_id, (across, 0.85))
    await tab.screenshot("seed-stamps")
    await page.get_by_role("button", name="Valider").click()
    await page.get_by_role("button", name="Envoyer pour signature").click()
    await expect(page.locator("#envelope-status")).to_have_text("En cours")
    return str(envelope["id"])


async def sign_from_the_emailed_link(
    browser: Browser, base_url: str, mail: MailSink, api: ApiClient, envelope_id: str, who: str
) -> tuple[BrowserContext, Page]:
    """In French, the envelope's language: draw, tick "J'accepte", press "Signer"."""
    context, page = await open_emailed_link(browser, base_url, mail, who)
    await draw_signature(page, "Zone de signature")
    await page.get_by_label("J'accepte").check()
    await page.get_by_role("button", name="Signer", exact=True).click()
    await expect_signed(page, api, envelope_id, heading="Vous avez signé. Merci.")
    return context, page


async def test_the_seed_scenario_through_the_sender_screens_and_the_signing_page(
    tab: BrowserTab,
    browser: Browser,
    api: ApiClient,
    base_url: str,
    mail: MailSink,
    test_pki: TestPki,
    tmp_path: Path,
) -> None:
    envelope_id = await send_from_the_sender_screens(tab, api, base_url)

    context, page = await sign_from_the_emailed_link(browser, base_url, mail, api, envelope_id, ANA)
    await context.close()
    context, page = await sign_from_the_emailed_link(browser, base_url, mail, api, envelope_id, BOB)

    await completed_with_signed_files(api, envelope_id, within=90)
    await page.reload()  # the link again, once completed: the final documents
    await expect(page.get_by_text("Tout le monde a agi")).to_be_visible()
    await page.screenshot(path=tab.artifacts / "seed-done.png", full_page=True)
    for name, _ in FILES:
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name=f"Télécharger {name}").click()
        download = await download_info.value
        assert download.suggested_filename == name
        signed = await asyncio.to_thread(Path(await download.path()).read_bytes)
        await check_valid(signed, test_pki, tmp_path, name, signatures=2, archived=True)
    await context.close()
    # On the sender's side, the progress screen follows the feed to the end.
    await expect(tab.page.locator("#envelope-status")).to_have_text("Terminé", timeout=30_000)
