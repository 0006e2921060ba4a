"""Who the people of an envelope are: the names and addresses of its sender and recipients.

A recipient or sender given as a platform user takes the user directory's email and names; one
given by email carries their own. Emails, views and the evidence report all ask here.
"""

from __future__ import annotations

from app.envelopes.models import Envelope, Recipient


def full_name(first: str | None, last: str | None) -> str | None:
    name = " ".join(part for part in (first, last) if part)
    return name or None


def sender_email(envelope: Envelope) -> str:
    if envelope.sender_user is not None:
        return envelope.sender_user.email
    assert envelope.sender_email is not None
    return envelope.sender_email


def sender_name(envelope: Envelope) -> str:
    """The sender's name, or their address when they gave none."""
    user = envelope.sender_user
    if user is not None:
        name = full_name(user.first_name, user.last_name)
    else:
        name = full_name(envelope.sender_first_name, envelope.sender_last_name)
    return name or sender_email(envelope)


def recipient_email(recipient: Recipient) -> str:
    if recipient.user is not None:
        return recipient.user.email
    assert recipient.email is not None
    return recipient.email


def recipient_name(recipient: Recipient) -> str | None:
    """Names set on the recipient win; else the directory user's names; else none."""
    if recipient.user is not None and not (recipient.first_name or recipient.last_name):
        return full_name(recipient.user.first_name, recipient.user.last_name)
    return full_name(recipient.first_name, recipient.last_name)


def shown_names(recipient: Recipient) -> tuple[str | None, str | None]:
    """First and last name as the sender's views show them: each set on the recipient, else
    the directory user's."""
    user = recipient.user
    return (
        recipient.first_name or (user.first_name if user else None),
        recipient.last_name or (user.last_name if user else None),
    )


def recipient_label(recipient: Recipient) -> str:
    """How a recipient is named in a sentence (an email, a signature): name, else address."""
    return recipient_name(recipient) or recipient_email(recipient)
