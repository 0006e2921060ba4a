"""Where a stamp's image and text go: plain geometry, so it is tested without writing a PDF."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.signing.stamp_font import ASCENT, DESCENT, LEADING


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
