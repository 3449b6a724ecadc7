"""A list file (VICS JSON, hash-list CSV, plain list) read through the connector interface, so
that a list published as a file at a fixed place syncs like an exchange.

Each fetch reads the whole file; its checkpoint is the file's SHA-256 and a generation number.
An unchanged file changes nothing. A changed file is a full resync: its entries are upserted
and, once applied, every entry it no longer holds is retired. A file whose records cannot be
read (none of them, or more than ``max_rejected_share``) is refused before anything is applied.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from tipwatch.errors import ConfigError, InputError
from tipwatch.formats.hashlists import HashRecord, read_hash_csv, read_plain, read_vics
from tipwatch.matching.exchanges.base import Batch, Checkpoint, ExchangeEntry

__all__ = ["FileConnector"]


class FileConnector:
    """Settings: ``path`` (required), ``format`` (``vics``, ``csv`` or ``plain``; default by
    suffix), ``hash_type`` (for a plain list), ``max_rejected_share`` (default 0.05)."""

    kind = "file"

    def __init__(self, config: Mapping[str, Any], credentials: Mapping[str, str] | None = None):
        if not config.get("path"):
            raise ConfigError("the file connector needs the list file's path")
        self.path = Path(str(config["path"]))
        suffix = self.path.suffix.lower()
        default = "vics" if suffix == ".json" else "csv" if suffix == ".csv" else "plain"
        self.format = str(config.get("format") or default)
        if self.format not in ("vics", "csv", "plain"):
            raise ConfigError(f"a list file is vics, csv or plain, not {self.format!r}")
        self.hash_type = config.get("hash_type")
        if self.format == "plain" and not self.hash_type:
            raise ConfigError("a plain list file needs its hash type")
        self.max_rejected_share = float(config.get("max_rejected_share", 0.05))

    def position(self, checkpoint: Checkpoint) -> tuple[Any, ...]:
        return (int(checkpoint.get("generation", 0)),)

    def _records(self) -> Iterator[HashRecord]:
        if self.format == "vics":
            return read_vics(self.path)
        if self.format == "csv":
            return read_hash_csv(self.path)
        return read_plain(self.path, str(self.hash_type))

    def fetch(self, checkpoint: Checkpoint | None) -> Batch:
        try:
            digest = hashlib.sha256()
            with self.path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
        except OSError as exc:
            raise InputError(f"{self.path}: cannot read the list file: {exc}") from exc
        generation = int((checkpoint or {}).get("generation", 0))
        if checkpoint is not None and checkpoint.get("sha256") == digest.hexdigest():
            return Batch([], [], dict(checkpoint), more=False)
        entries: dict[str, ExchangeEntry] = {}
        problems: list[tuple[str, str]] = []
        read = 0
        for record in self._records():
            read += 1
            if record.error is not None:
                problems.append((record.location, record.error))
                continue
            key = record.entry_key or f"{record.algorithm}:{record.value}"
            entry = entries.get(key)
            if entry is None:
                extra: dict[str, Any] = {"source": "file", **record.extra}
                for name, value in (
                    ("flags", record.flags),
                    ("series", record.series),
                    ("media_id", record.media_id),
                ):
                    if value:
                        extra[name] = value
                entry = entries[key] = ExchangeEntry(key, {}, record.category, None, extra)
            entry.hashes[record.algorithm] = record.value
        if not entries or (read and len(problems) / read > self.max_rejected_share):
            first = f" (first: {problems[0][0]}: {problems[0][1]})" if problems else ""
            raise InputError(
                f"{self.path}: {len(problems):,} of its {read:,} records cannot be read; the "
                f"list is left as it is{first}",
                hint="check the list file's format and hash values",
            )
        return Batch(
            list(entries.values()),
            [],
            {"generation": generation + 1, "sha256": digest.hexdigest()},
            more=False,
            resync=True,
            complete=True,
            problems=problems,
        )

    def send_vote(self, entry: Mapping[str, Any], vote: str, reason: str | None) -> str:
        raise ConfigError("a list file takes no votes")
