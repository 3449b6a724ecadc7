"""assessment drafts: the analyst's sections, decisions on findings, and every published version

Revision ID: 0015
Revises: 0013

An assessment is drafted under a name for a period; the analyst's own Markdown sections and
decisions on the findings (accept, edit, drop) are kept with it, and each publication is kept
as a numbered version with the page as published and the fingerprint of its inputs.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assessment_drafts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("countries", sa.Text(), nullable=False),
        sa.Column("event_kind", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assessment_drafts")),
        sa.UniqueConstraint("name", name=op.f("uq_assessment_drafts_name")),
    )
    op.create_table(
        "assessment_sections",
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("markdown", sa.Text(), nullable=False),
        sa.Column("before", sa.String(length=64), nullable=False),
        sa.Column("written_by", sa.String(length=200), nullable=False),
        sa.Column("written_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["assessment_drafts.id"],
            name=op.f("fk_assessment_sections_draft_id_assessment_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("draft_id", "position", name=op.f("pk_assessment_sections")),
    )
    op.create_table(
        "assessment_decisions",
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("finding_id", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["assessment_drafts.id"],
            name=op.f("fk_assessment_decisions_draft_id_assessment_drafts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("draft_id", "finding_id", name=op.f("pk_assessment_decisions")),
    )
    op.create_table(
        "assessment_versions",
        sa.Column("draft_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("published_by", sa.String(length=200), nullable=False),
        sa.Column("published_at", sa.DateTime(), nullable=False),
        sa.Column("marking", sa.String(length=100), nullable=False),
        sa.Column("inputs_sha256", sa.String(length=64), nullable=False),
        sa.Column("html_sha256", sa.String(length=64), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("findings", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["draft_id"],
            ["assessment_drafts.id"],
            name=op.f("fk_assessment_versions_draft_id_assessment_drafts"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("draft_id", "version", name=op.f("pk_assessment_versions")),
    )


def downgrade() -> None:
    op.drop_table("assessment_versions")
    op.drop_table("assessment_decisions")
    op.drop_table("assessment_sections")
    op.drop_table("assessment_drafts")
