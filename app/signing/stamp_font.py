"""DejaVu Sans for stamp text, prepared once per process (seconds) and shaped per direction."""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import uharfbuzz as hb
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.writer import BasePdfFileWriter

FONT_FILE = "DejaVuSans.ttf"
TEXT_SIZE = 10.0
"""Size the text is shaped at; the layout scales it with `cm`, so shaping happens once."""

# DejaVu Sans metrics at 1000 units per em (hhea ascender 928, descender -236).
ASCENT = 0.93
DESCENT = 0.24
LEADING = 1.2

_COMMON_CODEPOINTS = frozenset(
    [
        *range(0x20, 0x7F),  # Basic Latin
        *range(0xA0, 0x250),  # Latin-1, Latin Extended-A and -B
        *range(0x2B0, 0x370),  # spacing modifiers, combining diacritics
        *range(0x370, 0x530),  # Greek, Cyrillic
        *range(0x1E00, 0x1F00),  # Latin Extended Additional
        *range(0x2000, 0x2070),  # general punctuation
        *range(0x20A0, 0x20C0),  # currency signs
    ]
)
_LAYOUT_AND_HINTING = ("GPOS", "GSUB", "GDEF", "kern", "FFTM", "fpgm", "prep", "cvt ", "hdmx")


@dataclass(frozen=True)
class _FontVariant:
    """One font for HarfBuzz (with its layout tables, for kerning and marks) and the same glyphs
    without layout tables or hinting for fontTools, which then subsets it several times faster."""

    shaping_bytes: bytes
    embedding_bytes: bytes
    codepoints: frozenset[int]


@dataclass(frozen=True)
class _Fonts:
    common: _FontVariant  # Latin, Greek, Cyrillic: ~1,500 glyphs, subsets in ~15 ms
    full: _FontVariant  # all of DejaVu Sans' 6,253 glyphs, for anything else

    def for_text(self, lines: Sequence[str]) -> _FontVariant:
        used = {ord(char) for line in lines for char in line}
        return self.common if used <= self.common.codepoints else self.full


_fonts: _Fonts | None = None
_fonts_lock = threading.Lock()


def load_fonts() -> None:
    """Prepare the stamp fonts now (about 2 s, once per process), not in the first signature."""
    loaded_fonts()


def loaded_fonts() -> _Fonts:
    global _fonts
    with _fonts_lock:
        if _fonts is None:
            _fonts = _build_fonts()
        return _fonts


def _build_fonts() -> _Fonts:
    # pyHanko writes glyph advances into /W unscaled, which is only right at 1000 units per em
    # (DejaVu has 2048): without this, stamp text is spread out and clipped.
    font = TTFont(io.BytesIO(_font_file_bytes()))
    scale_upem(font, 1000)
    full = _save(font)
    common = _common_subset(full)
    return _Fonts(common=_variant(common), full=_variant(full))


def _font_file_bytes() -> bytes:
    return (resources.files("app.signing") / "fonts" / FONT_FILE).read_bytes()


def _common_subset(font_bytes: bytes) -> bytes:
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.glyph_names = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_COMMON_CODEPOINTS)
    font = TTFont(io.BytesIO(font_bytes))
    if "FFTM" in font:  # FontForge's timestamps: fontTools cannot subset it and logs a warning
        del font["FFTM"]
    subsetter.subset(font)
    return _save(font)


def _variant(font_bytes: bytes) -> _FontVariant:
    font = TTFont(io.BytesIO(font_bytes))
    codepoints = frozenset(font.getBestCmap())
    for tag in _LAYOUT_AND_HINTING:
        if tag in font:
            del font[tag]
    return _FontVariant(font_bytes, _save(font), codepoints)


def _save(font: TTFont) -> bytes:
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


class StampFont(GlyphAccumulator):
    """pyHanko's embedded-subset font engine, shaping with the full tables of the same glyphs."""

    def __init__(self, writer: BasePdfFileWriter, variant: _FontVariant) -> None:
        obj_stream = (
            writer.prepare_object_stream()  # type: ignore[no-untyped-call]
            if writer.stream_xrefs
            else None
        )
        super().__init__(
            writer=writer,
            font_handle=io.BytesIO(variant.embedding_bytes),
            font_size=TEXT_SIZE,
            obj_stream=obj_stream,
        )
        self.hb_font = hb.Font(hb.Face(variant.shaping_bytes))

    def shape_line(self, line: str) -> ShapedLine:
        """Shape each direction run on its own (HarfBuzz shapes one direction at a time) and
        chain them: every run's operators end with the text cursor after its last glyph."""
        ops, width = [], 0.0
        for run, direction in visual_runs(line):
            self.writing_direction = direction
            shaped = self.shape(run)
            ops.append(shaped.graphics_ops)
            width += shaped.x_advance
        self.writing_direction = None
        return ShapedLine(b" ".join(ops), width)


@dataclass(frozen=True)
class ShapedLine:
    graphics_ops: bytes  # text-showing operators at TEXT_SIZE, from the line's start
    width_em: float


def visual_runs(line: str) -> list[tuple[str, str]]:
    """The line cut where the writing direction changes, runs in display order, each with its
    direction ("ltr" or "rtl"): a Hebrew or Arabic name inside a French line reads right to
    left. A simplified Unicode bidi algorithm: the first strong character sets the base
    direction, a neutral between two characters of one direction takes it, else the base's;
    no nesting, so digits inside a right-to-left run are reversed with it."""
    strong = [_strong_direction(char) for char in line]
    for index, char in enumerate(line):
        if unicodedata.bidirectional(char) == "NSM" and index:
            strong[index] = strong[index - 1]  # a combining mark follows its base letter
    base = next((d for d in strong if d is not None), "ltr")
    resolved = [d or _neutral_direction(strong, i, base) for i, d in enumerate(strong)]
    runs: list[tuple[str, str]] = []
    for char, direction in zip(line, resolved, strict=True):
        if runs and runs[-1][1] == direction:
            runs[-1] = (runs[-1][0] + char, direction)
        else:
            runs.append((char, direction))
    return runs[::-1] if base == "rtl" else runs


def _strong_direction(char: str) -> str | None:
    kind = unicodedata.bidirectional(char)
    if kind in ("R", "AL"):
        return "rtl"
    return "ltr" if kind == "L" else None


def _neutral_direction(strong: Sequence[str | None], index: int, base: str) -> str:
    before = next((d for d in reversed(strong[:index]) if d is not None), base)
    after = next((d for d in strong[index + 1 :] if d is not None), base)
    return before if before == after else base
