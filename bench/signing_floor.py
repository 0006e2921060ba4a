"""The floor for bench/signing.py: the test files, and pyHanko signing them by itself.

Both floors fill the same empty field of the same file as Cachet's job, with the same signature
dictionary, the same stamp appearance (Cachet's CachetStampStyle, built by app.signing.pades'
own helpers) and the same timestamper; only the signer and bytes_reserved differ:

- as shipped: SimpleSigner.load() from the PEM files, which re-parses the private key for every
  raw signature, and no bytes_reserved, so pyHanko signs a whole CMS once more only to size
  the /Contents slot;
- the fast path: the key parsed once and kept (CachedKeySigner, as the service's seal), and
  bytes_reserved given (Cachet's reserved_contents_size).

Nothing here touches the database or the blob store: file in, file out.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pikepdf
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.timestamps import TimeStamper

from app.signing import pades
from app.signing.pades import SignatureOrder

A4 = (595.28, 841.89)
CONTRACT_TEXT = (
    "the parties agree that each signatory shall receive a copy of this contract "
    "signed by all of them within thirty days of the date below notwithstanding "
    "any clause to the contrary payment terms apply from delivery"
)
WORDS = CONTRACT_TEXT.split()


# --- the files ----------------------------------------------------------------------------


def text_pdf(pages: int, *, seed: int = 1) -> bytes:
    """`pages` A4 pages of 36 lines of text each (Helvetica, uncompressed): ~2 KB a page."""
    rng = random.Random(seed)
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for _ in range(pages):
        _add_text_page(pdf, font, rng)
    return _saved(pdf)


def image_pdf(total_bytes: int, *, text_pages: int = 3, seed: int = 2) -> bytes:
    """`text_pages` pages of text, then one page showing an uncompressed image of random pixels
    (incompressible), sized so that the file is about `total_bytes`."""
    rng = random.Random(seed)
    pdf = pikepdf.new()
    font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica
        )
    )
    for _ in range(text_pages):
        _add_text_page(pdf, font, rng)
    room = total_bytes - len(_saved(pdf)) - 2048  # the image page's own objects
    side = int((room / 3) ** 0.5)
    pdf.add_blank_page(page_size=A4)
    image = pdf.make_stream(rng.randbytes(side * side * 3))
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width = image.Height = side
    image.ColorSpace, image.BitsPerComponent = pikepdf.Name.DeviceRGB, 8
    page = pdf.pages[-1]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pdf.make_stream(b"q 495 0 0 495 50 200 cm /Im0 Do Q")
    return _saved(pdf)


def _add_text_page(pdf: pikepdf.Pdf, font: pikepdf.Object, rng: random.Random) -> None:
    pdf.add_blank_page(page_size=A4)
    lines = [" ".join(rng.choice(WORDS) for _ in range(8)) for _ in range(36)]
    body = b"".join(b"(" + line.encode() + b") '\n" for line in lines)
    page = pdf.pages[-1]
    page.Resources = pikepdf.Dictionary(Font=pikepdf.Dictionary(F1=font))
    page.Contents = pdf.make_stream(b"BT /F1 10 Tf 14 TL 50 800 Td\n" + body + b"ET")


def _saved(pdf: pikepdf.Pdf) -> bytes:
    out = io.BytesIO()
    pdf.save(out, compress_streams=False, deterministic_id=True)
    return out.getvalue()


def signature_png(width: int = 300, height: int = 100) -> bytes:
    """A 'handwritten' signature: a navy zigzag stroke on a transparent background."""
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    swing = height // 4
    points = [(x, height // 2 + (swing if (x // 20) % 2 else -swing)) for x in range(10, width, 20)]
    ImageDraw.Draw(image).line(points, fill=(0, 0, 128, 255), width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


# --- pyHanko by itself ----------------------------------------------------------------------


def shipped_signer(key_pem: Path, cert_pem: Path, chain_pem: Path) -> signers.Signer:
    """pyHanko's own file signer: it keeps the key as DER and parses it for every signature."""
    signer: signers.Signer = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
        str(key_pem), str(cert_pem), ca_chain_files=(str(chain_pem),)
    )
    return signer


def pyhanko_sign(
    source: Path,
    target: Path,
    order: SignatureOrder,
    signer: signers.Signer,
    timestamper: TimeStamper,
    *,
    bytes_reserved: int | None,
) -> None:
    """What pades.sign_field does, minus its move-into-place: one PdfSigner over the file."""
    with source.open("rb") as pdf_in, target.open("wb+") as pdf_out:
        writer = IncrementalPdfFileWriter(pdf_in)
        field = pades._field_to_fill(writer, order.field_name)
        pdf_signer = signers.PdfSigner(
            pades._signature_metadata(order, field),
            signer=signer,
            timestamper=timestamper,
            stamp_style=pades._stamp_style(order, field),
        )
        pdf_signer.sign_pdf(
            writer,
            existing_fields_only=True,
            bytes_reserved=bytes_reserved,
            output=pdf_out,
        )
