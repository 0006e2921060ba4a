"""The evidence PDF: an envelope's parties, documents and hash-chained event log, for people.

Pure rendering over plain values: the caller gathers the facts (from the database, the chain
check, the signed files), this module only lays them out with reportlab. The result is sealed
and timestamped afterwards by the signing code; nothing here signs.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table

from app.signing.evidence_styles import Styles, paragraph_styles, registered_font
from app.signing.evidence_tables import (
    BOTTOM_MARGIN,
    CONTENT_WIDTH,
    KEY_VALUE_STYLE,
    MARGIN,
    PAGE_SIZE,
    Cell,
    Unbroken,
    canvas_class,
    grid,
)
from app.signing.evidence_words import (
    NO_VALUE,
    byte_count,
    hash_markup,
    markup,
    utc,
    word,
    words_for,
)


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
    label: str | None = None  # the type in words, in the report's language


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
    words = words_for(report.locale)
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
        # Machine-readable, for `cachet evidence verify`: which chain this file seals.
        keywords=sealed_chain_keywords(len(report.events), report.chain_head),
        lang=words["lang"],
        # Else every page names Helvetica, a font it does not embed.
        initialFontName=registered_font(),
        # Fixed ID and dates: the bytes depend on the report only (the date is set below).
        invariant=1,
    )
    document.build(
        _story(report, words, paragraph_styles()),
        canvasmaker=canvas_class(report.envelope_id, report.generated_at, words),
    )
    return buffer.getvalue()


def write_evidence_pdf(report: EvidenceReport, path: Path) -> None:
    path.write_bytes(render_evidence_pdf(report))


CHAIN_KEYWORD = "cachet-evidence-chain"


def sealed_chain_keywords(length: int, head: str) -> str:
    return f"{CHAIN_KEYWORD} {length} {head}"


def sealed_chain(path: Path) -> tuple[int, str] | None:
    """The chain length and head an evidence PDF seals, from its document information; None
    when the file carries none (an evidence PDF made before they were written there)."""
    with path.open("rb") as stream:
        keywords = PdfFileReader(stream, strict=False).document_meta_view.keywords
    parts = " ".join(keywords).split()
    if len(parts) != 3 or parts[0] != CHAIN_KEYWORD or not parts[1].isdigit():
        return None
    return int(parts[1]), parts[2]


# -- Story -----------------------------------------------------------------------------------


def _story(report: EvidenceReport, words: Mapping[str, str], styles: Styles) -> list[Flowable]:
    return [
        Paragraph(escape(words["title"]), styles.title),
        *_envelope_section(report, words, styles),
        *_recipients_section(report, words, styles),
        *_documents_section(report, words, styles),
        *_events_section(report, words, styles),
        *_closing_section(report, words, styles),
    ]


def _envelope_section(
    report: EvidenceReport, words: Mapping[str, str], styles: Styles
) -> list[Flowable]:
    sender = " ".join(
        part for part in (markup(report.sender.name), _sender_email(report.sender.email)) if part
    )
    rows = [
        (words["envelope_id"], escape(report.envelope_id)),
        (
            words["name"],
            markup(report.envelope_name) if report.envelope_name else words["unnamed"],
        ),
        (words["kind"], escape(word(words, "kind", report.kind))),
        (words["level"], escape(word(words, "level", report.level))),
        (words["status"], escape(word(words, "status", report.status))),
        (words["tenant"], markup(report.tenant_name)),
        (words["sender"], sender),
        (words["created_at"], utc(report.created_at)),
        (words["sent_at"], utc(report.sent_at)),
        (words["ended_at"], utc(report.ended_at)),
    ]
    table = Table(
        [[Cell(escape(label), styles.cell), Cell(value, styles.cell)] for label, value in rows],
        colWidths=(40 * mm, CONTENT_WIDTH - 40 * mm),
        hAlign="LEFT",
    )
    table.setStyle(KEY_VALUE_STYLE)
    return [Paragraph(escape(words["envelope"]), styles.heading), table]


def _sender_email(email: str | None) -> str:
    return f"&lt;{markup(email)}&gt;" if email else ""


def _recipients_section(
    report: EvidenceReport, words: Mapping[str, str], styles: Styles
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
    return [heading, grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles)]


def _recipient_row(
    recipient: EvidenceRecipient, words: Mapping[str, str], styles: Styles
) -> list[Flowable]:
    role = escape(word(words, "role", recipient.role))
    status = escape(word(words, "recipient", recipient.status))
    return [
        Cell(str(recipient.position), styles.cell),
        Cell(f"{markup(recipient.name)}<br/>{markup(recipient.email)}", styles.cell),
        Cell(f"{role}<br/>{status}", styles.cell),
        Cell(markup(recipient.authentication_method), styles.cell),
        Cell(utc(recipient.acted_at), styles.cell),
        _origin(recipient.ip, recipient.user_agent, styles),
    ]


def _origin(ip: str | None, user_agent: str | None, styles: Styles) -> Cell:
    return Cell(f"{markup(ip)}<br/>{markup(user_agent)}", styles.small)


def _documents_section(
    report: EvidenceReport, words: Mapping[str, str], styles: Styles
) -> list[Flowable]:
    heading = Paragraph(escape(words["documents"]), styles.heading)
    if not report.documents:
        return [heading, Paragraph(escape(words["no_documents"]), styles.body)]
    header = [words["filename"], words["hashes"], words["size"], words["pages"]]
    rows = [_document_row(document, words, styles) for document in report.documents]
    widths = (44 * mm, 92 * mm, 26 * mm)
    return [heading, grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles)]


def _document_row(
    document: EvidenceDocument, words: Mapping[str, str], styles: Styles
) -> list[Flowable]:
    signed = (
        hash_markup(document.sha256_signed)
        if document.sha256_signed
        else f"<font color='#555555'>{escape(words['unchanged'])}</font>"
    )
    hashes = (
        f"<font color='#555555'>{escape(words['before'])}</font><br/>"
        f"{hash_markup(document.sha256_original)}<br/>"
        f"<font color='#555555'>{escape(words['after'])}</font><br/>{signed}"
    )
    pages = NO_VALUE if document.page_count is None else str(document.page_count)
    return [
        Cell(markup(document.filename), styles.cell),
        Unbroken(hashes, styles.hash),
        Cell(byte_count(document.size_bytes, words), styles.cell),
        Cell(pages, styles.cell),
    ]


def _events_section(
    report: EvidenceReport, words: Mapping[str, str], styles: Styles
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
        grid(header, rows, (*widths, CONTENT_WIDTH - sum(widths)), styles),
    ]


def _event_row(event: EvidenceEvent, words: Mapping[str, str], styles: Styles) -> list[Flowable]:
    previous = hash_markup(event.prev_hash) if event.prev_hash else NO_VALUE
    chain = (
        f"{hash_markup(event.hash)}<br/>"
        f"<font color='#555555'>{escape(words['previous'])}</font><br/>"
        f"<font color='#555555'>{previous}</font>"
    )
    actor_origin = (
        f"{markup(event.actor)}<br/><font size='6.5' color='#555555'>"
        f"{markup(event.ip)}<br/>{markup(event.user_agent)}</font>"
    )
    return [
        Cell(str(event.seq), styles.cell),
        Cell(f"{utc(event.at)}<br/>{_event_kind(event)}", styles.cell),
        Cell(actor_origin, styles.cell),
        Cell(markup(event.details), styles.cell),
        Unbroken(chain, styles.hash),
    ]


def _event_kind(event: EvidenceEvent) -> str:
    if event.label is None:
        return markup(event.type)
    return f"{markup(event.label)}<br/><font size='6.5' color='#555555'>{markup(event.type)}</font>"


def _closing_section(
    report: EvidenceReport, words: Mapping[str, str], styles: Styles
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
        Paragraph(f"{escape(words['generated_at'])} {utc(report.generated_at)}", styles.body),
    ]


def _alarm(style: ParagraphStyle) -> ParagraphStyle:
    return ParagraphStyle("alarm", parent=style, textColor=colors.HexColor("#b00020"))
