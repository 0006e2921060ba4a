"""Every ORM model, imported in one place so metadata is complete for Alembic and tests."""

from app.envelopes.models import Document, Envelope, Recipient, Stamp
from app.evidence.models import Event, EvidenceChain
from app.idempotency.models import IdempotencyRecord
from app.notifications.models import Notification
from app.tenants.models import ApiKey, Tenant, User
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.workflow.models import RecipientSession, SignatureRequest

__all__ = [
    "ApiKey",
    "Document",
    "Envelope",
    "Event",
    "EvidenceChain",
    "IdempotencyRecord",
    "Notification",
    "Recipient",
    "RecipientSession",
    "SignatureRequest",
    "Stamp",
    "Tenant",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
