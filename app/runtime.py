"""What the running service holds for its lifetime: settings, database, blob store, PDF gate."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import EmbeddedPostgres
from app.pdf.gate import PdfGate
from app.storage.blobs import BlobStore


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    pdf_gate: PdfGate
    embedded_postgres: EmbeddedPostgres | None = None
