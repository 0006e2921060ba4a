"""Page geometry as a viewer displays it: boxes, /Rotate and /UserUnit, inheritance included.

Arithmetic is done in Decimal, which is how pikepdf hands out PDF reals, so that a MediaBox
written as 595.28 yields a width of exactly 595.28 and not 595.2800000000001.
"""

from decimal import Decimal

import pikepdf

from app.pdf.results import PageGeometry, PdfRejected

Box = tuple[Decimal, Decimal, Decimal, Decimal]

_MAX_TREE_DEPTH = 64
"""Far deeper than any real page tree; a /Parent chain this long is a loop or an attack."""


def page_geometry(page: pikepdf.Dictionary) -> PageGeometry:
    media = _box(_inherited(page, "/MediaBox"))
    if media is None:
        raise PdfRejected("damaged", "a page has no usable MediaBox")
    crop = _clip(_box(_inherited(page, "/CropBox")), media)
    rotation = _rotation(_inherited(page, "/Rotate"))
    unit = _user_unit(_entry(page, "/UserUnit"))
    width = (crop[2] - crop[0]) * unit
    height = (crop[3] - crop[1]) * unit
    if rotation in (90, 270):
        width, height = height, width
    llx, lly, urx, ury = (float(value) for value in crop)
    return PageGeometry(float(width), float(height), rotation, (llx, lly, urx, ury))


def _inherited(page: pikepdf.Dictionary, key: str) -> object:
    """The page's own value for an inheritable key, or the nearest ancestor's."""
    node: object = page
    for _ in range(_MAX_TREE_DEPTH):
        if not isinstance(node, pikepdf.Dictionary):
            return None
        value = _entry(node, key)
        if value is not None:
            return value
        node = _entry(node, "/Parent")
    raise PdfRejected("damaged", f"the page tree is more than {_MAX_TREE_DEPTH} levels deep")


def _entry(dictionary: pikepdf.Dictionary, key: str) -> object:
    """dictionary.get(key): pikepdf's own get() is several times slower for a missing key, and
    most inheritable keys are missing from most nodes."""
    if key not in dictionary:
        return None
    return dictionary[key]


def _number(value: object) -> Decimal | None:
    # bool is an int subclass, but `true` is no coordinate.
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return None
    return Decimal(value)


def _box(value: object) -> Box | None:
    """A rectangle normalised so that llx < urx and lly < ury; None if malformed or empty."""
    if not isinstance(value, pikepdf.Array) or len(value) != 4:
        return None
    numbers = [_number(item) for item in value]
    if any(number is None for number in numbers):
        return None
    x1, y1, x2, y2 = (number for number in numbers if number is not None)
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return box if box[0] < box[2] and box[1] < box[3] else None


def _clip(crop: Box | None, media: Box) -> Box:
    """The visible region: CropBox within MediaBox; like pdf.js, fall back to the MediaBox when
    the CropBox is missing, malformed or lies wholly outside."""
    if crop is None:
        return media
    clipped = (
        max(crop[0], media[0]),
        max(crop[1], media[1]),
        min(crop[2], media[2]),
        min(crop[3], media[3]),
    )
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else media


def _rotation(value: object) -> int:
    if value is None:
        return 0
    number = _number(value)
    if number is None or number % 90 != 0:
        raise PdfRejected("damaged", "a page's /Rotate is not a multiple of 90")
    return int(number) % 360


def _user_unit(value: object) -> Decimal:
    if value is None:
        return Decimal(1)
    number = _number(value)
    if number is None or number <= 0:
        raise PdfRejected("damaged", "a page's /UserUnit is not a positive number")
    return number
