"""Many processes, one store: a list change made by one process reaches another process's
matcher within its poll interval, without a rebuild of its index; the store is never sent to a
worker process."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tipwatch
from tipwatch.compute import Compute, make_batches, map_batches
from tipwatch.errors import StoreError
from tipwatch.formats.hashlists import HashRecord as ListRecord
from tipwatch.matching.lists import import_list
from tipwatch.store import Store

_SRC = str(Path(tipwatch.__file__).resolve().parents[1])

OLD = "f" * 64
NEW = "0f" * 32

# A long-running process: keeps one matcher, polls every 0.5 s, says each change it sees.
_WATCH = """
import json, sys, time
from pathlib import Path
from tipwatch.matching.matcher import Matcher
from tipwatch.store import Store
url, ready, target = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
matcher = Matcher(Store.open(url), poll_seconds=0.5)
index = id(matcher.index)
ready.touch()
states = []
deadline = time.monotonic() + 60
while time.monotonic() < deadline and states != [False, True, False]:
    matcher.refresh_if_changed()
    (hits,) = matcher.near([target], [None])
    if not states or bool(hits) != states[-1]:
        states.append(bool(hits))
        same = id(matcher.index) == index
        print(json.dumps({"t": time.time(), "hit": bool(hits), "same_index": same}), flush=True)
    time.sleep(0.05)
"""


def _records(values: list[str]) -> list[ListRecord]:
    return [
        ListRecord(algorithm="pdq", value=v, location=f"line {i}") for i, v in enumerate(values, 1)
    ]


def test_a_list_change_reaches_another_process_within_the_poll_interval(
    store: Store, tmp_path: Path
) -> None:
    import_list(store, "known", _records([OLD]), version="1", fmt="plain", scheme="none")
    ready = tmp_path / "ready"
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in (_SRC, os.environ.get("PYTHONPATH")) if p)
    )
    url = store.url
    watcher = subprocess.Popen(
        [sys.executable, "-c", _WATCH, url, str(ready), NEW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert watcher.poll() is None, watcher.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(1.0)  # the watcher has polled and found nothing new
        import_list(store, "known", _records([OLD, NEW]), version="2", fmt="plain", scheme="none")
        added_at = time.time()
        time.sleep(2.0)
        import_list(store, "known", _records([OLD]), version="3", fmt="plain", scheme="none")
        retired_at = time.time()
        out, err = watcher.communicate(timeout=90)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert watcher.returncode == 0, err
    changes = [json.loads(line) for line in out.splitlines()]
    assert [c["hit"] for c in changes] == [False, True, False], changes
    # Within the poll interval (0.5 s) and one refresh, with slack for a busy machine.
    assert 0 <= changes[1]["t"] - added_at < 1.5
    assert 0 <= changes[2]["t"] - retired_at < 1.5
    assert all(c["same_index"] for c in changes)  # changed in place, never rebuilt


def test_the_store_is_never_sent_to_a_worker(store: Store) -> None:
    with pytest.raises(StoreError, match="cannot be sent to another process"):
        pickle.dumps(store)
    batches = make_batches(range(4), 2, str)
    with pytest.raises(StoreError):
        list(map_batches(len_of, batches, compute=Compute(workers=2), setup=keep, shared=store))


def keep(_shared: object) -> None:
    pass


def len_of(items: list[int]) -> list[int]:
    return [1 for _ in items]
