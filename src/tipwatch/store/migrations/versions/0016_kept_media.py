"""kept media: a referral's file's media, sealed, where a deployment keeps media

Revision ID: 0016
Revises: 0015

By default tipwatch keeps no media (the table stays empty). A deployment that turns
``media_keep`` on keeps the media that arrive with a referral's file here, encrypted with
AES-256-GCM under ``media_key``; the key itself is never stored, only its id. An index on
the audit log finds a reviewer's reveals of the day (their exposure count).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kept_media",
        sa.Column("report_id", sa.String(length=128), nullable=False),
        sa.Column("file_id", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("kept_at", sa.DateTime(), nullable=False),
        sa.Column("kept_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["report_id", "file_id"],
            ["referral_files.report_id", "referral_files.file_id"],
            name=op.f("fk_kept_media_report_id_referral_files"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("report_id", "file_id", name=op.f("pk_kept_media")),
    )
    # A reviewer's exposures today are counted from the audit log: one user's entries of one
    # action since midnight, found without walking every entry of the action or the user.
    op.create_index("ix_audit_events_actor_action_at", "audit_events", ["actor", "action", "at"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_actor_action_at", table_name="audit_events")
    op.drop_table("kept_media")
