"""login guards: a TOTP code is accepted once, and failed logins are counted per client address

Revision ID: 0017
Revises: 0016

``users.totp_last_step`` holds the TOTP time step (Unix time // 30) of the last code accepted
for the user: a code of that step or an earlier one is refused, so a code seen over a
shoulder or in a log cannot be replayed within its window. ``login_throttle`` counts failed
logins per client address (an IPv6 address by its /64 network) in a sliding window, and holds
when the address is refused until.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))
    op.create_table(
        "login_throttle",
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_login_throttle")),
    )


def downgrade() -> None:
    op.drop_table("login_throttle")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_step")
