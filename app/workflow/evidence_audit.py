"""`cachet evidence verify`: everything that can be checked about an envelope's evidence.

The chain is recomputed (anyone can), each event's keyed MAC and the chain's anchor are
checked (that takes CACHET_SECRET_KEY: they find a chain cut short, or rewritten with every
later hash recomputed), and a completed envelope's evidence PDF must be the stored one and
seal a head that is in the chain where it says.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.envelopes.models import Envelope
from app.errors import Conflict, NotFound
from app.evidence.chain import ChainBreak
from app.evidence.models import Event
from app.evidence.schemas import EventType
from app.evidence.service import envelope_events, settled_anchor, verify_keyed
from app.signing.evidence_pdf import sealed_chain
from app.storage.blobs import BlobStore, file_sha256


@dataclass(frozen=True)
class EvidenceAudit:
    length: int
    head: str
    unkeyed: int  # events written before the chain was keyed (migration 0004)
    sealed: tuple[int, str] | None  # what the evidence PDF seals, when there is one


class EvidenceBroken(Conflict):
    def __init__(self, broken: ChainBreak) -> None:
        super().__init__(
            "chain_broken", f"evidence chain broken at event {broken.sequence}: {broken.reason}"
        )


async def audit_evidence(
    session: AsyncSession, envelope_id: uuid.UUID, *, secrets: SecretBox, blobs: BlobStore
) -> EvidenceAudit:
    envelope = await session.get(Envelope, envelope_id)
    anchor = await settled_anchor(session, envelope_id)
    events = await envelope_events(session, envelope_id)
    if envelope is None or not events:
        raise NotFound("envelope")
    broken = verify_keyed(events, anchor, secrets)
    if broken is not None:
        raise EvidenceBroken(broken)
    sealed = None
    if envelope.evidence_sha256 is not None:
        sealed = await _check_evidence_pdf(blobs, envelope.evidence_sha256, events)
    unkeyed = sum(1 for event in events if event.mac is None)
    return EvidenceAudit(len(events), events[-1].hash, unkeyed, sealed)


async def _check_evidence_pdf(
    blobs: BlobStore, sha256: str, events: Sequence[Event]
) -> tuple[int, str] | None:
    broken = EvidenceBroken(ChainBreak(len(events), "the evidence PDF is not the stored one"))
    try:
        path = await blobs.local_path(sha256)
    except FileNotFoundError:
        raise broken from None
    if not path.exists() or await asyncio.to_thread(file_sha256, path) != sha256:
        raise broken
    _require_sealing_recorded(events, sha256)
    sealed = await asyncio.to_thread(sealed_chain, path)
    if sealed is not None:
        length, head = sealed
        if not 1 <= length <= len(events) or events[length - 1].hash != head:
            reason = "the evidence PDF seals a chain head that the stored chain does not have"
            raise EvidenceBroken(ChainBreak(min(length, len(events)), reason))
    return sealed


def _require_sealing_recorded(events: Sequence[Event], sha256: str) -> None:
    """The stored evidence PDF is the one sealed, or the newest renewal of it."""
    if sha256 not in _evidence_versions(events):
        reason = "no evidence.sealed or documents.renewed event names the stored evidence PDF"
        raise EvidenceBroken(ChainBreak(len(events), reason))


def _evidence_versions(events: Sequence[Event]) -> set[str]:
    versions = set()
    for event in events:
        if event.type == EventType.evidence_sealed:
            versions.add(event.data.get("sha256"))
        elif event.type == EventType.documents_renewed and event.data.get("evidence"):
            versions.add(event.data["evidence"].get("sha256_signed"))
    return {v for v in versions if isinstance(v, str)}
