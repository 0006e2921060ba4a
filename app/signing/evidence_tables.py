"""The evidence PDF's pages: their geometry, tables cut at page ends and the numbered footer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle
from reportlab.platypus.doctemplate import NotAtTopPageBreak

from app.signing.evidence_styles import FONT_NAME, Styles

PAGE_SIZE = A4
MARGIN = 18 * mm
BOTTOM_MARGIN = MARGIN + 6 * mm  # the footer line sits in the extra space
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
# What a page holds: reportlab's frame pads each side by 6 points.
FRAME_HEIGHT = PAGE_SIZE[1] - MARGIN - BOTTOM_MARGIN - 2 * 6

# -- Tables ----------------------------------------------------------------------------------

_GRID_LINE = colors.HexColor("#bbbbbb")
_HEADER_FILL = colors.HexColor("#2f3b4c")

KEY_VALUE_STYLE = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, _GRID_LINE),
        # Cells hold paragraphs, but the table still selects its own font (Helvetica by default,
        # which would then be listed, unembedded, in the file).
        ("FONTNAME", (0, 0), (-1, -1), FONT_NAME),
        ("BACKGROUND", (0, 0), (0, -1), colors.HexColor("#eef1f5")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
)

# LongTable estimates row heights from these.
_CELL_PADDING_X = 3
_CELL_PADDING_Y = 2

_GRID_STYLE = TableStyle(
    [
        ("GRID", (0, 0), (-1, -1), 0.4, _GRID_LINE),
        # Cells hold paragraphs, but the table still selects its own font (Helvetica by default,
        # which would then be listed, unembedded, in the file).
        ("FONTNAME", (0, 0), (-1, -1), FONT_NAME),
        ("BACKGROUND", (0, 0), (-1, 0), _HEADER_FILL),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), _CELL_PADDING_X),
        ("RIGHTPADDING", (0, 0), (-1, -1), _CELL_PADDING_X),
        ("TOPPADDING", (0, 0), (-1, -1), _CELL_PADDING_Y),
        ("BOTTOMPADDING", (0, 0), (-1, -1), _CELL_PADDING_Y),
    ]
)


def grid(
    header: Sequence[str],
    rows: Sequence[Sequence[Flowable]],
    widths: Sequence[float],
    styles: Styles,
) -> LongTable:
    """A table whose header row repeats on every page it runs onto."""
    header_row = [Cell(escape(label), styles.header) for label in header]
    return LongTable(header_row, list(rows), widths)


_UNBOUNDED = 1e9


class LongTable(Flowable):  # type: ignore[misc]
    """A table of many rows, handed to reportlab about a page of rows at a time.

    reportlab's Table re-measures every row still to place at each page break, which made a
    log of 1,000 events take seconds (quadratic). Table still does the layout, the repeated
    header and the splitting of rows.

    A row that fits on a page moves whole to the next page; a taller one (a long comment) is
    cut where the page ends, as it could never fit anywhere.
    """

    def __init__(
        self, header: Sequence[Flowable], rows: list[Sequence[Flowable]], widths: Sequence[float]
    ) -> None:
        super().__init__()
        self._header = header
        self._rows = rows
        self._widths = list(widths)
        self._whole: Table | None = None

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        if len(self._window(availHeight)) < len(self._rows):
            self._whole = None
            return availWidth, availHeight + 1  # cannot all fit: the frame will call split()
        self._whole = self._table(self._rows)
        width, height = self._whole.wrap(availWidth, availHeight)
        return width, height

    def draw(self) -> None:
        assert self._whole is not None, "drawn without fitting"
        self._whole.drawOn(self.canv, 0, 0)

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        window = self._window(availHeight)
        crossing = self._row_height(self._header) + self._row_height(window[-1])
        table = self._table(window, cut_rows=crossing > FRAME_HEIGHT)
        parts = table.split(availWidth, availHeight)
        if not parts:
            return []  # not even one row here: the next frame
        placed = parts[0]
        # What Table left over (perhaps the rest of a split row), after its repeated header.
        left_over = parts[1]._cellvalues[1:] if len(parts) > 1 else []
        rest = [*left_over, *self._rows[len(window) :]]
        if not rest:
            return [placed]
        # The rest starts on the next page: were there space left here, its repeated header
        # would show up under this part.
        return [placed, NotAtTopPageBreak(), LongTable(self._header, rest, self._widths)]

    def _window(self, height: float) -> list[Sequence[Flowable]]:
        """The rows that fit in `height`, by estimate, plus the first one that does not."""
        used = self._row_height(self._header)
        for count, row in enumerate(self._rows, start=1):
            used += self._row_height(row)
            if used > height:
                return self._rows[:count]
        return self._rows

    def _row_height(self, row: Sequence[Flowable]) -> float:
        # Subtracted as Table does, so the float matches and Cell's cached layout is reused.
        heights = (
            _cell_height(cell, width - _CELL_PADDING_X - _CELL_PADDING_X)
            for cell, width in zip(row, self._widths, strict=True)
        )
        return max(heights) + _CELL_PADDING_Y + _CELL_PADDING_Y

    def _table(self, rows: Sequence[Sequence[Flowable]], *, cut_rows: bool = False) -> Table:
        table = Table(
            [self._header, *rows],
            colWidths=self._widths,
            repeatRows=1,
            splitByRow=0 if cut_rows else 1,
            splitInRow=1,  # also the fallback when no whole row fits in an empty page
            hAlign="LEFT",
        )
        table.setStyle(_GRID_STYLE)
        return table


def _cell_height(cell: Flowable | Sequence[Flowable], width: float) -> float:
    """A cell is one flowable, or, once Table has handled it, a tuple of flowables."""
    parts = cell if isinstance(cell, tuple | list) else (cell,)
    return sum(float(part.wrap(width, _UNBOUNDED)[1]) for part in parts)


class Cell(Paragraph):  # type: ignore[misc]
    """A table cell's paragraph, laid out once per width.

    Each row is measured several times (estimating a page of rows, then by Table, then again
    for what is left after a page break); a cell's lines depend only on its width.
    """

    _wrapped_width: float | None = None
    _wrapped_size: tuple[float, float] = (0.0, 0.0)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:  # noqa: N803
        # Paragraph.split() drops the layout when it declines to split: then lay out again.
        if availWidth != self._wrapped_width or not hasattr(self, "blPara"):
            self._wrapped_size = super().wrap(availWidth, availHeight)
            self._wrapped_width = availWidth
        return self._wrapped_size


class Unbroken(Cell):
    """A cell never cut across pages: a hash read in two halves, pages apart, helps nobody.

    When a tall row must be cut above such a cell's end, the whole row moves on instead.
    """

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        return []


# -- Pages -----------------------------------------------------------------------------------


def canvas_class(
    envelope_id: str, generated_at: datetime, words: Mapping[str, str]
) -> type[Canvas]:
    """A canvas that dates the file at `generated_at` and numbers pages 'n / total'.

    The total is only known at the end, so each page is kept until then and finished in save().
    """
    footer = f"Cachet · {words['title']} · {envelope_id}"
    stamp = _pdf_date(generated_at)

    class EvidenceCanvas(Canvas):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_ymdhms: stamp)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # noqa: N802 (reportlab's name)
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._draw_footer(f"{footer} · {words['page']} {number} / {total}")
                super().showPage()
            super().save()

        def _draw_footer(self, text: str) -> None:
            self.setFont(FONT_NAME, 7)
            self.setFillColor(colors.HexColor("#555555"))
            self.drawString(MARGIN, MARGIN - 2 * mm, text)

    return EvidenceCanvas


def _pdf_date(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
