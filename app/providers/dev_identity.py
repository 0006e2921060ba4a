"""Development only: identity checks decided by hand. Each session is a small JSON file under
DATA_DIR/identity; the person's link leads to GET /dev/identity/{session_id}, where the outcome
is chosen (approved, declined…) with the names "read from the document". Nothing is checked
and no callback is posted: the service reads result() when the page says it is done, or polls.

A final outcome (approved, declined, expired) is never changed: completing such a session
again raises ValueError, as a real vendor would not reverse its decision. `review` is not final:
a later completion gives the final word, as a vendor's reviewer would.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.clock import system_now
from app.providers.identity import (
    BadCallback,
    CallbackRequest,
    IdentityRefused,
    IdentityRequest,
    IdentityStatus,
    StartedVerification,
    VerificationResult,
    VerifiedIdentity,
)

# The session id is also a file name and arrives from a URL: nothing else may pass.
SESSION_ID = re.compile(r"^dev_[0-9a-f]{32}$")
FINAL = frozenset({IdentityStatus.approved, IdentityStatus.declined, IdentityStatus.expired})


@dataclass(frozen=True)
class DevIdentitySession:
    """What the development page shows and acts on."""

    session_id: str
    reference: str
    first_name: str  # as declared by the sender
    last_name: str
    locale: str
    return_url: str | None
    status: IdentityStatus
    created_at: datetime


class DevIdentity:
    name = "dev"

    def __init__(self, directory: Path, base_url: str) -> None:
        self.directory = directory
        self._base_url = base_url.rstrip("/")
        # Completing is read-modify-write: one at a time in this process.
        self._lock = threading.Lock()

    async def start(self, request: IdentityRequest) -> StartedVerification:
        session_id = f"dev_{uuid.uuid4().hex}"
        record: dict[str, object] = {
            "session_id": session_id,
            "reference": request.reference,
            "declared": {"first_name": request.first_name, "last_name": request.last_name},
            "locale": request.locale,
            "return_url": request.return_url,
            "status": IdentityStatus.pending.value,
            "created_at": system_now().isoformat(),
        }
        await asyncio.to_thread(self._write, session_id, record)
        return StartedVerification(
            self.name, session_id, f"{self._base_url}/dev/identity/{session_id}"
        )

    async def result(self, session_id: str) -> VerificationResult:
        try:
            record = await asyncio.to_thread(self._read, session_id)
        except LookupError as error:
            raise IdentityRefused(str(error)) from None
        return _result(record)

    async def session(self, session_id: str) -> DevIdentitySession:
        """Raises LookupError for an unknown session."""
        record = await asyncio.to_thread(self._read, session_id)
        declared = _object(record.get("declared"))
        return DevIdentitySession(
            session_id=session_id,
            reference=str(record["reference"]),
            first_name=str(declared.get("first_name", "")),
            last_name=str(declared.get("last_name", "")),
            locale=str(record.get("locale", "fr")),
            return_url=_text(record.get("return_url")),
            status=IdentityStatus(str(record["status"])),
            created_at=datetime.fromisoformat(str(record["created_at"])),
        )

    async def complete(
        self,
        session_id: str,
        *,
        outcome: str,
        first_name: str,
        last_name: str,
        document_type: str | None = "ID_CARD",
        country: str | None = "FR",
        reason: str | None = None,
    ) -> VerificationResult:
        """Record the outcome ("approved", "declined", "review" or "expired") and the names
        as if read from the document. Raises LookupError for an unknown session, ValueError
        for an unknown outcome or a session whose outcome is already final."""
        status = _outcome(outcome)
        identity = {
            "first_name": first_name,
            "last_name": last_name,
            "document_type": document_type,
            "issuing_country": country,
        }
        record = await asyncio.to_thread(
            self._complete,
            session_id,
            status,
            None if status is IdentityStatus.expired else identity,
            reason,
        )
        return _result(record)

    def callback_sessions(self, request: CallbackRequest) -> list[str]:
        raise BadCallback("the dev provider posts no callbacks")

    async def aclose(self) -> None:
        return None

    # --- the files (in a worker thread) ---------------------------------------------------

    def _complete(
        self,
        session_id: str,
        status: IdentityStatus,
        identity: dict[str, str | None] | None,
        reason: str | None,
    ) -> dict[str, object]:
        with self._lock:
            record = self._read(session_id)
            current = IdentityStatus(str(record["status"]))
            if current in FINAL:
                raise ValueError(f"identity session {session_id} is already {current.value}")
            record.update(
                status=status.value,
                identity=identity,
                reason=reason,
                completed_at=system_now().isoformat(),
            )
            self._write(session_id, record)
            return record

    def _path(self, session_id: str) -> Path:
        if not SESSION_ID.match(session_id):
            raise LookupError(f"no identity session {session_id!r}")
        return self.directory / f"{session_id}.json"

    def _read(self, session_id: str) -> dict[str, object]:
        try:
            text = self._path(session_id).read_text()
        except FileNotFoundError:
            raise LookupError(f"no identity session {session_id!r}") from None
        return _object(json.loads(text))

    def _write(self, session_id: str, record: dict[str, object]) -> None:
        """Whole or not at all: a reader never sees half a file."""
        path = self._path(session_id)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(record, handle)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise


def _outcome(outcome: str) -> IdentityStatus:
    try:
        status = IdentityStatus(outcome)
    except ValueError:
        status = IdentityStatus.pending
    if status is IdentityStatus.pending:
        raise ValueError(f"unknown outcome {outcome!r}: approved, declined, review or expired")
    return status


def _result(record: dict[str, object]) -> VerificationResult:
    status = IdentityStatus(str(record["status"]))
    identity = _object(record.get("identity"))
    verified = (
        VerifiedIdentity(
            first_name=str(identity["first_name"]),
            last_name=str(identity["last_name"]),
            document_type=_text(identity.get("document_type")),
            issuing_country=_text(identity.get("issuing_country")),
        )
        if identity
        else None
    )
    return VerificationResult(
        status=status,
        vendor_status=status.value,
        reason=_text(record.get("reason")),
        identity=verified,
    )


def _object(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
