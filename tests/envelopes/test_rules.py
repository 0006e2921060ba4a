"""The pure rules, table-driven: budget, stamp geometry (rotated and cropped pages), readiness."""

from __future__ import annotations

import pytest

from app.envelopes.rules import (
    Blocker,
    BlockerCode,
    Box,
    Budget,
    DocumentView,
    EnvelopeView,
    Page,
    RecipientView,
    StampContext,
    StampRequest,
    StampStyle,
    blockers,
    display_box_to_user_space,
    displayed_size,
    stamp_problems,
    stamps_complete,
)

LIMIT = 15_728_640


@pytest.mark.parametrize(
    ("used", "size", "admitted", "remaining"),
    [
        (0, LIMIT, True, LIMIT),
        (0, LIMIT + 1, False, LIMIT),
        (LIMIT - 1, 1, True, 1),
        (LIMIT - 1, 2, False, 1),
        (LIMIT, 0, True, 0),
        (LIMIT, 1, False, 0),
    ],
)
def test_budget(used: int, size: int, admitted: bool, remaining: int) -> None:
    budget = Budget(used, LIMIT)
    assert budget.admits(size) is admitted
    assert budget.remaining_bytes == remaining


@pytest.mark.parametrize(
    ("crop_box", "rotation", "expected"),
    [
        ((0, 0, 595, 842), 0, (595, 842)),
        ((0, 0, 595, 842), 90, (842, 595)),
        ((0, 0, 595, 842), 180, (595, 842)),
        ((0, 0, 595, 842), 270, (842, 595)),
        ((50, 100, 350, 500), 0, (300, 400)),
        ((50, 100, 350, 500), 90, (400, 300)),
    ],
)
def test_displayed_size(
    crop_box: tuple[float, float, float, float], rotation: int, expected: tuple[float, float]
) -> None:
    assert displayed_size(crop_box, rotation) == expected


# A 100 x 40 box 10 pt from the left and 20 pt from the top of the page as displayed.
BOX = Box(page=1, x=10, y=20, width=100, height=40)


@pytest.mark.parametrize(
    ("crop_box", "rotation", "expected"),
    [
        # Upright page: y is flipped against the top of the CropBox.
        ((0, 0, 600, 800), 0, (10, 740, 110, 780)),
        # Cropped page: offsets start at the CropBox's lower-left corner.
        ((50, 100, 450, 700), 0, (60, 640, 160, 680)),
        # /Rotate 90: display x runs up user y, display y runs along user x.
        ((0, 0, 600, 800), 90, (20, 10, 60, 110)),
        ((0, 0, 600, 800), 180, (490, 20, 590, 60)),
        ((0, 0, 600, 800), 270, (540, 690, 580, 790)),
        ((50, 100, 450, 700), 270, (390, 590, 430, 690)),
    ],
)
def test_display_box_to_user_space(
    crop_box: tuple[float, float, float, float],
    rotation: int,
    expected: tuple[float, float, float, float],
) -> None:
    width, height = displayed_size(crop_box, rotation)
    page = Page(width, height, rotation, crop_box)
    assert display_box_to_user_space(BOX, page) == pytest.approx(expected)


def test_user_space_box_keeps_its_area_for_every_rotation() -> None:
    for rotation in (0, 90, 180, 270):
        crop = (0.0, 0.0, 600.0, 800.0)
        page = Page(*displayed_size(crop, rotation), rotation, crop)
        llx, lly, urx, ury = display_box_to_user_space(BOX, page)
        assert (urx - llx) * (ury - lly) == pytest.approx(BOX.width * BOX.height)
        assert 0 <= llx < urx <= 600 and 0 <= lly < ury <= 800


A4_PAGE = Page(595.28, 841.89)
LANDSCAPE = Page(841.89, 595.28, 90)


def _context(
    pages: tuple[Page, ...] = (A4_PAGE, LANDSCAPE),
    others: tuple[Box, ...] = (),
    text_allowed: bool = True,
) -> StampContext:
    return StampContext(pages, others, text_allowed, text_max_length=60)


def _stamp(
    page: int = 1,
    x: float = 10,
    y: float = 10,
    w: float = 85,
    h: float = 37,
    style: StampStyle = StampStyle.plain,
    text: str | None = None,
) -> StampRequest:
    return StampRequest(Box(page, x, y, w, h), style, text)


@pytest.mark.parametrize(
    ("stamp", "context", "pointers"),
    [
        (_stamp(), _context(), []),
        (_stamp(x=595.28 - 85, y=841.89 - 37), _context(), []),  # flush with the corner
        (_stamp(page=0), _context(), ["/page"]),
        (_stamp(page=3), _context(), ["/page"]),
        (_stamp(w=84.9), _context(), ["/width"]),
        (_stamp(h=36.9), _context(), ["/height"]),
        (_stamp(x=-1), _context(), ["/x"]),
        (_stamp(y=-0.5), _context(), ["/y"]),
        (_stamp(x=520), _context(), ["/x"]),
        (_stamp(y=810), _context(), ["/y"]),
        # Rotated page 2 is displayed 841.89 wide: x=700 fits there but not on page 1.
        (_stamp(page=2, x=700), _context(), []),
        (_stamp(page=1, x=700), _context(), ["/x"]),
        (_stamp(page=2, y=560), _context(), ["/y"]),
        # Overlap with another signer's stamp on the same page, not on another page.
        (_stamp(), _context(others=(Box(1, 50, 20, 100, 40),)), ["/x"]),
        (_stamp(), _context(others=(Box(2, 50, 20, 100, 40),)), []),
        (_stamp(), _context(others=(Box(1, 95, 10, 100, 40),)), []),  # edges touch
        (_stamp(style=StampStyle.with_text, text="Lu et approuvé"), _context(), []),
        (_stamp(style=StampStyle.with_text), _context(), []),
        (_stamp(text="hello"), _context(), ["/text"]),
        (_stamp(style=StampStyle.with_text, text="x" * 61), _context(), ["/text"]),
        (_stamp(style=StampStyle.with_text, text="a\x00b"), _context(), ["/text"]),
        (_stamp(style=StampStyle.with_text), _context(text_allowed=False), ["/style"]),
        (_stamp(text="hi"), _context(text_allowed=False), ["/text"]),
        (_stamp(x=-5, w=10), _context(), ["/width", "/x"]),
    ],
)
def test_stamp_problems(stamp: StampRequest, context: StampContext, pointers: list[str]) -> None:
    assert [p.pointer for p in stamp_problems(stamp, context)] == pointers


def test_plain_text_at_eidas_is_refused_as_text() -> None:
    problems = stamp_problems(_stamp(text="hi"), _context(text_allowed=False))
    assert "plain stamp has no text" in problems[0].detail


SIGNERS = (RecipientView("r1", "Jim Agine", True), RecipientView("r2", "Nico", False))
DOC_BOTH = DocumentView("d1", "a.pdf", frozenset({"r1", "r2"}))
DOC_ONE = DocumentView("d2", "b.pdf", frozenset({"r1"}))


def _envelope(**changes: object) -> EnvelopeView:
    values: dict[str, object] = {
        "is_draft": True,
        "is_signature": True,
        "eidas": False,
        "expiry_in_past": False,
        "documents": (DOC_BOTH,),
        "recipients": SIGNERS,
    }
    values.update(changes)
    return EnvelopeView(**values)  # type: ignore[arg-type]


def _codes(found: list[Blocker]) -> list[str]:
    return [b.code.value for b in found]


@pytest.mark.parametrize(
    ("envelope", "codes"),
    [
        (_envelope(), []),
        (_envelope(documents=()), ["no_documents"]),
        (_envelope(recipients=()), ["no_recipients"]),
        (_envelope(documents=(), recipients=()), ["no_documents", "no_recipients"]),
        (_envelope(documents=(DOC_BOTH, DOC_ONE)), ["stamp_missing"]),
        (_envelope(eidas=True), ["phone_missing"]),
        (
            _envelope(
                identity_check=True,
                recipients=(RecipientView("r1", "a@x", has_phone=False, has_names=False),),
            ),
            ["name_missing"],
        ),
        (_envelope(expiry_in_past=True), ["expiry_in_past"]),
        (_envelope(is_draft=False), ["not_a_draft"]),
        # Approval envelopes have no stamps and no level.
        (_envelope(is_signature=False, documents=(DOC_ONE,), eidas=True), []),
        (
            _envelope(
                eidas=True,
                documents=(
                    DocumentView("d1", "a.pdf", frozenset({"r1", "r2"}), frozenset({"r1"})),
                ),
            ),
            ["phone_missing", "stamp_text_not_allowed"],
        ),
    ],
)
def test_blockers(envelope: EnvelopeView, codes: list[str]) -> None:
    assert _codes(blockers(envelope)) == codes


def test_missing_stamp_points_at_document_and_signer() -> None:
    (found,) = blockers(_envelope(documents=(DOC_BOTH, DOC_ONE)))
    assert found.code is BlockerCode.stamp_missing
    assert (found.document_id, found.recipient_id) == ("d2", "r2")
    assert found.pointer == "/documents/1/stamps"
    assert "Nico" in found.detail and "b.pdf" in found.detail


def test_phone_blocker_points_at_recipient() -> None:
    (found,) = blockers(_envelope(eidas=True))
    assert (found.recipient_id, found.pointer) == ("r2", "/recipients/1/phone")


@pytest.mark.parametrize(
    ("document", "signers", "complete"),
    [
        (DOC_BOTH, ["r1", "r2"], True),
        (DOC_ONE, ["r1", "r2"], False),
        (DOC_ONE, ["r1"], True),
        (DOC_BOTH, [], False),  # no signer yet: nothing is complete
    ],
)
def test_stamps_complete(document: DocumentView, signers: list[str], complete: bool) -> None:
    assert stamps_complete(document, signers) is complete
