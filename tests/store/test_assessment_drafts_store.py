"""Assessment drafts in the store, on SQLite and PostgreSQL: sections in order and replaced in
place, one decision per finding, versions numbered and kept as published."""

from __future__ import annotations

from datetime import date

import pytest

from tipwatch.errors import InputError, NotFoundError
from tipwatch.store import Store
from tipwatch.store import assessments as drafts


def test_drafts_sections_decisions_versions(store: Store) -> None:
    with store.atomic() as conn:
        drafts.create_draft(
            conn, name="q2", start=date(2020, 4, 1), end=date(2020, 6, 30),
            countries=["NL", "DE"], event_kind="stay-at-home", title=None, by="ana",
        )  # fmt: skip
        with pytest.raises(InputError, match="already exists"):
            drafts.create_draft(
                conn, name="q2", start=date(2020, 4, 1), end=date(2020, 6, 30),
                countries=None, event_kind="stay-at-home", title=None, by="ana",
            )  # fmt: skip
    with store.atomic() as conn:
        first = drafts.add_draft_section(
            conn, "q2", title="Intro", markdown="a", before="summary", by="ana"
        )
        second = drafts.add_draft_section(
            conn, "q2", title="Recs", markdown="b", before="end", by="ana"
        )
        again = drafts.add_draft_section(
            conn, "q2", title="Intro", markdown="a, rewritten", before="summary", by="bo",
            position=first,
        )  # fmt: skip
        drafts.set_decision(conn, "q2", "surge-overall", "drop", "", "ana")
        drafts.set_decision(conn, "q2", "surge-overall", "accept", "", "bo")
        with pytest.raises(InputError, match="unknown decision"):
            drafts.set_decision(conn, "q2", "x", "maybe", "", "ana")
        v1 = drafts.record_version(
            conn, "q2", by="ana", marking="TLP:AMBER", inputs_sha256="a" * 64,
            html_sha256="b" * 64, html="<p>one</p>", findings="[]",
        )  # fmt: skip
        v2 = drafts.record_version(
            conn, "q2", by="bo", marking="TLP:RED", inputs_sha256="c" * 64,
            html_sha256="d" * 64, html="<p>two</p>", findings="[]",
        )  # fmt: skip
    assert (first, second, again, v1, v2) == (1, 2, 1, 1, 2)
    with store.read() as conn:
        draft = drafts.draft_named(conn, "q2")
        assert draft.countries == ["NL", "DE"] and draft.versions == 2
        assert [(s.position, s.title, s.markdown) for s in draft.sections] == [
            (1, "Intro", "a, rewritten"),
            (2, "Recs", "b"),
        ]
        assert [(d.finding_id, d.action, d.decided_by) for d in draft.decisions] == [
            ("surge-overall", "accept", "bo")
        ]
        assert drafts.version_of(conn, "q2", 1).html == "<p>one</p>"
        assert [v.marking for v in drafts.list_versions(conn, "q2")] == ["TLP:AMBER", "TLP:RED"]
        assert [d.name for d in drafts.list_drafts(conn)] == ["q2"]
        with pytest.raises(NotFoundError):
            drafts.version_of(conn, "q2", 3)
        with pytest.raises(NotFoundError, match="no assessment draft named 'q3'"):
            drafts.draft_named(conn, "q3")
    with store.atomic() as conn:
        drafts.remove_draft_section(conn, "q2", 2)
    with store.read() as conn:
        assert [s.position for s in drafts.draft_named(conn, "q2").sections] == [1]
