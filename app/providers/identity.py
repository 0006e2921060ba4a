"""Checking a person's identity document, whoever does it.

Every vendor follows the same pattern: a session is created, the person follows its hosted URL,
the vendor posts a signed callback, and the service reads the result back (the GET is the
source of truth; the callback only says "look again"). Each adapter (dev_identity.py,
veriff.py, onfido.py) turns its vendor's answers into these few outcomes:

    StartedVerification    the vendor's session id and the URL the person follows
    VerificationResult     pending | approved | declined | review | expired, with the verified
                           names (never document images or numbers) once approved
    IdentityUnavailable    not now (429, 5xx, timeout, connection): try again later
    IdentityRefused        the vendor refused the request itself (bad credentials, bad input)
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.providers.sms import BadCallback, CallbackRequest

__all__ = [
    "BadCallback",
    "CallbackRequest",
    "IdentityProvider",
    "IdentityRefused",
    "IdentityRequest",
    "IdentityStatus",
    "IdentityUnavailable",
    "StartedVerification",
    "VerificationResult",
    "VerifiedIdentity",
    "vendor_failure",
]


@dataclass(frozen=True)
class IdentityRequest:
    reference: str  # ours (the verification's id), kept by the vendor where it allows it
    first_name: str  # as the sender declared them
    last_name: str
    email: str | None
    locale: str  # "fr" | "en"
    return_url: str | None  # where the hosted flow sends the person back when done


@dataclass(frozen=True)
class StartedVerification:
    provider: str
    session_id: str  # the vendor's id for this session
    verification_url: str  # where the person goes


class IdentityStatus(StrEnum):
    pending = "pending"  # created, started, submitted, awaiting input…
    approved = "approved"
    declined = "declined"
    review = "review"  # a human at the vendor looks at it; a final word follows
    expired = "expired"  # abandoned or timed out


@dataclass(frozen=True)
class VerifiedIdentity:
    first_name: str  # every given name, as on the document
    last_name: str
    document_type: str | None  # the vendor's word: PASSPORT, ID_CARD, driving_licence…
    issuing_country: str | None  # ISO 3166-1 alpha-2 or alpha-3, as the vendor gives it


@dataclass(frozen=True)
class VerificationResult:
    status: IdentityStatus
    vendor_status: str  # the vendor's own word, kept in the evidence
    # Why, when declined: "name_mismatch" when the vendor itself says the declared name is not
    # the document's (Veriff 104…), otherwise the vendor's reason code or word.
    reason: str | None = None
    identity: VerifiedIdentity | None = None  # set when approved (and when the vendor says)


class IdentityUnavailable(Exception):
    """The vendor could not answer now; the same request may succeed later."""


class IdentityRefused(Exception):
    """The vendor refused the request (credentials, configuration or input): retrying the
    same request will not help."""


# How /metrics names a failed call (anything else is an "error").
IDENTITY_OUTCOMES: dict[type[Exception], str] = {
    IdentityRefused: "refused",
    IdentityUnavailable: "unavailable",
}


class IdentityProvider(Protocol):
    name: str

    async def start(self, request: IdentityRequest) -> StartedVerification: ...

    async def result(self, session_id: str) -> VerificationResult:
        """The session's state as the vendor has it now (the source of truth)."""
        ...

    def callback_sessions(self, request: CallbackRequest) -> list[str]:
        """Verify a callback's signature and name the sessions it is about (to be read again
        with result()); raises BadCallback."""
        ...

    async def aclose(self) -> None: ...


# A vendor's HTTP answers that say "not now" rather than "never with this request".
RETRYABLE_STATUSES = frozenset({408, 425, 429})  # timeout, too early, too many


def vendor_failure(
    vendor: str, status: int, message: str, *, retry_after: str | None = None
) -> IdentityRefused | IdentityUnavailable:
    """What a vendor's unsuccessful HTTP answer means: throttling and the vendor's own errors
    are for later, any other 4xx (bad credentials, bad input, unknown session) is final."""
    if status in RETRYABLE_STATUSES or status >= 500:
        wait = f", retry after {retry_after} s" if retry_after else ""
        return IdentityUnavailable(f"{vendor} answered {status}{wait}: {message}")
    if 400 <= status < 500:
        return IdentityRefused(f"{vendor} refused the request ({status}): {message}")
    # A redirect or an informational answer: a proxy or a wrong base URL, not a refusal.
    return IdentityUnavailable(f"{vendor} answered an unexpected {status}: {message}")
