"""The hash chain as pure functions: each row's hash covers its content and its predecessor."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from app.evidence.chain import (
    GENESIS_HASH,
    ChainedEvent,
    StoredLink,
    canonical_json,
    chain_hash,
    find_break,
)

START = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def _chain(length: int) -> list[StoredLink]:
    links: list[StoredLink] = []
    previous = GENESIS_HASH
    for sequence in range(1, length + 1):
        event = ChainedEvent(
            envelope_id="e1",
            sequence=sequence,
            type="recipient.approved",
            occurred_at=START + timedelta(minutes=sequence),
            actor={"kind": "recipient", "id": "r1"},
            ip="192.0.2.1",
            user_agent="Mozilla/5.0",
            data={"comment": "d'accord é"},
        )
        current = chain_hash(previous, event)
        links.append(StoredLink(event, previous, current))
        previous = current
    return links


def test_canonical_json_does_not_depend_on_key_order() -> None:
    assert canonical_json({"b": 1, "a": "é"}) == canonical_json({"a": "é", "b": 1})
    assert canonical_json({"a": "é"}) == '{"a":"é"}'.encode()


def test_an_untouched_chain_verifies() -> None:
    assert find_break(_chain(5)) is None


def test_the_same_instant_in_another_zone_hashes_the_same() -> None:
    event = _chain(1)[0].event
    moved = dataclasses.replace(event, occurred_at=event.occurred_at.astimezone())
    assert chain_hash(GENESIS_HASH, moved) == chain_hash(GENESIS_HASH, event)


@pytest.mark.parametrize(
    ("change", "broken_at", "reason"),
    [
        (lambda e: dataclasses.replace(e, data={"comment": "non"}), 3, "content"),
        (lambda e: dataclasses.replace(e, ip="203.0.113.9"), 3, "content"),
        (lambda e: dataclasses.replace(e, occurred_at=START), 3, "content"),
        (lambda e: dataclasses.replace(e, type="recipient.declined"), 3, "content"),
    ],
)
def test_an_altered_event_breaks_the_chain_where_it_was_altered(
    change: object, broken_at: int, reason: str
) -> None:
    links = _chain(5)
    assert callable(change)
    links[2] = dataclasses.replace(links[2], event=change(links[2].event))
    found = find_break(links)
    assert found is not None and found.sequence == broken_at and reason in found.reason


def test_a_deleted_event_and_a_rehashed_event_are_both_found() -> None:
    links = _chain(5)
    missing = find_break(links[:2] + links[3:])
    assert missing is not None and missing.sequence == 3 and "missing" in missing.reason
    # Recomputing the altered row's own hash does not help: the next row still points back.
    altered = dataclasses.replace(links[2].event, data={"comment": "non"})
    links[2] = StoredLink(altered, links[2].prev_hash, chain_hash(links[2].prev_hash, altered))
    found = find_break(links)
    assert found is not None and found.sequence == 4 and "previous" in found.reason
