"""Development only: text messages land in a folder (DATA_DIR/sms, one JSON file each) and are
read back at GET /dev/sms, like emails in the development mailbox. Refused in production."""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import anyio

from app.clock import system_now
from app.providers.sms import BadCallback, CallbackRequest, DeliveryReport, OutgoingSms, SentSms


@dataclass(frozen=True)
class DevSms:
    id: str
    to: str
    text: str
    sent_at: datetime
    reference: str


class DevSmsOutbox:
    name = "dev"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, sms: OutgoingSms) -> SentSms:
        message_id = uuid.uuid4().hex
        record = {
            "id": message_id,
            "to": sms.to,
            "text": sms.text,
            "sent_at": system_now().isoformat(),
            "reference": sms.reference,
        }
        await anyio.to_thread.run_sync(self._write, message_id, json.dumps(record))
        return SentSms(self.name, message_id)

    def _write(self, message_id: str, text: str) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / f"{message_id}.json", os.O_WRONLY | os.O_CREAT, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)

    def messages(self) -> list[DevSms]:
        """Newest first."""
        if not self.directory.exists():
            return []
        messages = [_read(path) for path in self.directory.glob("*.json")]
        return sorted(messages, key=lambda m: m.sent_at, reverse=True)

    def status_url(self, endpoint: str) -> str | None:
        return None

    def delivery_reports(self, request: CallbackRequest) -> list[DeliveryReport]:
        raise BadCallback("the development outbox sends no delivery reports")

    async def aclose(self) -> None:
        return None


def _read(path: Path) -> DevSms:
    record = json.loads(path.read_text())
    return DevSms(
        id=record["id"],
        to=record["to"],
        text=record["text"],
        sent_at=datetime.fromisoformat(record["sent_at"]),
        reference=record["reference"],
    )
