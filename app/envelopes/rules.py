"""Pure rules over plain values: the envelope budget, stamp geometry, readiness.

Nothing here touches the database or the network, so every rule is tested table-driven.
Stamp boxes are in PDF points with the origin at the top-left corner of the page *as
displayed* (after /Rotate and the CropBox), which is what a frontend sees under the mouse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from app.errors import FieldError

MIN_STAMP_WIDTH = 85.0
MIN_STAMP_HEIGHT = 37.0


# --- budget -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Budget:
    used_bytes: int
    limit_bytes: int

    @property
    def remaining_bytes(self) -> int:
        return max(self.limit_bytes - self.used_bytes, 0)

    def admits(self, size_bytes: int) -> bool:
        return self.used_bytes + size_bytes <= self.limit_bytes


# --- page geometry ----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page as displayed: width and height already swapped for /Rotate 90 and 270."""

    width: float
    height: float
    rotation: int = 0
    crop_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass(frozen=True)
class Box:
    page: int  # 1-based
    x: float
    y: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.x + self.width

    @property
    def bottom(self) -> float:
        return self.y + self.height

    def overlaps(self, other: Box) -> bool:
        """Boxes that only share an edge do not overlap."""
        return (
            self.page == other.page
            and self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )


def displayed_size(
    crop_box: tuple[float, float, float, float], rotation: int
) -> tuple[float, float]:
    """Width and height of a page as a viewer shows it."""
    width = abs(crop_box[2] - crop_box[0])
    height = abs(crop_box[3] - crop_box[1])
    return (height, width) if rotation % 180 == 90 else (width, height)


def display_box_to_user_space(box: Box, page: Page) -> tuple[float, float, float, float]:
    """(llx, lly, urx, ury) in PDF user space for a top-left display box.

    The display origin is the top-left corner of the rotated CropBox; /Rotate turns the page
    clockwise, so each rotation maps display axes onto different user-space axes.
    """
    llx, lly, urx, ury = page.crop_box
    left, top, right, bottom = box.x, box.y, box.right, box.bottom
    match page.rotation % 360:
        case 0:
            return (llx + left, ury - bottom, llx + right, ury - top)
        case 90:
            return (llx + top, lly + left, llx + bottom, lly + right)
        case 180:
            return (urx - right, lly + top, urx - left, lly + bottom)
        case 270:
            return (urx - bottom, ury - right, urx - top, ury - left)
    raise ValueError(f"rotation must be a multiple of 90, got {page.rotation}")


# --- stamps -----------------------------------------------------------------------------


class StampStyle(StrEnum):
    plain = "plain"
    with_text = "with_text"


@dataclass(frozen=True)
class StampRequest:
    box: Box
    style: StampStyle
    text: str | None


@dataclass(frozen=True)
class StampContext:
    pages: Sequence[Page]
    other_boxes: Sequence[Box]  # the other signers' stamps on the same document
    text_allowed: bool  # False at eIDAS levels
    text_max_length: int


def stamp_problems(stamp: StampRequest, context: StampContext) -> list[FieldError]:
    """Every reason the stamp cannot be placed, each with a pointer into the request body."""
    box = stamp.box
    problems = _text_problems(stamp, context)
    if not 1 <= box.page <= len(context.pages):
        problems.append(FieldError("/page", f"page must be between 1 and {len(context.pages)}"))
        return problems
    if box.width < MIN_STAMP_WIDTH or box.height < MIN_STAMP_HEIGHT:
        problems.append(
            FieldError(
                "/width" if box.width < MIN_STAMP_WIDTH else "/height",
                f"a stamp is at least {MIN_STAMP_WIDTH:g} x {MIN_STAMP_HEIGHT:g} pt",
            )
        )
    page = context.pages[box.page - 1]
    if box.x < 0 or box.y < 0 or box.right > page.width or box.bottom > page.height:
        problems.append(
            FieldError(
                "/x" if box.x < 0 or box.right > page.width else "/y",
                f"the stamp must lie inside page {box.page} "
                f"({page.width:g} x {page.height:g} pt as displayed)",
            )
        )
    if any(box.overlaps(other) for other in context.other_boxes):
        problems.append(FieldError("/x", "the stamp overlaps another signer's stamp on this page"))
    return problems


def _text_problems(stamp: StampRequest, context: StampContext) -> list[FieldError]:
    if stamp.style is StampStyle.with_text and not context.text_allowed:
        return [FieldError("/style", "stamps with text are not available at eIDAS levels")]
    if stamp.text is None:
        return []
    if stamp.style is StampStyle.plain:
        return [FieldError("/text", "a plain stamp has no text; use style with_text")]
    if len(stamp.text) > context.text_max_length:
        return [FieldError("/text", f"text is limited to {context.text_max_length} characters")]
    if any(not ch.isprintable() for ch in stamp.text):
        return [FieldError("/text", "text must not contain control characters")]
    return []


# --- readiness --------------------------------------------------------------------------


class BlockerCode(StrEnum):
    no_documents = "no_documents"
    no_recipients = "no_recipients"
    stamp_missing = "stamp_missing"
    stamp_text_not_allowed = "stamp_text_not_allowed"
    phone_missing = "phone_missing"
    name_missing = "name_missing"
    expiry_in_past = "expiry_in_past"
    not_a_draft = "not_a_draft"
    insufficient_credits = "insufficient_credits"


@dataclass(frozen=True)
class Blocker:
    code: BlockerCode
    detail: str
    pointer: str
    document_id: str | None = None
    recipient_id: str | None = None


@dataclass(frozen=True)
class RecipientView:
    id: str
    display_name: str
    has_phone: bool
    has_names: bool = True  # a first and a last name (the identity check compares them)


@dataclass(frozen=True)
class DocumentView:
    id: str
    filename: str
    stamped_by: frozenset[str]  # recipient ids with a stamp on this document
    text_stamped_by: frozenset[str] = frozenset()


@dataclass(frozen=True)
class EnvelopeView:
    is_draft: bool
    is_signature: bool
    eidas: bool
    expiry_in_past: bool
    documents: Sequence[DocumentView]
    recipients: Sequence[RecipientView] = field(default_factory=tuple)
    # eIDAS levels: credits the tenant can still reserve at this level (None: not asked).
    credits_available: int | None = None
    identity_check: bool = False  # eIDAS advanced: each signer's identity document is checked


def stamps_complete(document: DocumentView, signer_ids: Sequence[str]) -> bool:
    return bool(signer_ids) and all(rid in document.stamped_by for rid in signer_ids)


def blockers(envelope: EnvelopeView) -> list[Blocker]:
    """Every reason the envelope cannot be sent, in a stable order."""
    found: list[Blocker] = []
    if not envelope.is_draft:
        found.append(Blocker(BlockerCode.not_a_draft, "only a draft can be sent", "/status"))
    if not envelope.documents:
        found.append(Blocker(BlockerCode.no_documents, "add at least one document", "/documents"))
    if not envelope.recipients:
        found.append(
            Blocker(BlockerCode.no_recipients, "add at least one recipient", "/recipients")
        )
    if envelope.expiry_in_past:
        found.append(
            Blocker(BlockerCode.expiry_in_past, "expires_at is in the past", "/expires_at")
        )
    if envelope.is_signature:
        found += _level_blockers(envelope)
        found += _stamp_blockers(envelope)
    return found


def _level_blockers(envelope: EnvelopeView) -> list[Blocker]:
    found: list[Blocker] = []
    needed = len(envelope.recipients)
    credits = envelope.credits_available
    if envelope.eidas and credits is not None and needed > credits:
        found.append(
            Blocker(
                BlockerCode.insufficient_credits,
                f"sending takes {needed} credit(s) at this level (one per signer); "
                f"{envelope.credits_available} available",
                "/level",
            )
        )
    if envelope.eidas:
        for index, recipient in enumerate(envelope.recipients):
            if not recipient.has_phone:
                found.append(
                    Blocker(
                        BlockerCode.phone_missing,
                        f"{recipient.display_name} needs a mobile phone number at eIDAS levels",
                        f"/recipients/{index}/phone",
                        recipient_id=recipient.id,
                    )
                )
    if envelope.identity_check:
        found += _name_blockers(envelope)
    return found


def _name_blockers(envelope: EnvelopeView) -> list[Blocker]:
    """eIDAS advanced compares the names on each signer's identity document with theirs."""
    return [
        Blocker(
            BlockerCode.name_missing,
            f"{recipient.display_name} needs a first and a last name at eidas_advanced (the "
            "identity check compares them with the identity document)",
            f"/recipients/{index}/last_name",
            recipient_id=recipient.id,
        )
        for index, recipient in enumerate(envelope.recipients)
        if not recipient.has_names
    ]


def _stamp_blockers(envelope: EnvelopeView) -> list[Blocker]:
    found: list[Blocker] = []
    for doc_index, document in enumerate(envelope.documents):
        for recipient in envelope.recipients:
            if recipient.id not in document.stamped_by:
                found.append(
                    Blocker(
                        BlockerCode.stamp_missing,
                        f"{recipient.display_name} has no stamp on {document.filename}",
                        f"/documents/{doc_index}/stamps",
                        document_id=document.id,
                        recipient_id=recipient.id,
                    )
                )
            elif envelope.eidas and recipient.id in document.text_stamped_by:
                found.append(
                    Blocker(
                        BlockerCode.stamp_text_not_allowed,
                        f"{recipient.display_name}'s stamp on {document.filename} has text, "
                        "which eIDAS levels do not allow",
                        f"/documents/{doc_index}/stamps",
                        document_id=document.id,
                        recipient_id=recipient.id,
                    )
                )
    return found
