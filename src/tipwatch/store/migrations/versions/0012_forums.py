"""forum monitoring: posts of forum exports (pseudonymous authors) and their themes

Revision ID: 0012
Revises: 0011

A post keeps its forum, thread and id, a keyed-hash pseudonym of its author (never the
handle), its time, language and terms; its text only where the settings keep it, with the
time it expires. Its themes are kept with the evidence that found them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "forum_posts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("forum", sa.Text(), nullable=False),
        sa.Column("thread", sa.Text(), nullable=False),
        sa.Column("post_id", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=40), nullable=False),
        sa.Column("posted_at", sa.DateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("reply_to", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("text_expires_at", sa.DateTime(), nullable=True),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("themes_digest", sa.String(length=16), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("ingested_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forum_posts")),
        sa.UniqueConstraint("forum", "post_id", name="uq_forum_posts_forum_post"),
    )
    op.create_index("ix_forum_posts_day", "forum_posts", ["day"])
    op.create_index("ix_forum_posts_author", "forum_posts", ["author"])
    op.create_table(
        "forum_post_themes",
        sa.Column("post_row", sa.Integer(), nullable=False),
        sa.Column("theme", sa.String(length=100), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_row"],
            ["forum_posts.id"],
            name=op.f("fk_forum_post_themes_post_row_forum_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("post_row", "theme", name=op.f("pk_forum_post_themes")),
    )
    op.create_index("ix_forum_post_themes_theme", "forum_post_themes", ["theme"])


def downgrade() -> None:
    op.drop_index("ix_forum_post_themes_theme", table_name="forum_post_themes")
    op.drop_table("forum_post_themes")
    op.drop_index("ix_forum_posts_author", table_name="forum_posts")
    op.drop_index("ix_forum_posts_day", table_name="forum_posts")
    op.drop_table("forum_posts")
