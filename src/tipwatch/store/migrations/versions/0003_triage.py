"""triage: attributions and their history, GeoIP databases, link groups, priorities, packages

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "geoip_databases",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("database_type", sa.String(length=200), nullable=False),
        sa.Column("build_epoch", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_geoip_databases")),
        sa.UniqueConstraint("database_type", "build_epoch", name="uq_geoip_databases_type_build"),
    )
    op.create_table(
        "attributions",
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=30), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("geoip_database_id", sa.Integer(), nullable=True),
        sa.Column("referral_revision", sa.Integer(), nullable=False),
        sa.Column("attributed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_attributions")),
    )
    op.create_index("ix_attributions_country", "attributions", ["country"])
    op.create_table(
        "attribution_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("level", sa.String(length=30), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("geoip_database_id", sa.Integer(), nullable=True),
        sa.Column("referral_revision", sa.Integer(), nullable=False),
        sa.Column("attributed_at", sa.DateTime(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribution_history")),
    )
    op.create_index("ix_attribution_history_report_id", "attribution_history", ["report_id"])
    op.create_table(
        "link_groups",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("first_incident", sa.DateTime(), nullable=True),
        sa.Column("last_incident", sa.DateTime(), nullable=True),
        sa.Column("built_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_link_groups")),
    )
    op.create_table(
        "referral_links",
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "group_id", name=op.f("pk_referral_links")),
    )
    op.create_index("ix_referral_links_group_id", "referral_links", ["group_id"])
    op.create_table(
        "priorities",
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("config_digest", sa.String(length=64), nullable=False),
        sa.Column("scored_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_priorities")),
    )
    op.create_index("ix_priorities_tier_score", "priorities", ["tier", "score"])
    op.create_table(
        "routing_packages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("referral_count", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=True),
        sa.Column("until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_packages")),
    )
    op.create_table(
        "package_referrals",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["routing_packages.id"],
            name=op.f("fk_package_referrals_package_id_routing_packages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", "report_id", name=op.f("pk_package_referrals")),
    )
    op.create_index("ix_package_referrals_report_id", "package_referrals", ["report_id"])


def downgrade() -> None:
    op.drop_index("ix_package_referrals_report_id", table_name="package_referrals")
    op.drop_table("package_referrals")
    op.drop_table("routing_packages")
    op.drop_index("ix_priorities_tier_score", table_name="priorities")
    op.drop_table("priorities")
    op.drop_index("ix_referral_links_group_id", table_name="referral_links")
    op.drop_table("referral_links")
    op.drop_table("link_groups")
    op.drop_index("ix_attribution_history_report_id", table_name="attribution_history")
    op.drop_table("attribution_history")
    op.drop_index("ix_attributions_country", table_name="attributions")
    op.drop_table("attributions")
    op.drop_table("geoip_databases")
