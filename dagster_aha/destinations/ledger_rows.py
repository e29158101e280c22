"""The write ledger's tables (schema version 2) and its row types."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

__all__ = [
    "ADDED_COLUMNS",
    "LEDGER_STATES",
    "SCHEMA_VERSION",
    "Claim",
    "LedgerEntry",
    "LedgerState",
    "ledger_key",
    "meta_table",
    "metadata",
    "rows_table",
    "sha",
    "to_entry",
]

LedgerState = Literal["claimed", "sent", "succeeded", "failed", "ambiguous"]
LEDGER_STATES: tuple[str, ...] = ("claimed", "sent", "succeeded", "failed", "ambiguous")
SCHEMA_VERSION = 2
"""1: the first schema. 2: adds ``origin``, ``sent_body`` and ``path_values`` (nullable; a
version-1 table is upgraded in place with ``ALTER TABLE ... ADD COLUMN``)."""

metadata = sa.MetaData()
rows_table = sa.Table(
    "aha_write_ledger",
    metadata,
    sa.Column("destination_hash", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(64), primary_key=True),
    sa.Column("destination", sa.Text, nullable=False),
    sa.Column("record_key", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("request_hash", sa.String(64)),
    sa.Column("request_kind", sa.String(16)),
    sa.Column("sent_hash", sa.String(64)),
    sa.Column("aha_id", sa.String(64)),
    sa.Column("reference_num", sa.String(255)),
    sa.Column("url", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("run_id", sa.String(255)),
    sa.Column("owner", sa.String(64)),
    sa.Column("heartbeat_at", sa.Float),
    sa.Column("sent_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("version", sa.Integer, nullable=False),
    # schema version 2 (sync modes, diffs, mirror): nullable, added to older tables in place
    sa.Column("origin", sa.String(16)),
    sa.Column("sent_body", sa.Text),
    sa.Column("path_values", sa.Text),
)
#: Columns added after version 1, in order: (name, DDL type).
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("origin", "VARCHAR(16)"),
    ("sent_body", "TEXT"),
    ("path_values", "TEXT"),
)
sa.Index("aha_write_ledger_owner", rows_table.c.owner)
meta_table = sa.Table(
    "aha_write_ledger_meta",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ledger_key(value: Any) -> str:
    """The canonical text of a record key (JSON, sorted keys): ``7`` and ``"7"`` differ."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row (timestamps in seconds since the epoch)."""

    destination: str
    record_key: str
    state: LedgerState
    request_hash: str | None
    request_kind: str | None
    sent_hash: str | None
    """Content hash of the last request that succeeded (for "unchanged" diffs)."""
    aha_id: str | None
    reference_num: str | None
    url: str | None
    attempts: int
    run_id: str | None
    owner: str | None
    heartbeat_at: float | None
    sent_at: float | None
    created_at: float
    updated_at: float
    error: str | None
    version: int
    origin: str | None = None
    """``created``: this destination created the Aha! record; ``matched``: it found an existing
    one (``match_on``) and only updated it (mirror never deletes those unless told so)."""
    sent_body: str | None = None
    """JSON of the record body (unwrapped) of the last request that succeeded (field diffs)."""
    path_values: str | None = None
    """JSON of the decoded path parameters of that request (a mirror delete's path)."""

    def held_by_other(self, owner: str, timeout: float, now: float | None = None) -> bool:
        """Held by another writer that heart-beat within ``timeout`` seconds."""
        if self.owner is None or self.owner == owner:
            return False
        now = time.time() if now is None else now
        return self.heartbeat_at is not None and now - self.heartbeat_at < timeout


@dataclass(frozen=True)
class Claim:
    """The result of :meth:`WriteLedger.claim`.

    ``acquired``: the caller now owns the row. ``previous``: the row as it was before (``None``
    for a new row); its ``state`` says what the caller must resolve (``sent``/``ambiguous``: a
    request may already have been applied). When not acquired, ``previous`` is the live holder.
    """

    acquired: bool
    previous: LedgerEntry | None


def to_entry(row: Any) -> LedgerEntry:
    m = row._mapping
    return LedgerEntry(**{f: m[f] for f in LedgerEntry.__dataclass_fields__})
