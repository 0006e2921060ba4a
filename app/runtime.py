"""What the running service holds for its lifetime: settings, database, blobs, mail, clock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.clock import Clock
from app.config import Settings
from app.crypto import SecretBox
from app.db import EmbeddedPostgres
from app.notifications.mailer import Mailer
from app.pdf.gate import PdfGate
from app.signing.keys import Seal
from app.storage.blobs import BlobStore


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    pdf_gate: PdfGate
    clock: Clock
    mailer: Mailer
    secrets: SecretBox
    seal: Seal
    embedded_postgres: EmbeddedPostgres | None = None
