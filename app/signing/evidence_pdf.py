"""The evidence PDF: an envelope's parties, documents and hash-chained event log, for people.

Pure rendering over plain values: the caller gathers the facts (from the database, the chain
check, the signed files), this module only lays them out with reportlab. The result is sealed
and timestamped afterwards by the signing code; nothing here signs.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.doctemplate import NotAtTopPageBreak

FONT_NAME = "CachetDejaVuSans"
# Shipped with the package (unmodified, licence beside it): hosts need no system fonts.
FONT_PATH = Path(__file__).parent / "fonts" / "DejaVuSans.ttf"

PAGE_SIZE = A4
MARGIN = 18 * mm
BOTTOM_MARGIN = MARGIN + 6 * mm  # the footer line sits in the extra space
CONTENT_WIDTH = PAGE_SIZE[0] - 2 * MARGIN
# What a page holds: reportlab's frame pads each side by 6 points.
FRAME_HEIGHT = PAGE_SIZE[1] - MARGIN - BOTTOM_MARGIN - 2 * 6
NO_VALUE = "—"


@dataclass(frozen=True)
class Party:
    name: str | None
    email: str | None


@dataclass(frozen=True)
class EvidenceRecipient:
    position: int
    name: str | None
    email: str | None
    role: str  # "signer" or "approver"
    status: str  # a RecipientStatus value
    authentication_method: str  # already worded for the report's locale, e.g. "lien e-mail"
    acted_at: datetime | None
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class EvidenceDocument:
    filename: str
    sha256_original: str
    sha256_signed: str | None  # None for approval envelopes: the file is not changed
    size_bytes: int
    page_count: int | None


@dataclass(frozen=True)
class EvidenceEvent:
    seq: int
    at: datetime
    type: str
    actor: str  # who, already worded: "Zoë Martin <zoe@example.org>", "API key …", "system"
    ip: str | None
    user_agent: str | None
    details: str  # already worded; may hold several lines
    hash: str
    prev_hash: str | None


@dataclass(frozen=True)
class EvidenceReport:
    envelope_id: str
    envelope_name: str | None
    kind: str  # "signature" or "approval"
    level: str | None
    status: str  # an EnvelopeStatus value
    tenant_name: str | None
    sender: Party
    created_at: datetime
    sent_at: datetime | None
    ended_at: datetime | None
    recipients: Sequence[EvidenceRecipient]
    documents: Sequence[EvidenceDocument]
    events: Sequence[EvidenceEvent]
    chain_head: str
    chain_verified: bool
    generated_at: datetime
    locale: str  # "fr" or "en"; anything else gets French


def render_evidence_pdf(report: EvidenceReport) -> bytes:
    """The evidence PDF of one envelope. Same report, same bytes."""
    words = _words(report.locale)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=f"{words['title']} {report.envelope_id}",
        author="Cachet",
        creator="Cachet",
        subject=words["subject"],
        lang=words["lang"],
        initialFontName=_font(),  # else every page names Helvetica, a font it does not embed
        # Fixed ID and dates: the bytes depend on the report only (the date is set below).
        invariant=1,
    )
    document.build(
        _story(report, words, _styles()),
        canvasmaker=_canvas_class(report, words),
    )
    return buffer.getvalue()


# -- Words -----------------------------------------------------------------------------------

_WORDS: Mapping[str, Mapping[str, str]] = {
    "fr": {
        "lang": "fr-FR",
        "title": "Dossier de preuve",
        "subject": "Éléments de preuve d'une enveloppe Cachet",
        "envelope": "Enveloppe",
        "envelope_id": "Identifiant",
        "name": "Nom",
        "unnamed": "(sans nom)",
        "kind": "Type",
        "level": "Niveau",
        "status": "Statut",
        "tenant": "Organisation",
        "sender": "Expéditeur",
        "created_at": "Créée le (UTC)",
        "sent_at": "Envoyée le (UTC)",
        "ended_at": "Terminée le (UTC)",
        "recipients": "Destinataires",
        "position": "Ordre",
        "name_email": "Nom et e-mail",
        "role_status": "Rôle et statut",
        "authentication": "Authentification",
        "acted_at": "Action le (UTC)",
        "origin": "Adresse IP et navigateur",
        "no_recipients": "Aucun destinataire.",
        "documents": "Documents",
        "filename": "Fichier",
        "hashes": "Empreintes SHA-256",
        "before": "avant signature :",
        "after": "après signature :",
        "unchanged": "(document non modifié)",
        "size": "Taille",
        "pages": "Pages",
        "no_documents": "Aucun document.",
        "bytes": "octets",
        "events": "Journal des événements",
        "events_intro": (
            "Chaque événement porte l'empreinte SHA-256 de l'empreinte précédente suivie du "
            "contenu de l'événement en JSON canonique ; le premier événement part de 64 zéros. "
            "Modifier, retirer ou réordonner un événement change toutes les empreintes suivantes."
        ),
        "seq": "N°",
        "time_type": "Date (UTC) et type",
        "actor_origin": "Auteur et origine",
        "details": "Détails",
        "chain": "Empreinte / précédente",
        "previous": "précédente :",
        "no_events": "Aucun événement.",
        "closing": "Clôture",
        "chain_head": "Empreinte du dernier événement (tête de chaîne) :",
        "verified": (
            "La chaîne a été vérifiée à la génération de ce document : chaque empreinte "
            "recalculée correspond à l'empreinte enregistrée."
        ),
        "not_verified": (
            "ATTENTION : la chaîne n'a PAS pu être vérifiée à la génération de ce document ; "
            "les événements ci-dessus ne doivent pas être tenus pour intègres."
        ),
        "generated_at": "Document généré le (UTC) :",
        "page": "page",
        "kind.signature": "signature",
        "kind.approval": "approbation",
        "level.simple": "simple",
        "level.eidas_simple": "eIDAS simple",
        "level.eidas_advanced": "eIDAS avancée",
        "status.draft": "brouillon",
        "status.in_progress": "en cours",
        "status.completed": "terminée",
        "status.declined": "refusée",
        "status.canceled": "annulée",
        "status.expired": "expirée",
        "recipient.waiting": "en attente",
        "recipient.invited": "invité",
        "recipient.opened": "a ouvert",
        "recipient.approved": "a approuvé",
        "recipient.signed": "a signé",
        "recipient.declined": "a refusé",
        "recipient.skipped": "ignoré",
        "role.signer": "signataire",
        "role.approver": "approbateur",
    },
    "en": {
        "lang": "en-GB",
        "title": "Evidence report",
        "subject": "Evidence of a Cachet envelope",
        "envelope": "Envelope",
        "envelope_id": "Identifier",
        "name": "Name",
        "unnamed": "(unnamed)",
        "kind": "Kind",
        "level": "Level",
        "status": "Status",
        "tenant": "Organisation",
        "sender": "Sender",
        "created_at": "Created (UTC)",
        "sent_at": "Sent (UTC)",
        "ended_at": "Ended (UTC)",
        "recipients": "Recipients",
        "position": "Order",
        "name_email": "Name and email",
        "role_status": "Role and status",
        "authentication": "Authentication",
        "acted_at": "Acted (UTC)",
        "origin": "IP address and browser",
        "no_recipients": "No recipients.",
        "documents": "Documents",
        "filename": "File",
        "hashes": "SHA-256 fingerprints",
        "before": "before signing:",
        "after": "after signing:",
        "unchanged": "(document not modified)",
        "size": "Size",
        "pages": "Pages",
        "no_documents": "No documents.",
        "bytes": "bytes",
        "events": "Event log",
        "events_intro": (
            "Each event carries the SHA-256 of the previous event's hash followed by the event's "
            "content as canonical JSON; the first event starts from 64 zeros. Changing, removing "
            "or reordering an event changes every hash after it."
        ),
        "seq": "No.",
        "time_type": "Time (UTC) and type",
        "actor_origin": "Actor and origin",
        "details": "Details",
        "chain": "Hash / previous",
        "previous": "previous:",
        "no_events": "No events.",
        "closing": "Closing statement",
        "chain_head": "Hash of the last event (chain head):",
        "verified": (
            "The chain was verified when this document was generated: every recomputed hash "
            "matches the stored hash."
        ),
        "not_verified": (
            "WARNING: the chain could NOT be verified when this document was generated; the "
            "events above must not be taken as intact."
        ),
        "generated_at": "Document generated (UTC):",
        "page": "page",
        "kind.signature": "signature",
        "kind.approval": "approval",
        "level.simple": "simple",
        "level.eidas_simple": "eIDAS simple",
        "level.eidas_advanced": "eIDAS advanced",
        "status.draft": "draft",
        "status.in_progress": "in progress",
        "status.completed": "completed",
        "status.declined": "declined",
        "status.canceled": "canceled",
        "status.expired": "expired",
        "recipient.waiting": "waiting",
        "recipient.invited": "invited",
        "recipient.opened": "opened",
        "recipient.approved": "approved",
        "recipient.signed": "signed",
        "recipient.declined": "declined",
        "recipient.skipped": "skipped",
        "role.signer": "signer",
        "role.approver": "approver",
    },
}


def _words(locale: str) -> Mapping[str, str]:
    language = locale.replace("_", "-").split("-")[0].lower()
    return _WORDS.get(language, _WORDS["fr"])


def _word(words: Mapping[str, str], prefix: str, value: str | None) -> str:
    """A known value in the reader's language; an unknown one as it is stored."""
    if value is None:
        return NO_VALUE
    return words.get(f"{prefix}.{value}", value)


# -- Text ------------------------------------------------------------------------------------

# Other C0/C1 controls would break reportlab's markup parser or draw nothing; replacing them
# keeps a trace that something was there.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _markup(text: str | None) -> str:
    """User text as reportlab Paragraph markup: shown literally, line breaks kept."""
    if text is None or text == "":
        return NO_VALUE
    text = text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot be drawn
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("\ufffd", text)
    return "<br/>".join(escape(line) for line in text.split("\n"))


def _utc(moment: datetime | None) -> str:
    """ISO 8601 in UTC, to the second; a naive datetime is taken as UTC."""
    if moment is None:
        return NO_VALUE
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _byte_count(size_bytes: int, words: Mapping[str, str]) -> str:
    """The exact size: evidence should not round. '1 234 567 octets' / '1,234,567 bytes'."""
    grouped = f"{size_bytes:,}"
    if words["lang"].startswith("fr"):
        grouped = grouped.replace(",", "\u00a0")
    return f"{grouped}\u00a0{words['bytes']}"


HASH_LINE_CHARACTERS = 32


def _hash_markup(value: str) -> str:
    """A hex digest in lines of 32 characters: two even lines instead of a ragged split."""
    lines = [
        value[i : i + HASH_LINE_CHARACTERS] for i in range(0, len(value), HASH_LINE_CHARACTERS)
    ]
    return "<br/>".join(escape(line) for line in lines) or NO_VALUE


# -- Styles ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    heading: ParagraphStyle
    body: ParagraphStyle
    cell: ParagraphStyle
    header: ParagraphStyle
    small: ParagraphStyle
    hash: ParagraphStyle
    chain_head: ParagraphStyle


def _styles() -> _Styles:
    font = _font()
    base = ParagraphStyle("body", fontName=font, fontSize=9, leading=12, alignment=TA_LEFT)

    def derived(name: str, **changes: Any) -> ParagraphStyle:
        return ParagraphStyle(name, parent=base, **changes)

    return _Styles(
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


def _font() -> str:
    """Registers the embedded Unicode font once per process; returns its name."""
    with _font_lock:
        if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH)))
    return FONT_NAME


# -- Story -----------------------------------------------------------------------------------


def _story(report: EvidenceReport, words: Mapping[str, str], styles: _Styles) -> list[Flowable]:
    return [
        Paragraph(escape(words["title"]), styles.title),
        *_envelope_section(report, words, styles),
        *_recipients_section(report, words, styles),
        *_documents_section(report, words, styles),
        *_events_section(report, words, styles),
        *_closing_section(report, words, styles),
    ]


def _envelope_section(
    report: EvidenceReport, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    sender = " ".join(
        part for part in (_markup(report.sender.name), _sender_email(report.sender.email)) if part
    )
    rows = [
        (words["envelope_id"], escape(report.envelope_id)),
        (
            words["name"],
            _markup(report.envelope_name) if report.envelope_name else words["unnamed"],
        ),
        (words["kind"], escape(_word(words, "kind", report.kind))),
        (words["level"], escape(_word(words, "level", report.level))),
        (words["status"], escape(_word(words, "status", report.status))),
        (words["tenant"], _markup(report.tenant_name)),
        (words["sender"], sender),
        (words["created_at"], _utc(report.created_at)),
        (words["sent_at"], _utc(report.sent_at)),
        (words["ended_at"], _utc(report.ended_at)),
    ]
    table = Table(
        [[_Cell(escape(label), styles.cell), _Cell(value, styles.cell)] for label, value in rows],
        colWidths=(40 * mm, CONTENT_WIDTH - 40 * mm),
        hAlign="LEFT",
    )
    table.setStyle(_KEY_VALUE_STYLE)
    return [Paragraph(escape(words["envelope"]), styles.heading), table]


def _sender_email(email: str | None) -> str:
    return f"&lt;{_markup(email)}&gt;" if email else ""


def _recipients_section(
    report: EvidenceReport, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    heading = Paragraph(escape(words["recipients"]), styles.heading)
    if not report.recipients:
        return [heading, Paragraph(escape(words["no_recipients"]), styles.body)]
    header = [
        words["position"],
        words["name_email"],
        words["role_status"],
        words["authentication"],
        words["acted_at"],
        words["origin"],
    ]
    rows = [_recipient_row(recipient, words, styles) for recipient in report.recipients]
    widths = (10 * mm, 36 * mm, 24 * mm, 24 * mm, 35 * mm)
    return [heading, _grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles)]


def _recipient_row(
    recipient: EvidenceRecipient, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    role = escape(_word(words, "role", recipient.role))
    status = escape(_word(words, "recipient", recipient.status))
    return [
        _Cell(str(recipient.position), styles.cell),
        _Cell(f"{_markup(recipient.name)}<br/>{_markup(recipient.email)}", styles.cell),
        _Cell(f"{role}<br/>{status}", styles.cell),
        _Cell(_markup(recipient.authentication_method), styles.cell),
        _Cell(_utc(recipient.acted_at), styles.cell),
        _origin(recipient.ip, recipient.user_agent, styles),
    ]


def _origin(ip: str | None, user_agent: str | None, styles: _Styles) -> _Cell:
    return _Cell(f"{_markup(ip)}<br/>{_markup(user_agent)}", styles.small)


def _documents_section(
    report: EvidenceReport, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    heading = Paragraph(escape(words["documents"]), styles.heading)
    if not report.documents:
        return [heading, Paragraph(escape(words["no_documents"]), styles.body)]
    header = [words["filename"], words["hashes"], words["size"], words["pages"]]
    rows = [_document_row(document, words, styles) for document in report.documents]
    widths = (44 * mm, 92 * mm, 26 * mm)
    return [heading, _grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles)]


def _document_row(
    document: EvidenceDocument, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    signed = (
        _hash_markup(document.sha256_signed)
        if document.sha256_signed
        else f"<font color='#555555'>{escape(words['unchanged'])}</font>"
    )
    hashes = (
        f"<font color='#555555'>{escape(words['before'])}</font><br/>"
        f"{_hash_markup(document.sha256_original)}<br/>"
        f"<font color='#555555'>{escape(words['after'])}</font><br/>{signed}"
    )
    pages = NO_VALUE if document.page_count is None else str(document.page_count)
    return [
        _Cell(_markup(document.filename), styles.cell),
        _Unbroken(hashes, styles.hash),
        _Cell(_byte_count(document.size_bytes, words), styles.cell),
        _Cell(pages, styles.cell),
    ]


def _events_section(
    report: EvidenceReport, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    heading = Paragraph(escape(words["events"]), styles.heading)
    intro = Paragraph(escape(words["events_intro"]), styles.small)
    if not report.events:
        return [heading, intro, Paragraph(escape(words["no_events"]), styles.body)]
    header = [
        words["seq"],
        words["time_type"],
        words["actor_origin"],
        words["details"],
        words["chain"],
    ]
    rows = [_event_row(event, words, styles) for event in report.events]
    widths = (8 * mm, 35 * mm, 44 * mm, 37 * mm)  # the rest, 50 mm, fits 32 hex digits
    return [
        heading,
        intro,
        Spacer(0, 2 * mm),
        _grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles),
    ]


def _event_row(event: EvidenceEvent, words: Mapping[str, str], styles: _Styles) -> list[Flowable]:
    previous = _hash_markup(event.prev_hash) if event.prev_hash else NO_VALUE
    chain = (
        f"{_hash_markup(event.hash)}<br/>"
        f"<font color='#555555'>{escape(words['previous'])}</font><br/>"
        f"<font color='#555555'>{previous}</font>"
    )
    actor_origin = (
        f"{_markup(event.actor)}<br/><font size='6.5' color='#555555'>"
        f"{_markup(event.ip)}<br/>{_markup(event.user_agent)}</font>"
    )
    return [
        _Cell(str(event.seq), styles.cell),
        _Cell(f"{_utc(event.at)}<br/>{_markup(event.type)}", styles.cell),
        _Cell(actor_origin, styles.cell),
        _Cell(_markup(event.details), styles.cell),
        _Unbroken(chain, styles.hash),
    ]


def _closing_section(
    report: EvidenceReport, words: Mapping[str, str], styles: _Styles
) -> list[Flowable]:
    verdict = words["verified"] if report.chain_verified else words["not_verified"]
    verdict_style = styles.body if report.chain_verified else _alarm(styles.body)
    return [
        Paragraph(escape(words["closing"]), styles.heading),
        Paragraph(escape(words["chain_head"]), styles.body),
        Paragraph(escape(report.chain_head) or NO_VALUE, styles.chain_head),
        Spacer(0, 2 * mm),
        Paragraph(escape(verdict), verdict_style),
        Spacer(0, 2 * mm),
        Paragraph(f"{escape(words['generated_at'])} {_utc(report.generated_at)}", styles.body),
    ]


def _alarm(style: ParagraphStyle) -> ParagraphStyle:
    return ParagraphStyle("alarm", parent=style, textColor=colors.HexColor("#b00020"))


# -- Tables ----------------------------------------------------------------------------------

_GRID_LINE = colors.HexColor("#bbbbbb")
_HEADER_FILL = colors.HexColor("#2f3b4c")

_KEY_VALUE_STYLE = TableStyle(
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

# _LongTable estimates row heights from these.
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


def _grid(
    header: Sequence[str],
    rows: Sequence[Sequence[Flowable]],
    widths: Sequence[float],
    styles: _Styles,
) -> _LongTable:
    """A table whose header row repeats on every page it runs onto."""
    header_row = [_Cell(escape(label), styles.header) for label in header]
    return _LongTable(header_row, list(rows), widths)


_UNBOUNDED = 1e9


class _LongTable(Flowable):  # type: ignore[misc]
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
        return [placed, NotAtTopPageBreak(), _LongTable(self._header, rest, self._widths)]

    def _window(self, height: float) -> list[Sequence[Flowable]]:
        """The rows that fit in `height`, by estimate, plus the first one that does not."""
        used = self._row_height(self._header)
        for count, row in enumerate(self._rows, start=1):
            used += self._row_height(row)
            if used > height:
                return self._rows[:count]
        return self._rows

    def _row_height(self, row: Sequence[Flowable]) -> float:
        # Subtracted as Table does, so the float matches and _Cell's cached layout is reused.
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


class _Cell(Paragraph):  # type: ignore[misc]
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


class _Unbroken(_Cell):
    """A cell never cut across pages: a hash read in two halves, pages apart, helps nobody.

    When a tall row must be cut above such a cell's end, the whole row moves on instead.
    """

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:  # noqa: N803
        return []


# -- Pages -----------------------------------------------------------------------------------


def _canvas_class(report: EvidenceReport, words: Mapping[str, str]) -> type[Canvas]:
    """A canvas that dates the file from the report and numbers pages 'n / total'.

    The total is only known at the end, so each page is kept until then and finished in save().
    """
    footer = f"Cachet · {words['title']} · {report.envelope_id}"
    stamp = _pdf_date(report.generated_at)

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
