"""The upload gate against a crafted corpus: exact rejection codes, exact page geometry, and the
worker pool's behaviour when a file exceeds the CPU, wall-clock or memory limits."""

import asyncio
import pathlib
import pickle
import tracemalloc
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest

from app.config import Settings
from app.main import gate_limits
from app.pdf.gate import GateLimits, PageGeometry, PdfGate, PdfInfo, PdfRejected, inspect_pdf
from tests.pdf import corpus, trust

MIB = corpus.MIB
DEFAULT = GateLimits()
SMALL_STREAMS = GateLimits(max_stream_bytes=1 * MIB, max_total_decoded_bytes=3 * MIB)
FIELDS_10 = GateLimits(max_form_fields=10)
DEPTH_4 = GateLimits(max_form_depth=4)
NESTING_4 = GateLimits(max_nesting_depth=4)
REVISIONS_4 = GateLimits(max_revisions=4)
A4_PAGE = PageGeometry(width=595.28, height=841.89, rotation=0, crop_box=(0, 0, 595.28, 841.89))
A4_LANDSCAPE = PageGeometry(841.89, 595.28, 90, (0, 0, 595.28, 841.89))


def write(tmp_path: pathlib.Path, data: bytes) -> pathlib.Path:
    path = tmp_path / "upload.pdf"
    path.write_bytes(data)
    return path


def rejection_code(path: pathlib.Path, limits: GateLimits = DEFAULT) -> str:
    with pytest.raises(PdfRejected) as caught:
        inspect_pdf(path, limits)
    return caught.value.code


REJECTED: list[tuple[str, Callable[[], bytes], GateLimits, str]] = [
    ("png image", corpus.png_image, DEFAULT, "not_a_pdf"),
    ("plain text", corpus.plain_text, DEFAULT, "not_a_pdf"),
    ("empty file", lambda: b"", DEFAULT, "not_a_pdf"),
    ("junk before the header", corpus.junk_before_header, DEFAULT, "not_a_pdf"),
    ("header and nothing else", corpus.header_only, DEFAULT, "damaged"),
    ("truncated upload", corpus.truncated, DEFAULT, "damaged"),
    ("startxref past EOF", corpus.startxref_past_eof, DEFAULT, "damaged"),
    ("xref /Prev loop", corpus.xref_loop, DEFAULT, "damaged"),
    ("xref offsets shifted", corpus.xref_offsets_shifted, DEFAULT, "damaged"),
    ("page tree loop", corpus.page_tree_loop, DEFAULT, "damaged"),
    ("page without MediaBox", corpus.without_media_box, DEFAULT, "damaged"),
    ("owner password", corpus.owner_password_encrypted, DEFAULT, "encrypted"),
    ("user password", corpus.user_password_encrypted, DEFAULT, "encrypted"),
    ("OpenAction JavaScript", corpus.open_action_javascript, DEFAULT, "active_content"),
    ("OpenAction URI", corpus.open_action_uri, DEFAULT, "active_content"),
    ("page /AA", corpus.page_additional_actions, DEFAULT, "active_content"),
    ("document JavaScript", corpus.document_javascript, DEFAULT, "active_content"),
    ("Launch action", corpus.launch_action_link, DEFAULT, "active_content"),
    ("bare /JS", corpus.javascript_link_without_action_type, DEFAULT, "active_content"),
    ("RichMedia", corpus.rich_media_annotation, DEFAULT, "active_content"),
    ("embedded file", corpus.embedded_file, DEFAULT, "embedded_files"),
    ("orphan embedded file", corpus.orphan_file_specification, DEFAULT, "embedded_files"),
    ("file attachment annot", corpus.file_attachment_annotation, DEFAULT, "embedded_files"),
    ("XFA form", corpus.xfa_form, DEFAULT, "xfa"),
    ("signed by pyHanko", corpus.signed_by_pyhanko, DEFAULT, "already_signed"),
    ("/Sig field with /V", corpus.signature_field_with_value, DEFAULT, "already_signed"),
    ("DocMDP /Perms", corpus.docmdp_permissions, DEFAULT, "already_signed"),
    ("501 pages", lambda: corpus.pages(501), DEFAULT, "too_many_pages"),
    ("10 pages, 9 allowed", lambda: corpus.pages(10), GateLimits(max_pages=9), "too_many_pages"),
    ("objects", lambda: corpus.many_objects(100), GateLimits(max_objects=99), "too_many_objects"),
    ("flate 2 MiB", lambda: corpus.flate_bomb(2 * MIB), SMALL_STREAMS, "decompression_bomb"),
    ("flate 70 MiB", lambda: corpus.flate_bomb(70 * MIB), DEFAULT, "decompression_bomb"),
    ("nested flate 4 GiB", corpus.nested_flate_bomb, DEFAULT, "decompression_bomb"),
    (
        "nested flate 2 MiB",
        lambda: corpus.nested_flate_bomb(2 * MIB),
        SMALL_STREAMS,
        "decompression_bomb",
    ),
    (
        "ascii85 + flate",
        lambda: corpus.ascii85_flate_bomb(2 * MIB),
        SMALL_STREAMS,
        "decompression_bomb",
    ),
    ("17 chained filters", lambda: corpus.long_filter_chain(17), DEFAULT, "decompression_bomb"),
    ("unknown filter", corpus.unknown_filter, DEFAULT, "damaged"),
    ("run length", lambda: corpus.run_length_bomb(2 * MIB), SMALL_STREAMS, "decompression_bomb"),
    (
        "total over budget",
        lambda: corpus.streams_over_total_budget(4, 900 * 1024),
        SMALL_STREAMS,
        "decompression_bomb",
    ),
]

REJECTED += [(name, build, DEFAULT, code) for name, build, code in trust.REFUSED]
REJECTED += [
    ("150,000 fields", lambda: corpus.form_fields(150_000), DEFAULT, "too_complex"),
    ("11 fields, 10 allowed", lambda: corpus.form_fields(11), FIELDS_10, "too_complex"),
    ("form 5 levels, 4 allowed", lambda: corpus.form_nested(5), DEPTH_4, "too_complex"),
    ("5 levels, 4 allowed", lambda: corpus.deeply_nested(5), NESTING_4, "too_complex"),
    ("5 revisions, 4 allowed", lambda: corpus.updated_incrementally(5), REVISIONS_4, "too_complex"),
    (
        "revisions over the object cap",
        lambda: corpus.updated_incrementally(40),
        GateLimits(max_objects=40),
        "too_many_objects",
    ),
]


@pytest.mark.parametrize(
    ("build", "limits", "code"),
    [pytest.param(build, limits, code, id=name) for name, build, limits, code in REJECTED],
)
def test_rejects_with_exact_code(
    tmp_path: pathlib.Path, build: Callable[[], bytes], limits: GateLimits, code: str
) -> None:
    assert rejection_code(write(tmp_path, build()), limits) == code


def one_page(geometry: PageGeometry) -> PdfInfo:
    return PdfInfo(page_count=1, pages=(geometry,))


ACCEPTED: list[tuple[str, Callable[[], bytes], PdfInfo]] = [
    ("plain A4", corpus.plain_a4, one_page(A4_PAGE)),
    ("Rotate 90", lambda: corpus.rotated(90), one_page(A4_LANDSCAPE)),
    ("Rotate on Pages node", corpus.rotation_inherited_from_pages_node, one_page(A4_LANDSCAPE)),
    (
        "Rotate -90",
        lambda: corpus.rotated(-90),
        one_page(PageGeometry(841.89, 595.28, 270, (0, 0, 595.28, 841.89))),
    ),
    (
        "Rotate 540",
        lambda: corpus.rotated(540),
        one_page(PageGeometry(595.28, 841.89, 180, (0, 0, 595.28, 841.89))),
    ),
    (
        "CropBox inside MediaBox, corners swapped",
        lambda: corpus.with_crop_box([500, 700, Decimal("100.5"), 100]),
        one_page(PageGeometry(399.5, 600, 0, (100.5, 100, 500, 700))),
    ),
    (
        "CropBox overhanging MediaBox",
        lambda: corpus.with_crop_box([-50, 400, 300, 1000]),
        one_page(PageGeometry(300, 441.89, 0, (0, 400, 300, 841.89))),
    ),
    (
        "CropBox outside MediaBox",
        lambda: corpus.with_crop_box([1000, 1000, 1200, 1200]),
        one_page(A4_PAGE),
    ),
    (
        "UserUnit 2",
        lambda: corpus.user_unit(2),
        one_page(PageGeometry(1190.56, 1683.78, 0, (0, 0, 595.28, 841.89))),
    ),
    (
        "MediaBox on Pages node",
        corpus.media_box_inherited_from_pages_node,
        one_page(PageGeometry(300, 400, 0, (0, 0, 300, 400))),
    ),
    (
        "linearized, object streams",
        corpus.linearized_with_object_streams,
        PdfInfo(page_count=3, pages=(A4_PAGE,) * 3),
    ),
    ("OpenAction GoTo", corpus.open_action_goto, one_page(A4_PAGE)),
    ("URI link", corpus.uri_link, one_page(A4_PAGE)),
    ("empty signature field", corpus.empty_signature_field, one_page(A4_PAGE)),
    ("fonts named /AA and /JS", corpus.font_resource_named_like_actions, one_page(A4_PAGE)),
    ("JPEG image", corpus.jpeg_image, one_page(A4_PAGE)),
    ("ASCIIHex + Flate content", corpus.hex_encoded_flate_content, one_page(A4_PAGE)),
    ("ASCII85 content", corpus.ascii85_encoded_content, one_page(A4_PAGE)),
    ("LZW content", corpus.lzw_encoded_content, one_page(A4_PAGE)),
    ("16 chained filters", lambda: corpus.long_filter_chain(16), one_page(A4_PAGE)),
    ("flate 60 MiB", lambda: corpus.flate_bomb(60 * MIB), one_page(A4_PAGE)),
]
ACCEPTED += [(name, build, one_page(A4_PAGE)) for name, build in trust.STILL_ACCEPTED]


@pytest.mark.parametrize(
    ("build", "expected"),
    [pytest.param(build, expected, id=name) for name, build, expected in ACCEPTED],
)
def test_accepts_with_exact_geometry(
    tmp_path: pathlib.Path, build: Callable[[], bytes], expected: PdfInfo
) -> None:
    assert inspect_pdf(write(tmp_path, build()), DEFAULT) == expected


@pytest.mark.parametrize(
    ("build", "code"),
    [
        pytest.param(build, code, id=name)
        for name, build, code in trust.REFUSED
        if code != "already_signed"
    ],
)
def test_allowing_signatures_lets_nothing_else_through(
    tmp_path: pathlib.Path, build: Callable[[], bytes], code: str
) -> None:
    with pytest.raises(PdfRejected) as caught:
        inspect_pdf(write(tmp_path, build()), DEFAULT, allow_signatures=True)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "build",
    [corpus.signed_then_freed, corpus.signed_then_overwritten, corpus.signed_then_unchained],
)
def test_signatures_in_earlier_revisions_pass_when_allowed(
    tmp_path: pathlib.Path, build: Callable[[], bytes]
) -> None:
    assert inspect_pdf(write(tmp_path, build()), DEFAULT, allow_signatures=True) == one_page(
        A4_PAGE
    )


def test_settings_reach_the_gate() -> None:
    settings = Settings(
        pdf_max_nesting_depth=10, pdf_max_form_fields=20, pdf_max_form_depth=3, pdf_max_revisions=4
    )
    limits = gate_limits(settings)
    assert (limits.max_nesting_depth, limits.max_form_fields) == (10, 20)
    assert (limits.max_form_depth, limits.max_revisions) == (3, 4)


def test_page_cap_is_inclusive(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, corpus.pages(500))
    info = inspect_pdf(path, DEFAULT)
    assert info.page_count == 500
    assert info.pages == (A4_PAGE,) * 500
    assert rejection_code(path, GateLimits(max_pages=499)) == "too_many_pages"


def test_bomb_is_rejected_without_inflating_it(tmp_path: pathlib.Path) -> None:
    """10 KB that inflate to 4 GiB: rejected at the 64 MiB cap, one 1 MiB chunk held at a time."""
    data = corpus.nested_flate_bomb()
    assert len(data) < 16 * 1024
    path = write(tmp_path, data)
    tracemalloc.start()
    try:
        assert rejection_code(path) == "decompression_bomb"
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB


def test_rejection_survives_pickling() -> None:
    error = pickle.loads(pickle.dumps(PdfRejected("xfa", "the document has an XFA form")))
    assert (error.code, error.detail) == ("xfa", "the document has an XFA form")


# --- the worker pool -------------------------------------------------------------------------

UNCAPPED_STREAMS = {"max_stream_bytes": 1 << 40, "max_total_decoded_bytes": 1 << 40}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("gate")
    samples = {
        "a4": corpus.plain_a4(),
        "javascript": corpus.open_action_javascript(),
        "nested_bomb": corpus.nested_flate_bomb(),
        # For the wall clock: 4 GiB inflated in ~2.7 s on a fast machine, under a 3 s limit.
        "long_bomb": corpus.nested_flate_bomb(32 * 1024 * MIB),
        "lzw_bomb": corpus.lzw_bomb(units=10),
        "slow_but_fine": corpus.nested_flate_bomb(1024 * MIB),
    }
    for name, data in samples.items():
        (folder / f"{name}.pdf").write_bytes(data)
    return {name: folder / f"{name}.pdf" for name in samples}


@pytest.fixture
async def default_gate() -> AsyncIterator[PdfGate]:
    gate = PdfGate(DEFAULT, workers=2)
    await gate.warm_up()
    yield gate
    await gate.aclose()


async def check_code(gate: PdfGate, path: pathlib.Path) -> str:
    with pytest.raises(PdfRejected) as caught:
        await gate.check(path)
    return caught.value.code


async def test_gate_accepts_and_rejects_through_workers(
    default_gate: PdfGate, files: dict[str, pathlib.Path]
) -> None:
    assert await default_gate.check(files["a4"]) == one_page(A4_PAGE)
    assert await check_code(default_gate, files["javascript"]) == "active_content"
    results = await asyncio.gather(*(default_gate.check(files["a4"]) for _ in range(6)))
    assert results == [one_page(A4_PAGE)] * 6


async def test_gate_rejects_bomb_within_a_small_memory_cap(
    files: dict[str, pathlib.Path],
) -> None:
    """With 256 MiB of address space, inflating the 4 GiB bomb would end in MemoryError."""
    gate = PdfGate(GateLimits(memory_bytes=256 * MIB), workers=1)
    try:
        assert await check_code(gate, files["nested_bomb"]) == "decompression_bomb"
    finally:
        await gate.aclose()


async def test_cpu_limit_kills_the_worker_and_the_gate_recovers(
    files: dict[str, pathlib.Path],
) -> None:
    gate = PdfGate(GateLimits(cpu_seconds=1, **UNCAPPED_STREAMS), workers=1)
    try:
        assert await check_code(gate, files["nested_bomb"]) == "too_complex"
        assert await gate.check(files["a4"]) == one_page(A4_PAGE)
    finally:
        await gate.aclose()


async def test_wall_limit_kills_the_worker_and_the_gate_recovers(
    files: dict[str, pathlib.Path],
) -> None:
    """Inflating 32 GiB takes 20 s of CPU or more, far past the wall limit; the limit is
    generous enough for the next check to include starting the replacement worker."""
    gate = PdfGate(GateLimits(wall_seconds=3, **UNCAPPED_STREAMS), workers=1)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await check_code(gate, files["long_bomb"]) == "too_complex"
        assert loop.time() - started < 4.5
        assert await gate.check(files["a4"]) == one_page(A4_PAGE)
    finally:
        await gate.aclose()


async def test_memory_limit_is_too_complex_and_the_gate_recovers(
    files: dict[str, pathlib.Path],
) -> None:
    """LZW is left to qpdf, so the worker's address-space cap is what stops this bomb."""
    gate = PdfGate(GateLimits(memory_bytes=512 * MIB), workers=1)
    try:
        assert await check_code(gate, files["lzw_bomb"]) == "too_complex"
        assert await gate.check(files["a4"]) == one_page(A4_PAGE)
    finally:
        await gate.aclose()


async def test_uploads_in_flight_when_a_worker_dies_are_retried(
    files: dict[str, pathlib.Path],
) -> None:
    """A dead worker fails every task of its pool; the innocent ones get a second run."""
    gate = PdfGate(GateLimits(**UNCAPPED_STREAMS), workers=2)
    try:
        await gate.warm_up()
        slow = [asyncio.create_task(gate.check(files["slow_but_fine"])) for _ in range(2)]
        await asyncio.sleep(0.3)
        # Stands in for a crash: kill one worker under the gate's feet.
        next(iter(gate._pool.executor._processes.values())).kill()
        assert await asyncio.gather(*slow) == [one_page(A4_PAGE)] * 2
        assert await gate.check(files["a4"]) == one_page(A4_PAGE)
    finally:
        await gate.aclose()
