"""Domain errors: each carries its HTTP status and a stable problem type.

DomainError
 ├── Forbidden                403  a step the level requires is not done (the SMS code)
 ├── NotFound                 404  another tenant's object looks exactly like a missing one
 ├── Unauthenticated          401
 ├── PaymentRequired          402  e.g. not enough credits for an eIDAS send
 ├── Conflict                 409  e.g. the envelope is no longer a draft, not your turn
 ├── Gone                     410  the envelope has ended: nothing more can be done on it
 ├── Locked                   423  the signer entered too many wrong codes: the sender unlocks
 ├── TooManyRequests          429  a cool-down is running; retry_after_seconds says how long
 ├── ValidationFailed         422  with errors: [{pointer, detail}]
 ├── PayloadTooLarge          413  with used_bytes / limit_bytes
 ├── UnsupportedMediaType     415  a signature envelope was given something that is not a PDF
 ├── UnsupportedDocument      422  a PDF the upload gate refuses (encrypted, JavaScript, …)
 ├── BadRequest               400  malformed request outside the body schema (cursor, header)
 ├── ProviderFailed           502  a provider (identity check…) refused the service's request
 ├── ProviderUnavailable      503  a provider did not answer; retry_after_seconds says when
 └── StorageUnavailable       503  the object store did not answer; nothing was kept
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True)
class FieldError:
    pointer: str
    detail: str


class DomainError(Exception):
    status: ClassVar[int] = 400
    default_title: ClassVar[str] = "Bad request"

    def __init__(self, code: str, detail: str, *, title: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.title = title or self.default_title
        self.extra = extra


class BadRequest(DomainError):
    status = 400


class Unauthenticated(DomainError):
    status = 401
    default_title = "Authentication required"


class PaymentRequired(DomainError):
    status = 402
    default_title = "Payment required"


class Forbidden(DomainError):
    status = 403
    default_title = "Forbidden"


class Locked(DomainError):
    status = 423
    default_title = "Locked"


class NotFound(DomainError):
    status = 404
    default_title = "Not found"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}_not_found", f"No such {what.replace('_', ' ')}.")


class Conflict(DomainError):
    status = 409
    default_title = "Conflict"


class Gone(DomainError):
    status = 410
    default_title = "Envelope has ended"


class TooManyRequests(DomainError):
    status = 429
    default_title = "Too many requests"

    def __init__(self, code: str, detail: str, *, retry_after_seconds: int) -> None:
        super().__init__(code, detail, retry_after_seconds=retry_after_seconds)
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(DomainError):
    status = 413
    default_title = "Envelope size limit exceeded"


class ValidationFailed(DomainError):
    status = 422
    default_title = "Validation failed"

    def __init__(self, code: str, detail: str, errors: list[FieldError], **extra: Any) -> None:
        super().__init__(code, detail, **extra)
        self.errors = errors

    @classmethod
    def at(cls, pointer: str, detail: str, code: str = "validation_failed") -> ValidationFailed:
        return cls(code, detail, [FieldError(pointer, detail)])


class UnsupportedDocument(DomainError):
    status = 422
    default_title = "Document refused"


class UnsupportedMediaType(DomainError):
    status = 415
    default_title = "Not a PDF"


class ProviderFailed(DomainError):
    status = 502
    default_title = "Provider error"


class ProviderUnavailable(TooManyRequests):
    """Like a cool-down for the client: retry after the given delay (also in Retry-After)."""

    status = 503
    default_title = "Provider unavailable"


class StorageUnavailable(TooManyRequests):
    """The document store (S3) did not answer: the request changed nothing, retry later."""

    status = 503
    default_title = "Storage unavailable"
