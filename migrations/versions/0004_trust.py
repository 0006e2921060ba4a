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
    op.add_column(
        "envelopes", sa.Column("chain_length", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("envelopes", sa.Column("chain_head", sa.String(length=64), nullable=True))
    op.add_column("envelopes", sa.Column("chain_mac", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("mac", sa.String(length=64), nullable=True))
    # Envelopes written before the anchor existed: anchor them on what their chain holds now.
    op.execute(
        """
        UPDATE envelopes SET chain_length = last.sequence, chain_head = last.hash
        FROM (
            SELECT DISTINCT ON (envelope_id) envelope_id, sequence, hash
            FROM events ORDER BY envelope_id, sequence DESC
        ) AS last
        WHERE last.envelope_id = envelopes.id
        """
    )


def downgrade() -> None:
    op.drop_column("events", "mac")
    op.drop_column("envelopes", "chain_mac")
    op.drop_column("envelopes", "chain_head")
    op.drop_column("envelopes", "chain_length")
    op.drop_column("envelopes", "pending_problem")
    op.drop_column("envelopes", "failure_reason")
