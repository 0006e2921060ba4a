"""The hash chain, as pure functions: hash = SHA-256(previous hash ‖ canonical JSON of the event).

Anyone holding the rows can re-check them with these few lines; nothing here needs a database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS_HASH = "0" * 64


@dataclass(frozen=True)
class ChainedEvent:
    """What is hashed for one event: every field a reader of the evidence relies on."""

    envelope_id: str
    sequence: int
    type: str
    occurred_at: datetime
    actor: Mapping[str, Any]
    ip: str | None
    user_agent: str | None
    data: Mapping[str, Any]

    def canonical(self) -> bytes:
        body = {
            "envelope_id": self.envelope_id,
            "sequence": self.sequence,
            "type": self.type,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor": dict(self.actor),
            "ip": self.ip,
            "user_agent": self.user_agent,
            "data": dict(self.data),
        }
        return canonical_json(body)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same value always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, event: ChainedEvent) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + event.canonical()).hexdigest()


def event_mac_message(hash: str) -> bytes:
    """What an event's keyed MAC covers: its hash, which covers its content and every event
    before it."""
    return b"cachet-evidence-event:" + hash.encode("ascii")


def anchor_mac_message(envelope_id: str, length: int, head: str) -> bytes:
    """What the anchor's keyed MAC covers: which chain, how long, ending where."""
    return f"cachet-evidence-anchor:{envelope_id}:{length}:{head}".encode("ascii")


@dataclass(frozen=True)
class StoredLink:
    event: ChainedEvent
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    sequence: int
    reason: str


def find_break(links: Iterable[StoredLink]) -> ChainBreak | None:
    """The first place where the stored chain disagrees with a recomputation, or None."""
    expected_prev = GENESIS_HASH
    expected_sequence = 1
    for link in links:
        sequence = link.event.sequence
        if sequence != expected_sequence:
            return ChainBreak(expected_sequence, f"event {expected_sequence} is missing")
        if link.prev_hash != expected_prev:
            return ChainBreak(sequence, "previous hash does not match the event before it")
        if chain_hash(link.prev_hash, link.event) != link.hash:
            return ChainBreak(sequence, "stored hash does not match the event's content")
        expected_prev = link.hash
        expected_sequence += 1
    return None
