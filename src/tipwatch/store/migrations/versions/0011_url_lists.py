"""URL lists: lists, their versions with state hashes, entries with a scope, and changes

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "url_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_url_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_url_lists_name")),
    )
    op.create_table(
        "url_list_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("delta", sa.Boolean(), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("state_sha256", sa.String(length=64), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["url_lists.id"],
            name=op.f("fk_url_list_versions_list_id_url_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_url_list_versions")),
        sa.UniqueConstraint("list_id", "version", name="uq_url_list_versions_list_version"),
    )
    op.create_table(
        "url_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("added_on", sa.Date(), nullable=True),
        sa.Column("added_version", sa.String(length=100), nullable=False),
        sa.Column("retired_version", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["url_lists.id"],
            name=op.f("fk_url_entries_list_id_url_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_url_entries")),
        sa.UniqueConstraint("list_id", "key_hash", name="uq_url_entries_list_key"),
    )
    op.create_table(
        "url_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("added", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["url_lists.id"],
            name=op.f("fk_url_changes_list_id_url_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["url_entries.id"],
            name=op.f("fk_url_changes_entry_id_url_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_url_changes")),
    )
    op.create_index("ix_url_changes_list_seq", "url_changes", ["list_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_url_changes_list_seq", table_name="url_changes")
    op.drop_table("url_changes")
    op.drop_table("url_entries")
    op.drop_table("url_list_versions")
    op.drop_table("url_lists")
