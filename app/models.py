"""Every ORM model, imported in one place so metadata is complete for Alembic and tests."""

from app.credits.models import CreditEntry
from app.envelopes.models import Document, Envelope, Recipient, Stamp
from app.evidence.models import Event, EvidenceChain
from app.idempotency.models import IdempotencyRecord
from app.notifications.models import Notification
from app.tenants.models import ApiKey, Tenant, User
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from app.workflow.models import OtpCode, RecipientSession, SignatureRequest

__all__ = [
    "ApiKey",
    "CreditEntry",
    "Document",
    "Envelope",
    "Event",
    "EvidenceChain",
    "IdempotencyRecord",
    "Notification",
    "OtpCode",
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
