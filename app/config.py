"""Every setting of the service, read once from the environment (prefix CACHET_)."""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Environment(StrEnum):
    development = "development"
    production = "production"


class Settings(BaseSettings):
    """Nothing else in the code reads os.environ: add a field here instead."""

    model_config = SettingsConfigDict(env_prefix="CACHET_", extra="ignore")

    env: Environment = Environment.development
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("./var")
    database_url: str | None = Field(
        default=None,
        description="postgresql+asyncpg://... ; unset: embedded PostgreSQL under data_dir/postgres",
    )
    db_pool_size: int = 10
    migrate_on_start: bool | None = Field(
        default=None, description="apply migrations at start; default: only in development"
    )

    envelope_size_limit_bytes: int = 15 * MIB
    pdf_max_pages: int = 500
    pdf_max_objects: int = 200_000
    pdf_gate_workers: int = 2
    pdf_gate_cpu_seconds: int = 10
    pdf_gate_wall_seconds: float = 20.0
    pdf_gate_memory_bytes: int = 1024 * MIB
    stamp_text_max_length: int = 60
    json_body_limit_bytes: int = MIB
    idempotency_ttl_hours: int = 72
    log_level: str = "INFO"

    @property
    def is_development(self) -> bool:
        return self.env is Environment.development

    @property
    def auto_migrate(self) -> bool:
        if self.migrate_on_start is None:
            return self.is_development
        return self.migrate_on_start

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def dev_api_key_file(self) -> Path:
        return self.data_dir / "dev-api-key"


@lru_cache
def get_settings() -> Settings:
    return Settings()
