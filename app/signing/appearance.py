"""The visible stamp of a signature: the signer's handwritten image and, optionally, a few lines
of text, drawn as the signature widget's appearance (never on the page: that would break the
signatures before it).

The appearance is laid out in the page's *displayed* orientation and turned into user space,
so it reads upright on pages with /Rotate. Text uses DejaVu Sans, embedded as a subset.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import uharfbuzz as hb
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.ttLib.scaleUpem import scale_upem
from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.writer import BasePdfFileWriter, init_xobject_dictionary
from pyhanko.stamp import TextStamp, TextStampStyle

# --- inputs -----------------------------------------------------------------------------


@dataclass(frozen=True)
class StampLook:
    """What a signer's stamp shows; `text` and the name/date lines only when `with_text`.

    An empty `image_png` means text only (a visible field signed without a stamp image)."""

    image_png: bytes
    text: str | None
    signer_name: str
    locale: str  # "fr" or "en"; anything else reads as "en"
    with_text: bool


# --- font -------------------------------------------------------------------------------

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
    _loaded_fonts()


def _loaded_fonts() -> _Fonts:
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


class _StampFont(GlyphAccumulator):
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


# --- layout -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class TextBlock:
    """Lines of text measured in em: the widest line and the line count."""

    width_em: float
    lines: int

    @property
    def height_em(self) -> float:
        return ASCENT + DESCENT + (self.lines - 1) * LEADING


@dataclass(frozen=True)
class StampLayout:
    """Where image and text go, in displayed orientation, origin at the stamp's bottom left."""

    image: Rect | None
    text: Rect | None  # the text block; its lines are `text_size` points high
    text_size: float
    centred_lines: bool


MAX_TEXT_SIZE = 10.0
_IMAGE_SHARES = (0.35, 0.45, 0.55, 0.65)


def plan_layout(
    width: float, height: float, image_aspect: float | None, text: TextBlock | None
) -> StampLayout:
    """Image left of or above the text, whichever shows both larger; text at most 10 pt."""
    if text is None or text.lines == 0:
        # Image only: the whole box, as the sender drew it (the image has its own margins).
        image = _fit(image_aspect, Rect(0, 0, width, height)) if image_aspect else None
        return StampLayout(image, None, 0.0, False)
    margin = min(4.0, max(1.5, 0.05 * min(width, height)))
    inner = Rect(margin, margin, width - 2 * margin, height - 2 * margin)
    if image_aspect is None:
        size = min(MAX_TEXT_SIZE, inner.width / text.width_em, inner.height / text.height_em)
        block = _text_rect(text, size)
        y = inner.y + (inner.height - block.height) / 2
        return StampLayout(None, Rect(inner.x, y, block.width, block.height), size, False)
    candidates = [
        plan(inner, image_aspect, text, share, margin)
        for plan in (_side_by_side, _stacked)
        for share in _IMAGE_SHARES
    ]
    return max(candidates, key=_legibility)


def _legibility(plan: StampLayout) -> float:
    # Neither may be sacrificed for the other, but the text (who signed, when) weighs a little
    # more: in a 180 x 60 box this picks 7.9 pt text under a 69 x 23 signature.
    image = plan.image
    return plan.text_size**1.5 * math.sqrt(image.width * image.height) if image else 0.0


def _side_by_side(
    inner: Rect, aspect: float, text: TextBlock, image_share: float, gap: float
) -> StampLayout:
    room = inner.width - gap
    size = min(
        MAX_TEXT_SIZE, room * (1 - image_share) / text.width_em, inner.height / text.height_em
    )
    block = _text_rect(text, size)
    image = _fit(aspect, Rect(0, 0, room - block.width, inner.height))
    # Centre image, gap and text together, each centred vertically.
    left = inner.x + (inner.width - (image.width + gap + block.width)) / 2
    image_y = inner.y + (inner.height - image.height) / 2
    text_y = inner.y + (inner.height - block.height) / 2
    return StampLayout(
        Rect(left, image_y, image.width, image.height),
        Rect(left + image.width + gap, text_y, block.width, block.height),
        size,
        centred_lines=False,
    )


def _stacked(
    inner: Rect, aspect: float, text: TextBlock, image_share: float, gap: float
) -> StampLayout:
    room = inner.height - gap
    size = min(
        MAX_TEXT_SIZE, inner.width / text.width_em, room * (1 - image_share) / text.height_em
    )
    block = _text_rect(text, size)
    image = _fit(aspect, Rect(0, 0, inner.width, room - block.height))
    bottom = inner.y + (inner.height - (image.height + gap + block.height)) / 2
    return StampLayout(
        Rect(
            inner.x + (inner.width - image.width) / 2,
            bottom + block.height + gap,
            image.width,
            image.height,
        ),
        Rect(inner.x + (inner.width - block.width) / 2, bottom, block.width, block.height),
        size,
        centred_lines=True,
    )


def _text_rect(text: TextBlock, size: float) -> Rect:
    return Rect(0, 0, text.width_em * size, text.height_em * size)


def _fit(aspect: float, room: Rect) -> Rect:
    """The largest rectangle of this aspect (width / height) inside `room`, centred in it."""
    width = max(0.0, min(room.width, room.height * aspect))
    height = width / aspect
    return Rect(
        room.x + (room.width - width) / 2, room.y + (room.height - height) / 2, width, height
    )


# --- text -------------------------------------------------------------------------------

_WRAP_AT = 36


def stamp_lines(look: StampLook, signed_at: datetime) -> list[str]:
    """The text lines of a with_text stamp: the sender's text, who signed, and when (UTC)."""
    if not look.with_text:
        return []
    when = signed_at.astimezone(UTC)
    if look.locale == "fr":
        lines = [f"Signé par {look.signer_name}", f"le {when:%d/%m/%Y} à {when:%H:%M} UTC"]
    else:
        lines = [f"Signed by {look.signer_name}", f"{when:%Y-%m-%d %H:%M} UTC"]
    if look.text:
        lines.insert(0, look.text)
    return [part for line in lines if line.strip() for part in _wrap(line.strip())]


def _wrap(line: str) -> list[str]:
    """Long lines break once, at the space nearest their middle: two balanced lines read better
    in a small box than one line shrunk to fit."""
    if len(line) <= _WRAP_AT or " " not in line:
        return [line]
    middle = len(line) / 2
    cut = min((i for i, char in enumerate(line) if char == " "), key=lambda i: abs(i - middle))
    return [line[:cut].rstrip(), line[cut + 1 :].lstrip()]


# --- image ------------------------------------------------------------------------------

_MAX_PIXELS_PER_POINT = 4.0
"""About 300 dpi as drawn: more only makes every signed file bigger."""


def open_stamp_image(image_png: bytes) -> Image.Image:
    """The stamp image in a mode pyHanko embeds faithfully, transparency as an alpha channel."""
    try:
        image = Image.open(io.BytesIO(image_png))
        image.load()
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"the stamp image cannot be read: {error}") from error
    if image.mode in ("RGB", "RGBA", "L", "LA"):
        return image
    has_alpha = image.mode in ("PA", "RGBa", "La") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def _downscaled(image: Image.Image, drawn: Rect) -> Image.Image:
    limit = (
        max(1, round(drawn.width * _MAX_PIXELS_PER_POINT)),
        max(1, round(drawn.height * _MAX_PIXELS_PER_POINT)),
    )
    if image.width <= limit[0] and image.height <= limit[1]:
        return image
    copy = image.copy()
    copy.thumbnail(limit, Image.Resampling.LANCZOS)
    return copy


# --- the appearance ---------------------------------------------------------------------

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
"""pyHanko hands its signing time to TextStampStyle subclasses only as text; this format lets the
stamp parse it back, so the stamp shows the same instant as the signature dictionary's /M."""


@dataclass(frozen=True, kw_only=True)
class CachetStampStyle(TextStampStyle):
    """A stamp style for one signature field: its look, its exact size and its page's /Rotate."""

    look: StampLook
    field_size: tuple[float, float]  # the widget's /Rect width and height, user space
    rotation: int = 0
    timestamp_format: str = _TS_FORMAT
    border_width: int = 0

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> StampAppearance:
        signed_at = datetime.strptime(text_params["ts"], _TS_FORMAT)
        image = open_stamp_image(self.look.image_png) if self.look.image_png else None
        return StampAppearance(writer, self, image=image, lines=stamp_lines(self.look, signed_at))


class StampAppearance(TextStamp):
    """The widget's normal appearance: a form XObject exactly the size of the widget."""

    def __init__(
        self,
        writer: BasePdfFileWriter,
        style: CachetStampStyle,
        *,
        image: Image.Image | None,
        lines: Sequence[str],
    ) -> None:
        super().__init__(writer=writer, style=style, box=layout.BoxConstraints(1, 1))
        self._writer = writer
        self._size = style.field_size
        self._rotation = style.rotation % 360
        self._image = image
        self._lines = list(lines)

    @property
    def displayed_size(self) -> tuple[float, float]:
        width, height = self._size
        return (height, width) if self._rotation in (90, 270) else (width, height)

    def as_form_xobject(self) -> generic.StreamObject:
        # pyHanko's BoxConstraints rounds down to whole points; the BBox must be the exact /Rect
        # size or viewers stretch the appearance to fit.
        command_stream = self.render()
        width, height = self._size
        return init_xobject_dictionary(
            command_stream=command_stream,
            box_width=width,
            box_height=height,
            resources=self._resources.as_pdf_object(),
        )

    def render(self) -> bytes:
        width, height = self.displayed_size
        font = (
            _StampFont(self._writer, _loaded_fonts().for_text(self._lines)) if self._lines else None
        )
        shaped = [font.shape_line(line) for line in self._lines] if font else []
        widest = max((s.width_em for s in shaped), default=0.0)
        text = TextBlock(max(widest, 0.5), len(shaped)) if shaped else None
        aspect = self._image.width / self._image.height if self._image else None
        plan = plan_layout(width, height, aspect, text)
        ops = [b"q", self._upright()]
        if plan.image is not None and self._image is not None:
            ops.append(self._draw_image(plan.image))
        if plan.text is not None and font is not None:
            ops.append(self._draw_text(font, shaped, plan))
        ops.append(b"Q")
        return b" ".join(ops)

    def _upright(self) -> bytes:
        """Turn displayed coordinates into user space: the page's /Rotate turns the widget
        clockwise on screen, so its content is drawn turned counter-clockwise by as much."""
        width, height = self._size
        match self._rotation:
            case 90:
                return b"0 1 -1 0 %s 0 cm" % _num(width)
            case 180:
                return b"-1 0 0 -1 %s %s cm" % (_num(width), _num(height))
            case 270:
                return b"0 -1 1 0 0 %s cm" % _num(height)
        return b""

    def _draw_image(self, where: Rect) -> bytes:
        assert self._image is not None
        image_ref = pil_image(_downscaled(self._image, where), self._writer)
        self.set_resource(ResourceType.XOBJECT, pdf_name("/Handwritten"), image_ref)
        return b"q %s 0 0 %s %s %s cm /Handwritten Do Q" % (
            _num(where.width),
            _num(where.height),
            _num(where.x),
            _num(where.y),
        )

    def _draw_text(
        self, font: _StampFont, shaped: Sequence[ShapedLine], plan: StampLayout
    ) -> bytes:
        assert plan.text is not None
        self.set_resource(ResourceType.FONT, pdf_name("/F1"), font.as_resource())
        scale = plan.text_size / TEXT_SIZE
        block = plan.text
        ops = [b"0.1 0.1 0.1 rg"]
        baseline = block.y + block.height - ASCENT * plan.text_size
        for line in shaped:
            line_width = line.width_em * plan.text_size
            x = block.x + (block.width - line_width) / 2 if plan.centred_lines else block.x
            ops.append(
                b"q %s 0 0 %s %s %s cm BT /F1 %s Tf %s ET Q"
                % (
                    _num(scale),
                    _num(scale),
                    _num(x),
                    _num(baseline),
                    _num(TEXT_SIZE),
                    line.graphics_ops,
                )
            )
            baseline -= LEADING * plan.text_size
        return b" ".join(ops)


def _num(value: float) -> bytes:
    """A PDF number: fixed-point, since PDF has no exponent notation (%g writes 1e-14 for the
    rounding noise of a layout, which viewers reject as an unknown operator)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode()
