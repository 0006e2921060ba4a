"""Pages of a stored PDF as PNG images, for the signing page: drawn by pdfium in the gate's
capped worker processes (the file is untrusted even after the gate: pdfium parses it anew).

The image is the page as displayed (CropBox, /Rotate), so the top-left coordinates of stamps,
in points, map onto it as fractions of the page's width and height.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pypdfium2

# Pixels per point at scale 1 is 1 (72 dpi); the page asks for 1 to 2 and zooms by steps.
MIN_SCALE = 0.25
MAX_SCALE = 4.0
# A cap on either side of the image, whatever the page size: a 200-inch page at scale 4 would
# otherwise be a gigapixel bitmap.
MAX_SIDE_PIXELS = 6000


@dataclass(frozen=True)
class RenderedPage:
    png: bytes
    width: int
    height: int


class PageOutOfRange(ValueError):
    """The document has fewer pages than the number asked for."""


class UnrenderablePage(ValueError):
    """pdfium could not draw the page (plain values only: it crosses the process boundary)."""


def render_page_png(path: str, page_number: int, scale: float) -> RenderedPage:
    """Page `page_number` (1-based) drawn at `scale`, widgets and annotations included (the
    signatures already applied show their stamps). Runs in a worker process."""
    try:
        return _render(path, page_number, scale)
    except pypdfium2.PdfiumError as error:
        raise UnrenderablePage(str(error)) from None


def _render(path: str, page_number: int, scale: float) -> RenderedPage:
    document = pypdfium2.PdfDocument(Path(path))
    try:
        if not 1 <= page_number <= len(document):
            raise PageOutOfRange(f"the document has {len(document)} page(s)")
        page = document[page_number - 1]
        try:
            width, height = page.get_size()
            scale = min(scale, MAX_SIDE_PIXELS / max(width, height, 1.0))
            bitmap = page.render(scale=scale, may_draw_forms=False)
            image = bitmap.to_pil()
        finally:
            page.close()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6)
    return RenderedPage(out.getvalue(), image.width, image.height)
