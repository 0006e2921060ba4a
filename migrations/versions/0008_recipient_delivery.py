"""recipient delivery: "email" (Cachet's invitations and reminders) or "none" (embedded)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing recipients were all emailed: the server default says so for them.
    op.add_column(
        "recipients",
        sa.Column(
            "delivery",
            sa.Enum("email", "none", name="delivery", native_enum=False, length=32),
            server_default="email",
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("recipients", "delivery")
