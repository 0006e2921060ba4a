"""Stamp appearance streams write plain PDF numbers, wherever the stamp sits on the page.

A stamp at (320, 700) on A4 once drew its image at "2.84217e-14 3.55271e-15 cm": the float
noise of 841.89 - 760 written with %g. PDF has no exponent notation, so poppler refused the
operator and the signature image vanished from the page.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pikepdf

from app.api.dev import sample_signature_png
from app.envelopes.rules import Box, Page, display_box_to_user_space
from app.signing.pades import FieldSpec, SignatureOrder, StampLook, add_signature_fields, sign_field
from tests.signing.testpki import TestPki
from tests.support import make_pdf
from tests.workflow.signing_support import check_valid

_EXPONENT = re.compile(rb"\d[eE][-+]?\d")


async def test_a_stamp_at_an_awkward_position_writes_no_exponent(
    tmp_path: Path, test_pki: TestPki
) -> None:
    source = tmp_path / "source.pdf"
    source.write_bytes(make_pdf())
    page = Page(595.28, 841.89, 0, (0.0, 0.0, 595.28, 841.89))
    box = display_box_to_user_space(Box(1, 320, 700, 180, 60), page)
    fielded = tmp_path / "fielded.pdf"
    add_signature_fields(source, fielded, [FieldSpec("Signer1", 0, box)])
    signed = tmp_path / "signed.pdf"
    look = StampLook(sample_signature_png(), None, "François", "en", with_text=False)
    order = SignatureOrder("Signer1", "François", "test", None, None, look)
    await asyncio.to_thread(sign_field, fielded, signed, order, test_pki.seal())

    with pikepdf.open(signed) as pdf:
        drawn = [
            obj.read_bytes()
            for obj in pdf.objects
            if isinstance(obj, pikepdf.Stream) and b"/Handwritten Do" in obj.read_bytes()
        ]
    assert drawn, "no stamp appearance found"
    assert not any(_EXPONENT.search(stream) for stream in drawn), drawn
    # Also renders every page with poppler and fails on any syntax complaint.
    await check_valid(signed.read_bytes(), test_pki, tmp_path, "checked.pdf", signatures=1)
