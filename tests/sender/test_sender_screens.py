"""The seed's sender screens in a real browser, checked through the API they drive: a
two-document signature envelope with two signers and their stamps, an approval envelope, a
refusal in words, the phone's width; every request the page makes is a documented operation."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from playwright.async_api import Browser, Page, ViewportSize, expect

from app.runtime import Runtime
from tests.sender.conftest import BrowserTab, open_tab
from tests.sender.contract import operation_of
from tests.sender.screens import (
    ANA,
    BOB,
    LEA,
    SENDER,
    add_recipient,
    choose_kind,
    drag,
    drop_file,
    drop_stamp,
    expected_stamp,
    move_stamp,
    only_draft,
    pick_files,
    sign_in,
)
from tests.support import A4, ApiClient, make_pdf, padded_pdf
from tests.workflow.support import Recipient


def assert_only_documented_calls(tab: BrowserTab, base_url: str) -> None:
    """Every request went to this service: the page's own files under /app/, and operations
    the OpenAPI document describes (method and path template). No other origin, no /dev."""
    for method, url in tab.requests:
        if url.startswith(f"blob:{base_url}/"):
            continue  # a page image already fetched from the API, shown from memory
        assert url.startswith(base_url + "/"), f"a request left the service: {method} {url}"
        path = urlsplit(url).path
        if path.startswith("/app/"):
            continue
        assert path.startswith("/v1/"), f"not a /v1 call: {method} {url}"
        assert operation_of(method, url), f"not in openapi.json: {method} {path}"
    assert not tab.errors, tab.errors


async def test_a_signature_envelope_with_two_documents_two_signers_and_their_stamps(
    tab: BrowserTab, api: ApiClient, base_url: str
) -> None:
    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await choose_kind(page, "Signature de documents")
    await pick_files(page, ("contrat.pdf", "application/pdf", make_pdf(2)))
    await expect(page.locator("ul.documents li")).to_have_count(1)
    # The seed's own figures: a 2.1 Mo annex.
    await drop_file(page, "annexe.pdf", "application/pdf", padded_pdf(int(2.1 * 1024 * 1024)))
    await expect(page.locator("ul.documents li")).to_have_count(2)
    await expect(page.locator("ul.documents li").nth(0)).to_contain_text("1 Ko")
    await expect(page.locator("ul.documents li").nth(1)).to_contain_text("2.1 Mo")
    await expect(page.locator("#budget-words")).to_have_text("2.1 Mo / 15 Mo")
    await tab.screenshot("1-documents")
    await page.get_by_role("button", name="Suivant").click()

    await expect(page.get_by_text("Crédits disponibles : 0")).to_have_count(2)
    await page.get_by_role("radio", name=re.compile("^Signature manuscrite numérisée")).check()
    await tab.screenshot("2-level")
    await page.get_by_role("button", name="Suivant").click()

    await page.get_by_label("Nommez votre flux").fill("Facturation")
    await page.get_by_label("Ajouter un commentaire").fill("Merci de signer")
    await add_recipient(page, ANA)
    await expect(page.locator("#recipients li")).to_have_count(1)
    await add_recipient(page, BOB)
    await expect(page.locator("#recipients li")).to_have_count(2)
    await page.get_by_label(f"Prénom ({ANA})", exact=True).fill("Ana")
    await page.get_by_label(f"Nom ({ANA})", exact=True).fill("Martin")
    await page.get_by_label(f"Nom ({ANA})", exact=True).press("Tab")
    await page.get_by_label("Distribuer le document signé à tous les signataires").check()
    # Bob first: his row dragged above Ana's.
    ana_row = page.locator("#recipients li").nth(0)
    ana_box = await ana_row.bounding_box()
    assert ana_box is not None
    bob_handle = page.locator("#recipients li").nth(1).locator(".handle")
    await drag(page, bob_handle, ana_box["x"] + 40, ana_box["y"] + 4)
    # Saved: the screen drawn again from the service's answer, Bob at position 1.
    await expect(page.locator('#recipients li[data-position="1"]')).to_contain_text(BOB)
    await page.get_by_role("button", name="Aperçu de l'email").click()
    await expect(page.locator(".preview")).to_contain_text(BOB)
    await tab.screenshot("3-recipients")
    await page.get_by_role("button", name="Positionner les signatures").click()

    envelope = await only_draft(api)
    bob, ana = envelope["recipients"]
    places = {bob["id"]: (0.3, 0.8), ana["id"]: (0.7, 0.8)}
    for document in envelope["documents"]:
        await page.locator(f'.document-tab[data-document-id="{document["id"]}"]').click()
        badge = page.locator(f'.document-tab[data-document-id="{document["id"]}"] .badge')
        await expect(badge).to_have_attribute("data-stamps", "pending")
        # Each sheet shows its page, drawn by the service, once its image has arrived.
        image = page.locator('.page[data-page="1"] img.page-image')
        await expect(image).to_have_js_property("complete", True)
        assert await image.evaluate("img => img.naturalWidth") > 0
        for signer_id, at in places.items():
            # Ana's stamp on the contract carries a text and goes on its page 2.
            special = signer_id == ana["id"] and document["filename"] == "contrat.pdf"
            await page.get_by_label("Cachet avec texte" if special else "Cachet simple").check()
            await drop_stamp(page, signer_id, at, 2 if special else 1)
        await expect(badge).to_have_attribute("data-stamps", "complete")
    # Bob's stamp on the annex, the document shown, moved right by 5 % of the page's width.
    await move_stamp(page, bob["id"], 0.05)
    moved = {"annexe.pdf": (0.35, 0.8)}
    await tab.screenshot("4-stamps")
    await page.get_by_role("button", name="Valider").click()

    await expect(page.locator("#summary li")).to_have_count(2)
    await expect(page.locator("#summary li").nth(0)).to_contain_text(BOB)
    await tab.screenshot("5-summary")
    await page.get_by_role("button", name="Envoyer pour signature").click()
    await expect(page.locator("#envelope-status")).to_have_text("En cours")
    await expect(page.locator('#timeline [data-type="envelope.sent"]')).to_be_visible()
    await expect(page.locator('#timeline [data-type="recipient.invited"]')).to_be_visible()
    await tab.screenshot("6-progress")

    sent = await api.get_envelope(envelope["id"])
    assert sent["status"] == "in_progress"
    assert (sent["name"], sent["message"]) == ("Facturation", "Merci de signer")
    assert sent["distribute_to_signers"] is True
    assert [d["filename"] for d in sent["documents"]] == ["contrat.pdf", "annexe.pdf"]
    people = [(r["email"], r["first_name"], r["last_name"]) for r in sent["recipients"]]
    assert people == [(BOB, None, None), (ANA, "Ana", "Martin")]
    for document in sent["documents"]:
        assert document["stamps"] == "complete"
        placed = {s["recipient_id"]: s for s in document["stamp_placements"]}
        for signer_id, at in places.items():
            stamp = placed[signer_id]
            if signer_id == bob["id"]:
                at = moved.get(document["filename"], at)
            x, y = expected_stamp(at)
            special = signer_id == ana["id"] and document["filename"] == "contrat.pdf"
            assert stamp["page"] == (2 if special else 1)
            assert (stamp["style"], stamp["text"]) == (
                ("with_text", "Lu et approuvé") if special else ("plain", None)
            )
            assert abs(stamp["x"] - x) < 1.5 and abs(stamp["y"] - y) < 1.5, stamp
            assert (stamp["width"], stamp["height"]) == (180, 60)
    assert_only_documented_calls(tab, base_url)


async def test_an_approval_envelope_with_the_sender_first_and_a_platform_user(
    tab: BrowserTab, api: ApiClient, base_url: str, runtime: Runtime
) -> None:
    user_id, sender_id = f"u-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    user = {"email": LEA, "first_name": "Léa", "last_name": "Dupont"}
    assert (await api.put(f"/v1/users/{user_id}", json=user)).status_code == 201
    sender = {"email": SENDER, "first_name": "Jim", "last_name": "Agine"}
    assert (await api.put(f"/v1/users/{sender_id}", json=sender)).status_code == 201
    page = tab.page
    await sign_in(page, base_url, api.tenant_key, sender=sender_id)  # a platform user sends
    await choose_kind(page, "Validation de documents")
    await pick_files(page, ("budget.xlsx", "application/vnd.ms-excel", b"not a pdf, and fine"))
    await expect(page.locator("ul.documents li")).to_have_count(1)
    await page.get_by_role("button", name="Suivant").click()

    await page.get_by_label("M'ajouter en tant que valideur").check()
    await expect(page.locator("#recipients li")).to_have_count(1)
    # Part of her name offers her from the directory; picking the suggestion puts her id there.
    await page.get_by_label("Adresse e-mail du destinataire").fill("dupon")
    suggestion = page.locator(f'#directory option[value="{user_id}"]')
    await expect(suggestion).to_have_text(f"Léa Dupont — {LEA}")
    await expect(page.locator("#directory option")).to_have_count(1)
    await page.get_by_label("Adresse e-mail du destinataire").fill(user_id)
    await expect(page.locator("#recipient-found")).to_contain_text(f"Léa Dupont ({LEA})")
    await page.get_by_role("button", name="Ajouter", exact=True).click()
    await expect(page.locator("#recipients li")).to_have_count(2)
    await page.get_by_label("Recevoir une copie du document").check()
    await page.get_by_role("button", name="Suivant").click()

    await expect(page.locator("#summary li")).to_have_count(2)
    await page.get_by_role("button", name="Envoyer pour validation").click()
    await expect(page.locator("#envelope-status")).to_have_text("En cours")
    await tab.screenshot("approval-progress")

    listed = (await api.get("/v1/envelopes", params={"kind": "approval"})).json()["data"]
    sent = await api.get_envelope(listed[0]["id"])
    assert (sent["status"], sent["kind"], sent["sender_copy"]) == ("in_progress", "approval", True)
    assert sent["sender"]["user_id"] == sender_id
    assert [(r["is_sender"], r["email"], r["user_id"]) for r in sent["recipients"]] == [
        (True, SENDER, sender_id),
        (False, LEA, user_id),
    ]

    # The progress follows the event log: the sender approves elsewhere, the screen shows it.
    first = sent["recipients"][0]["id"]
    async with Recipient(base_url=base_url, timeout=30) as recipient:
        opened = await recipient.open(runtime.secrets.link_token(uuid.UUID(first)))
        assert opened.status_code == 201, opened.text
        assert (await recipient.approve()).status_code == 200
    await expect(page.locator('#timeline [data-type="recipient.approved"]')).to_be_visible()
    await expect(page.locator('#progress-recipients li[data-status="approved"]')).to_have_count(1)
    await expect(page.locator("#progress-recipients li").nth(1)).to_contain_text("Invité")
    await tab.screenshot("approval-progress-approved")

    # Léa's turn: reminded, then the envelope canceled, both from the progress screen.
    await page.get_by_role("button", name="Relancer").click()
    await expect(page.locator("#progress-said")).to_have_text(f"Relance envoyée à {LEA}.")
    await expect(page.locator('#timeline [data-type="recipient.reminded"]')).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Annuler le flux").click()
    await expect(page.locator("#envelope-status")).to_have_text("Annulé")
    await expect(page.get_by_role("button", name="Relancer")).to_be_hidden()
    assert (await api.get_envelope(sent["id"]))["status"] == "canceled"
    assert_only_documented_calls(tab, base_url)


async def test_a_refused_document_is_said_in_words(
    tab: BrowserTab, api: ApiClient, base_url: str
) -> None:
    not_a_pdf = b"Just some notes, not a PDF.\n"
    elsewhere = await api.envelope(kind="signature")
    refusal = await api.upload(elsewhere["id"], not_a_pdf, filename="notes.txt")
    assert refusal.status_code >= 400
    detail = refusal.json()["detail"]

    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await choose_kind(page, "Signature de documents")
    await pick_files(page, ("notes.txt", "text/plain", not_a_pdf))
    await expect(page.get_by_role("alert")).to_have_text(f"notes.txt : {detail}")
    await expect(page.locator("ul.documents li")).to_have_count(0)
    await tab.screenshot("refusal")

    # Over the budget: said before any byte is sent (the service would cut the upload off).
    uploads_before = uploads(tab)
    await pick_files(page, ("gros.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(16 * 1024 * 1024)))
    await expect(page.get_by_role("alert")).to_have_text(
        "gros.pdf : ce fichier (16 Mo) dépasse la place restante dans l'enveloppe "
        "(15 Mo sur 15 Mo)."
    )
    assert uploads(tab) == uploads_before
    assert_only_documented_calls(tab, base_url)


def uploads(tab: BrowserTab) -> int:
    return sum(1 for method, url in tab.requests if method == "POST" and "/documents" in url)


async def test_at_eidas_levels_stamps_have_no_text_and_every_blocker_is_said(
    tab: BrowserTab, api: ApiClient, base_url: str
) -> None:
    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await choose_kind(page, "Signature de documents")
    await pick_files(page, ("bail.pdf", "application/pdf", make_pdf(1)))
    await expect(page.locator("ul.documents li")).to_have_count(1)
    await page.get_by_role("button", name="Suivant").click()
    eidas_simple = re.compile(r"^Signature électronique .*eIDAS simple")
    await page.get_by_role("radio", name=eidas_simple).check()
    await page.get_by_role("button", name="Suivant").click()
    await add_recipient(page, "ana@example")  # the field's own words follow the refusal
    await expect(page.get_by_role("alert")).to_contain_text("/email : value is not a valid email")
    await add_recipient(page, ANA)
    await expect(page.get_by_label(f"Mobile (+33…) ({ANA})")).to_be_visible()
    await expect(page.get_by_role("alert")).to_be_empty()
    await page.get_by_role("button", name="Positionner les signatures").click()

    await expect(page.get_by_text("Le cachet avec texte n'est pas disponible")).to_be_visible()
    await expect(page.get_by_label("Cachet avec texte")).to_have_count(0)
    # Without a pointer: the keyboard puts the stamp at the foot of page 1.
    await page.get_by_role("button", name=re.compile(f"^Cachet de {re.escape(ANA)}")).press("Enter")
    await expect(page.locator(".page .stamp.placed")).to_have_count(1)
    await expect(page.locator(".document-tab .badge")).to_have_attribute("data-stamps", "complete")
    await page.get_by_role("button", name="Valider").click()

    blockers = page.locator("#blockers li")
    await expect(blockers).to_have_text(
        [
            "Pas assez de crédits à ce niveau : il en faut un par signataire.",
            f"Il manque le mobile de {ANA}.",
        ]
    )
    await expect(page.get_by_role("button", name="Envoyer pour signature")).to_be_disabled()
    await tab.screenshot("eidas-blockers")
    envelope = await only_draft(api)
    (stamp,) = envelope["documents"][0]["stamp_placements"]
    assert (stamp["page"], stamp["style"], stamp["x"]) == (1, "plain", 36)
    assert abs(stamp["y"] - (A4[1] - 36 - 60)) < 0.1
    assert_only_documented_calls(tab, base_url)


async def test_a_reload_finds_the_draft_where_it_was_and_start_over_deletes_it(
    tab: BrowserTab, api: ApiClient, base_url: str
) -> None:
    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await choose_kind(page, "Signature de documents")
    await pick_files(page, ("contrat.pdf", "application/pdf", make_pdf(1)))
    await expect(page.locator("ul.documents li")).to_have_count(1)
    await page.reload()
    await expect(page.locator("ul.documents li")).to_contain_text("contrat.pdf")
    await expect(page.get_by_role("radio", name=re.compile("^Signature"))).to_be_checked()

    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name="Recommencer").click()
    await expect(page.get_by_role("radio", name=re.compile("^Validation"))).to_be_enabled()
    assert (await api.get("/v1/envelopes", params={"status": "draft"})).json()["data"] == []
    await page.get_by_role("button", name="Se déconnecter").click()
    await expect(page.get_by_label("Clé d'API")).to_be_empty()
    assert await page.evaluate("sessionStorage.length") == 0
    assert_only_documented_calls(tab, base_url)


async def test_a_wrong_api_key_is_refused_in_words_and_not_kept(
    tab: BrowserTab, base_url: str
) -> None:
    page = tab.page
    async with httpx.AsyncClient(base_url=base_url) as client:
        refusal = await client.get("/v1/credits", headers={"Authorization": "Bearer cachet_nope"})
    await page.goto(f"{base_url}/app/")
    await page.get_by_label("Clé d'API").fill("cachet_nope")
    await page.get_by_label("Votre adresse e-mail ou identifiant").fill(SENDER)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("alert")).to_have_text(refusal.json()["detail"])
    await expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    assert await page.evaluate("sessionStorage.length") == 0
    assert_only_documented_calls(tab, base_url)


async def test_english_is_one_click_away_and_stays_for_the_tab(
    tab: BrowserTab, api: ApiClient, base_url: str
) -> None:
    page = tab.page
    await sign_in(page, base_url, api.tenant_key)
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Create a workflow")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()
    await expect(page.get_by_role("heading", name="Create a workflow")).to_be_visible()
    await page.get_by_role("button", name="Français").click()
    await expect(page.get_by_role("heading", name="Créer un flux de travail")).to_be_visible()
    assert_only_documented_calls(tab, base_url)


async def test_the_screens_are_usable_on_a_375_pixel_phone(
    browser: Browser, api: ApiClient, base_url: str, tmp_path: Path
) -> None:
    artifacts = tmp_path / "screenshots"
    artifacts.mkdir()
    tab = await open_tab(browser, artifacts, ViewportSize(width=375, height=740))
    page = tab.page
    try:
        await page.goto(f"{base_url}/app/")
        await expect(page.get_by_label("Clé d'API")).to_be_in_viewport()
        assert await fits_the_width(page)
        await tab.screenshot("phone-sign-in")
        await sign_in(page, base_url, api.tenant_key)
        await choose_kind(page, "Signature de documents")
        await expect(page.get_by_text("+ Ajouter des fichiers")).to_be_in_viewport()
        assert await fits_the_width(page)
        await tab.screenshot("phone-documents")

        # The rest of the way on the phone too; a tap places the stamp.
        await pick_files(page, ("contrat.pdf", "application/pdf", make_pdf(1)))
        await expect(page.locator("ul.documents li")).to_have_count(1)
        await page.get_by_role("button", name="Suivant").click()
        await page.get_by_role("button", name="Suivant").click()
        await add_recipient(page, ANA)
        await expect(page.locator("#recipients li")).to_have_count(1)
        assert await fits_the_width(page)
        await tab.screenshot("phone-recipients")
        await page.get_by_role("button", name="Positionner les signatures").click()
        await page.locator(".palette .stamp").click()
        await expect(page.locator(".page .stamp.placed")).to_have_count(1)
        await expect(page.locator(".document-tab .badge")).to_have_attribute(
            "data-stamps", "complete"
        )
        assert await fits_the_width(page)
        await tab.screenshot("phone-stamps")
    finally:
        await page.context.close()
    assert_only_documented_calls(tab, base_url)


async def fits_the_width(page: Page) -> bool:
    """Nothing wider than the screen: no sideways scrolling."""
    widths: list[int] = await page.evaluate(
        "[document.documentElement.scrollWidth, window.innerWidth]"
    )
    return widths[0] <= widths[1]
