"""The visible stamp of a signature: the signer's handwritten image and, optionally, a few lines
of text, drawn as the signature widget's appearance (never on the page: that would break the
signatures before it).

The appearance is laid out in the page's *displayed* orientation and turned into user space,
so it reads upright on pages with /Rotate. Text uses DejaVu Sans, embedded as a subset.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image, UnidentifiedImageError
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.images import pil_image
from pyhanko.pdf_utils.writer import BasePdfFileWriter, init_xobject_dictionary
from pyhanko.stamp import TextStamp, TextStampStyle

from app.signing.stamp_font import ASCENT, LEADING, TEXT_SIZE, ShapedLine, StampFont, loaded_fonts
from app.signing.stamp_layout import Rect, StampLayout, TextBlock, plan_layout

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
            StampFont(self._writer, loaded_fonts().for_text(self._lines)) if self._lines else None
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

    def _draw_text(self, font: StampFont, shaped: Sequence[ShapedLine], plan: StampLayout) -> bytes:
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
