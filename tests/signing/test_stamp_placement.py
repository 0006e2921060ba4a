"""Stamps land where the sender put them and read upright, whatever /Rotate and CropBox say.

The sender places a box in top-left display coordinates; rules.display_box_to_user_space turns
it into user space, pades signs, and poppler renders the page *as displayed* (pdftoppm -cropbox
applies /Rotate and the CropBox). At 72 dpi one pixel is one point, so the stamp's pixels must
cover exactly the sender's box, and a four-colour image must keep its colours in their corners.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from app.envelopes.rules import Box, display_box_to_user_space
from app.signing.keys import Seal
from app.signing.pades import FieldSpec, SignatureOrder, StampLook, add_signature_fields, sign_field
from app.signing.stamp_font import visual_runs
from app.signing.stamp_layout import MAX_TEXT_SIZE, Rect, StampLayout, TextBlock, plan_layout
from tests.signing.samples import (
    BLUE,
    GREEN,
    RED,
    YELLOW,
    PageSetup,
    displayed_pages,
    geometry_pdf,
    quadrant_png,
    stroke_png,
)
from tests.signing.testpki import TestPki

LETTER = (0.0, 0.0, 612.0, 792.0)
SETUPS = (
    PageSetup(rotate=0),
    PageSetup(rotate=90),
    PageSetup(rotate=180),
    PageSetup(rotate=270),
    PageSetup(media_box=LETTER, crop_box=(40, 60, 440, 660)),
    PageSetup(media_box=LETTER, crop_box=(40, 60, 440, 660), rotate=90),
    PageSetup(media_box=(10, 20, 620, 812), rotate=180),
)
TOLERANCE = 2  # pixels (= points at 72 dpi): anti-aliased edges


@pytest.fixture(scope="module")
def seal(test_pki: TestPki) -> Seal:
    return test_pki.seal()


@pytest.mark.parametrize("page_number", range(1, len(SETUPS) + 1))
def test_an_image_stamp_fills_the_displayed_box_and_reads_upright(
    tmp_path: Path, seal: Seal, page_number: int
) -> None:
    pdf = geometry_pdf(tmp_path / "pages.pdf", SETUPS)
    box = Box(page=page_number, x=50, y=70, width=160, height=60)
    signed = _sign_stamp(
        pdf,
        tmp_path / "signed.pdf",
        box,
        StampLook(quadrant_png(640, 240), None, "Ana Li", "en", with_text=False),
        seal,
    )

    page = displayed_pages(pdf)[page_number - 1]
    rendered = render_displayed_page(signed, page_number, tmp_path)
    assert abs(rendered.width - page.width) <= 1 and abs(rendered.height - page.height) <= 1

    left, top, right, bottom = box.x, box.y, box.right, box.bottom
    middle_x, middle_y = left + box.width / 2, top + box.height / 2
    assert_close(ink_bbox(rendered), (left, top, right, bottom))
    assert_close(colour_bbox(rendered, RED), (left, top, middle_x, middle_y))
    assert_close(colour_bbox(rendered, BLUE), (middle_x, top, right, middle_y))
    assert_close(colour_bbox(rendered, GREEN), (left, middle_y, middle_x, bottom))
    assert_close(colour_bbox(rendered, YELLOW), (middle_x, middle_y, right, bottom))


@pytest.mark.parametrize(
    ("page_number", "width", "height"), [(1, 180, 60), (2, 180, 60), (5, 85, 37)]
)
def test_a_stamp_with_text_keeps_image_and_accented_text_inside_its_box(
    tmp_path: Path, seal: Seal, page_number: int, width: float, height: float
) -> None:
    pdf = geometry_pdf(tmp_path / "pages.pdf", SETUPS)
    box = Box(page=page_number, x=60, y=90, width=width, height=height)
    name = "Łukasz Șerban Müller-Weiß"
    look = StampLook(stroke_png(), "Lu et approuvé, ça va", name, "fr", with_text=True)
    signed = _sign_stamp(pdf, tmp_path / "signed.pdf", box, look, seal)

    text = pdftotext(signed, page_number)
    assert "Lu et approuvé, ça va" in text
    assert f"Signé par {name}" in " ".join(text.split())
    assert re.search(r"le \d\d/\d\d/\d{4} à \d\d:\d\d UTC", text)
    for word in words_with_boxes(signed, page_number):
        assert_inside(word.bbox, box, what=word.text)
    assert_inside(ink_bbox(render_displayed_page(signed, page_number, tmp_path)), box, what="ink")
    (font,) = embedded_fonts(signed)
    assert "DejaVuSans" in font


def test_english_stamps_use_iso_dates(tmp_path: Path, seal: Seal) -> None:
    pdf = geometry_pdf(tmp_path / "pages.pdf", SETUPS[:1])
    box = Box(page=1, x=60, y=90, width=220, height=70)
    look = StampLook(stroke_png(), None, "Zoë Ørsted", "en", with_text=True)
    signed = _sign_stamp(pdf, tmp_path / "signed.pdf", box, look, seal)

    text = " ".join(pdftotext(signed, 1).split())
    assert "Signed by Zoë Ørsted" in text
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text)


# --- the layout, without PDFs -----------------------------------------------------------

TYPICAL_TEXT = TextBlock(width_em=17.0, lines=3)  # "Signé par Jean-Christophe Dupont", ...


@pytest.mark.parametrize(
    ("width", "height", "aspect", "text"),
    [
        (180, 60, 3.0, TYPICAL_TEXT),
        (85, 37, 3.0, TYPICAL_TEXT),
        (400, 200, 3.0, TYPICAL_TEXT),
        (90, 300, 3.0, TYPICAL_TEXT),
        (180, 60, 0.5, TextBlock(30.0, 4)),
        (500, 40, 3.0, TextBlock(9.0, 2)),
        (180, 60, 3.0, None),
    ],
)
def test_the_layout_keeps_image_and_text_apart_and_inside_the_box(
    width: float, height: float, aspect: float, text: TextBlock | None
) -> None:
    plan = plan_layout(width, height, aspect, text)

    assert plan.image is not None and _inside(plan.image, width, height)
    assert plan.image.width / plan.image.height == pytest.approx(aspect)
    if text is None:
        assert plan.text is None
        return
    assert plan.text is not None and _inside(plan.text, width, height)
    assert not _overlap(plan.image, plan.text)
    assert 0 < plan.text_size <= MAX_TEXT_SIZE


def test_a_small_stamp_still_shows_readable_text_and_a_visible_signature() -> None:
    plan = plan_layout(180, 60, 3.0, TYPICAL_TEXT)

    assert plan.text_size >= 7
    assert plan.image is not None and plan.image.height >= 15


def test_text_goes_beside_the_image_in_a_wide_box_and_below_it_in_a_tall_one() -> None:
    wide = plan_layout(300, 50, 3.0, TextBlock(9.0, 2))
    tall = plan_layout(120, 150, 3.0, TYPICAL_TEXT)

    assert _is_beside(wide) and not _is_beside(tall)


@pytest.mark.parametrize(
    ("line", "runs"),
    [
        ("Signé par Ana Li", [("Signé par Ana Li", "ltr")]),
        ("Signé par אבי כהן", [("Signé par ", "ltr"), ("אבי כהן", "rtl")]),
        ("Signed by محمد علي", [("Signed by ", "ltr"), ("محمد علي", "rtl")]),
        ("נקרא ואושר", [("נקרא ואושר", "rtl")]),
        # Right-to-left base: runs in display order, right to left.
        ("נקרא ואושר OK", [("OK", "ltr"), ("נקרא ואושר ", "rtl")]),
        ("e\u0301te\u0301", [("e\u0301te\u0301", "ltr")]),  # combining marks stay put
    ],
)
def test_lines_are_cut_into_direction_runs_for_shaping(
    line: str, runs: list[tuple[str, str]]
) -> None:
    assert visual_runs(line) == runs


def _inside(rect: Rect, width: float, height: float) -> bool:
    epsilon = 1e-6
    return (
        rect.x >= -epsilon
        and rect.y >= -epsilon
        and rect.x + rect.width <= width + epsilon
        and rect.y + rect.height <= height + epsilon
    )


def _overlap(a: Rect, b: Rect) -> bool:
    return (
        a.x < b.x + b.width
        and b.x < a.x + a.width
        and a.y < b.y + b.height
        and b.y < a.y + a.height
    )


def _is_beside(plan: StampLayout) -> bool:
    assert plan.image is not None and plan.text is not None
    return plan.image.x + plan.image.width <= plan.text.x


# --- signing and looking -----------------------------------------------------------------


def _sign_stamp(pdf: Path, target: Path, box: Box, look: StampLook, seal: Seal) -> Path:
    page = displayed_pages(pdf)[box.page - 1]
    prepared = target.with_name("fields.pdf")
    field = FieldSpec("Stamp", box.page - 1, display_box_to_user_space(box, page))
    add_signature_fields(pdf, prepared, [field])
    sign_field(
        prepared, target, SignatureOrder("Stamp", look.signer_name, None, None, None, look), seal
    )
    return target


def render_displayed_page(pdf: Path, page_number: int, directory: Path) -> Image.Image:
    prefix = directory / f"page-{page_number}"
    pages = ["-f", str(page_number), "-l", str(page_number)]
    _run(["pdftoppm", "-r", "72", "-png", "-cropbox", *pages, "-singlefile", str(pdf), str(prefix)])
    with Image.open(prefix.with_suffix(".png")) as image:
        return image.convert("RGB")


def ink_bbox(image: Image.Image) -> tuple[int, int, int, int]:
    """Everything that is not (nearly) white."""
    red, green, blue = image.split()
    darkest = ImageChops.darker(red, ImageChops.darker(green, blue))
    return _bbox(darkest.point(lambda v: 255 if v < 200 else 0))


def colour_bbox(image: Image.Image, colour: tuple[int, int, int]) -> tuple[int, int, int, int]:
    masks = [
        band.point(lambda v, on=on: 255 if (v > 180 if on else v < 75) else 0)
        for band, on in zip(image.split(), colour, strict=True)
    ]
    return _bbox(ImageChops.multiply(ImageChops.multiply(masks[0], masks[1]), masks[2]))


def _bbox(mask: Image.Image) -> tuple[int, int, int, int]:
    bbox = mask.getbbox()
    assert bbox is not None, "nothing of that colour on the page"
    return bbox


def assert_close(found: tuple[float, ...], expected: tuple[float, ...]) -> None:
    assert all(abs(a - b) <= TOLERANCE for a, b in zip(found, expected, strict=True)), (
        found,
        expected,
    )


def assert_inside(bbox: tuple[float, float, float, float], box: Box, *, what: str) -> None:
    left, top, right, bottom = bbox
    assert (
        left >= box.x - 1
        and top >= box.y - 1
        and right <= box.right + 1
        and bottom <= box.bottom + 1
    ), (what, bbox, box)


def pdftotext(pdf: Path, page_number: int) -> str:
    return _run(
        ["pdftotext", "-layout", "-f", str(page_number), "-l", str(page_number), str(pdf), "-"]
    )


@dataclass(frozen=True)
class Word:
    text: str
    bbox: tuple[float, float, float, float]  # displayed page, top-left origin


def words_with_boxes(pdf: Path, page_number: int) -> list[Word]:
    html = _run(
        [
            "pdftotext",
            "-bbox",
            "-cropbox",
            "-f",
            str(page_number),
            "-l",
            str(page_number),
            str(pdf),
            "-",
        ]
    )
    pattern = (
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    )
    words = [
        Word(text, (float(x0), float(y0), float(x1), float(y1)))
        for x0, y0, x1, y1, text in re.findall(pattern, html)
    ]
    assert words, "pdftotext found no words"
    return words


def embedded_fonts(pdf: Path) -> list[str]:
    """Names of the embedded, subset, Unicode-mapped fonts pdffonts lists."""
    rows = _run(["pdffonts", str(pdf)]).splitlines()[2:]
    return [row.split()[0] for row in rows if re.search(r"\byes\s+yes\s+yes\b", row)]


def _run(command: list[str]) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=60).stdout
