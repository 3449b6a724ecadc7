"""routing control: recipients, and a package's recipient, status, recall and acknowledgement

Revision ID: 0009
Revises: 0008

A package names its recipient (a liaison office or user from the ``recipients`` table, not
free text), the date its period was chosen by (incident or received), and what became of it:
recalled (when, by whom, why) or acknowledged, with an outcome, so that the time from
referral to package to acknowledgement can be reported.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recipients")),
        sa.UniqueConstraint("name", name=op.f("uq_recipients_name")),
    )
    with op.batch_alter_table("routing_packages") as batch:
        batch.add_column(sa.Column("recipient_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("date_basis", sa.String(length=16), nullable=False, server_default="incident")
        )
        batch.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="sent")
        )
        batch.add_column(sa.Column("recalled_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("recalled_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("recall_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("acknowledged_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("acknowledged_by", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("outcome", sa.Text(), nullable=True))
        batch.add_column(sa.Column("outcome_at", sa.DateTime(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_routing_packages_recipient_id_recipients"),
            "recipients",
            ["recipient_id"],
            ["id"],
            ondelete="RESTRICT",
        )


def downgrade() -> None:
    with op.batch_alter_table("routing_packages") as batch:
        batch.drop_constraint(
            op.f("fk_routing_packages_recipient_id_recipients"), type_="foreignkey"
        )
        for column in (
            "outcome_at",
            "outcome",
            "acknowledged_by",
            "acknowledged_at",
            "recall_reason",
            "recalled_by",
            "recalled_at",
            "status",
            "date_basis",
            "recipient_id",
        ):
            batch.drop_column(column)
    op.drop_table("recipients")
