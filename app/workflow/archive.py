"""Archive timestamps of signed documents and evidence PDFs: added at completion, renewed
before they expire.

A document timestamp proves that the file, with its validation data, existed at that time --
until a certificate in its TSA's chain expires. Before then (CACHET_ARCHIVE_RENEW_BEFORE_DAYS)
the renewal adds fresh validation data for it and a new document timestamp over everything
(PAdES B-LTA maintenance), as a new version of the signed file: each version starts with the
previous one's exact bytes. `documents.archive_expires_at` (the evidence PDF's:
`envelopes.evidence_archive_expires_at`) says when; files archived before those columns existed
get it from the file the first time the renewal looks at them.

Renewal runs as the periodic job `archive.renew` (on the sweep's cadence: finding the due
documents is one index range scan) and as `cachet archive renew [--before-days N]`. One
envelope per transaction, under its row lock, so a renewal and a concurrent one (the job and
the command) do not both renew; an envelope that fails (a TSA or OCSP responder down:
Unavailable) is reported and left for the next run, and the others go on.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from app.activity import step_at
from app.db import transaction
from app.envelopes.models import Document, Envelope
from app.evidence.schemas import EventType
from app.runtime import Runtime
from app.signing.pades import (
    add_archive_timestamp,
    archive_expiry,
    renew_archive_timestamp,
)
from app.workflow.loading import load_envelope
from app.workflow.versions import current_path, run_in_signing_worker, signed_version

log = logging.getLogger(__name__)

RENEW_ARCHIVES = "archive.renew"
RENEWAL_BATCH = 200


async def archive_document(runtime: Runtime, document: Document) -> None:
    """PAdES B-LTA over a fully signed document, hard-fail: its signed version and when that
    must be renewed. Raises Unavailable when validation data or the timestamp cannot be had."""
    source = await current_path(runtime.blobs, document)
    sha256, stamp = await signed_version(runtime, source, add_archive_timestamp, "archived-")
    document.signed_sha256, document.archive_expires_at = sha256, stamp.expires_at


# --- renewal --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Renewed:
    envelope_id: uuid.UUID
    document_id: uuid.UUID | None
    """None for the envelope's evidence PDF."""
    previous_sha256: str
    signed_sha256: str
    expires_at: datetime

    def as_event_data(self) -> dict[str, str]:
        return {
            **({"id": str(self.document_id)} if self.document_id else {}),
            "sha256_previous": self.previous_sha256,
            "sha256_signed": self.signed_sha256,
            "archive_expires_at": self.expires_at.isoformat(),
        }


@dataclass
class RenewalRun:
    """What one pass did: the documents renewed, and the envelopes it could not renew."""

    renewed: list[Renewed] = field(default_factory=list)
    failed: dict[uuid.UUID, str] = field(default_factory=dict)


async def renew_archives(runtime: Runtime, *, before: timedelta) -> RenewalRun:
    """Renew every signed document whose archive timestamp expires within `before` of the
    service clock's now (or whose expiry is not recorded yet)."""
    horizon = runtime.clock.now() + before
    run = RenewalRun()
    async with transaction(runtime.sessions) as session:
        due = await _envelopes_due(session, horizon)
    for envelope_id in due:
        try:
            async with transaction(runtime.sessions) as session:
                run.renewed += await _renew_envelope(runtime, session, envelope_id, horizon)
        except Exception as error:
            log.warning("archive renewal failed for envelope %s: %s", envelope_id, error)
            run.failed[envelope_id] = str(error) or type(error).__name__
    return run


async def _envelopes_due(session: AsyncSession, horizon: datetime) -> list[uuid.UUID]:
    documents = select(Document.envelope_id).where(
        Document.signed_sha256.is_not(None),
        or_(Document.archive_expires_at.is_(None), Document.archive_expires_at <= horizon),
    )
    evidence = select(Envelope.id).where(
        Envelope.evidence_sha256.is_not(None),
        or_(
            Envelope.evidence_archive_expires_at.is_(None),
            Envelope.evidence_archive_expires_at <= horizon,
        ),
    )
    query = union(documents, evidence).limit(RENEWAL_BATCH)
    return list(await session.scalars(query))


async def _renew_envelope(
    runtime: Runtime, session: AsyncSession, envelope_id: uuid.UUID, horizon: datetime
) -> list[Renewed]:
    # Under the envelope's lock, due-ness is decided again: another pass may have renewed it.
    envelope = await load_envelope(session, envelope_id, lock=True)
    renewed = []
    for document in envelope.documents:
        if document.signed_sha256 is None:
            continue
        document.archive_expires_at = await _expiry(
            runtime, document.signed_sha256, document.archive_expires_at
        )
        if _is_due(document.archive_expires_at, horizon):
            item = await _renew(runtime, envelope.id, document.id, document.signed_sha256)
            document.signed_sha256, document.archive_expires_at = (
                item.signed_sha256,
                item.expires_at,
            )
            renewed.append(item)
    evidence = await _renew_evidence(runtime, envelope, horizon)
    if renewed or evidence:
        await step_at(runtime).record(
            session,
            envelope,
            EventType.documents_renewed,
            documents=[item.as_event_data() for item in renewed],
            evidence=evidence.as_event_data() if evidence else None,
        )
    return renewed + ([evidence] if evidence else [])


async def _renew_evidence(
    runtime: Runtime, envelope: Envelope, horizon: datetime
) -> Renewed | None:
    if envelope.evidence_sha256 is None:
        return None
    envelope.evidence_archive_expires_at = await _expiry(
        runtime, envelope.evidence_sha256, envelope.evidence_archive_expires_at
    )
    if not _is_due(envelope.evidence_archive_expires_at, horizon):
        return None
    item = await _renew(runtime, envelope.id, None, envelope.evidence_sha256)
    envelope.evidence_sha256, envelope.evidence_archive_expires_at = (
        item.signed_sha256,
        item.expires_at,
    )
    return item


async def _expiry(runtime: Runtime, sha256: str, known: datetime | None) -> datetime | None:
    """The recorded expiry, or the one read from the file when none was recorded."""
    if known is not None:
        return known
    return await run_in_signing_worker(
        runtime, archive_expiry, await runtime.blobs.local_path(sha256)
    )


def _is_due(expires_at: datetime | None, horizon: datetime) -> bool:
    # None: the file has no document timestamp at all, nothing to renew.
    return expires_at is not None and expires_at <= horizon


async def _renew(
    runtime: Runtime, envelope_id: uuid.UUID, document_id: uuid.UUID | None, previous: str
) -> Renewed:
    source = await runtime.blobs.local_path(previous)
    sha256, stamp = await signed_version(runtime, source, renew_archive_timestamp, "renewed-")
    return Renewed(envelope_id, document_id, previous, sha256, stamp.expires_at)
