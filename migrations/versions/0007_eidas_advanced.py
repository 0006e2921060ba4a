"""eidas advanced: signers' identity-verification sessions

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("starting", "pending", "review", "approved", "declined", "expired")


def upgrade() -> None:
    op.create_table(
        "identity_verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("envelope_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("provider_session_id", sa.String(length=128), nullable=True),
        sa.Column("verification_url", sa.Text(), nullable=True),
        sa.Column(
            "state",
            sa.Enum(*STATES, name="identity_state", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("vendor_status", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("declared_first_name", sa.String(length=100), nullable=True),
        sa.Column("declared_last_name", sa.String(length=100), nullable=True),
        sa.Column("verified_first_name", sa.String(length=200), nullable=True),
        sa.Column("verified_last_name", sa.String(length=200), nullable=True),
        sa.Column("document_type", sa.String(length=64), nullable=True),
        sa.Column("issuing_country", sa.String(length=3), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_identity_verifications_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"],
            name=op.f("fk_identity_verifications_envelope_id_envelopes"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"],
            name=op.f("fk_identity_verifications_recipient_id_recipients"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_verifications")),
        sa.UniqueConstraint(
            "provider", "provider_session_id",
            name=op.f("uq_identity_verifications_provider_provider_session_id"),
        ),
    )
    op.create_index(
        op.f("ix_identity_verifications_recipient_id"), "identity_verifications", ["recipient_id"]
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_identity_verifications_recipient_id"), table_name="identity_verifications"
    )
    op.drop_table("identity_verifications")
