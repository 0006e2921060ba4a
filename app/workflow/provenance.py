"""Is a file one this service signed? Which envelope, and does it hold all it should?

A file being validated is recognised by its revisions: every version the service makes starts
with the previous version's exact bytes, so the original upload -- whose SHA-256 the document
row keeps -- is one of the file's revision prefixes (app.signing.validation.revision_digests).
Then the file is compared with the document's latest version (signed, else current):

- latest:   it is that version;
- later:    that version is a prefix of it (revisions were appended after the service's last);
- earlier:  it is a prefix of that version: the file was cut back, revisions are missing;
- diverged: it shares only an earlier version (cut back, then changed elsewhere).

Signatures the service applied that the file lacks, and the archive timestamp of a completed
envelope, are reported missing: cutting a signed file back to an earlier revision leaves every
remaining signature valid, so only the service's own records can tell. Lookups are scoped to
the caller's tenant: another tenant's envelope is never named.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.envelopes.models import (
    Document,
    Envelope,
    EnvelopeKind,
    EnvelopeStatus,
    Recipient,
    RecipientStatus,
)
from app.envelopes.people import recipient_label
from app.storage.blobs import BlobStore
from app.workflow.fields import field_name_for

FileVersion = Literal["latest", "later", "earlier", "diverged"]

_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class FileFacts:
    """What validating the file found out that recognising it needs."""

    revision_digests: Sequence[str]
    """Revision prefixes' SHA-256, shortest first, the whole file last."""
    size_bytes: int
    signed_fields: frozenset[str]
    has_document_timestamp: bool


@dataclass(frozen=True)
class Provenance:
    envelope_id: uuid.UUID
    document_id: uuid.UUID
    envelope_status: str
    file_version: FileVersion
    signers: int
    signed: int
    """Signers who have signed, as the service recorded it."""
    signed_in_file: int
    """Signers whose signature is in this file."""
    missing: tuple[str, ...]
    """What the service made that this file lacks: signatures, revisions, archive timestamp."""
    pending: tuple[str, ...]
    """Signers who have not signed (yet, or ever: the envelope's status says which)."""


async def recognise(
    session: AsyncSession, blobs: BlobStore, tenant_id: uuid.UUID, facts: FileFacts
) -> Provenance | None:
    """The tenant's signature-envelope document this file is a version of, if any."""
    if not facts.revision_digests:
        return None
    candidates = list(
        await session.scalars(
            select(Document)
            .join(Envelope, Envelope.id == Document.envelope_id)
            .where(
                Document.tenant_id == tenant_id,
                Document.sha256.in_(list(facts.revision_digests)),
                Document.current_sha256.is_not(None),  # sent: fields, then signatures
                Envelope.kind == EnvelopeKind.signature,
            )
            .order_by(Document.created_at.desc())
        )
    )
    if not candidates:
        return None
    ranked = [(await _version_of(blobs, document, facts), document) for document in candidates]
    version, document = min(ranked, key=lambda item: _PREFERENCE.index(item[0]))
    envelope = await session.scalar(
        select(Envelope)
        .where(Envelope.id == document.envelope_id)
        .options(selectinload(Envelope.recipients).selectinload(Recipient.user))
    )
    assert envelope is not None  # the join above found it
    return _provenance(envelope, document, version, facts)


_PREFERENCE: tuple[FileVersion, ...] = ("latest", "later", "earlier", "diverged")


def _latest(document: Document) -> str:
    return document.signed_sha256 or document.current_sha256 or document.sha256


async def _version_of(blobs: BlobStore, document: Document, facts: FileFacts) -> FileVersion:
    latest = _latest(document)
    whole = facts.revision_digests[-1]
    if whole == latest:
        return "latest"
    if latest in facts.revision_digests:
        return "later"
    try:
        path = await blobs.local_path(latest)
    except FileNotFoundError:
        return "diverged"
    prefix_of_latest = await asyncio.to_thread(_starts_with, path, facts.size_bytes, whole)
    return "earlier" if prefix_of_latest else "diverged"


def _starts_with(path: Path, size: int, sha256: str) -> bool:
    """The file at `path` begins with `size` bytes whose SHA-256 is `sha256`."""
    try:
        if path.stat().st_size <= size:
            return False
        digest, left = hashlib.sha256(), size
        with path.open("rb") as stream:
            while left:
                chunk = stream.read(min(_CHUNK, left))
                if not chunk:
                    return False
                digest.update(chunk)
                left -= len(chunk)
    except OSError:
        return False
    return digest.hexdigest() == sha256


def _provenance(
    envelope: Envelope, document: Document, version: FileVersion, facts: FileFacts
) -> Provenance:
    signers = list(envelope.recipients)
    signed = [r for r in signers if r.status is RecipientStatus.signed]
    in_file = [r for r in signers if field_name_for(r) in facts.signed_fields]
    missing = [
        f"the signature of {recipient_label(r)} ({_date(r.acted_at)})"
        for r in signed
        if field_name_for(r) not in facts.signed_fields
    ]
    completed = envelope.status is EnvelopeStatus.completed
    if completed and not facts.has_document_timestamp:
        missing.append("the archive timestamp (PAdES B-LTA) added at completion")
    if version in ("earlier", "diverged") and not missing:
        missing.append("revisions the service added after this version")
    pending = [recipient_label(r) for r in signers if r not in signed]
    return Provenance(
        envelope_id=envelope.id,
        document_id=document.id,
        envelope_status=envelope.status.value,
        file_version=version,
        signers=len(signers),
        signed=len(signed),
        signed_in_file=len(in_file),
        missing=tuple(missing),
        pending=tuple(pending),
    )


ENDED_INCOMPLETE = (
    EnvelopeStatus.declined,
    EnvelopeStatus.canceled,
    EnvelopeStatus.expired,
    EnvelopeStatus.failed,
)


def reasons_against(provenance: Provenance) -> list[str]:
    """Why the file cannot stand for its envelope: it lacks what the service made, or the
    envelope ended without every signature. Signatures still to come (in progress) are not
    held against it: the report says they are pending."""
    reasons = []
    envelope = f"envelope {provenance.envelope_id}"
    if provenance.missing:
        reasons.append(f"the file lacks what {envelope} holds: " + "; ".join(provenance.missing))
    if EnvelopeStatus(provenance.envelope_status) in ENDED_INCOMPLETE and provenance.pending:
        reasons.append(
            f"{envelope} ended ({provenance.envelope_status}) without the signature of "
            + ", ".join(provenance.pending)
        )
    return reasons


def _date(moment: datetime | None) -> str:
    return f"signed {moment:%Y-%m-%d %H:%M} UTC" if moment is not None else "signed"
