"""What the running service holds for its lifetime: settings, database, blobs, mail, clock,
and the two capped process pools that do PDF work (the upload gate, and signing).

It names no signing library: main.py puts the platform seal in (the service itself only reads
its development PKI and trust roots, through app.signing.keys.platform_seal(); signatures are
made in the signing pool's workers, which load their own), so this module stays below
app.signing's users without depending on app.signing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clock import Clock
from app.config import Settings
from app.crypto import SecretBox
from app.db import EmbeddedPostgres
from app.notifications.mailer import Mailer
from app.pdf.gate import PdfGate
from app.providers.identity import IdentityProvider
from app.providers.sms import SmsProvider
from app.storage.blobs import BlobStore


class SealHandle(Protocol):
    """The platform seal as the runtime holds it: all the runtime does with it is close it."""

    def close(self) -> None: ...


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    pdf_gate: PdfGate
    # The same kind of capped process pool, for the PDF work that needs the seal: signatures,
    # archive timestamps, evidence PDFs (app.signing.pool runs in its workers).
    signing_pool: PdfGate
    clock: Clock
    mailer: Mailer
    secrets: SecretBox
    sms: SmsProvider
    identity: IdentityProvider
    seal: SealHandle
    embedded_postgres: EmbeddedPostgres | None = None
