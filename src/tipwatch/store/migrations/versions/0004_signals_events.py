"""signals and events: imported feed values, dated events per country

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("label", sa.Text(), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("country", "date", "kind", name="uq_events_country_date_kind"),
    )
    op.create_table(
        "signal_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("feed", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("metric", sa.String(length=120), nullable=False),
        sa.Column("period", sa.String(length=5), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("dims", sa.Text(), nullable=False),
        sa.Column("dims_key", sa.String(length=400), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signal_values")),
        sa.UniqueConstraint(
            "feed",
            "country",
            "metric",
            "period",
            "period_start",
            "dims_key",
            name="uq_signal_values_key",
        ),
    )
    op.create_index("ix_signal_values_country_metric", "signal_values", ["country", "metric"])


def downgrade() -> None:
    op.drop_index("ix_signal_values_country_metric", table_name="signal_values")
    op.drop_table("signal_values")
    op.drop_table("events")
