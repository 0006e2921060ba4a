"""trust: failed envelopes, a pending problem, the evidence chain's anchor and keyed events

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 06:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("envelopes", sa.Column("failure_reason", sa.Text(), nullable=True))
    op.add_column(
        "envelopes",
        sa.Column("pending_problem", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("events", sa.Column("mac", sa.String(length=64), nullable=True))
    op.create_table(
        "evidence_chains",
        sa.Column("envelope_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("length", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["envelopes.id"],
            name=op.f("fk_evidence_chains_envelope_id_envelopes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_evidence_chains_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("envelope_id", name=op.f("pk_evidence_chains")),
    )
    # Chains written before anchors existed: anchored on what they hold now, without a MAC.
    op.execute(
        """
        INSERT INTO evidence_chains (envelope_id, tenant_id, length, head)
        SELECT DISTINCT ON (envelope_id) envelope_id, tenant_id, sequence, hash
        FROM events ORDER BY envelope_id, sequence DESC
        """
    )


def downgrade() -> None:
    op.drop_table("evidence_chains")
    op.drop_column("events", "mac")
    op.drop_column("envelopes", "pending_problem")
    op.drop_column("envelopes", "failure_reason")
