"""The evidence PDF, read back with poppler, pikepdf and pyHanko's strict reader.

Pure rendering: no database. The events carry a real hash chain built with app.evidence.chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pikepdf
import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.lib.units import mm

from app.evidence.chain import GENESIS_HASH, ChainedEvent, chain_hash
from app.signing.evidence_pdf import (
    EvidenceDocument,
    EvidenceEvent,
    EvidenceRecipient,
    EvidenceReport,
    Party,
    render_evidence_pdf,
)
from app.signing.evidence_tables import MARGIN

ENVELOPE_ID = "5b0c7a4e-2d1f-4c3b-9a8e-6f7d1e2c3b4a"
START = datetime(2026, 3, 2, 8, 30, tzinfo=UTC)
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 Edg/123.0.2420.81"
)
NAMES = ("Zoë Łukasz-Ménard", "<b>Bob & Co</b>", "Hans Straße-François")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chained_events(count: int) -> list[EvidenceEvent]:
    events = []
    prev_hash = GENESIS_HASH
    for sequence in range(1, count + 1):
        at = START + timedelta(minutes=sequence, microseconds=sequence)
        data = {"document": "bail-2026.pdf", "page": sequence % 3 + 1}
        chained = ChainedEvent(
            envelope_id=ENVELOPE_ID,
            sequence=sequence,
            type="recipient.signed",
            occurred_at=at,
            actor={"kind": "recipient", "email": "zoe@example.org"},
            ip="203.0.113.7",
            user_agent=BROWSER,
            data=data,
        )
        digest = chain_hash(prev_hash, chained)
        events.append(
            EvidenceEvent(
                seq=sequence,
                at=at,
                type=chained.type,
                actor=f"{NAMES[sequence % 3]} <zoe@example.org>",
                ip=chained.ip,
                user_agent=chained.user_agent,
                details=f"document: bail-2026.pdf\npage: {data['page']}",
                hash=digest,
                prev_hash=prev_hash,
            )
        )
        prev_hash = digest
    return events


def recipient(position: int, name: str, status: str, *, role: str = "signer") -> EvidenceRecipient:
    return EvidenceRecipient(
        position=position,
        name=name,
        email=f"person{position}@example.org",
        role=role,
        status=status,
        authentication_method="lien personnel envoyé par e-mail",
        acted_at=START + timedelta(hours=position),
        ip=f"198.51.100.{position}",
        user_agent=BROWSER,
    )


def make_report(*, events: int = 20, locale: str = "fr") -> EvidenceReport:
    chain = chained_events(events)
    return EvidenceReport(
        envelope_id=ENVELOPE_ID,
        envelope_name="Bail commercial — Müller & Söhne",
        kind="signature",
        level="eidas_simple",
        status="completed",
        tenant_name="Ŝtudio Ćwikła SARL",
        sender=Party(name="Jérôme Façade", email="jerome@example.org"),
        created_at=START - timedelta(days=1),
        sent_at=START,
        ended_at=START + timedelta(hours=5),
        recipients=[
            recipient(1, NAMES[0], "signed"),
            recipient(2, NAMES[1], "approved", role="approver"),
            recipient(3, NAMES[2], "signed"),
        ],
        documents=[
            EvidenceDocument("bail-2026.pdf", sha256("bail"), sha256("bail signé"), 1_234_567, 12),
            EvidenceDocument(
                "annexe-état-des-lieux.pdf", sha256("annexe"), sha256("annexe s"), 98_765, 3
            ),
        ],
        events=chain,
        chain_head=chain[-1].hash if chain else "",
        chain_verified=True,
        generated_at=START + timedelta(hours=5, minutes=1),
        locale=locale,
    )


def write(pdf: bytes, tmp_path: Path, name: str = "evidence.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(pdf)
    return path


def pdf_text(path: Path) -> str:
    """The text in drawing order (-raw), so a wrapped cell's lines stay together."""
    return subprocess.run(
        ["pdftotext", "-raw", "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def squeezed(text: str) -> str:
    """Without any whitespace: a hash wrapped over two lines reads as one word again."""
    return re.sub(r"\s+", "", text)


def page_count(pdf: bytes) -> int:
    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


@pytest.fixture(scope="module")
def french_pdf() -> bytes:
    return render_evidence_pdf(make_report())


@pytest.fixture(scope="module")
def english_pdf() -> bytes:
    return render_evidence_pdf(make_report(locale="en"))


def test_every_fact_of_the_report_is_in_the_text(french_pdf: bytes, tmp_path: Path) -> None:
    report = make_report()
    text = squeezed(pdf_text(write(french_pdf, tmp_path)))

    expected = [
        report.envelope_id,
        "Bail commercial — Müller & Söhne",
        "Jérôme Façade",
        "jerome@example.org",
        "Ŝtudio Ćwikła SARL",
        *NAMES,
        *(r.email or "" for r in report.recipients),
        "lien personnel envoyé par e-mail",
        "198.51.100.2",
        BROWSER,
        *(d.filename for d in report.documents),
        *(d.sha256_original for d in report.documents),
        *(d.sha256_signed or "" for d in report.documents),
        "1 234 567 octets",
        *(e.hash for e in report.events),
        "2026-03-02T08:31:00Z",  # the first event, in UTC to the second
        "2026-03-02T08:50:00Z",  # the last
        report.chain_head,
        "2026-03-02T13:31:00Z",  # generated_at
    ]
    missing = [value for value in expected if squeezed(value) not in text]
    assert missing == []


def test_events_appear_in_order_with_their_previous_hash(french_pdf: bytes, tmp_path: Path) -> None:
    text = squeezed(pdf_text(write(french_pdf, tmp_path)))
    events = make_report().events

    positions = [
        text.index(event.hash + "précédente:" + (event.prev_hash or "")) for event in events
    ]

    assert positions == sorted(positions)
    assert text.count(GENESIS_HASH) == 1  # the first event's previous hash


def test_user_text_is_shown_literally_not_as_markup(french_pdf: bytes, tmp_path: Path) -> None:
    text = pdf_text(write(french_pdf, tmp_path))

    assert "<b>Bob & Co</b>" in text
    assert "&amp;" not in text


def test_the_font_is_embedded_and_no_other_is_used(french_pdf: bytes, tmp_path: Path) -> None:
    listing = subprocess.run(
        ["pdffonts", str(write(french_pdf, tmp_path))], check=True, capture_output=True, text=True
    ).stdout
    fonts = listing.splitlines()[2:]  # after the two header lines

    assert len(fonts) == 1
    name, *_, embedded, subset, unicode_map, _object, _generation = fonts[0].split()
    assert name.endswith("+DejaVuSans")
    assert (embedded, subset, unicode_map) == ("yes", "yes", "yes")


def test_french_and_english_labels(french_pdf: bytes, english_pdf: bytes, tmp_path: Path) -> None:
    french = pdf_text(write(french_pdf, tmp_path, "fr.pdf"))
    english = pdf_text(write(english_pdf, tmp_path, "en.pdf"))

    for label in ("Dossier de preuve", "Journal des événements", "Destinataires", "terminée"):
        assert label in french
        assert label not in english
    for label in ("Evidence report", "Event log", "Recipients", "completed"):
        assert label in english
        assert label not in french
    assert "1,234,567 bytes" in english


def test_an_unverified_chain_is_stated(tmp_path: Path) -> None:
    report = dataclasses.replace(make_report(events=3, locale="en"), chain_verified=False)

    text = pdf_text(write(render_evidence_pdf(report), tmp_path))

    assert "could NOT be verified" in text
    assert "was verified" not in text


def test_five_hundred_events_paginate(tmp_path: Path) -> None:
    report = make_report(events=500)

    started = time.perf_counter()
    pdf = render_evidence_pdf(report)
    elapsed = time.perf_counter() - started

    text = squeezed(pdf_text(write(pdf, tmp_path)))
    assert page_count(pdf) > 10
    assert report.events[-1].hash in text
    assert text.count("précédente:") == 500
    # Measured about 1 s here; minutes would mean the page breaks went quadratic again.
    assert elapsed < 15


@dataclasses.dataclass(frozen=True)
class Word:
    left: float
    top: float
    right: float
    bottom: float
    text: str


@dataclasses.dataclass(frozen=True)
class Page:
    width: float
    height: float
    words: list[Word]


PAGE_BOXES = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.DOTALL)
WORD_BOX = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
)


def word_boxes(path: Path) -> list[Page]:
    """Every word poppler finds, with its box (y grows downwards)."""
    layout = subprocess.run(
        ["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout
    return [
        Page(
            float(width),
            float(height),
            [
                Word(float(left), float(top), float(right), float(bottom), text)
                for left, top, right, bottom, text in WORD_BOX.findall(body)
            ],
        )
        for width, height, body in PAGE_BOXES.findall(layout)
    ]


def assert_inside_margins(path: Path) -> None:
    """Content stays in the text frame; the footer band holds only the footer line."""
    pages = word_boxes(path)
    for number, page in enumerate(pages, start=1):
        footer_top = page.height - MARGIN - 2 * mm
        footer = [word.text for word in page.words if word.top >= footer_top]
        content = [word for word in page.words if word.top < footer_top]
        assert " ".join(footer).endswith(f"{ENVELOPE_ID} · page {number} / {len(pages)}")
        assert all(word.left >= MARGIN - 1 for word in page.words)
        assert all(word.right <= page.width - MARGIN + 1 for word in page.words)
        assert all(word.top >= MARGIN - 1 for word in content)
        assert all(word.bottom <= page.height - MARGIN - 6 * mm + 1 for word in content)


def test_nothing_is_drawn_outside_the_margins(tmp_path: Path) -> None:
    unbroken = "x" * 400
    base = make_report(events=4)
    report = dataclasses.replace(
        base,
        envelope_name="N" * 300,
        recipients=[
            dataclasses.replace(
                base.recipients[0], name="Ł" * 200, email="a" * 150 + "@example.org"
            ),
            dataclasses.replace(base.recipients[1], user_agent=unbroken),
        ],
        documents=[dataclasses.replace(base.documents[0], filename=unbroken + ".pdf")],
        events=[
            dataclasses.replace(event, details=unbroken, actor=unbroken, type=unbroken)
            for event in base.events
        ],
    )
    path = write(render_evidence_pdf(report), tmp_path)

    assert sum(len(page.words) for page in word_boxes(path)) > 100
    assert_inside_margins(path)
    assert unbroken in squeezed(pdf_text(path))


def test_an_event_taller_than_a_page_continues_on_the_next(tmp_path: Path) -> None:
    # A decline reason or comment has no length limit: it must not make the PDF fail.
    base = make_report(events=3)
    long_reason = " ".join(f"mot{index}" for index in range(6000))
    tall = dataclasses.replace(base.events[1], details=long_reason)
    report = dataclasses.replace(base, events=[base.events[0], tall, base.events[2]])
    path = write(render_evidence_pdf(report), tmp_path)

    text = pdf_text(path)
    # Every word once and in order, across page breaks (which put the footer and header between).
    assert re.findall(r"\bmot(\d+)\b", text) == [str(index) for index in range(6000)]
    positions = [squeezed(text).index(event.hash) for event in report.events]
    assert positions == sorted(positions)
    assert len(word_boxes(path)) > 5
    assert_inside_margins(path)


def test_rows_of_every_height_keep_their_order_and_margins(tmp_path: Path) -> None:
    # Rows from one line to more than a page, so page breaks fall everywhere in and between.
    base = make_report(events=60)
    events = [
        dataclasses.replace(event, details=" ".join(["détail"] * (index * 37 % 900)))
        for index, event in enumerate(base.events)
    ]
    path = write(render_evidence_pdf(dataclasses.replace(base, events=events)), tmp_path)

    text = squeezed(pdf_text(path))
    positions = [text.index(event.hash + "précédente:") for event in events]
    assert positions == sorted(positions)
    assert text.count("détail") == sum(index * 37 % 900 for index in range(60))
    assert_inside_margins(path)
    pages = [squeezed(page) for page in pdf_text(path).split("\f")]
    # A hash is never cut across pages, and a page never shows the table header twice.
    assert all(any(event.hash in page for page in pages) for event in events)
    assert all(page.count("Date(UTC)ettype") <= 1 for page in pages)


@pytest.mark.parametrize("extra_words", range(0, 36, 4))
def test_a_row_cut_at_a_page_end_keeps_its_hashes_together(
    extra_words: int, tmp_path: Path
) -> None:
    # One row grows a line at a time, so the page end falls at every height of the next row's
    # hash cell; the row after it is taller than a page and must be cut there.
    base = make_report(events=10)
    sizes = {4: 62 + extra_words, 8: 3000}
    events = [
        dataclasses.replace(event, details=" ".join(["détail"] * sizes.get(index, 62)))
        for index, event in enumerate(base.events)
    ]
    path = write(render_evidence_pdf(dataclasses.replace(base, events=events)), tmp_path)

    text = pdf_text(path)
    pages = [squeezed(page) for page in text.split("\f")]
    cut = [
        event.seq
        for event in events
        if not any(f"{event.hash}précédente:{event.prev_hash}" in page for page in pages)
    ]
    assert cut == []
    assert text.count("détail") == sum(sizes.get(index, 62) for index in range(10))


def test_control_characters_and_missing_glyphs_do_not_break_rendering(tmp_path: Path) -> None:
    base = make_report(events=2)
    odd = "bell\x07 nul\x00 tab\t cjk 署名 emoji \U0001f58a lone \ud800 end"
    report = dataclasses.replace(
        base,
        envelope_name=odd,
        recipients=[dataclasses.replace(base.recipients[0], name=odd)],
        events=[dataclasses.replace(event, details=odd) for event in base.events],
    )

    text = pdf_text(write(render_evidence_pdf(report), tmp_path))

    assert "bell" in text
    assert "end" in text


def test_empty_sections_and_naive_datetimes(tmp_path: Path) -> None:
    report = dataclasses.replace(
        make_report(events=0, locale="en"),
        recipients=[],
        documents=[],
        created_at=datetime(2026, 1, 5, 10, 0),  # naive: taken as UTC
        sent_at=None,
        ended_at=None,
    )

    text = pdf_text(write(render_evidence_pdf(report), tmp_path))

    assert "No recipients." in text
    assert "No documents." in text
    assert "No events." in text
    assert "2026-01-05T10:00:00Z" in text


def test_the_file_opens_in_strict_readers(french_pdf: bytes) -> None:
    reader = PdfFileReader(io.BytesIO(french_pdf), strict=True)
    assert int(reader.root["/Pages"]["/Count"]) == page_count(french_pdf)
    assert reader.trailer["/ID"] is not None  # pyHanko's incremental updates keep the ID

    with pikepdf.open(io.BytesIO(french_pdf)) as document:
        assert document.check_pdf_syntax() == []
        assert str(document.docinfo["/CreationDate"]) == "D:20260302133100+00'00'"
        assert str(document.Root.Lang) == "fr-FR"


def test_the_same_report_gives_the_same_bytes(french_pdf: bytes) -> None:
    assert render_evidence_pdf(make_report()) == french_pdf
    later = dataclasses.replace(make_report(), generated_at=START + timedelta(days=1))
    assert render_evidence_pdf(later) != french_pdf


def test_renders_in_parallel_threads_give_the_same_bytes() -> None:
    # The service renders in worker threads; reportlab keeps per-process font state.
    reports = [
        make_report(events=count, locale=locale) for count in (3, 40) for locale in ("fr", "en")
    ]
    one_by_one = [render_evidence_pdf(report) for report in reports]

    with ThreadPoolExecutor(max_workers=4) as pool:
        in_parallel = list(pool.map(render_evidence_pdf, reports * 2))

    assert in_parallel == one_by_one * 2


def test_an_event_shows_its_label_above_its_type(tmp_path: Path) -> None:
    report = make_report(events=2)
    labelled = [dataclasses.replace(e, label="Signé par le destinataire") for e in report.events]
    pdf = render_evidence_pdf(dataclasses.replace(report, events=labelled))
    text = squeezed(pdf_text(write(pdf, tmp_path)))
    assert text.count(squeezed("Signé par le destinataire")) == 2
    assert squeezed("Signé par le destinataire recipient.signed") in text
