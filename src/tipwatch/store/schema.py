"""The tables of the store (SQLAlchemy Core). Alembic migrations create and change them.

Referral documents are kept as canonical JSON text; the columns beside them are the ones
queries filter and join on. Child tables refer to a referral by its ``report_id``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "api_tokens",
    "assessment_decisions",
    "assessment_drafts",
    "assessment_sections",
    "assessment_versions",
    "attribution_history",
    "attributions",
    "audit_events",
    "audit_head",
    "case_states",
    "entry_holds",
    "entry_match_counts",
    "events",
    "exchange_tombstones",
    "exchange_votes",
    "file_matches",
    "forum_post_themes",
    "forum_posts",
    "geoip_databases",
    "hash_entries",
    "hash_list_versions",
    "hash_lists",
    "ingest_runs",
    "jobs",
    "kept_media",
    "link_group_events",
    "link_groups",
    "list_sync_state",
    "login_throttle",
    "metadata",
    "notes",
    "package_referrals",
    "pending_files",
    "priorities",
    "quarantine",
    "recipients",
    "referral_files",
    "referral_identifiers",
    "referral_links",
    "referrals",
    "revisions",
    "routing_packages",
    "saved_searches",
    "signal_values",
    "url_changes",
    "url_entries",
    "url_list_versions",
    "url_lists",
    "users",
    "web_sessions",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

referrals = Table(
    "referrals",
    metadata,
    Column("report_id", String(128), primary_key=True),
    # Text, not a bounded VARCHAR, for what senders write freely (migration 0006): the store
    # keeps whatever the readers accept, the same on SQLite (which ignores lengths) and
    # PostgreSQL (which enforces them).
    Column("source", Text),
    Column("received_at", DateTime),
    Column("incident_type", String(100), nullable=False),
    Column("incident_time", DateTime, nullable=False),
    Column("platform", Text),
    Column("country", Text, doc="Country the referral itself states (not attribution)."),
    Column("escalated", Boolean, nullable=False),
    Column("batched", Boolean, nullable=False),
    Column("file_count", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("document", Text, nullable=False, doc="Canonical JSON without files and received_at."),
    Column("source_file", Text),
    Column("ingested_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_referrals_incident_time", "incident_time"),
    Index("ix_referrals_country", "country"),
    Index("ix_referrals_incident_type", "incident_type"),
)

referral_files = Table(
    "referral_files",
    metadata,
    Column(
        "report_id",
        String(128),
        ForeignKey("referrals.report_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("file_id", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("file_name", Text),
    Column("md5", String(32)),
    Column("sha1", String(40)),
    Column("sha256", String(64)),
    Column("pdq", String(64)),
    Column("viewed_by_service", String(8), nullable=False),
    Column("publicly_available", String(8), nullable=False),
    Column("industry_classification", String(2)),
    Column("annotations", Text, nullable=False, doc="File annotations joined by ';'."),
    Column("upload_ip", String(100)),
    Column("revision", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("match_status", String(8), doc="known or new, once matched (migration 0002)"),
    Column("matched_at", DateTime),
    # No hash indexes here: matching looks referral hashes up in the hash lists' indexes, and
    # random-valued indexes would triple the cost of intake. Add one when a query needs it.
)

revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(128), nullable=False),
    Column("file_id", String(200), doc="Set when a file changed; empty for the report itself."),
    Column("revision", Integer, nullable=False, doc="The revision number that was replaced."),
    Column("content_hash", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("replaced_at", DateTime, nullable=False),
    Column("replaced_by_source", Text),
    Index("ix_revisions_report_id", "report_id"),
)

pending_files = Table(
    "pending_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(128), nullable=False),
    Column("file_id", String(200), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Column("source_file", Text),
    Column("location", Text),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("report_id", "file_id", name="uq_pending_files_report_file"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_file", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("record_index", Integer, nullable=False),
    Column("record_key", Text),
    Column("format", String(10), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", Text),
    Column("raw_hash", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("times_seen", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("resolved_at", DateTime),
    Column("note", Text),
    Index("ix_quarantine_status", "status"),
    # A run over a source again finds its earlier rows by record: (source, record) ranges.
    Index("ix_quarantine_source_record", "source_file", "record_index"),
)

ingest_runs = Table(
    "ingest_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source_file", Text, nullable=False),
    Column("fingerprint", String(120), nullable=False),
    Column("format", String(10), nullable=False),
    Column("status", String(10), nullable=False, doc="running, complete or failed"),
    Column("records_done", Integer, nullable=False, doc="Records committed (resume point)."),
    Column("ingested", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    Column("revised", Integer, nullable=False),
    Column("files_added", Integer, nullable=False),
    Column("pending", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Index("ix_ingest_runs_source_file", "source_file"),
)

# -- hash lists and matches (migration 0002) ---------------------------------------------------

hash_lists = Table(
    "hash_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source", String(200)),
    Column("scheme", String(40), nullable=False),
    Column("version", String(100), doc="The newest version imported."),
    Column("near_threshold", Integer, nullable=False, doc="PDQ Hamming distance for a match."),
    Column("quality_floor", Integer, nullable=False, doc="Least PDQ quality of a query hash."),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column(
        "purpose",
        String(8),
        nullable=False,
        server_default="block",
        doc="block: matches are known material; allow: matches clear a file (migration 0013).",
    ),
    Column("connector", String(40), doc="The exchange feeding the list, if any."),
    Column("connector_config", Text, doc="JSON of the connector's settings (no credentials)."),
)

hash_list_versions = Table(
    "hash_list_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(100), nullable=False),
    Column("source_file", Text),
    Column("format", String(10), nullable=False),
    Column("added", Integer, nullable=False),
    Column("retired", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("imported_at", DateTime, nullable=False),
)

hash_entries = Table(
    "hash_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False),
    Column("algorithm", String(40), nullable=False),
    Column("value", String(400), nullable=False),
    Column("category", String(40)),
    Column("series", String(200)),
    Column("media_id", String(100)),
    Column("flags", Text, nullable=False, doc="JSON object of the list's flags."),
    Column("extra", Text, nullable=False, doc="JSON object of other fields, verbatim."),
    Column("added_version", String(100), nullable=False),
    Column("retired_version", String(100), doc="Set when a later version dropped it."),
    Column(
        "entry_key",
        String(200),
        nullable=False,
        server_default="",
        doc="The entry the hash belongs to at its source (migration 0013).",
    ),
    Column("held_at", DateTime, doc="Set while the entry is held out of matching."),
    Column("held_reason", Text),
    Column("source_time", DateTime, doc="When the source last changed the entry (exchanges)."),
    Column("last_seen", DateTime, doc="When a sync last saw the entry at its source."),
    UniqueConstraint(
        "list_id", "algorithm", "value", "entry_key", name="uq_hash_entries_list_hash"
    ),
    Index("ix_hash_entries_algorithm_value", "algorithm", "value"),
    Index("ix_hash_entries_list_id", "list_id", "entry_key"),
)

# -- exchanges: sync state, match history, holds, votes (migration 0013) ----------------------

list_sync_state = Table(
    "list_sync_state",
    metadata,
    Column("list_id", Integer, ForeignKey("hash_lists.id", ondelete="CASCADE"), primary_key=True),
    Column("checkpoint", Text, nullable=False, doc="JSON: where the next fetch starts."),
    Column("checkpoint_at", DateTime),
    Column("last_attempt_at", DateTime),
    Column("last_success_at", DateTime),
    Column("last_error", Text),
    Column("last_added", Integer, nullable=False, server_default="0"),
    Column("last_removed", Integer, nullable=False, server_default="0"),
    Column("total_added", Integer, nullable=False, server_default="0"),
    Column("total_removed", Integer, nullable=False, server_default="0"),
    Column("runs", Integer, nullable=False, server_default="0"),
)

exchange_tombstones = Table(
    "exchange_tombstones",
    metadata,
    Column("list_id", Integer, ForeignKey("hash_lists.id", ondelete="CASCADE"), primary_key=True),
    Column("entry_key", String(200), primary_key=True),
    Column("source_time", DateTime),
)

entry_match_counts = Table(
    "entry_match_counts",
    metadata,
    Column(
        "entry_id",
        Integer,
        ForeignKey("hash_entries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Date, primary_key=True),
    Column("matches", Integer, nullable=False),
)

entry_holds = Table(
    "entry_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("entry_id", Integer, ForeignKey("hash_entries.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Integer, nullable=False),
    Column("held_at", DateTime, nullable=False),
    Column("reason", Text, nullable=False),
    Column("matches", Integer, nullable=False),
    Column("baseline", Float, nullable=False),
    Column("released_at", DateTime),
    Column("released_by", String(200)),
    Column("decision", String(16), doc="released (matches again) or retired"),
    Index("ix_entry_holds_list_id", "list_id"),
)

exchange_votes = Table(
    "exchange_votes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("hash_lists.id", ondelete="CASCADE"), nullable=False),
    Column("entry_key", String(200), nullable=False),
    Column("vote", String(16), nullable=False),
    Column("reason", Text),
    Column("proposed_by", String(200), nullable=False),
    Column("proposed_at", DateTime, nullable=False),
    Column("approved_by", String(200)),
    Column("approved_at", DateTime),
    Column("status", String(12), nullable=False, doc="proposed, sent, failed or rejected"),
    Column("sent_at", DateTime),
    Column("response", Text),
    Index("ix_exchange_votes_list_id", "list_id"),
)

file_matches = Table(
    "file_matches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(128), nullable=False),
    Column("file_id", String(200), nullable=False),
    Column("entry_id", Integer, ForeignKey("hash_entries.id", ondelete="CASCADE"), nullable=False),
    Column("list_id", Integer, nullable=False),
    Column("algorithm", String(40), nullable=False),
    Column("kind", String(5), nullable=False, doc="exact (cryptographic) or near (perceptual)"),
    Column("distance", Integer, nullable=False),
    Column("matched_at", DateTime, nullable=False),
    Index("ix_file_matches_report_id", "report_id"),
)

# -- triage: attribution, links, priority, routing (migration 0003) ---------------------------

geoip_databases = Table(
    "geoip_databases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False),
    Column("database_type", String(200), nullable=False),
    Column("build_epoch", BigInteger, nullable=False),
    Column("description", Text),
    Column("loaded_at", DateTime, nullable=False),
    UniqueConstraint("database_type", "build_epoch", name="uq_geoip_databases_type_build"),
)

attributions = Table(
    "attributions",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("country", String(2), doc="ISO 3166-1 alpha-2; NULL when unknown."),
    Column("confidence", Float, nullable=False),
    Column("level", String(30), doc="The evidence level that decided."),
    Column("evidence", Text, nullable=False, doc="JSON: evidence items and warnings."),
    Column("geoip_database_id", Integer),
    Column("referral_revision", Integer, nullable=False),
    Column("attributed_at", DateTime, nullable=False),
    Index("ix_attributions_country", "country"),
)

attribution_history = Table(
    "attribution_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("report_id", String(128), nullable=False),
    Column("country", String(2)),
    Column("confidence", Float, nullable=False),
    Column("level", String(30)),
    Column("evidence", Text, nullable=False),
    Column("geoip_database_id", Integer),
    Column("referral_revision", Integer, nullable=False),
    Column("attributed_at", DateTime, nullable=False),
    Column("superseded_at", DateTime, nullable=False),
    Index("ix_attribution_history_report_id", "report_id"),
)

link_groups = Table(
    "link_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column(
        "kind",
        String(16),
        nullable=False,
        doc="linked, viral (one item shared widely) or circulating (one file that links no one)",
    ),
    Column("size", Integer, nullable=False),
    Column("reasons", Text, nullable=False, doc="JSON: shared keys of each kind."),
    Column("first_incident", DateTime),
    Column("last_incident", DateTime),
    Column("built_at", DateTime, nullable=False),
)

referral_links = Table(
    "referral_links",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("group_id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),
    Index("ix_referral_links_group_id", "group_id"),
)

link_group_events = Table(
    "link_group_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_id", Integer, nullable=False),
    Column("event", String(16), nullable=False, doc="created, merged, split or dissolved"),
    Column(
        "from_ids",
        Text,
        nullable=False,
        doc="JSON list: the group ids it came from (merged, split) or went to (dissolved).",
    ),
    Column("at", DateTime, nullable=False),
    Index("ix_link_group_events_group_id", "group_id"),
    # Migration 0008: group ids are stable across triage runs; this is their history.
)

priorities = Table(
    "priorities",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("score", Float, nullable=False),
    Column("tier", String(16), nullable=False),
    Column("reasons", Text, nullable=False, doc="JSON list of reason, points, detail."),
    Column("config_digest", String(64), nullable=False),
    Column("scored_at", DateTime, nullable=False),
    Index("ix_priorities_tier_score", "tier", "score"),
)

routing_packages = Table(
    "routing_packages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("country", String(2), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("path", Text, nullable=False),
    Column("referral_count", Integer, nullable=False),
    Column("since", DateTime),
    Column("until", DateTime),
    # Routing control (migration 0009): whom it went to, and what became of it.
    Column(
        "recipient_id", Integer, ForeignKey("recipients.id", ondelete="RESTRICT"), nullable=True
    ),
    Column("date_basis", String(16), nullable=False, server_default="incident"),
    Column("status", String(16), nullable=False, server_default="sent"),
    Column("recalled_at", DateTime),
    Column("recalled_by", String(200)),
    Column("recall_reason", Text),
    Column("acknowledged_at", DateTime),
    Column("acknowledged_by", String(200)),
    Column("outcome", Text),
    Column("outcome_at", DateTime),
)

recipients = Table(
    "recipients",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("country", String(2), nullable=False),
    Column("kind", String(16), nullable=False, doc="office (a liaison office) or user."),
    Column("contact", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

package_referrals = Table(
    "package_referrals",
    metadata,
    Column(
        "package_id",
        Integer,
        ForeignKey("routing_packages.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("report_id", String(128), primary_key=True),
    Index("ix_package_referrals_report_id", "report_id"),
)

# -- signals and events (migration 0004) -------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("country", String(2), nullable=False),
    Column("date", Date, nullable=False),
    Column("kind", String(60), nullable=False, doc="e.g. stay-at-home, school-closure"),
    Column("label", Text),
    Column("source", String(200)),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("country", "date", "kind", name="uq_events_country_date_kind"),
)

signal_values = Table(
    "signal_values",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feed", String(20), nullable=False, doc="blocked, helpline or metric"),
    Column("country", String(2), nullable=False),
    Column("metric", String(120), nullable=False),
    Column("period", String(5), nullable=False, doc="day, week or month"),
    Column("period_start", Date, nullable=False),
    Column("value", Float, nullable=False),
    Column("dims", Text, nullable=False, doc="JSON: provider, method, age band ..."),
    Column("dims_key", String(400), nullable=False),
    Column("source_file", Text),
    Column("imported_at", DateTime, nullable=False),
    UniqueConstraint(
        "feed",
        "country",
        "metric",
        "period",
        "period_start",
        "dims_key",
        name="uq_signal_values_key",
    ),
    Index("ix_signal_values_country_metric", "country", "metric"),
)

# -- URL lists (migration 0011) ----------------------------------------------------------------

url_lists = Table(
    "url_lists",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("source", String(200)),
    Column("version", String(100), doc="The newest version imported."),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

url_list_versions = Table(
    "url_list_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("url_lists.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(100), nullable=False),
    Column("seq", Integer, nullable=False, doc="1, 2, 3 ... in order of import."),
    Column("delta", Boolean, nullable=False, doc="Imported as changes, not a whole list."),
    Column("source_file", Text),
    Column("format", String(10), nullable=False),
    Column("added", Integer, nullable=False),
    Column("retired", Integer, nullable=False),
    Column("kept", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("entries", Integer, nullable=False, doc="Active entries once applied."),
    Column("state_sha256", String(64), nullable=False, doc="SHA-256 of the plain export."),
    Column("imported_at", DateTime, nullable=False),
    UniqueConstraint("list_id", "version", name="uq_url_list_versions_list_version"),
)

url_entries = Table(
    "url_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("url_lists.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(16), nullable=False, doc="page, page+query, folder, host ..."),
    Column("key", Text, nullable=False, doc="Canonical host/path[?query] or host."),
    Column("key_hash", String(64), nullable=False, doc="SHA-256 of scope, tab, key."),
    Column("category", String(60)),
    Column("source", String(200)),
    Column("added_on", Date, doc="The date the list's source gives, else the import's."),
    Column("added_version", String(100), nullable=False),
    Column("retired_version", String(100), doc="Set when a later version dropped it."),
    UniqueConstraint("list_id", "key_hash", name="uq_url_entries_list_key"),
)

url_changes = Table(
    "url_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("list_id", Integer, ForeignKey("url_lists.id", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False, doc="The version (by seq) that made the change."),
    Column("entry_id", Integer, ForeignKey("url_entries.id", ondelete="CASCADE"), nullable=False),
    Column("added", Boolean, nullable=False, doc="True: added or reactivated; False: retired."),
    Index("ix_url_changes_list_seq", "list_id", "seq"),
)
"""Each version's changes, so that any version's state can be rebuilt and two compared."""

# -- audit log (migration 0005) ----------------------------------------------------------------

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True, doc="Gapless: 1, 2, 3 ..."),
    Column("at", DateTime, nullable=False, doc="UTC."),
    Column("actor", String(200), nullable=False),
    Column("role", String(60), nullable=False),
    Column("action", String(100), nullable=False, doc="e.g. referral.show, intake.ingest"),
    Column("object_type", String(60)),
    Column("object_ids", Text, nullable=False, doc="JSON list of ids (the first 1000)."),
    Column("outcome", String(10), nullable=False, doc="ok, denied or failed"),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_actor", "actor"),
    Index("ix_audit_events_action", "action"),
    # One user's entries of one action since a time: a reviewer's exposures today (0016).
    Index("ix_audit_events_actor_action_at", "actor", "action", "at"),
)
"""Append-only (database triggers refuse UPDATE and DELETE); each entry chains the SHA-256
of the one before it (see :mod:`tipwatch.store.audit`)."""

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False, doc="Always 1: one row."),
    Column("last_id", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("entry_count", Integer, nullable=False),
)
"""The end of the audit chain, updated with every entry: deleting the last entries shows."""

# -- identity, the case workflow, jobs and identifier search (migration 0010) ----------------

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("country", String(2), doc="A liaison officer's country; NULL for other roles."),
    Column("password_hash", Text, nullable=False, doc="Argon2id, in its encoded form."),
    Column("totp_secret", Text, doc="Base32 TOTP secret once enrolled; NULL when none."),
    Column("disabled", Boolean, nullable=False),
    Column("failed_logins", Integer, nullable=False, doc="Failures since the last success."),
    Column("locked_until", DateTime, doc="Set when too many logins failed."),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("password_changed_at", DateTime, nullable=False),
    Column(
        "totp_last_step",
        BigInteger,
        doc="TOTP time step of the last code accepted (migration 0017): never accepted again.",
    ),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_id", String(32), nullable=False, unique=True, doc="The public part."),
    Column("secret_hash", String(64), nullable=False, doc="SHA-256 of the secret part."),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("scopes", Text, nullable=False, doc="Space-separated: ingest read match route admin."),
    Column("expires_at", DateTime, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("revoked_at", DateTime),
    Column("last_used_at", DateTime),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_hash", String(64), nullable=False, unique=True, doc="SHA-256 of the cookie."),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
)

case_states = Table(
    "case_states",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, doc="Why it was closed or needs no action."),
    Column("assignee", String(200)),
    Column("version", Integer, nullable=False, doc="1, 2, 3 ...: one per change."),
    Column("updated_by", String(200), nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Index("ix_case_states_assignee", "assignee"),
    Index("ix_case_states_status", "status"),
)
"""A referral's place in the case workflow; a referral without a row is ``new``."""

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("note_key", String(36), nullable=False, doc="The note across its versions."),
    Column("version", Integer, nullable=False),
    Column("object_type", String(16), nullable=False, doc="referral or group"),
    Column("object_id", String(128), nullable=False),
    Column("author", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("note_key", "version", name="uq_notes_key_version"),
    Index("ix_notes_object", "object_type", "object_id"),
)
"""Notes are never edited in place: an edit is a new version of the same ``note_key``."""

saved_searches = Table(
    "saved_searches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("query", Text, nullable=False, doc="JSON object of search filters."),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    UniqueConstraint("owner", "name", name="uq_saved_searches_owner_name"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("owner", String(200), nullable=False),
    Column("status", String(16), nullable=False, doc="queued, running, done or failed"),
    Column("stage", Text),
    Column("done", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("result", Text, doc="JSON, once done."),
    Column("error", Text),
    Column("created_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
)

referral_identifiers = Table(
    "referral_identifiers",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("kind", String(16), primary_key=True, doc="account, email, screen_name, ip or url"),
    Column("value", String(400), primary_key=True, doc="Lower-cased; cut to 400 characters."),
    Index("ix_referral_identifiers_kind_value", "kind", "value"),
)
"""What a referral names its parties by, for search (written at intake, current revision)."""

login_throttle = Table(
    "login_throttle",
    metadata,
    Column("address", String(64), primary_key=True, doc="A client address; IPv6 by its /64."),
    Column("failures", Integer, nullable=False, doc="Failed logins since window_start."),
    Column("window_start", DateTime, nullable=False),
    Column("blocked_until", DateTime, doc="Logins from the address are refused until then."),
)
"""Failed logins per client address (migration 0017), across every account they named."""

# -- forum monitoring (migration 0012) ---------------------------------------------------------

forum_posts = Table(
    "forum_posts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("forum", Text, nullable=False),
    Column("thread", Text, nullable=False),
    Column("post_id", Text, nullable=False),
    Column("author", String(40), nullable=False, doc="Keyed-hash pseudonym; never the handle."),
    Column("posted_at", DateTime, nullable=False, doc="UTC."),
    Column("day", Date, nullable=False, doc="The UTC day of posted_at."),
    Column("language", String(20), nullable=False, doc="ISO 639-1, or und."),
    Column("country", String(2), nullable=False, doc="The country its series count for; ZZ."),
    Column("reply_to", Text),
    Column("text", Text, doc="Kept only where the settings say so, until text_expires_at."),
    Column("text_expires_at", DateTime),
    Column("terms", Text, nullable=False, doc="Its terms (words, two-word phrases), one a line."),
    Column("content_hash", String(64), nullable=False),
    Column("themes_digest", String(16), nullable=False, doc="The theme set that tagged it."),
    Column("source_file", Text),
    Column("ingested_at", DateTime, nullable=False),
    UniqueConstraint("forum", "post_id", name="uq_forum_posts_forum_post"),
    Index("ix_forum_posts_day", "day"),
    Index("ix_forum_posts_author", "author"),
)
"""Posts of forum exports: derived features, and the text only where a deployment keeps it."""

forum_post_themes = Table(
    "forum_post_themes",
    metadata,
    Column(
        "post_row",
        Integer,
        ForeignKey("forum_posts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("theme", String(100), primary_key=True),
    Column("evidence", Text, nullable=False, doc="JSON: term, language, channel, span, raw."),
    Index("ix_forum_post_themes_theme", "theme"),
)
"""The themes of each post with their evidence."""

assessment_drafts = Table(
    "assessment_drafts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("countries", Text, nullable=False, doc="ISO codes joined by ',', or '' for all."),
    Column("event_kind", String(64), nullable=False),
    Column("title", Text),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime, nullable=False),
)

assessment_sections = Table(
    "assessment_sections",
    metadata,
    Column(
        "draft_id",
        Integer,
        ForeignKey("assessment_drafts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("position", Integer, primary_key=True),
    Column("title", Text, nullable=False),
    Column("markdown", Text, nullable=False),
    Column("before", String(64), nullable=False, doc="The section it is placed before."),
    Column("written_by", String(200), nullable=False),
    Column("written_at", DateTime, nullable=False),
)

assessment_decisions = Table(
    "assessment_decisions",
    metadata,
    Column(
        "draft_id",
        Integer,
        ForeignKey("assessment_drafts.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("finding_id", String(200), primary_key=True),
    Column("action", String(16), nullable=False, doc="accept, edit or drop."),
    Column("text", Text, nullable=False, doc="The edited sentence (edit), else ''."),
    Column("decided_by", String(200), nullable=False),
    Column("decided_at", DateTime, nullable=False),
)

assessment_versions = Table(
    "assessment_versions",
    metadata,
    Column(
        "draft_id",
        Integer,
        ForeignKey("assessment_drafts.id", ondelete="RESTRICT"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("published_by", String(200), nullable=False),
    Column("published_at", DateTime, nullable=False),
    Column("marking", String(100), nullable=False),
    Column("inputs_sha256", String(64), nullable=False),
    Column("html_sha256", String(64), nullable=False),
    Column("html", Text, nullable=False, doc="The published page, kept as it was published."),
    Column(
        "findings", Text, nullable=False, doc="The published findings with their numbers (JSON)."
    ),
)

# -- kept media (migration 0016) ---------------------------------------------------------------

kept_media = Table(
    "kept_media",
    metadata,
    Column("report_id", String(128), primary_key=True),
    Column("file_id", String(200), primary_key=True),
    Column("kind", String(8), nullable=False, doc="image or video"),
    Column("media_type", String(100), nullable=False, doc="What a browser is told it is."),
    Column("size", BigInteger, nullable=False, doc="Bytes of the plaintext."),
    Column("sha256", String(64), nullable=False, doc="Of the plaintext."),
    Column("key_id", String(16), nullable=False, doc="Names the key that sealed it."),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False, doc="AES-256-GCM, with its tag."),
    Column("kept_at", DateTime, nullable=False),
    Column("kept_by", String(200), nullable=False),
    ForeignKeyConstraint(
        ["report_id", "file_id"],
        ["referral_files.report_id", "referral_files.file_id"],
        ondelete="CASCADE",
    ),
)
"""Media kept with a referral's file where a deployment keeps media (``media_keep``), sealed
with the ``media_key``; by default this table stays empty."""
