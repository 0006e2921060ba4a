"""POST /v1/validations and validate_pdf against real signatures: PAdES B-T made with the
certomancer test PKI (its Animator is the TSA), tampered in the ways that matter, and
cross-checked with poppler's pdfsig (which does no diff analysis: it cannot see a page drawn on
after signing, only that the last signature no longer covers the whole file)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import io
import pickle
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pikepdf
import pytest
from asn1crypto import cms
from asn1crypto import crl as asn1_crl
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.validation import DocumentSecurityStore
from pyhanko_certvalidator.registry import SimpleCertificateStore

from app.pdf.gate import GateLimits, PdfGate, PdfRejected, inspect_pdf
from app.runtime import Runtime
from app.signing.keys import platform_seal
from app.signing.validation import (
    MODIFIED_AFTER_LAST,
    NO_SIGNATURE,
    UnreadablePdf,
    ValidationReport,
    revision_digests,
    validate_pdf,
)
from app.signing.validation_reasons import MODIFIED_AFTER_THIS, SIGNED_BYTES_CHANGED
from tests.pdf import corpus
from tests.signing.pdfsig import PdfsigSignature, pdfsig_verdicts
from tests.signing.testpki import TestPki
from tests.support import ApiClient, padded_pdf

FIELDS = ("Signer1", "Signer2")
AMOUNT = b"(Pay 100 EUR to Alice)"
FORGED_AMOUNT = b"(Pay 900 EUR to Alice)"
LIMIT = 15 * 1024 * 1024


# --- building signed PDFs with pyHanko (synchronous: run in a worker thread) ------------------


def contract_pdf() -> bytes:
    """One A4 page with a sentence in an uncompressed content stream, so a test can find it."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595.28, 841.89))
    page = pdf.pages[0]
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    page.obj.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.obj.Contents = pdf.make_stream(b"BT /F1 24 Tf 72 720 Td " + AMOUNT + b" Tj ET\n")
    out = io.BytesIO()
    pdf.save(out, compress_streams=False)
    return out.getvalue()


def with_signature_fields(pdf: bytes, names: Sequence[str]) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    for index, name in enumerate(names):
        box = (72 + 200 * index, 72, 252 + 200 * index, 132)
        fields.append_signature_field(writer, fields.SigFieldSpec(name, on_page=0, box=box))
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]  # unannotated upstream
    return out.getvalue()


def signed(
    pdf: bytes, field: str, signer: signers.Signer, timestamper: TimeStamper | None
) -> bytes:
    """A PAdES signature in the existing field (B-T with a timestamper)."""
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=True)
    metadata = signers.PdfSignatureMetadata(field_name=field, subfilter=SigSeedSubFilter.PADES)
    pdf_signer = signers.PdfSigner(metadata, signer=signer, timestamper=timestamper)
    output = pdf_signer.sign_pdf(writer, existing_fields_only=True)
    data: bytes = output.getvalue()
    return data


def two_approvals(pki: TestPki) -> bytes:
    seal = pki.seal()
    data = with_signature_fields(contract_pdf(), FIELDS)
    for name in FIELDS:
        data = signed(data, name, seal.signer, seal.timestamper)
    return data


def long_term(pki: TestPki, *, archive_timestamp: bool) -> bytes:
    """Two approvals, the second with revocation data in a DSS (B-LT) and, optionally, a
    document timestamp over everything (B-LTA). Signing fetches from the Animator; validation
    later reads only what the file holds."""
    seal = pki.seal()
    data = with_signature_fields(contract_pdf(), FIELDS)
    data = signed(data, FIELDS[0], seal.signer, seal.timestamper)
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    metadata = signers.PdfSignatureMetadata(
        field_name=FIELDS[1],
        subfilter=SigSeedSubFilter.PADES,
        embed_validation_info=True,
        use_pades_lta=archive_timestamp,
        validation_context=seal.validation_context(),
    )
    pdf_signer = signers.PdfSigner(metadata, signer=seal.signer, timestamper=seal.timestamper)
    result: bytes = pdf_signer.sign_pdf(writer, existing_fields_only=True).getvalue()
    return result


@dataclasses.dataclass(frozen=True)
class OwnCa:
    """A CA of the test's own, outside the test PKI, with one signer ("Mallory")."""

    ca_cert: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def root_der(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.DER)

    def signer(self) -> signers.SimpleSigner:
        registry = SimpleCertificateStore()  # type: ignore[no-untyped-call]  # unannotated
        registry.register(asn1_x509.Certificate.load(self.root_der))
        private_key = asn1_keys.PrivateKeyInfo.load(
            self.key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return signers.SimpleSigner(
            signing_cert=asn1_x509.Certificate.load(
                self.cert.public_bytes(serialization.Encoding.DER)
            ),
            signing_key=private_key,
            cert_registry=registry,
        )

    def crl_revoking_the_signer(self) -> asn1_crl.CertificateList:
        now = dt.datetime.now(dt.UTC)
        revoked = (
            x509.RevokedCertificateBuilder()
            .serial_number(self.cert.serial_number)
            .revocation_date(now - dt.timedelta(hours=1))
            .build()
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + dt.timedelta(days=7))
            .add_revoked_certificate(revoked)
            .sign(self.ca_key, hashes.SHA256())
        )
        return asn1_crl.CertificateList.load(crl.public_bytes(serialization.Encoding.DER))


def own_ca() -> OwnCa:
    """A proper CA -> signer chain (non-repudiation and all) that the service does not trust."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unknown Root CA")])
    ca_usage = x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ca_usage, critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mallory")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(usage, critical=True)
        # pyhanko-certvalidator's soft-fail only looks for a CRL (even one at hand) for a
        # certificate that names where its CRL is, as real ones do. Never fetched: offline.
        .add_extension(_crl_distribution_point("http://127.0.0.1:9/unknown-root.crl"), False)
        .sign(ca_key, hashes.SHA256())
    )
    return OwnCa(ca_cert, ca_key, cert, key)


def _crl_distribution_point(url: str) -> x509.CRLDistributionPoints:
    point = x509.DistributionPoint(
        full_name=[x509.UniformResourceIdentifier(url)],
        relative_name=None,
        reasons=None,
        crl_issuer=None,
    )
    return x509.CRLDistributionPoints([point])


def with_crl_in_dss(data: bytes, crl: asn1_crl.CertificateList) -> bytes:
    """A DSS revision carrying the CRL, as a B-LT signer would have added it."""
    out = io.BytesIO(data)
    DocumentSecurityStore.add_dss(out, sig_contents=None, crls=[crl])
    return out.getvalue()


# --- tampering --------------------------------------------------------------------------------


def changed_signed_byte(data: bytes) -> bytes:
    """(a) One byte of the page's text, inside both signatures' byte ranges, changed."""
    assert data.count(AMOUNT) == 1
    return data.replace(AMOUNT, FORGED_AMOUNT)


def drawn_on_after_signing(data: bytes) -> bytes:
    """(b) An incremental update that appends a content stream to the page: a red box."""
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=True)
    drawing = writer.add_object(
        generic.StreamObject(stream_data=b"q 1 0 0 rg 72 600 200 40 re f Q")
    )
    writer.add_stream_to_page(0, drawing)  # type: ignore[no-untyped-call]
    out = io.BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    return out.getvalue()


def contents_hex_span(data: bytes, field: str) -> tuple[int, bytes]:
    """(offset of the first hex digit of the field's /Contents, the CMS DER it holds)."""
    reader = PdfFileReader(io.BytesIO(data), strict=True)
    embedded = next(sig for sig in reader.embedded_signatures if sig.field_name == field)
    _, length1, start2, _ = embedded.byte_range
    hex_digits = data[length1 + 1 : start2 - 1]  # between < and >
    return length1 + 1, bytes.fromhex(hex_digits.decode())


def overwritten_signature_value(data: bytes, field: str) -> bytes:
    """(c) Hex digits inside the /Contents overwritten where the signer's signature value lies
    (not in the zero padding after the CMS, which nothing reads)."""
    hex_start, der = contents_hex_span(data, field)
    signer_info = cms.ContentInfo.load(der, strict=False)["content"]["signer_infos"][0]
    value = signer_info["signature"].contents
    offset = der.find(value) + len(value) // 2
    position = hex_start + 2 * offset
    original = data[position : position + 4]
    forged = bytes(ord("0") if c != ord("0") else ord("f") for c in original)
    return data[:position] + forged + data[position + 4 :]


def overwritten_cms_header(data: bytes, field: str) -> bytes:
    """(c') The first hex digits of the /Contents overwritten: the CMS no longer parses."""
    hex_start, _ = contents_hex_span(data, field)
    return data[:hex_start] + b"ffffffff" + data[hex_start + 8 :]


# --- independent checks -----------------------------------------------------------------------


async def pdfsig(samples: Samples, name: str, pki: TestPki) -> list[PdfsigSignature]:
    """poppler's verdicts, with the test root trusted in its NSS database (off the loop: it
    asks the Animator's OCSP responder)."""
    return await asyncio.to_thread(pdfsig_verdicts, samples.path(name), pki.root_pem)


# --- fixtures ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Samples:
    folder: Path
    files: dict[str, bytes]
    mallory_root: bytes

    def path(self, name: str) -> Path:
        return self.folder / f"{name}.pdf"


def build_samples(pki: TestPki, folder: Path) -> Samples:
    original = two_approvals(pki)
    mallory = own_ca()
    archived = long_term(pki, archive_timestamp=True)
    files = {
        "b_lt": long_term(pki, archive_timestamp=False),
        "b_lta": archived,
        "b_lta_drawn_on": drawn_on_after_signing(archived),
        "untouched": original,
        "changed_byte": changed_signed_byte(original),
        "drawn_on": drawn_on_after_signing(original),
        "bad_signature_value": overwritten_signature_value(original, "Signer1"),
        "bad_cms": overwritten_cms_header(original, "Signer1"),
        "untrusted": signed(
            with_signature_fields(contract_pdf(), ["Mallory"]), "Mallory", mallory.signer(), None
        ),
        "revoked": with_crl_in_dss(
            signed(
                with_signature_fields(contract_pdf(), ["Mallory"]),
                "Mallory",
                mallory.signer(),
                None,
            ),
            mallory.crl_revoking_the_signer(),
        ),
        "unsigned": contract_pdf(),
        "empty_field_only": with_signature_fields(contract_pdf(), ["Nobody"]),
    }
    for name, data in files.items():
        (folder / f"{name}.pdf").write_bytes(data)
    return Samples(folder, files, mallory.root_der)


@pytest.fixture(scope="module")
async def samples(test_pki: TestPki, tmp_path_factory: pytest.TempPathFactory) -> Samples:
    folder = tmp_path_factory.mktemp("validations")
    return await asyncio.to_thread(build_samples, test_pki, folder)


@pytest.fixture
def trusting_runtime(
    runtime: Runtime, test_pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> Runtime:
    """The running app's seal, with the test PKI's root added to its trust roots for this test
    (the signer and everything else stay as they are)."""
    seal = platform_seal(runtime.seal)
    if test_pki.root.dump() not in {root.dump() for root in seal.trust_roots}:
        trusting = dataclasses.replace(seal, trust_roots=(*seal.trust_roots, test_pki.root))
        monkeypatch.setattr(runtime, "seal", trusting)
    return runtime


@pytest.fixture
def validating_api(api: ApiClient, trusting_runtime: Runtime) -> ApiClient:
    """A tenant's client, talking to the app while it trusts the test PKI."""
    return api


async def post_pdf(client: ApiClient, data: bytes, content_type: str = "application/pdf") -> Any:
    return await client.post(
        "/v1/validations", content=data, headers={"Content-Type": content_type}
    )


def leftover_uploads(runtime: Runtime) -> list[Path]:
    return list(runtime.blobs.tmp_dir.glob("upload-*"))


def by_field(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {sig["field_name"]: sig for sig in report["signatures"]}


# --- validate_pdf, the function ---------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def validate(samples: Samples, name: str, pki: TestPki) -> ValidationReport:
    return validate_pdf(samples.path(name), [pki.root], now=_now())


async def test_untouched_two_approvals_pass(samples: Samples, test_pki: TestPki) -> None:
    report = await asyncio.to_thread(validate, samples, "untouched", test_pki)
    assert (report.verdict, report.reasons, report.signature_count) == ("passed", (), 2)
    assert not report.modified_after_last_signature
    first, second = report.signatures
    assert [first.field_name, second.field_name] == list(FIELDS)
    for sig in report.signatures:
        assert (sig.kind, sig.verdict, sig.reasons) == ("signature", "passed", ())
        assert sig.intact and sig.valid and sig.trusted and sig.docmdp_ok
        assert sig.signer == "Cachet Test Seal"
        assert sig.timestamp.present and sig.timestamp.valid and sig.timestamp.trusted
        assert sig.signing_time == sig.timestamp.time and sig.signing_time_source == "timestamp"
    assert (first.coverage, first.modification_level) == ("ENTIRE_REVISION", "FORM_FILLING")
    assert (second.coverage, second.modification_level) == ("ENTIRE_FILE", "NONE")
    assert first.signing_time is not None and second.signing_time is not None
    assert first.signing_time <= second.signing_time
    poppler = await pdfsig(samples, "untouched", test_pki)
    assert [(sig.field, sig.valid) for sig in poppler] == [(name, True) for name in FIELDS]
    # Only pdfsig's first verdict per certificate is reliable (see tests/signing/pdfsig.py).
    assert poppler[0].certificate_trusted is True, poppler[0].raw
    assert [sig.whole_document for sig in poppler] == [False, True]
    # The report crosses a process boundary (the gate's workers): plain values only.
    assert pickle.loads(pickle.dumps(report)) == report


async def test_b_lt_passes_its_dss_revision_is_no_modification(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "b_lt", test_pki)
    assert (report.verdict, report.signature_count) == ("passed", 2)
    last = report.signatures[-1]
    assert (last.coverage, last.modification_level) == ("ENTIRE_REVISION", "LTA_UPDATES")
    assert not report.modified_after_last_signature
    poppler = await pdfsig(samples, "b_lt", test_pki)
    assert [sig.valid for sig in poppler] == [True, True], poppler
    assert poppler[0].certificate_trusted is True, poppler[0].raw


async def test_b_lta_reports_the_document_timestamp_last(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "b_lta", test_pki)
    assert (report.verdict, report.signature_count) == ("passed", 3)
    assert [sig.kind for sig in report.signatures] == [
        "signature",
        "signature",
        "document_timestamp",
    ]
    archive = report.signatures[-1]
    assert (archive.verdict, archive.signer) == ("passed", "Cachet Test TSA")
    assert archive.intact and archive.valid and archive.trusted and archive.docmdp_ok
    assert archive.timestamp.present and archive.signing_time == archive.timestamp.time
    # 0 the original, 1 the fields; the DSS goes in with the timestamp, and once more after it.
    assert [sig.revision for sig in report.signatures] == [2, 3, 4]
    # pdfsig judges the two signatures; it does not validate document timestamps.
    poppler = await pdfsig(samples, "b_lta", test_pki)
    assert [sig.valid for sig in poppler if sig.field in FIELDS] == [True, True], poppler


@pytest.mark.parametrize(
    ("sample", "levels", "embedded"),
    [
        ("untouched", ["B-T", "B-T"], [False, False]),
        # The DSS added with the second signature holds the revocation data of the chain both
        # signatures share (same seal, same TSA): both are B-LT.
        ("b_lt", ["B-LT", "B-LT"], [True, True]),
        ("b_lta", ["B-LTA", "B-LTA", None], [True, True, False]),
        ("untrusted", ["B-B"], [False]),
    ],
)
async def test_each_signature_says_its_pades_level(
    samples: Samples, test_pki: TestPki, sample: str, levels: list[str], embedded: list[bool]
) -> None:
    report = await asyncio.to_thread(validate, samples, sample, test_pki)
    assert [sig.pades_level for sig in report.signatures] == levels
    assert [sig.revocation_data_embedded for sig in report.signatures] == embedded


async def test_strict_mode_requires_revocation_data_in_the_file(
    samples: Samples, test_pki: TestPki
) -> None:
    def strictly(name: str) -> ValidationReport:
        return validate_pdf(samples.path(name), [test_pki.root], now=_now(), revocation="hard")

    b_t = await asyncio.to_thread(strictly, "untouched")
    assert (b_t.verdict, b_t.revocation) == ("failed", "hard")
    for sig in b_t.signatures:
        assert sig.verdict == "failed" and not sig.trusted
        assert sig.reasons[0].startswith("certificate not trusted"), sig.reasons
    # The same signatures with their validation data archived pass the strict mode.
    b_lta = await asyncio.to_thread(strictly, "b_lta")
    assert b_lta.verdict == "passed", b_lta
    assert (await asyncio.to_thread(validate, samples, "untouched", test_pki)).revocation == "soft"


async def test_empty_signature_fields_are_listed(samples: Samples, test_pki: TestPki) -> None:
    report = await asyncio.to_thread(validate, samples, "empty_field_only", test_pki)
    assert report.unsigned_fields == ("Nobody",)
    one_of_two = await asyncio.to_thread(
        lambda: signed(
            with_signature_fields(contract_pdf(), FIELDS),
            FIELDS[0],
            test_pki.seal().signer,
            test_pki.seal().timestamper,
        )
    )
    path = samples.folder / "one_of_two.pdf"
    await asyncio.to_thread(path.write_bytes, one_of_two)
    partial_report = await asyncio.to_thread(validate_pdf, path, [test_pki.root], now=_now())
    assert partial_report.verdict == "passed"  # what it holds is sound; the field says more
    assert partial_report.unsigned_fields == (FIELDS[1],)
    full = await asyncio.to_thread(validate, samples, "untouched", test_pki)
    assert full.unsigned_fields == ()


async def test_every_revision_prefix_is_digested(samples: Samples, test_pki: TestPki) -> None:
    """The service recognises its files by them: the original's digest is one, as is each
    version a later revision grew from."""
    data = samples.files["b_lta"]
    report = await asyncio.to_thread(validate, samples, "b_lta", test_pki)
    ends = [m.end() for m in re.finditer(rb"%%EOF\r?\n?", data)]
    for end in ends:
        assert hashlib.sha256(data[:end]).hexdigest() in report.revision_digests
    assert report.revision_digests[-1] == hashlib.sha256(data).hexdigest()
    # original, fields, two signatures, DSS + document timestamp, and pyHanko's DSS after it
    assert len(ends) == 6


def test_revision_digests_are_bounded_whatever_the_file_holds(tmp_path: Path) -> None:
    """A file full of "%%EOF" strings (in a content stream) gets no more than 256 cut points,
    and its whole digest still comes last."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595.28, 841.89))
    pdf.pages[0].obj.Contents = pdf.make_stream(b"%" + b"%%EOF " * 20_000 + b"\n")
    path = tmp_path / "eofs.pdf"
    pdf.save(path, compress_streams=False)
    digests = revision_digests(path)
    assert 200 < len(digests) <= 256 + 64 + 1  # cut points, the bytes after the last, whole
    assert digests[-1] == hashlib.sha256(path.read_bytes()).hexdigest()


async def test_drawing_after_the_archive_timestamp_fails_it_too(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "b_lta_drawn_on", test_pki)
    assert report.verdict == "failed" and report.modified_after_last_signature
    for sig in report.signatures:
        assert (sig.verdict, sig.modification_level) == ("failed", "OTHER")
        assert sig.reasons == (MODIFIED_AFTER_THIS,)


async def test_a_changed_signed_byte_fails_every_signature(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "changed_byte", test_pki)
    assert report.verdict == "failed"
    for sig in report.signatures:
        assert sig.verdict == "failed"
        assert not sig.intact
        assert SIGNED_BYTES_CHANGED in sig.reasons
    poppler = await pdfsig(samples, "changed_byte", test_pki)
    assert [sig.valid for sig in poppler] == [False, False], poppler
    assert {sig.signature_status for sig in poppler} == {"Digest Mismatch."}


async def test_drawing_on_the_page_after_signing_fails_the_signatures_before(
    samples: Samples, test_pki: TestPki
) -> None:
    """Every signature stays intact: only the diff analysis sees the drawing."""
    report = await asyncio.to_thread(validate, samples, "drawn_on", test_pki)
    assert report.verdict == "failed"
    assert report.modified_after_last_signature
    assert MODIFIED_AFTER_LAST in report.reasons
    for sig in report.signatures:
        assert sig.intact and sig.valid and sig.trusted  # which is why intact alone is no gate
        assert (sig.modification_level, sig.docmdp_ok) == ("OTHER", False)
        assert (sig.verdict, sig.reasons) == ("failed", (MODIFIED_AFTER_THIS,))
        assert sig.coverage == "ENTIRE_REVISION"
    # pdfsig does no diff analysis: it calls both signatures valid, and only says that the last
    # one no longer covers the whole file.
    poppler = await pdfsig(samples, "drawn_on", test_pki)
    assert [sig.valid for sig in poppler] == [True, True], poppler
    assert [sig.whole_document for sig in poppler] == [False, False]


async def test_an_overwritten_signature_value_fails_that_signature(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "bad_signature_value", test_pki)
    assert report.verdict == "failed"
    first, second = report.signatures
    assert first.verdict == "failed" and not first.valid and not first.trusted
    # The timestamp token is over the signature value, so it no longer matches either.
    assert first.reasons == (
        "the signature value does not verify against its certificate",
        "timestamp invalid",
    )
    assert first.intact and first.timestamp.present and not first.timestamp.valid
    # The later signature covers the earlier one's bytes too: its digest no longer matches.
    assert second.verdict == "failed" and not second.intact
    poppler = await pdfsig(samples, "bad_signature_value", test_pki)
    assert [sig.valid for sig in poppler] == [False, False], poppler
    assert [sig.signature_status for sig in poppler] == [
        "Signature is Invalid.",
        "Digest Mismatch.",
    ]


async def test_an_unreadable_cms_fails_that_signature_and_not_the_request(
    samples: Samples, test_pki: TestPki
) -> None:
    report = await asyncio.to_thread(validate, samples, "bad_cms", test_pki)
    assert report.verdict == "failed" and report.signature_count == 2
    first = report.signatures[0]
    assert first.field_name == "Signer1" and first.verdict == "failed"
    assert first.reasons[0].startswith("the signature could not be read")
    poppler = await pdfsig(samples, "bad_cms", test_pki)
    assert [sig.valid for sig in poppler] == [False, False], poppler


async def test_an_untrusted_signer_fails_on_trust(samples: Samples, test_pki: TestPki) -> None:
    report = await asyncio.to_thread(validate, samples, "untrusted", test_pki)
    (sig,) = report.signatures
    assert (report.verdict, sig.verdict, sig.signer) == ("failed", "failed", "Mallory")
    assert sig.intact and sig.valid and not sig.trusted
    assert sig.reasons == ("certificate not trusted (no chain to a trusted root)",)
    assert not sig.timestamp.present and sig.signing_time_source == "claimed"
    # pdfsig agrees: the signature itself is sound, its issuer is not trusted.
    (poppler,) = await pdfsig(samples, "untrusted", test_pki)
    assert poppler.valid and poppler.certificate_trusted is False, poppler.raw


async def test_revocation_data_in_the_file_is_used(samples: Samples) -> None:
    """Soft-fail forgives missing revocation data, not revocation data that says revoked."""
    path, roots = samples.path("revoked"), [samples.mallory_root]
    report = await asyncio.to_thread(validate_pdf, path, roots, now=_now())
    (sig,) = report.signatures
    assert sig.intact and sig.valid and sig.revoked and not sig.trusted
    assert (report.verdict, sig.reasons) == ("failed", ("certificate revoked",))
    # The same signature without the CRL: trusted, since the root is now trusted.
    without_crl = await asyncio.to_thread(
        validate_pdf, samples.path("untrusted"), roots, now=_now()
    )
    assert without_crl.verdict == "passed", without_crl


async def test_unsigned_and_empty_field_fail_with_no_signature(
    samples: Samples, test_pki: TestPki
) -> None:
    for name in ("unsigned", "empty_field_only"):
        report = await asyncio.to_thread(validate, samples, name, test_pki)
        assert (report.verdict, report.reasons, report.signature_count) == (
            "failed",
            (NO_SIGNATURE,),
            0,
        )


async def test_the_untouched_file_fails_without_the_root(samples: Samples) -> None:
    report = await asyncio.to_thread(validate_pdf, samples.path("untouched"), [], now=_now())
    assert report.verdict == "failed"
    assert all("certificate not trusted" in sig.reasons[0] for sig in report.signatures)


async def test_damaged_file_raises_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "truncated.pdf"
    path.write_bytes(corpus.truncated())
    with pytest.raises(UnreadablePdf):
        await asyncio.to_thread(validate_pdf, path, [], now=_now())


# --- the gate's option and its worker pool ----------------------------------------------------


@pytest.mark.parametrize(
    "sample",
    [corpus.signed_by_pyhanko, corpus.signature_field_with_value, corpus.docmdp_permissions],
    ids=["signed", "sig-field-with-value", "docmdp-perms"],
)
def test_gate_accepts_signed_files_only_when_asked(
    tmp_path: Path, sample: Callable[[], bytes]
) -> None:
    path = tmp_path / "signed.pdf"
    path.write_bytes(sample())
    with pytest.raises(PdfRejected) as refused:
        inspect_pdf(path, GateLimits())
    assert refused.value.code == "already_signed"
    assert inspect_pdf(path, GateLimits(), allow_signatures=True).page_count == 1


def test_gate_with_signatures_allowed_still_refuses_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "javascript.pdf"
    path.write_bytes(corpus.open_action_javascript())
    with pytest.raises(PdfRejected) as refused:
        inspect_pdf(path, GateLimits(), allow_signatures=True)
    assert refused.value.code == "active_content"


def spin_forever() -> None:
    """Stands in for a validation that never ends (a diff analysis gone exponential)."""
    while True:
        pass


async def test_work_run_in_the_gate_is_cut_at_its_cpu_limit(
    samples: Samples, test_pki: TestPki
) -> None:
    gate = PdfGate(GateLimits(cpu_seconds=1, wall_seconds=10), workers=1)
    try:
        with pytest.raises(PdfRejected) as refused:
            await gate.run(spin_forever)
        assert refused.value.code == "too_complex"
        # The gate replaced its worker; the next task runs normally.
        report = await gate.run(
            partial(validate_pdf, now=_now()), samples.path("untouched"), (test_pki.root.dump(),)
        )
        assert report.verdict == "passed"
    finally:
        await gate.aclose()


# --- POST /v1/validations ---------------------------------------------------------------------


async def test_api_passes_the_untouched_file(
    validating_api: ApiClient, samples: Samples, trusting_runtime: Runtime
) -> None:
    timings = []
    for _ in range(3):  # the first call in a worker process also imports pyHanko's validation
        started = time.perf_counter()
        response = await post_pdf(validating_api, samples.files["untouched"])
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
    report = response.json()
    assert (report["verdict"], report["signature_count"]) == ("passed", 2)
    assert report["modified_after_last_signature"] is False
    signatures = by_field(report)
    assert set(signatures) == set(FIELDS)
    assert signatures["Signer1"]["coverage"] == "ENTIRE_REVISION"
    assert signatures["Signer2"]["coverage"] == "ENTIRE_FILE"
    for sig in signatures.values():
        assert sig["verdict"] == "passed" and sig["signer"] == "Cachet Test Seal"
        assert sig["timestamp"]["present"] and sig["timestamp"]["trusted"]
        assert dt.datetime.fromisoformat(sig["signing_time"]).tzinfo is not None
    assert max(timings) < 10, timings
    print("POST /v1/validations, 2 signatures:", [f"{t * 1000:.0f} ms" for t in timings])
    assert leftover_uploads(trusting_runtime) == []


@pytest.mark.parametrize(
    ("sample", "reason"),
    [
        ("changed_byte", SIGNED_BYTES_CHANGED),
        ("drawn_on", MODIFIED_AFTER_THIS),
        ("bad_signature_value", "the signature value does not verify against its certificate"),
        ("untrusted", "certificate not trusted (no chain to a trusted root)"),
    ],
)
async def test_api_fails_tampered_and_untrusted_files(
    validating_api: ApiClient, samples: Samples, sample: str, reason: str
) -> None:
    response = await post_pdf(validating_api, samples.files[sample], "application/octet-stream")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "failed"
    first = report["signatures"][0]
    assert first["verdict"] == "failed" and reason in first["reasons"]


async def test_api_drawn_on_file_is_modified_after_the_last_signature(
    validating_api: ApiClient, samples: Samples
) -> None:
    report = (await post_pdf(validating_api, samples.files["drawn_on"])).json()
    assert report["modified_after_last_signature"] is True
    assert MODIFIED_AFTER_LAST in report["reasons"]
    assert {sig["modification_level"] for sig in report["signatures"]} == {"OTHER"}


async def test_api_unsigned_pdf_fails_with_no_signature(
    validating_api: ApiClient, samples: Samples
) -> None:
    response = await post_pdf(validating_api, samples.files["unsigned"])
    assert response.status_code == 200, response.text
    assert response.json() == {
        **response.json(),
        "verdict": "failed",
        "reasons": [NO_SIGNATURE],
        "signature_count": 0,
        "signatures": [],
    }


@pytest.mark.parametrize(
    ("content", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, 415, "not_a_pdf"),
        (b"", 422, "empty_document"),
        (corpus.truncated(), 422, "damaged"),
        (corpus.user_password_encrypted(), 422, "encrypted"),
        (corpus.owner_password_encrypted(), 422, "encrypted"),
        (corpus.pages(501), 422, "too_many_pages"),
        (corpus.nested_flate_bomb(), 422, "decompression_bomb"),
    ],
    ids=["png", "empty", "truncated", "user-password", "owner-password", "501-pages", "bomb"],
)
async def test_api_refuses_what_is_not_a_readable_pdf(
    validating_api: ApiClient, runtime: Runtime, content: bytes, status: int, code: str
) -> None:
    response = await post_pdf(validating_api, content)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert leftover_uploads(runtime) == []


def test_validations_have_their_own_limit_above_the_upload_limit(runtime: Runtime) -> None:
    settings = runtime.settings
    assert settings.validation_max_bytes == 50 * 1024 * 1024
    assert settings.validation_max_bytes > settings.envelope_size_limit_bytes == LIMIT


@pytest.fixture
def small_limit(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> int:
    """CACHET_VALIDATION_MAX_BYTES at 2 MiB for the test: what is refused, and how, is the same
    at any size, and smaller bodies keep the test quick."""
    limit = 2 * 1024 * 1024
    monkeypatch.setattr(runtime.settings, "validation_max_bytes", limit)
    return limit


async def test_api_refuses_a_file_over_the_validation_limit(
    validating_api: ApiClient, runtime: Runtime, small_limit: int
) -> None:
    over = await post_pdf(validating_api, padded_pdf(small_limit + 1))
    assert over.status_code == 413, over.text
    assert (over.json()["code"], over.json()["limit_bytes"]) == ("document_too_large", small_limit)
    assert leftover_uploads(runtime) == []
    at_limit = await post_pdf(validating_api, padded_pdf(small_limit))
    assert at_limit.status_code == 200, at_limit.text


async def test_api_cuts_a_chunked_body_over_the_limit(
    validating_api: ApiClient, base_url: str, runtime: Runtime, small_limit: int
) -> None:
    """No Content-Length: the stream is cut at the limit, read while it is sent."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    head = (
        f"POST /v1/validations HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Authorization: Bearer {validating_api.tenant_key}\r\n"
        "Content-Type: application/pdf\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode())
    answer = asyncio.create_task(reader.read(4096))
    chunk = b"%PDF-1.7\n" + b"0" * (64 * 1024 - 9)
    try:
        for _ in range(small_limit // len(chunk) + 2):
            if answer.done():
                break
            writer.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            await writer.drain()
    except ConnectionError:
        pass
    data = await asyncio.wait_for(answer, 30)
    writer.close()
    assert data.startswith(b"HTTP/1.1 413"), data[:200]
    assert leftover_uploads(runtime) == []


async def test_api_needs_an_api_key(base_url: str, samples: Samples) -> None:
    async with ApiClient(base_url=base_url) as anonymous:
        response = await post_pdf(anonymous, samples.files["untouched"])
    assert response.status_code == 401
    assert response.json()["code"] == "missing_api_key"


async def test_api_rejects_a_wrong_api_key(base_url: str) -> None:
    headers = {"Authorization": "Bearer cachet_not_a_key"}
    async with ApiClient(base_url=base_url, headers=headers) as stranger:
        response = await post_pdf(stranger, contract_pdf())
    assert response.status_code == 401
