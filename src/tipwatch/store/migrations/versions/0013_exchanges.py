"""hash lists fed by exchanges: connectors, sync checkpoints, entry keys, allow-lists, holds, votes

Revision ID: 0013
Revises: 0012

- ``hash_lists`` says what a list is for (``purpose``: ``block`` or ``allow``) and, for a list
  fed by an exchange, its connector and the connector's settings (no credentials).
- ``hash_entries`` gain ``entry_key``: the entry a hash belongs to at its source (an exchange's
  entry id, a VICS Media record), part of the key, so that two entries sharing a hash stay
  apart; ``held_at``/``held_reason`` for an entry held out of matching (flood quarantine).
- ``hash_entries.source_time`` is when the source last changed the entry (a change older than
  what is stored is ignored, since exchanges send changes out of time order) and ``last_seen``
  when a sync last saw it (a full resync retires what it no longer sees).
- ``exchange_tombstones``: deletions an exchange sent, kept so that an older upsert arriving
  after its deletion does not bring the entry back.
- ``list_sync_state``: one row per synced list, its checkpoint (written in the same transaction
  as the batch it follows) and its health.
- ``entry_match_counts``: matches per entry and day, the history the flood check compares with.
- ``entry_holds``: entries held for review, with why and what became of them.
- ``exchange_votes``: votes proposed back to a list's source; sent only once a second user
  approves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hash_lists") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=8), nullable=False, server_default="block")
        )
        batch.add_column(sa.Column("connector", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("connector_config", sa.Text(), nullable=True))
    with op.batch_alter_table("hash_entries") as batch:
        batch.add_column(
            sa.Column("entry_key", sa.String(length=200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("held_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("held_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("source_time", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_seen", sa.DateTime(), nullable=True))
        batch.drop_constraint("uq_hash_entries_list_hash", type_="unique")
        batch.create_unique_constraint(
            "uq_hash_entries_list_hash", ["list_id", "algorithm", "value", "entry_key"]
        )
        batch.create_index("ix_hash_entries_list_id", ["list_id", "entry_key"])
    op.create_table(
        "list_sync_state",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("checkpoint", sa.Text(), nullable=False),
        sa.Column("checkpoint_at", sa.DateTime(), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("last_success_at", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_added", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_removed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total_added", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("total_removed", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("runs", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_list_sync_state_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", name=op.f("pk_list_sync_state")),
    )
    op.create_table(
        "exchange_tombstones",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("source_time", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_exchange_tombstones_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "entry_key", name=op.f("pk_exchange_tombstones")),
    )
    op.create_table(
        "entry_match_counts",
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_entry_match_counts_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "day", name=op.f("pk_entry_match_counts")),
    )
    op.create_table(
        "entry_holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("held_at", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("baseline", sa.Float(), nullable=False),
        sa.Column("released_at", sa.DateTime(), nullable=True),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_entry_holds_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_holds")),
    )
    op.create_index("ix_entry_holds_list_id", "entry_holds", ["list_id"])
    op.create_table(
        "exchange_votes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.String(length=200), nullable=False),
        sa.Column("vote", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("proposed_by", sa.String(length=200), nullable=False),
        sa.Column("proposed_at", sa.DateTime(), nullable=False),
        sa.Column("approved_by", sa.String(length=200), nullable=True),
        sa.Column("approved_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_exchange_votes_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_votes")),
    )
    op.create_index("ix_exchange_votes_list_id", "exchange_votes", ["list_id"])


def downgrade() -> None:
    op.drop_index("ix_exchange_votes_list_id", table_name="exchange_votes")
    op.drop_table("exchange_votes")
    op.drop_index("ix_entry_holds_list_id", table_name="entry_holds")
    op.drop_table("entry_holds")
    op.drop_table("entry_match_counts")
    op.drop_table("exchange_tombstones")
    op.drop_table("list_sync_state")
    with op.batch_alter_table("hash_entries") as batch:
        batch.drop_index("ix_hash_entries_list_id")
        batch.drop_constraint("uq_hash_entries_list_hash", type_="unique")
        batch.create_unique_constraint(
            "uq_hash_entries_list_hash", ["list_id", "algorithm", "value"]
        )
        batch.drop_column("last_seen")
        batch.drop_column("source_time")
        batch.drop_column("held_reason")
        batch.drop_column("held_at")
        batch.drop_column("entry_key")
    with op.batch_alter_table("hash_lists") as batch:
        batch.drop_column("connector_config")
        batch.drop_column("connector")
        batch.drop_column("purpose")
