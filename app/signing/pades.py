"""PAdES operations on PDF files: signature fields, signatures (B-T), archive timestamps (B-LTA)
and their renewal.

Every function reads one file and writes another as an incremental update, so the input's bytes
stay an exact prefix of the output and earlier signatures stay valid. They are synchronous
(pyHanko's sync API runs its own event loop): call them from a worker thread, never from the
service's event loop. Output appears at `target` only once complete.

A timestamp authority, OCSP responder or CRL server that cannot be reached or refuses raises
app.signing.failures.Unavailable, naming it: the same operation may succeed later.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from pyhanko.pdf_utils.generic import ArrayObject, DictionaryObject
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.rw_common import PdfHandler
from pyhanko.sign import signers
from pyhanko.sign.fields import (
    FieldMDPAction,
    FieldMDPSpec,
    MDPPerm,
    SigFieldSpec,
    SigSeedSubFilter,
    append_signature_field,
    enumerate_sig_fields,
)
from pyhanko.sign.general import SigningError
from pyhanko.sign.timestamps import TimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext

from app.signing import ltv
from app.signing.appearance import CachetStampStyle, StampLook
from app.signing.timestamping import tsa_unavailable

__all__ = [
    "CERTIFICATION_FIELD",
    "SEAL_FIELD",
    "ArchiveTimestamp",
    "FieldAlreadySigned",
    "FieldMissing",
    "FieldNameTaken",
    "FieldSpec",
    "SealLike",
    "SignatureOrder",
    "StampLook",
    "add_archive_timestamp",
    "add_signature_fields",
    "archive_expiry",
    "renew_archive_timestamp",
    "reserved_contents_size",
    "seal_pdf",
    "sign_field",
    "sign_field_as",
    "signed_field_names",
]

SEAL_FIELD = "CachetSeal"
CERTIFICATION_FIELD = "CachetCertification"
MD_ALGORITHM = "sha256"


class SealLike(Protocol):
    """What signs and timestamps: app.signing.keys.Seal, or a test double of it."""

    @property
    def signer(self) -> signers.Signer: ...

    @property
    def timestamper(self) -> TimeStamper: ...

    def validation_context(self, *, require_revocation: bool = False) -> ValidationContext: ...


class FieldMissing(LookupError):
    """The PDF has no signature field by that name."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"the PDF has no signature field named {field_name!r}")
        self.field_name = field_name


class FieldAlreadySigned(RuntimeError):
    """The field already holds a signature: signing it again would be a second signature."""

    def __init__(self, field_name: str) -> None:
        super().__init__(f"signature field {field_name!r} is already signed")
        self.field_name = field_name


class FieldNameTaken(ValueError):
    """The PDF already has a form field by a name Cachet is about to give one of its own:
    pyHanko would refuse to add it, or, with certification, fill the field it found."""

    def __init__(self, field_name: str) -> None:
        super().__init__(field_name)  # the only argument: the error survives pickling
        self.field_name = field_name

    def __str__(self) -> str:
        return f"the PDF already has a form field named {self.field_name!r}"


@dataclass(frozen=True)
class FieldSpec:
    """An empty signature field to create; `box` is (llx, lly, urx, ury) in PDF user space.

    `lock_document` puts a /Lock on the field: once it is signed, the document admits only
    archive updates (DSS, document timestamps). Give it to the last signer's field."""

    name: str
    page_index: int  # 0-based
    box: tuple[float, float, float, float]
    lock_document: bool = False


@dataclass(frozen=True)
class SignatureOrder:
    """Who signs which field, and what the signature dictionary and the stamp say."""

    field_name: str
    signer_name: str
    reason: str | None
    location: str | None
    contact_info: str | None
    stamp: StampLook | None
    certify: bool = False
    """A certification signature (DocMDP), which must be the document's first signature."""


# --- fields -----------------------------------------------------------------------------


def add_signature_fields(
    source: Path, target: Path, fields: Sequence[FieldSpec], reserved: Sequence[str] = ()
) -> None:
    """All fields in one incremental update, before any signature: pyHanko's diff policy
    rejects fields added after a certification signature.

    Raises FieldNameTaken, before writing anything, if the PDF already has a field named like
    one of `fields` or one of the `reserved` names (fields that a later step creates)."""
    with source.open("rb") as pdf_in:
        writer = IncrementalPdfFileWriter(pdf_in)
        taken = form_field_names(writer)
        for name in [*(spec.name for spec in fields), *reserved]:
            if name in taken:
                raise FieldNameTaken(name)
        with _replacing(target) as pdf_out:
            for spec in fields:
                append_signature_field(writer, _sig_field_spec(spec))
            _put_first(writer, len(fields))
            writer.write(pdf_out)  # type: ignore[no-untyped-call]


def _put_first(writer: IncrementalPdfFileWriter, count: int) -> None:
    """Move the `count` fields just appended to the front of /Fields. pyHanko looks a field up
    by walking /Fields in order, resolving each entry: every signature of a file with a large
    form would otherwise parse all of the form's fields first, in the service's process."""
    top = writer.root["/AcroForm"]["/Fields"]
    entries = list(top)  # the references themselves: indexing would resolve them
    if count < len(entries):
        top[:] = [*entries[-count:], *entries[:-count]]


def form_field_names(handler: PdfHandler) -> frozenset[str]:
    """The fully qualified names of every field of the form (of any type), parents included:
    each is a name a new field cannot take. Walked once per node, loops or not."""
    try:
        top = handler.root["/AcroForm"]["/Fields"]
    except KeyError:
        return frozenset()
    names: set[str] = set()
    seen: set[object] = set()
    pending = [(entry, "") for entry in _field_list(top)]
    while pending:
        entry, parent = pending.pop()
        reference = getattr(entry, "reference", None)  # None: a direct dictionary
        if reference is not None:
            if reference in seen:
                continue
            seen.add(reference)
        node = entry.get_object()
        if not isinstance(node, DictionaryObject) or "/T" not in node:
            continue  # a widget, not a field
        name = f"{parent}.{node['/T']}" if parent else str(node["/T"])
        names.add(name)
        pending.extend((kid, name) for kid in _field_list(node.get("/Kids")))
    return frozenset(names)


def _field_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, ArrayObject) else []


def _sig_field_spec(spec: FieldSpec) -> SigFieldSpec:
    lock = spec.lock_document
    return SigFieldSpec(
        sig_field_name=spec.name,
        on_page=spec.page_index,
        box=spec.box,  # type: ignore[arg-type]  # annotated as ints, takes any number
        field_mdp_spec=FieldMDPSpec(FieldMDPAction.ALL) if lock else None,
        doc_mdp_update_value=MDPPerm.NO_CHANGES if lock else None,
    )


def signed_field_names(source: Path) -> frozenset[str]:
    """Names of the signature fields that hold a value (signatures and document timestamps):
    what a retried job checks before signing again."""
    with source.open("rb") as pdf_in:
        reader = PdfFileReader(pdf_in)
        return frozenset(name for name, _, _ in enumerate_sig_fields(reader, filled_status=True))


# --- signatures -------------------------------------------------------------------------


def sign_field(source: Path, target: Path, order: SignatureOrder, seal: SealLike) -> None:
    """Fill the existing empty field with a PAdES B-T signature whose appearance is the stamp.

    Raises FieldMissing or FieldAlreadySigned before writing anything."""
    _sign(source, target, seal, order, existing_fields_only=True)


def sign_field_as(
    source: Path, target: Path, order: SignatureOrder, signer: signers.Signer, seal: SealLike
) -> None:
    """sign_field with another signer than the seal's (a certificate in the signer's own name,
    eIDAS advanced); the seal still provides the timestamp and the trust settings."""
    _sign(source, target, _SignerWithSealServices(signer, seal), order, existing_fields_only=True)


@dataclass(frozen=True)
class _SignerWithSealServices:
    own_signer: signers.Signer
    seal: SealLike

    @property
    def signer(self) -> signers.Signer:
        return self.own_signer

    @property
    def timestamper(self) -> TimeStamper:
        return self.seal.timestamper

    def validation_context(self, *, require_revocation: bool = False) -> ValidationContext:
        return self.seal.validation_context(require_revocation=require_revocation)


def seal_pdf(source: Path, target: Path, seal: SealLike, *, reason: str) -> ArchiveTimestamp:
    """The platform's invisible signature (B-T) in a new field, then an archive timestamp:
    how the evidence PDF is sealed."""
    if SEAL_FIELD in signed_field_names(source):
        raise FieldAlreadySigned(SEAL_FIELD)
    order = SignatureOrder(SEAL_FIELD, _seal_holder(seal), reason, None, None, stamp=None)
    signed = target.with_name(f".{target.name}.{uuid.uuid4().hex}.signed")
    try:
        _sign(source, signed, seal, order, existing_fields_only=False)
        return add_archive_timestamp(signed, target, seal)
    finally:
        signed.unlink(missing_ok=True)


def certify_pdf(source: Path, target: Path, seal: SealLike, *, reason: str) -> None:
    """The platform's certification signature (DocMDP P=2: form filling and signing allowed),
    invisible, B-T. It must come after every signature field: pyHanko's diff policy (stricter
    than Acrobat) refuses visible fields added after a certification."""
    if CERTIFICATION_FIELD in signed_field_names(source):
        raise FieldAlreadySigned(CERTIFICATION_FIELD)
    order = SignatureOrder(
        CERTIFICATION_FIELD, _seal_holder(seal), reason, None, None, stamp=None, certify=True
    )
    _sign(source, target, seal, order, existing_fields_only=False)


def _seal_holder(seal: SealLike) -> str:
    name: str = seal.signer.subject_name or "Cachet"
    return name


def _sign(
    source: Path, target: Path, seal: SealLike, order: SignatureOrder, *, existing_fields_only: bool
) -> None:
    try:
        with _tsa_failures_unavailable():
            _sign_once(
                source, target, seal, order, existing_fields_only, reserved_contents_size(seal)
            )
    except SigningError as error:
        # The reservation is generous, but a TSA may answer with an unusually large token
        # (a longer chain): then pyHanko's own, slower estimate, once.
        if "larger than expected" not in str(error):
            raise
        with _tsa_failures_unavailable():
            _sign_once(source, target, seal, order, existing_fields_only, None)


@contextmanager
def _tsa_failures_unavailable() -> Iterator[None]:
    """A TSA client other than ours (which names its URL) reports failures as pyHanko's
    TimestampRequestError: the transient kind all the same."""
    try:
        yield
    except TimestampRequestError as error:
        raise tsa_unavailable(None, error) from error


def _sign_once(
    source: Path,
    target: Path,
    seal: SealLike,
    order: SignatureOrder,
    existing_fields_only: bool,
    reserve: int | None,
) -> None:
    with source.open("rb") as pdf_in, _replacing(target) as pdf_out:
        writer = IncrementalPdfFileWriter(pdf_in)
        if existing_fields_only:
            field: DictionaryObject | None = _field_to_fill(writer, order.field_name)
        else:
            field = _field_if_present(writer, order.field_name)
        pdf_signer = signers.PdfSigner(
            _signature_metadata(order, field),
            signer=seal.signer,
            timestamper=seal.timestamper,
            stamp_style=_stamp_style(order, field),
        )
        pdf_signer.sign_pdf(
            writer,
            existing_fields_only=existing_fields_only,
            bytes_reserved=reserve,
            output=pdf_out,
        )


def _signature_metadata(
    order: SignatureOrder, field: DictionaryObject | None
) -> signers.PdfSignatureMetadata:
    return signers.PdfSignatureMetadata(
        field_name=order.field_name,
        md_algorithm=MD_ALGORITHM,
        subfilter=SigSeedSubFilter.PADES,
        name=order.signer_name,
        reason=order.reason,
        location=order.location,
        contact_info=order.contact_info,
        # Match the field's /Lock, if any, or pyHanko logs a (harmless) conflict.
        docmdp_permissions=_locked_permissions(field) or MDPPerm.FILL_FORMS,
        certify=order.certify,
    )


def _stamp_style(order: SignatureOrder, field: DictionaryObject | None) -> CachetStampStyle | None:
    widget = _widget(field) if field is not None else None
    size = _widget_size(widget) if widget is not None else None
    if widget is None or size is None:
        return None  # invisible: pyHanko draws nothing for a zero-size widget
    look = order.stamp or StampLook(b"", None, order.signer_name, "en", with_text=True)
    return CachetStampStyle(look=look, field_size=size, rotation=_page_rotation(widget))


def _field_to_fill(handler: PdfHandler, field_name: str) -> DictionaryObject:
    for _, value, field_ref in enumerate_sig_fields(handler, with_name=field_name):
        if value is not None:
            raise FieldAlreadySigned(field_name)
        field: DictionaryObject = field_ref.get_object()
        return field
    raise FieldMissing(field_name)


def _field_if_present(handler: PdfHandler, field_name: str) -> DictionaryObject | None:
    try:
        return _field_to_fill(handler, field_name)
    except FieldMissing:
        return None


def _widget(field: DictionaryObject) -> DictionaryObject:
    """The field's (first) widget annotation: pyHanko merges field and widget into one dict."""
    kids = field.get("/Kids")
    if kids:
        widget: DictionaryObject = kids[0].get_object()
        return widget
    return field


def _widget_size(widget: DictionaryObject) -> tuple[float, float] | None:
    rect = widget.get("/Rect")
    if rect is None:
        return None
    llx, lly, urx, ury = (float(value) for value in rect)
    width, height = abs(urx - llx), abs(ury - lly)
    return (width, height) if width and height else None


def _page_rotation(widget: DictionaryObject) -> int:
    """/Rotate of the widget's page, inherited through the page tree; 0 if the widget does not
    name its page (every field this module creates does)."""
    node = widget.get("/P")
    for _ in range(64):
        if node is None:
            return 0
        node = node.get_object()
        if "/Rotate" in node:
            return int(node["/Rotate"]) % 360
        node = node.get("/Parent")
    return 0


def _locked_permissions(field: DictionaryObject | None) -> MDPPerm | None:
    lock = field.get("/Lock") if field is not None else None
    if lock is None or "/P" not in lock.get_object():
        return None
    return MDPPerm(int(lock.get_object()["/P"]))


# --- signature size ---------------------------------------------------------------------

_CMS_OVERHEAD = 1_536
"""DER bytes beyond the certificates: signed attributes and a signature value up to RSA-4096."""

_TSA_TOKEN_ALLOWANCE = 2_560
"""DER bytes for the timestamp token; the test TSA's is 1,726 with its certificate."""


def reserved_contents_size(seal: SealLike) -> int:
    """Room for the CMS in /Contents, in hex digits, computed instead of pyHanko's dry-run
    signature (which builds and signs a whole CMS only to measure it).

    A generous estimate plus half again: with the test PKI (three RSA-2048 certificates, a
    1.7 KB timestamp token) the CMS is 5.3 KB and this reserves 11 KB. An unusually large
    timestamp token still fits through _sign's one retry with pyHanko's own estimate."""
    certificates = [seal.signer.signing_cert, *seal.signer.cert_registry]
    der_size = sum(len(cert.dump()) for cert in certificates if cert is not None)
    expected = der_size + _CMS_OVERHEAD + _TSA_TOKEN_ALLOWANCE
    return 2 * _round_up(expected * 3 // 2, 1024)


def _round_up(value: int, step: int) -> int:
    return -(-value // step) * step


# --- archive timestamp ------------------------------------------------------------------


@dataclass(frozen=True)
class ArchiveTimestamp:
    """What an archive timestamp is good for."""

    expires_at: datetime
    """The first expiry in the new timestamp's certificate chain: renew before then."""


def add_archive_timestamp(source: Path, target: Path, seal: SealLike) -> ArchiveTimestamp:
    """PAdES B-LTA, hard-fail: validation data (chains, OCSP answers, CRLs) for every signature
    and document timestamp in the file and for the TSA about to timestamp it, checked complete,
    in a /DSS; then a document timestamp over it; one incremental update.

    Raises Unavailable when revocation data or the timestamp cannot be obtained (nothing is
    written), ltv.ChainRejected when a chain does not validate at all."""
    return asyncio.run(_archive(source, target, seal, _every_signature))


def renew_archive_timestamp(source: Path, target: Path, seal: SealLike) -> ArchiveTimestamp:
    """PAdES B-LTA maintenance, before the newest document timestamp's certificate expires:
    fresh validation data for that timestamp (it protects everything before it) and for the
    TSA, then a new document timestamp over them. Same failures as add_archive_timestamp;
    ValueError if the file has no document timestamp to renew."""
    return asyncio.run(_archive(source, target, seal, _newest_document_timestamp))


def add_validation_data(source: Path, target: Path, seal: SealLike, *, field_name: str) -> None:
    """PAdES B-LT for one signature, right after it is made: its signer's and timestamp's
    chains with revocation data, hard-fail, in the file's DSS (one incremental update).
    Raises Unavailable when revocation data cannot be obtained (nothing is written)."""
    asyncio.run(_embed_for_field(source, target, seal, field_name))


async def _embed_for_field(source: Path, target: Path, seal: SealLike, field_name: str) -> None:
    context = seal.validation_context(require_revocation=True)
    try:
        with source.open("rb") as pdf_in, _replacing(target) as pdf_out:
            reader = PdfFileReader(pdf_in)
            (signature,) = [s for s in reader.embedded_signatures if s.field_name == field_name]
            writer = IncrementalPdfFileWriter.from_reader(reader)
            await ltv.embed_validation_data(writer, ltv.chains_of(signature), context)
            writer.write(pdf_out)  # type: ignore[no-untyped-call]
    finally:
        await context.aclose()  # type: ignore[no-untyped-call]


def archive_expiry(source: Path) -> datetime | None:
    """When the newest document timestamp's own certificate expires, read from the file (for
    files archived before that date was recorded); None without a document timestamp."""
    with source.open("rb") as pdf_in:
        reader = PdfFileReader(pdf_in)
        try:
            (newest,) = _newest_document_timestamp(reader.embedded_signatures)
        except ValueError:
            return None
        expires: datetime = newest.signer_cert.not_valid_after
        return expires


Selection = Callable[[Sequence[EmbeddedPdfSignature]], Sequence[EmbeddedPdfSignature]]


def _every_signature(found: Sequence[EmbeddedPdfSignature]) -> Sequence[EmbeddedPdfSignature]:
    return found


def _newest_document_timestamp(
    found: Sequence[EmbeddedPdfSignature],
) -> Sequence[EmbeddedPdfSignature]:
    timestamps = [sig for sig in found if sig.sig_object_type == "/DocTimeStamp"]
    if not timestamps:
        raise ValueError("the file has no document timestamp to renew")
    return [max(timestamps, key=lambda sig: sig.signed_revision)]


async def _archive(
    source: Path, target: Path, seal: SealLike, select: Selection
) -> ArchiveTimestamp:
    context = seal.validation_context(require_revocation=True)
    try:
        with (
            _tsa_failures_unavailable(),
            source.open("rb") as pdf_in,
            _replacing(target) as pdf_out,
        ):
            reader = PdfFileReader(pdf_in)
            chains = [
                chain for sig in select(reader.embedded_signatures) for chain in ltv.chains_of(sig)
            ]
            # The TSA's chain last, so that its path is the last one returned.
            chains.append(await ltv.timestamper_chain(seal.timestamper, MD_ALGORITHM))
            writer = IncrementalPdfFileWriter.from_reader(reader)
            paths = await ltv.embed_validation_data(writer, chains, context)
            # No validation context: the DSS above already holds the TSA's data, so pyHanko
            # adds nothing (and fetches nothing) around the timestamp itself.
            await signers.PdfTimeStamper(seal.timestamper).async_timestamp_pdf(
                writer, MD_ALGORITHM, output=pdf_out
            )
        return ArchiveTimestamp(expires_at=ltv.first_expiry(paths[-1]))
    finally:
        await context.aclose()  # type: ignore[no-untyped-call]


# --- files ------------------------------------------------------------------------------


@contextmanager
def _replacing(target: Path) -> Iterator[IO[bytes]]:
    """A readable and writable file (pyHanko reads back what it wrote) that becomes `target` only
    if the block succeeds: a failed signature leaves no half-written PDF behind."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}.partial")
    try:
        with partial.open("wb+") as stream:
            yield stream
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
