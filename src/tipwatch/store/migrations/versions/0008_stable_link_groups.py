"""link groups keep their ids across triage runs, with a history of merges and splits

Revision ID: 0008
Revises: 0007

A group id written in a case note must point at the same group after the next triage run.
``link_group_events`` records when a group was created, which groups a merged group came
from, which group a split-off group left, and where a dissolved group's members went. Group
kinds grow to 16 characters for ``circulating`` (a file on a hash list or sent by many
accounts: material that circulates, kept apart from offender groups).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("link_groups") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=10), type_=sa.String(length=16))
    with op.batch_alter_table("referral_links") as batch:
        batch.alter_column("kind", existing_type=sa.String(length=10), type_=sa.String(length=16))
    op.create_table(
        "link_group_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("from_ids", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_group_events")),
    )
    op.create_index(
        "ix_link_group_events_group_id", "link_group_events", ["group_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_link_group_events_group_id", table_name="link_group_events")
    op.drop_table("link_group_events")
    for table in ("referral_links", "link_groups"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "kind", existing_type=sa.String(length=16), type_=sa.String(length=10)
            )
