"""me.signature in the recipient's view: `applied` only together with the status `signed`,
whatever moment each of the two rows was read at."""

from __future__ import annotations

import pytest

from app.envelopes.models import Recipient, RecipientStatus
from app.workflow.models import SignatureRequest, SignatureRequestStatus
from app.workflow.views import signature_state

S = SignatureRequestStatus
R = RecipientStatus


@pytest.mark.parametrize(
    ("request_status", "recipient_status", "shown"),
    [
        (None, R.opened, None),
        (S.pending, R.opened, "pending"),
        (S.abandoned, R.opened, None),
        (S.applied, R.signed, "applied"),
        # The job committed between the two reads: the recipient row is the older one.
        (S.applied, R.opened, "pending"),
    ],
)
def test_signature_state(
    request_status: SignatureRequestStatus | None,
    recipient_status: RecipientStatus,
    shown: str | None,
) -> None:
    request = None if request_status is None else SignatureRequest(status=request_status)
    assert signature_state(request, Recipient(status=recipient_status)) == shown
