"""the quarantine is indexed by source and record, not by source alone

Revision ID: 0007
Revises: 0006

A run over a file read before looks up its earlier quarantine rows one batch (a range of
records) at a time; with an index on the source alone each lookup scanned every row of that
source, so a second run over a file of many bad records took time growing with their square.
The new index also serves every query the old one did (its first column is the source).
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_quarantine_source_record", "quarantine", ["source_file", "record_index"])
    op.drop_index("ix_quarantine_source_file", table_name="quarantine")


def downgrade() -> None:
    op.create_index("ix_quarantine_source_file", "quarantine", ["source_file"])
    op.drop_index("ix_quarantine_source_record", table_name="quarantine")
