"""free text columns become unbounded: referrals.source, platform, country; the locations and
record key of the quarantine and of pending files

Revision ID: 0006
Revises: 0005

PostgreSQL enforces VARCHAR lengths and SQLite does not, so a record with a long platform was
stored by one and refused by the other. TEXT on both keeps whatever the readers accept.
On SQLite the declared type is only an affinity (VARCHAR and TEXT both mean TEXT), so the
tables are left as they are rather than copied.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_WIDENED = [
    ("referrals", "source", 200, True),
    ("referrals", "platform", 300, True),
    ("referrals", "country", 3, True),
    ("pending_files", "location", 100, True),
    ("quarantine", "location", 100, False),
    ("quarantine", "record_key", 200, True),
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _WIDENED:
        # VARCHAR(n) to TEXT is binary-coercible: PostgreSQL rewrites neither table nor index.
        op.alter_column(
            table,
            column,
            type_=sa.Text(),
            existing_type=sa.String(length=length),
            existing_nullable=nullable,
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, column, length, nullable in _WIDENED:
        op.alter_column(
            table,
            column,
            type_=sa.String(length=length),
            existing_type=sa.Text(),
            existing_nullable=nullable,
        )
