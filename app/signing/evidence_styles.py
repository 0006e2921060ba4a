"""The evidence PDF's embedded font and paragraph styles, shared by its sections and tables."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

FONT_NAME = "CachetDejaVuSans"
# Shipped with the package (unmodified, licence beside it): hosts need no system fonts.
FONT_PATH = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"


@dataclass(frozen=True)
class Styles:
    title: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    cell: ParagraphStyle
    header: ParagraphStyle
    small: ParagraphStyle
    hash: ParagraphStyle
    chain_head: ParagraphStyle


def paragraph_styles() -> Styles:
    font = registered_font()
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, alignment=TA_LEFT)

    def derived(name: str, **changes: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **changes)

    return Styles(
        title=derived("title", fontSize=18, leading=23, spaceAfter=4 * mm),
        heading=derived(
            "heading",
            fontSize=12.5,
            leading=16,
            spaceBefore=5 * mm,
            spaceAfter=2 * mm,
            keepWithNext=1,
        ),
        body=base,
        cell=derived("cell", fontSize=7.5, leading=9.5),
        header=derived("header", fontSize=7.5, leading=9.5, textColor=colors.white),
        small=derived("small", fontSize=6.5, leading=8, textColor=colors.HexColor("#555555")),
        # No hyphen is ever added when a long word is split, so a wrapped hash reads unchanged.
        hash=derived("hash", fontSize=6.5, leading=8, splitLongWords=1),
        chain_head=derived("chain_head", fontSize=8.5, leading=11, splitLongWords=1),
    )


_font_lock = threading.Lock()


def registered_font() -> str:
    """Registers the embedded Unicode font once per process; returns its name."""
    with _font_lock:
        if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    return FONT_NAME
