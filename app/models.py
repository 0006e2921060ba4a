"""Every ORM model, imported in one place so metadata is complete for Alembic and tests."""

from app.envelopes.models import Document, Envelope, Recipient, Stamp
from app.idempotency.models import IdempotencyRecord
from app.tenants.models import ApiKey, Tenant, User

__all__ = [
    "ApiKey",
    "Document",
    "Envelope",
    "IdempotencyRecord",
    "Recipient",
    "Stamp",
    "Tenant",
    "User",
]
