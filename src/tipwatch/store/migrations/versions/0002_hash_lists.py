"""hash lists, their entries and versions; file matches

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hash_lists",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=True),
        sa.Column("near_threshold", sa.Integer(), nullable=False),
        sa.Column("quality_floor", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_hash_lists_name")),
    )
    op.create_table(
        "hash_list_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("retired", sa.Integer(), nullable=False),
        sa.Column("kept", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_hash_list_versions_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_list_versions")),
    )
    op.create_table(
        "hash_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=400), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=True),
        sa.Column("series", sa.String(length=200), nullable=True),
        sa.Column("media_id", sa.String(length=100), nullable=True),
        sa.Column("flags", sa.Text(), nullable=False),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("added_version", sa.String(length=100), nullable=False),
        sa.Column("retired_version", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["hash_lists.id"],
            name=op.f("fk_hash_entries_list_id_hash_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hash_entries")),
        sa.UniqueConstraint("list_id", "algorithm", "value", name="uq_hash_entries_list_hash"),
    )
    op.create_index("ix_hash_entries_algorithm_value", "hash_entries", ["algorithm", "value"])
    op.create_table(
        "file_matches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("file_id", sa.String(length=200), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("algorithm", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("matched_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["hash_entries.id"],
            name=op.f("fk_file_matches_entry_id_hash_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_matches")),
    )
    op.create_index("ix_file_matches_report_id", "file_matches", ["report_id"])
    with op.batch_alter_table("referral_files") as batch:
        batch.add_column(sa.Column("match_status", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("matched_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("referral_files") as batch:
        batch.drop_column("matched_at")
        batch.drop_column("match_status")
    op.drop_index("ix_file_matches_report_id", table_name="file_matches")
    op.drop_table("file_matches")
    op.drop_index("ix_hash_entries_algorithm_value", table_name="hash_entries")
    op.drop_table("hash_entries")
    op.drop_table("hash_list_versions")
    op.drop_table("hash_lists")
