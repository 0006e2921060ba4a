"""app.signing.pades end to end: fields, three sequential signatures, the archive timestamp and the
platform seal, each output checked by pyHanko (bottom_line) and by poppler's pdfsig."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
from asn1crypto import cms
from asn1crypto.crl import CertificateList
from asn1crypto.ocsp import OCSPResponse
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import MDPPerm, enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.status import DocumentTimestampStatus, PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from app.signing import pades
from app.signing.keys import Seal
from app.signing.pades import (
    SEAL_FIELD,
    FieldAlreadySigned,
    FieldMissing,
    FieldSpec,
    SignatureOrder,
    StampLook,
    add_archive_timestamp,
    add_signature_fields,
    reserved_contents_size,
    seal_pdf,
    sign_field,
    signed_field_names,
)
from tests.signing.pdfsig import pdfsig_verdicts
from tests.signing.samples import stroke_png, text_pdf
from tests.signing.testpki import TestPki

FIELDS = (
    FieldSpec("Signer1", 0, (56.0, 600.0, 236.0, 660.0)),
    FieldSpec("Signer2", 1, (56.0, 400.0, 286.0, 500.0)),
    FieldSpec("Signer3", 1, (320.0, 400.5, 425.5, 440.0), lock_document=True),
)
SIGNERS = ("Éloïse Müller", "Łukasz Șerban", "Ana Li")


@pytest.fixture(scope="module")
def seal(test_pki: TestPki) -> Seal:
    return test_pki.seal()


def order(field: str, name: str, *, stamp: bool = True) -> SignatureOrder:
    look = StampLook(stroke_png(), "Lu et approuvé", name, "fr", with_text=True)
    return SignatureOrder(
        field_name=field,
        signer_name=name,
        reason="Signature de l'enveloppe 42",
        location="Paris",
        contact_info="signer@example.com",
        stamp=look if stamp else None,
    )


def test_three_sequential_signatures_then_an_archive_timestamp(
    tmp_path: Path, test_pki: TestPki, seal: Seal
) -> None:
    original = text_pdf(tmp_path / "original.pdf", pages=2)
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(original, prepared, FIELDS)

    assert _is_prefix(original, prepared)
    assert _field_names(prepared) == {"Signer1", "Signer2", "Signer3"}
    assert signed_field_names(prepared) == frozenset()
    assert _revisions(prepared) == _revisions(original) + 1  # all fields in one update

    current = prepared
    for count, (spec, name) in enumerate(zip(FIELDS, SIGNERS, strict=True), start=1):
        signed = tmp_path / f"signed-{count}.pdf"
        sign_field(current, signed, order(spec.name, name), seal)

        assert _is_prefix(current, signed) and _is_prefix(original, signed)
        assert signed_field_names(signed) == {f.name for f in FIELDS[:count]}
        _assert_valid(signed, test_pki, seal, signatures=count, timestamps=0)
        current = signed

    assert _signature_dictionary(current, "Signer2") == {
        "/Name": "Łukasz Șerban",
        "/Reason": "Signature de l'enveloppe 42",
        "/Location": "Paris",
        "/ContactInfo": "signer@example.com",
        "/SubFilter": "/ETSI.CAdES.detached",
    }
    assert _docmdp_of(current, "Signer3") is MDPPerm.NO_CHANGES

    archived = tmp_path / "archived.pdf"
    add_archive_timestamp(current, archived, seal)

    assert _is_prefix(current, archived) and _is_prefix(original, archived)
    _assert_valid(archived, test_pki, seal, signatures=3, timestamps=1)
    dss = _dss(archived)
    assert len(dss["/Certs"]) >= 4  # seal, intermediate, root, TSA
    assert len(dss["/OCSPs"]) >= 1 and len(dss["/CRLs"]) >= 1
    _assert_valid_offline_from_the_dss(archived, test_pki)


def _assert_valid_offline_from_the_dss(pdf: Path, pki: TestPki) -> None:
    """B-LTA's point: with no network, and revocation data *required* for every certificate,
    what the file carries is enough for every signature and timestamp."""
    with _reader(pdf) as reader:
        dss = DocumentSecurityStore.read_dss(reader)
        for embedded in reader.embedded_signatures:
            context = ValidationContext(
                trust_roots=[pki.root],
                other_certs=list(dss.load_certs()),
                crls=[CertificateList.load(ref.get_object().data) for ref in dss.crls],
                ocsps=[OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps],
                allow_fetching=False,
                revocation_mode="require",
            )
            if embedded.sig_object_type == "/DocTimeStamp":
                timestamp = validate_pdf_timestamp(embedded, validation_context=context)
                assert timestamp.valid and timestamp.intact and timestamp.trusted, timestamp
            else:
                status = validate_pdf_signature(embedded, signer_validation_context=context)
                assert status.bottom_line, (embedded.field_name, status.summary())


def test_signing_a_signed_field_again_raises_and_writes_nothing(tmp_path: Path, seal: Seal) -> None:
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])
    signed = tmp_path / "signed.pdf"
    sign_field(prepared, signed, order("Signer1", SIGNERS[0]), seal)

    again = tmp_path / "again.pdf"
    with pytest.raises(FieldAlreadySigned, match="Signer1"):
        sign_field(signed, again, order("Signer1", SIGNERS[0]), seal)
    assert not again.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fields.pdf",
        "original.pdf",
        "signed.pdf",
    ]


def test_signing_a_field_that_does_not_exist_raises(tmp_path: Path, seal: Seal) -> None:
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])

    with pytest.raises(FieldMissing, match="Signer9"):
        sign_field(prepared, tmp_path / "out.pdf", order("Signer9", "Nobody"), seal)
    assert not (tmp_path / "out.pdf").exists()


def test_a_visible_field_signed_without_a_stamp_shows_name_and_date(
    tmp_path: Path, test_pki: TestPki, seal: Seal
) -> None:
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])
    signed = tmp_path / "signed.pdf"
    sign_field(prepared, signed, order("Signer1", "Ana Li", stamp=False), seal)

    _assert_valid(signed, test_pki, seal, signatures=1, timestamps=0)
    appearance = _normal_appearance(signed, "Signer1")
    assert b"/F1" in appearance and b"Do" not in appearance  # text, no image


def test_seal_pdf_is_an_invisible_signature_with_an_archive_timestamp(
    tmp_path: Path, test_pki: TestPki, seal: Seal
) -> None:
    evidence = text_pdf(tmp_path / "evidence.pdf", pages=1)
    sealed = tmp_path / "sealed.pdf"
    seal_pdf(evidence, sealed, seal, reason="Evidence of envelope 42")

    assert _is_prefix(evidence, sealed)
    _assert_valid(sealed, test_pki, seal, signatures=1, timestamps=1)
    assert _signature_dictionary(sealed, SEAL_FIELD)["/Reason"] == "Evidence of envelope 42"
    with _reader(sealed) as reader:
        (field,) = (f for n, _, f in enumerate_sig_fields(reader) if n == SEAL_FIELD)
        assert [float(v) for v in field.get_object()["/Rect"]] == [0, 0, 0, 0]
    with pytest.raises(FieldAlreadySigned):
        seal_pdf(sealed, tmp_path / "twice.pdf", seal, reason="again")


def test_the_signature_space_is_reserved_up_front_with_room_to_spare(
    tmp_path: Path, seal: Seal
) -> None:
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])
    signed = tmp_path / "signed.pdf"
    sign_field(prepared, signed, order("Signer1", SIGNERS[0]), seal)

    with _reader(signed) as reader:
        (signature,) = reader.embedded_signatures
        reserved = len(signature.pkcs7_content)
        actual = len(cms.ContentInfo.load(signature.pkcs7_content, strict=False).dump())
    # Our size, not pyHanko's dry-run estimate, and at least twice what was needed.
    assert reserved * 2 == reserved_contents_size(seal)
    assert reserved >= 2 * actual


def test_a_reservation_too_small_falls_back_to_pyhankos_estimate(
    tmp_path: Path, test_pki: TestPki, seal: Seal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pades, "reserved_contents_size", lambda seal: 2048)
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])
    signed = tmp_path / "signed.pdf"
    sign_field(prepared, signed, order("Signer1", SIGNERS[0]), seal)

    _assert_valid(signed, test_pki, seal, signatures=1, timestamps=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "fields.pdf",
        "original.pdf",
        "signed.pdf",
    ]


def test_the_checks_reject_a_signed_file_changed_by_one_byte(
    tmp_path: Path, test_pki: TestPki, seal: Seal
) -> None:
    prepared = tmp_path / "fields.pdf"
    add_signature_fields(text_pdf(tmp_path / "original.pdf"), prepared, FIELDS[:1])
    signed = tmp_path / "signed.pdf"
    sign_field(prepared, signed, order("Signer1", SIGNERS[0]), seal)
    data = signed.read_bytes()
    tampered = tmp_path / "tampered.pdf"
    # The first /Info is the original upload's, inside the signed byte range.
    tampered.write_bytes(data.replace(b"/Title (untitled)", b"/Title (untitlex)", 1))

    (verdict,) = pdfsig_verdicts(tampered, test_pki.root_pem)
    assert not verdict.valid
    [(_, status)], _ = _pyhanko_verdicts(tampered, seal)
    assert not status.bottom_line
    with pytest.raises(AssertionError):
        _assert_valid(tampered, test_pki, seal, signatures=1, timestamps=0)


def test_signed_field_names_of_an_unsigned_pdf_is_empty(tmp_path: Path) -> None:
    assert signed_field_names(text_pdf(tmp_path / "plain.pdf")) == frozenset()


# --- checks ----------------------------------------------------------------------------


def _assert_valid(pdf: Path, pki: TestPki, seal: Seal, *, signatures: int, timestamps: int) -> None:
    """pyHanko: every signature's bottom_line with its timestamp, every document timestamp valid,
    intact and trusted. pdfsig: every signature valid, its certificate trusted."""
    regular, document_timestamps = _pyhanko_verdicts(pdf, seal)
    assert len(regular) == signatures and len(document_timestamps) == timestamps
    for field, status in regular:
        assert status.bottom_line, (field, status.summary())
        assert status.timestamp_validity is not None, field  # B-T: a signature timestamp
        assert status.timestamp_validity.trusted, field
    for field, timestamp in document_timestamps:
        assert timestamp.valid and timestamp.intact and timestamp.trusted, (field, timestamp)

    verdicts = {v.field: v for v in pdfsig_verdicts(pdf, pki.root_pem)}
    assert set(verdicts) == {field for field, _ in regular} | {f for f, _ in document_timestamps}
    for index, (field, _) in enumerate(regular):
        verdict = verdicts[field]
        assert verdict.valid, verdict.raw
        # NSS checks chain and OCSP; poppler 22.12 reports it reliably only for the first
        # signature by a certificate (see tests/signing/pdfsig.py), and never a failure.
        if index == 0:
            assert verdict.certificate_trusted is True, verdict.raw
        else:
            assert verdict.certificate_trusted is not False, verdict.raw
        assert verdict.signer == "Cachet Test Seal"
        assert verdict.signature_type == "ETSI.CAdES.detached"


def _pyhanko_verdicts(
    pdf: Path, seal: Seal
) -> tuple[list[tuple[str, PdfSignatureStatus]], list[tuple[str, DocumentTimestampStatus]]]:
    regular: list[tuple[str, PdfSignatureStatus]] = []
    timestamps: list[tuple[str, DocumentTimestampStatus]] = []
    with _reader(pdf) as reader:
        for embedded in reader.embedded_signatures:
            context = seal.validation_context()
            if embedded.sig_object_type == "/DocTimeStamp":
                timestamps.append(
                    (
                        embedded.field_name,
                        validate_pdf_timestamp(embedded, validation_context=context),
                    )
                )
            else:
                regular.append(
                    (
                        embedded.field_name,
                        validate_pdf_signature(embedded, signer_validation_context=context),
                    )
                )
    return regular, timestamps


# --- PDF reading -----------------------------------------------------------------------


@contextmanager
def _reader(pdf: Path) -> Iterator[PdfFileReader]:
    with pdf.open("rb") as stream:
        yield PdfFileReader(stream)


def _is_prefix(before: Path, after: Path) -> bool:
    return after.read_bytes().startswith(before.read_bytes())


def _revisions(pdf: Path) -> int:
    with _reader(pdf) as reader:
        count: int = reader.total_revisions
        return count


def _field_names(pdf: Path) -> set[str]:
    with _reader(pdf) as reader:
        return {name for name, _, _ in enumerate_sig_fields(reader)}


def _field(reader: PdfFileReader, name: str) -> object:
    (field,) = (ref.get_object() for n, _, ref in enumerate_sig_fields(reader) if n == name)
    return field


def _signature_dictionary(pdf: Path, field_name: str) -> dict[str, str]:
    keys: Sequence[str] = ("/Name", "/Reason", "/Location", "/ContactInfo", "/SubFilter")
    with _reader(pdf) as reader:
        value = _field(reader, field_name)["/V"]  # type: ignore[index]
        return {key: str(value[key]) for key in keys if key in value}


def _docmdp_of(pdf: Path, field_name: str) -> MDPPerm | None:
    with _reader(pdf) as reader:
        (embedded,) = (s for s in reader.embedded_signatures if s.field_name == field_name)
        level: MDPPerm | None = embedded.docmdp_level
        return level


def _normal_appearance(pdf: Path, field_name: str) -> bytes:
    with _reader(pdf) as reader:
        stream = _field(reader, field_name)["/AP"]["/N"]  # type: ignore[index]
        data: bytes = stream.get_object().data
        return data


def _dss(pdf: Path) -> dict[str, list[object]]:
    with _reader(pdf) as reader:
        dss = reader.root["/DSS"]
        return {key: list(dss.get(key, [])) for key in ("/Certs", "/OCSPs", "/CRLs")}
