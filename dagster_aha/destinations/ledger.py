"""`WriteLedger`: durable per-record write state, so every record is written exactly once.

One row per (destination identity, record key) in a real database through SQLAlchemy: an
embedded SQLite file by default, PostgreSQL (or any SQLAlchemy database) by URL for runs on many
hosts. A row holds the record's state, the content hash of the request claimed/sent and of the
last request that succeeded, the Aha! id/reference/URL, attempts, the run that last touched it,
its owner (the writer holding it) and timestamps (seconds since the epoch, UTC).

States: ``claimed`` (held by a writer, this request not sent yet), ``sent`` (the request may be
on the wire: its result is unknown until resolved), ``succeeded``, ``failed`` (definitely not
applied), ``ambiguous`` (may have been applied; resolved by look-up, never re-sent blindly).

Claims are atomic: a new row is an ``INSERT`` on the unique key; every later transition is a
conditional ``UPDATE`` on the row's ``version`` (compare-and-set) or on its ``owner``. A held row
whose owner stopped heart-beating for ``heartbeat_timeout`` seconds (a killed run) can be taken
over; taking over never changes the state, so the new owner knows whether a request may already
have been applied. The schema is created on first use and versioned (``aha_write_ledger_meta``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

__all__ = [
    "LEDGER_STATES",
    "LEDGER_URL_ENV",
    "SCHEMA_VERSION",
    "Claim",
    "LedgerEntry",
    "LedgerState",
    "WriteLedger",
    "ledger_key",
]

LedgerState = Literal["claimed", "sent", "succeeded", "failed", "ambiguous"]
LEDGER_STATES: tuple[str, ...] = ("claimed", "sent", "succeeded", "failed", "ambiguous")
SCHEMA_VERSION = 2
"""1: the first schema. 2: adds ``origin``, ``sent_body`` and ``path_values`` (nullable; a
version-1 table is upgraded in place with ``ALTER TABLE ... ADD COLUMN``)."""
#: Environment variable with the SQLAlchemy URL of the ledger Dagster runs use by default.
LEDGER_URL_ENV = "DAGSTER_AHA_WRITE_LEDGER_URL"
DEFAULT_FILENAME = "aha_write_ledger.sqlite"
_ERROR_LIMIT = 2000

_metadata = sa.MetaData()
_rows = sa.Table(
    "aha_write_ledger",
    _metadata,
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
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("origin", "VARCHAR(16)"),
    ("sent_body", "TEXT"),
    ("path_values", "TEXT"),
)
sa.Index("aha_write_ledger_owner", _rows.c.owner)
_meta = sa.Table(
    "aha_write_ledger_meta",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)


def _sha(text: str) -> str:
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


def _entry(row: Any) -> LedgerEntry:
    m = row._mapping
    return LedgerEntry(**{f: m[f] for f in LedgerEntry.__dataclass_fields__})


class WriteLedger:
    """A durable per-record write ledger (see the module doc).

    Args:
        url: a SQLAlchemy URL (``postgresql+psycopg2://user@host/db``, ``sqlite:///path``) or a
            filesystem path of a SQLite file; ``None``: the ``DAGSTER_AHA_WRITE_LEDGER_URL``
            environment variable, else ``./aha_write_ledger.sqlite``. (Dagster runs default
            to a file under the instance's storage directory: :meth:`for_instance`.)
        heartbeat_timeout: seconds without a heartbeat after which a held row is considered
            abandoned (its writer died) and may be taken over.
        settle_seconds: after a create whose result is unknown, how long a later run waits
            before a look-up that finds nothing counts as "not applied" (the backend may still
            be committing); until then the record stays ``ambiguous``.
        wait_seconds: how long a writer waits for a record held by another live writer to be
            resolved before reporting it ``failed`` (retryable) instead.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        heartbeat_timeout: float = 120.0,
        settle_seconds: float = 60.0,
        wait_seconds: float = 30.0,
    ) -> None:
        if heartbeat_timeout <= 0:
            raise ValueError("heartbeat_timeout must be > 0")
        url = url or os.environ.get(LEDGER_URL_ENV) or DEFAULT_FILENAME
        if "://" not in url:
            path = Path(url).expanduser().resolve()
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        self.url = url
        self.heartbeat_timeout = float(heartbeat_timeout)
        self.settle_seconds = float(settle_seconds)
        self.wait_seconds = float(wait_seconds)
        self._engine = self._make_engine(url)
        self._ready = False
        self._ready_lock = threading.Lock()

    @classmethod
    def for_instance(cls, instance: Any, **kwargs: Any) -> WriteLedger:
        """The ledger of a Dagster instance: ``DAGSTER_AHA_WRITE_LEDGER_URL`` when set, else a
        SQLite file in the instance's storage directory."""
        url = os.environ.get(LEDGER_URL_ENV)
        if not url:
            url = str(Path(instance.storage_directory()) / "dagster_aha" / DEFAULT_FILENAME)
        return cls(url, **kwargs)

    @staticmethod
    def _make_engine(url: str) -> sa.Engine:
        if url.startswith("sqlite"):
            engine = sa.create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

            @sa_event.listens_for(engine, "connect")
            def _pragmas(dbapi_conn: Any, _record: Any) -> None:
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=60000")
                cur.close()

            return engine
        return sa.create_engine(url, pool_recycle=300)

    def __repr__(self) -> str:
        shown = sa.make_url(self.url).render_as_string(hide_password=True)
        return f"WriteLedger({shown!r})"

    # -- schema ------------------------------------------------------------------------

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            for attempt in range(5):
                try:
                    _metadata.create_all(self._engine, checkfirst=True)
                    break
                except (IntegrityError, OperationalError, ProgrammingError):
                    # another process created the tables at the same moment
                    if attempt == 4:
                        raise
                    time.sleep(0.1 * (attempt + 1))
            self._add_missing_columns()
            with self._engine.connect() as conn:
                found = conn.execute(
                    sa.select(_meta.c.value).where(_meta.c.name == "schema_version")
                ).scalar()
            if found is None:
                try:
                    with self._engine.begin() as conn:
                        conn.execute(
                            _meta.insert().values(name="schema_version", value=str(SCHEMA_VERSION))
                        )
                except IntegrityError:
                    pass  # another writer recorded it first
            elif int(found) < SCHEMA_VERSION:
                with self._engine.begin() as conn:
                    conn.execute(
                        _meta.update()
                        .where(_meta.c.name == "schema_version")
                        .where(_meta.c.value == found)
                        .values(value=str(SCHEMA_VERSION))
                    )
            elif int(found) > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self!r}: ledger schema version {found} is newer than this "
                    f"dagster_aha supports ({SCHEMA_VERSION}); upgrade dagster_aha"
                )
            self._ready = True

    def _add_missing_columns(self) -> None:
        """Upgrade an older table in place: add the nullable columns it lacks."""
        for attempt in range(5):
            present = {c["name"] for c in sa.inspect(self._engine).get_columns(_rows.name)}
            missing = [(n, t) for n, t in _ADDED_COLUMNS if n not in present]
            if not missing:
                return
            try:
                with self._engine.begin() as conn:
                    for name, ddl in missing:
                        conn.execute(sa.text(f"ALTER TABLE {_rows.name} ADD COLUMN {name} {ddl}"))
            except (OperationalError, ProgrammingError):
                # another process added them at the same moment: look again
                if attempt == 4:
                    raise
                time.sleep(0.1 * (attempt + 1))

    @property
    def schema_version(self) -> int:
        self._ensure_schema()
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(_meta.c.value).where(_meta.c.name == "schema_version")
            ).scalar()
        return int(value or SCHEMA_VERSION)

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _pk(destination: str, record_key: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            _rows.c.destination_hash == _sha(destination), _rows.c.key_hash == _sha(record_key)
        )

    def get(self, destination: str, record_key: str) -> LedgerEntry | None:
        """The row of one record, or ``None``."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_rows).where(self._pk(destination, record_key))).first()
        return _entry(row) if row is not None else None

    def entries(
        self, destination: str, *, states: Sequence[str] | None = None
    ) -> Iterator[LedgerEntry]:
        """Every row of a destination (optionally only some states), by record key."""
        self._ensure_schema()
        query = (
            sa.select(_rows)
            .where(_rows.c.destination_hash == _sha(destination))
            .order_by(_rows.c.key_hash)
        )
        if states is not None:
            query = query.where(_rows.c.state.in_(list(states)))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield _entry(row)

    def destinations(self) -> list[str]:
        """The destination identities that have rows."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            return sorted(
                r[0] for r in conn.execute(sa.select(_rows.c.destination).distinct()).all()
            )

    def counts(self, destination: str) -> dict[str, int]:
        """``{state: rows}`` of a destination (every state, zeros included)."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            found = dict(
                conn.execute(
                    sa.select(_rows.c.state, sa.func.count())
                    .where(_rows.c.destination_hash == _sha(destination))
                    .group_by(_rows.c.state)
                ).all()
            )
        return {s: int(found.get(s, 0)) for s in LEDGER_STATES}

    # -- transitions -------------------------------------------------------------------

    def claim(
        self,
        destination: str,
        record_key: str,
        *,
        owner: str,
        run_id: str | None = None,
        request_hash: str | None = None,
    ) -> Claim:
        """Atomically take ownership of a record's row (creating it as ``claimed``).

        Not acquired when another writer holds the row and heart-beat within
        ``heartbeat_timeout``. Taking over (a resolved row, or one a dead writer held) keeps the
        row's state.
        """
        self._ensure_schema()
        for _ in range(20):
            now = time.time()
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        _rows.insert().values(
                            destination_hash=_sha(destination),
                            key_hash=_sha(record_key),
                            destination=destination,
                            record_key=record_key,
                            state="claimed",
                            request_hash=request_hash,
                            attempts=0,
                            run_id=run_id,
                            owner=owner,
                            heartbeat_at=now,
                            created_at=now,
                            updated_at=now,
                            version=1,
                        )
                    )
                return Claim(acquired=True, previous=None)
            except IntegrityError:
                pass
            current = self.get(destination, record_key)
            if current is None:
                continue  # forgotten in between: insert again
            if current.held_by_other(owner, self.heartbeat_timeout, now):
                return Claim(acquired=False, previous=current)
            with self._engine.begin() as conn:
                result = conn.execute(
                    _rows.update()
                    .where(self._pk(destination, record_key))
                    .where(_rows.c.version == current.version)
                    .values(
                        owner=owner,
                        run_id=run_id,
                        heartbeat_at=now,
                        updated_at=now,
                        version=current.version + 1,
                    )
                )
            if result.rowcount == 1:
                return Claim(acquired=True, previous=current)
        raise RuntimeError(f"{self!r}: could not claim {record_key!r} (constant contention)")

    def _owned_update(
        self, destination: str, record_key: str, owner: str, values: dict[str, Any]
    ) -> bool:
        now = time.time()
        with self._engine.begin() as conn:
            result = conn.execute(
                _rows.update()
                .where(self._pk(destination, record_key))
                .where(_rows.c.owner == owner)
                .values(updated_at=now, version=_rows.c.version + 1, **values)
            )
        return result.rowcount == 1

    def mark_sent(
        self,
        destination: str,
        record_key: str,
        *,
        owner: str,
        request_hash: str,
        request_kind: str,
    ) -> bool:
        """Record that the request is about to be sent (call BEFORE sending it).

        False when the caller no longer owns the row (it was taken over): do not send.
        """
        now = time.time()
        return self._owned_update(
            destination,
            record_key,
            owner,
            {
                "state": "sent",
                "request_hash": request_hash,
                "request_kind": request_kind,
                "sent_at": now,
                "heartbeat_at": now,
                "attempts": _rows.c.attempts + 1,
            },
        )

    def resolve(
        self,
        destination: str,
        record_key: str,
        *,
        owner: str,
        state: LedgerState,
        aha_id: str | None = None,
        reference_num: str | None = None,
        url: str | None = None,
        error: str | None = None,
        sent_hash: str | None = None,
        origin: str | None = None,
        sent_body: str | None = None,
        path_values: str | None = None,
    ) -> bool:
        """Record the result and release the row. ``sent_hash``: the content hash of the
        request that succeeded (kept from before when ``None``); ids, ``origin``, ``sent_body``
        and ``path_values`` are kept when ``None``."""
        if state not in ("succeeded", "failed", "ambiguous"):
            raise ValueError(f"resolve to succeeded, failed or ambiguous, not {state!r}")
        values: dict[str, Any] = {
            "state": state,
            "owner": None,
            "error": error[:_ERROR_LIMIT] if error else None,
        }
        for name, value in (
            ("aha_id", aha_id),
            ("reference_num", reference_num),
            ("url", url),
            ("sent_hash", sent_hash),
            ("origin", origin),
            ("sent_body", sent_body),
            ("path_values", path_values),
        ):
            if value is not None:
                values[name] = value
        return self._owned_update(destination, record_key, owner, values)

    def release(self, destination: str, record_key: str, *, owner: str) -> bool:
        """Give the row up without changing its state."""
        return self._owned_update(destination, record_key, owner, {"owner": None})

    def heartbeat(self, owner: str) -> int:
        """Refresh every row ``owner`` holds; returns how many."""
        self._ensure_schema()
        now = time.time()
        with self._engine.begin() as conn:
            result = conn.execute(
                _rows.update().where(_rows.c.owner == owner).values(heartbeat_at=now)
            )
        return int(result.rowcount or 0)

    def forget(self, destination: str, record_key: str) -> bool:
        """Delete a record's row (e.g. after checking in Aha! that an ``ambiguous`` create did
        not happen: the next run then sends it)."""
        self._ensure_schema()
        with self._engine.begin() as conn:
            result = conn.execute(_rows.delete().where(self._pk(destination, record_key)))
        return result.rowcount == 1

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> WriteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
