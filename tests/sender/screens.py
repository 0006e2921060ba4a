"""Driving the sender's screens as a person would, in French (the seed's language): sign in,
choose, pick or drop files, add recipients, drag stamps onto the pages."""

from __future__ import annotations

import base64
import re
import uuid
from typing import Any

from playwright.async_api import FilePayload, Locator, Page, expect

from tests.support import A4, ApiClient

# The session's SMTP sink is shared by the whole suite: addresses of this run only, so that no
# other test waiting for mail to these people ever reads one of ours.
RUN = uuid.uuid4().hex[:6]
SENDER = f"jim.agine+{RUN}@clic.fr"
ANA, BOB, LEA = (f"{name}+{RUN}@example.com" for name in ("ana", "bob", "lea"))


async def sign_in(page: Page, base_url: str, api_key: str, sender: str = SENDER) -> None:
    await page.goto(f"{base_url}/app/")
    await page.get_by_label("Clé d'API").fill(api_key)
    await page.get_by_label("Votre adresse e-mail ou identifiant").fill(sender)
    await page.get_by_label("Prénom", exact=True).fill("Jim")
    await page.get_by_label("Nom", exact=True).fill("Agine")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page.get_by_role("heading", name="Créer un flux de travail")).to_be_visible()


async def choose_kind(page: Page, title: str) -> None:
    await page.get_by_role("radio", name=re.compile(f"^{title}")).check()
    await expect(page.locator("#dropzone")).to_be_visible()


async def pick_files(page: Page, *files: tuple[str, str, bytes]) -> None:
    """Through the file picker, as "+ Ajouter des fichiers" opens it."""
    payloads = [FilePayload(name=name, mimeType=kind, buffer=data) for name, kind, data in files]
    await page.set_input_files("#file-picker", files=payloads)


async def drop_file(page: Page, name: str, kind: str, data: bytes) -> None:
    """A file dropped on the drop zone, as from the desktop: a real DataTransfer holding it."""
    transfer = await page.evaluate_handle(
        """([name, kind, base64]) => {
            const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: kind }));
            return transfer;
        }""",
        [name, kind, base64.b64encode(data).decode()],
    )
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})


async def add_recipient(page: Page, who: str) -> None:
    await page.get_by_label("Adresse e-mail du destinataire").fill(who)
    await page.get_by_role("button", name="Ajouter", exact=True).click()


async def drag(page: Page, source: Locator, to_x: float, to_y: float) -> None:
    """Press on the source's centre, move in steps, release at (to_x, to_y): pointer events."""
    box = await source.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(to_x, to_y, steps=8)
    await page.mouse.up()


async def drop_stamp(page: Page, signer_id: str, at: tuple[float, float], number: int = 1) -> None:
    """Drags the signer's stamp from the palette to `at`, fractions of the page's width and
    height; waits until the page shows it placed."""
    sheet = page.locator(f'.page[data-page="{number}"]')
    await sheet.scroll_into_view_if_needed()
    box = await sheet.bounding_box()
    assert box is not None
    source = page.locator(f'.palette .stamp[data-recipient-id="{signer_id}"]')
    await drag(page, source, box["x"] + box["width"] * at[0], box["y"] + box["height"] * at[1])
    await expect(sheet.locator(f'.stamp.placed[data-recipient-id="{signer_id}"]')).to_be_visible()


async def move_stamp(page: Page, signer_id: str, by: float) -> None:
    """Drags the signer's placed stamp on page 1 right by `by` of the page's width; waits for
    the service to have it."""
    sheet = page.locator('.page[data-page="1"]')
    await sheet.scroll_into_view_if_needed()
    sheet_box, stamp_box = (
        await sheet.bounding_box(),
        await stamp_on(page, signer_id).bounding_box(),
    )
    assert sheet_box is not None and stamp_box is not None
    centre = (stamp_box["x"] + stamp_box["width"] / 2, stamp_box["y"] + stamp_box["height"] / 2)
    async with page.expect_response(lambda r: "/stamps/" in r.url) as answer:
        await drag(page, stamp_on(page, signer_id), centre[0] + sheet_box["width"] * by, centre[1])
    assert (await answer.value).status == 200  # moved, not placed anew


def stamp_on(page: Page, signer_id: str) -> Locator:
    return page.locator(f'.page[data-page="1"] .stamp.placed[data-recipient-id="{signer_id}"]')


def expected_stamp(at: tuple[float, float]) -> tuple[float, float]:
    """Where a 180 x 60 pt stamp grabbed by its centre lands on A4, in points from the top-left."""
    return A4[0] * at[0] - 90, A4[1] * at[1] - 30


async def only_draft(api: ApiClient) -> dict[str, Any]:
    listed = await api.get("/v1/envelopes", params={"status": "draft"})
    (draft,) = listed.json()["data"]
    return await api.get_envelope(draft["id"])
