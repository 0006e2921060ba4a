"""PDFs and stamp images for the signing tests, built on the spot (nothing binary in the repo)."""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from app.envelopes.rules import Page
from app.pdf.geometry import page_geometry


def text_pdf(path: Path, pages: int = 2, *, lines_per_page: int = 1) -> Path:
    """A plain A4 document with `lines_per_page` lines of text on each page."""
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        pdf.setFont("Helvetica", 9)
        for line in range(lines_per_page):
            pdf.drawString(56, 800 - 12 * (line % 62), f"Page {number}, line {line + 1}: {_FILLER}")
        pdf.showPage()
    pdf.save()
    return path


_FILLER = "Le présent contrat est conclu entre les parties désignées ci-dessous."


def pdf_of_about(path: Path, size_bytes: int) -> Path:
    """About `size_bytes` of PDF: ten text pages and, on the first, a noise image (incompressible,
    stored raw), which is how scanned contracts get big."""
    text_pdf(path, pages=10, lines_per_page=40)
    room = size_bytes - path.stat().st_size
    if room <= 3 * 64 * 64:
        return path
    side = int((room / 3) ** 0.5)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        image = pikepdf.Stream(pdf, random.Random(size_bytes).randbytes(side * side * 3))
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = side, side, 8
        image.ColorSpace = pikepdf.Name.DeviceRGB
        page = pdf.pages[0]
        name = page.add_resource(image, pikepdf.Name.XObject)
        page.contents_add(pikepdf.Stream(pdf, b"q 240 0 0 240 56 300 cm %s Do Q" % bytes(name)))
        pdf.save(path, compress_streams=False)
    return path


@dataclass(frozen=True)
class PageSetup:
    media_box: tuple[float, float, float, float] = (0, 0, 595.28, 841.89)
    crop_box: tuple[float, float, float, float] | None = None
    rotate: int = 0


def geometry_pdf(path: Path, setups: Sequence[PageSetup]) -> Path:
    """One blank page per setup, with its own MediaBox, CropBox and /Rotate."""
    with pikepdf.new() as pdf:
        for setup in setups:
            pdf.add_blank_page(page_size=(setup.media_box[2], setup.media_box[3]))
            page = pdf.pages[-1].obj
            page.MediaBox = pikepdf.Array(setup.media_box)
            if setup.crop_box is not None:
                page.CropBox = pikepdf.Array(setup.crop_box)
            if setup.rotate:
                page.Rotate = setup.rotate
        pdf.save(path)
    return path


def displayed_pages(path: Path) -> list[Page]:
    """The pages as the service sees them (app.pdf.geometry), as rules.Page values."""
    with pikepdf.open(path) as pdf:
        geometries = [page_geometry(page.obj) for page in pdf.pages]
    return [Page(g.width, g.height, g.rotation, g.crop_box) for g in geometries]


RED = (255, 0, 0)
BLUE = (0, 0, 255)
GREEN = (0, 255, 0)
YELLOW = (255, 255, 0)


def quadrant_png(width: int, height: int) -> bytes:
    """Red top left, blue top right, green bottom left, yellow bottom right; opaque. Any turn or
    mirror of the stamp moves a colour to another corner."""
    image = Image.new("RGB", (width, height))
    half_w, half_h = width // 2, height // 2
    for colour, box in (
        (RED, (0, 0, half_w, half_h)),
        (BLUE, (half_w, 0, width, half_h)),
        (GREEN, (0, half_h, half_w, height)),
        (YELLOW, (half_w, half_h, width, height)),
    ):
        image.paste(colour, box)
    return _png(image)


def stroke_png(width: int = 600, height: int = 200) -> bytes:
    """A 'handwritten' zigzag in navy on a transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    step = width // 6
    points = [
        (x, height // 5 if (x // step) % 2 else 4 * height // 5) for x in range(0, width, step)
    ]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 128, 255), width=max(2, height // 30))
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
