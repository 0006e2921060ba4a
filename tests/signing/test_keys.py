"""The platform seal: key sources, development PKI, timestamps, and signatures that validate."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

from app.signing.keys import Seal
from tests.signing.testpki import TestPki
from tests.support import make_pdf


def sign_small_pdf(seal: Seal, target: Path, *, lta: bool = False) -> Path:
    """Sync pyHanko: B-T, or B-LTA with revocation info fetched through the seal's context."""
    meta = signers.PdfSignatureMetadata(
        field_name="Seal",
        subfilter=SigSeedSubFilter.PADES,
        reason="test",
        embed_validation_info=lta,
        validation_context=seal.validation_context() if lta else None,
        use_pades_lta=lta,
    )
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf()))
    out = signers.sign_pdf(writer, meta, signer=seal.signer, timestamper=seal.timestamper)
    target.write_bytes(out.getvalue())
    return target


def assert_pyhanko_accepts(pdf: Path, seal: Seal) -> None:
    with pdf.open("rb") as handle:
        reader = PdfFileReader(handle)
        signature, *timestamps = reader.embedded_signatures
        status = validate_pdf_signature(
            signature, signer_validation_context=seal.validation_context()
        )
        assert status.bottom_line, status.summary()
        assert status.timestamp_validity is not None
        assert status.timestamp_validity.trusted
        for document_timestamp in timestamps:
            ts_status = validate_pdf_timestamp(
                document_timestamp, validation_context=seal.validation_context()
            )
            assert ts_status.valid and ts_status.intact and ts_status.trusted


def pdfsig_output(pdf: Path, root_pem: Path) -> str:
    nss = pdf.parent / f"nss-{pdf.stem}"
    nss.mkdir()
    subprocess.run(["certutil", "-N", "--empty-password", "-d", f"sql:{nss}"], check=True)
    subprocess.run(
        ["certutil", "-A", "-n", "root", "-t", "CT,C,C", "-i", str(root_pem), "-d", f"sql:{nss}"],
        check=True,
    )
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, check=False
    )
    return result.stdout


def assert_pdfsig_accepts(pdf: Path, root_pem: Path) -> None:
    output = pdfsig_output(pdf, root_pem)
    assert "Signature Field Name: Seal" in output, output
    seal_part = output.split("Signature Field Name: Seal", 1)[1].split("Signature #", 1)[0]
    assert "Signature Validation: Signature is Valid." in seal_part, output


async def test_test_pki_seal_signs_b_lta_with_the_animator_tsa_ocsp_and_crl(
    test_pki: TestPki, tmp_path: Path
) -> None:
    seal = test_pki.seal()
    # In a worker thread like the service: sync pyHanko runs its own event loop there.
    pdf = await asyncio.to_thread(sign_small_pdf, seal, tmp_path / "lta.pdf", lta=True)
    await asyncio.to_thread(assert_pyhanko_accepts, pdf, seal)
    assert_pdfsig_accepts(pdf, test_pki.root_pem)
