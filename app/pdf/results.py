"""What the gate answers: the geometry of an accepted PDF, or why it was refused."""

from dataclasses import dataclass
from typing import Literal, TypeAlias

RejectionCode: TypeAlias = Literal[
    "not_a_pdf",
    "damaged",
    "encrypted",
    "active_content",
    "embedded_files",
    "xfa",
    "already_signed",
    "too_many_pages",
    "too_many_objects",
    "decompression_bomb",
    "too_complex",
]


@dataclass(frozen=True)
class PageGeometry:
    width: float
    """Displayed width in points: CropBox width (height at /Rotate 90 or 270) x /UserUnit."""
    height: float
    """Displayed height, same rules as width."""
    rotation: int
    """/Rotate, inherited from the page tree, normalised to 0, 90, 180 or 270."""
    crop_box: tuple[float, float, float, float]
    """(llx, lly, urx, ury) in user space with llx < urx and lly < ury, clipped to the MediaBox."""


@dataclass(frozen=True)
class PdfInfo:
    page_count: int
    pages: tuple[PageGeometry, ...]


class PdfRejected(Exception):
    """The upload is refused; `code` is stable (it becomes an API problem type)."""

    def __init__(self, code: RejectionCode, detail: str) -> None:
        # Both go to Exception.args so the error survives pickling out of a worker process.
        super().__init__(code, detail)
        self.code: RejectionCode = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"
