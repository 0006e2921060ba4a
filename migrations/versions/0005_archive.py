"""archive: when each signed document's (and evidence PDF's) archive timestamp must be renewed

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Documents archived before this column existed keep NULL: the renewal reads the date from
    # their file the first time it looks at them.
    op.add_column(
        "documents", sa.Column("archive_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_index(
        op.f("ix_documents_archive_expires_at"), "documents", ["archive_expires_at"], unique=False
    )
    op.add_column(
        "envelopes",
        sa.Column("evidence_archive_expires_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        op.f("ix_envelopes_evidence_archive_expires_at"),
        "envelopes",
        ["evidence_archive_expires_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_envelopes_evidence_archive_expires_at"), table_name="envelopes")
    op.drop_column("envelopes", "evidence_archive_expires_at")
    op.drop_index(op.f("ix_documents_archive_expires_at"), table_name="documents")
    op.drop_column("documents", "archive_expires_at")
