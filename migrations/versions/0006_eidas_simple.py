"""eidas simple: one-time codes, the signers' lock, and the credits ledger

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "recipients", sa.Column("otp_failures", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("recipients", sa.Column("otp_locked_at", sa.DateTime(timezone=True)))
    op.add_column("recipients", sa.Column("phone_unreachable_at", sa.DateTime(timezone=True)))
    _create_otp_codes()
    _create_credit_entries()


def _create_otp_codes() -> None:
    op.create_table(
        "otp_codes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("envelope_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=True),
        sa.Column("code_mac", sa.String(length=64), nullable=False),
        sa.Column("phone_hint", sa.String(length=40), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "queued", "sent", "refused", "replaced", "used",
                name="otp_state", native_enum=False, length=16,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tries_used", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=True),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column(
            "delivery",
            sa.Enum(
                "pending", "delivered", "undelivered",
                name="otp_delivery", native_enum=False, length=16,
            ),
            nullable=True,
        ),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("verified_session_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_otp_codes_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"],
            name=op.f("fk_otp_codes_envelope_id_envelopes"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"],
            name=op.f("fk_otp_codes_recipient_id_recipients"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["recipient_sessions.id"],
            name=op.f("fk_otp_codes_session_id_recipient_sessions"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["verified_session_id"], ["recipient_sessions.id"],
            name=op.f("fk_otp_codes_verified_session_id_recipient_sessions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_otp_codes")),
    )
    op.create_index(op.f("ix_otp_codes_recipient_id"), "otp_codes", ["recipient_id"])
    op.create_index(
        op.f("ix_otp_codes_provider_message_id"), "otp_codes", ["provider_message_id"]
    )


def _create_credit_entries() -> None:
    op.create_table(
        "credit_entries",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "level",
            sa.Enum(
                "simple", "eidas_simple", "eidas_advanced",
                name="credit_level", native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "kind",
            sa.Enum(
                "grant", "reservation", "consumption", "release",
                name="credit_kind", native_enum=False, length=16,
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("envelope_id", sa.Uuid(), nullable=True),
        sa.Column("recipient_id", sa.Uuid(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"],
            name=op.f("fk_credit_entries_tenant_id_tenants"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"],
            name=op.f("fk_credit_entries_envelope_id_envelopes"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["recipients.id"],
            name=op.f("fk_credit_entries_recipient_id_recipients"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_entries")),
    )
    op.create_index(
        "ix_credit_entries_tenant_level", "credit_entries", ["tenant_id", "level", "id"]
    )
    op.create_index(op.f("ix_credit_entries_envelope_id"), "credit_entries", ["envelope_id"])


def downgrade() -> None:
    op.drop_table("credit_entries")
    op.drop_table("otp_codes")
    op.drop_column("recipients", "phone_unreachable_at")
    op.drop_column("recipients", "otp_locked_at")
    op.drop_column("recipients", "otp_failures")
