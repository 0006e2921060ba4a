"""The evidence report's words for each event type: every type has them, in each locale."""

from __future__ import annotations

import pytest

from app.envelopes.models import Locale
from app.evidence.schemas import EventType
from app.workflow.evidence_report import event_label


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("event_type", list(EventType))
def test_every_event_type_has_a_label(event_type: EventType, locale: Locale) -> None:
    label = event_label(event_type.value, locale)
    assert label and label != event_type.value


def test_the_labels_differ_between_types() -> None:
    for locale in Locale:
        labels = [event_label(t.value, locale) for t in EventType]
        assert len(set(labels)) == len(labels)


def test_an_unknown_type_from_an_older_version_has_no_label() -> None:
    assert event_label("envelope.teleported", Locale.fr) is None
