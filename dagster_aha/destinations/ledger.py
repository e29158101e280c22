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

import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from dagster_aha.destinations.ledger_rows import (
    ADDED_COLUMNS,
    LEDGER_STATES,
    SCHEMA_VERSION,
    Claim,
    LedgerEntry,
    LedgerState,
    ledger_key,
    meta_table,
    metadata,
    rows_table,
    sha,
    to_entry,
)

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

#: Environment variable with the SQLAlchemy URL of the ledger Dagster runs use by default.
LEDGER_URL_ENV = "DAGSTER_AHA_WRITE_LEDGER_URL"
DEFAULT_FILENAME = "aha_write_ledger.sqlite"
_ERROR_LIMIT = 2000


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
                    metadata.create_all(self._engine, checkfirst=True)
                    break
                except (IntegrityError, OperationalError, ProgrammingError):
                    # another process created the tables at the same moment
                    if attempt == 4:
                        raise
                    time.sleep(0.1 * (attempt + 1))
            self._add_missing_columns()
            with self._engine.connect() as conn:
                found = conn.execute(
                    sa.select(meta_table.c.value).where(meta_table.c.name == "schema_version")
                ).scalar()
            if found is None:
                try:
                    with self._engine.begin() as conn:
                        conn.execute(
                            meta_table.insert().values(
                                name="schema_version", value=str(SCHEMA_VERSION)
                            )
                        )
                except IntegrityError:
                    pass  # another writer recorded it first
            elif int(found) < SCHEMA_VERSION:
                with self._engine.begin() as conn:
                    conn.execute(
                        meta_table.update()
                        .where(meta_table.c.name == "schema_version")
                        .where(meta_table.c.value == found)
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
            present = {c["name"] for c in sa.inspect(self._engine).get_columns(rows_table.name)}
            missing = [(n, t) for n, t in ADDED_COLUMNS if n not in present]
            if not missing:
                return
            try:
                with self._engine.begin() as conn:
                    for name, ddl in missing:
                        conn.execute(
                            sa.text(f"ALTER TABLE {rows_table.name} ADD COLUMN {name} {ddl}")
                        )
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
                sa.select(meta_table.c.value).where(meta_table.c.name == "schema_version")
            ).scalar()
        return int(value or SCHEMA_VERSION)

    # -- reads -------------------------------------------------------------------------

    @staticmethod
    def _pk(destination: str, record_key: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            rows_table.c.destination_hash == sha(destination),
            rows_table.c.key_hash == sha(record_key),
        )

    def get(self, destination: str, record_key: str) -> LedgerEntry | None:
        """The row of one record, or ``None``."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(rows_table).where(self._pk(destination, record_key))
            ).first()
        return to_entry(row) if row is not None else None

    def entries(
        self, destination: str, *, states: Sequence[str] | None = None
    ) -> Iterator[LedgerEntry]:
        """Every row of a destination (optionally only some states), by record key."""
        self._ensure_schema()
        query = (
            sa.select(rows_table)
            .where(rows_table.c.destination_hash == sha(destination))
            .order_by(rows_table.c.key_hash)
        )
        if states is not None:
            query = query.where(rows_table.c.state.in_(list(states)))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        for row in rows:
            yield to_entry(row)

    def destinations(self) -> list[str]:
        """The destination identities that have rows."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            return sorted(
                r[0] for r in conn.execute(sa.select(rows_table.c.destination).distinct()).all()
            )

    def counts(self, destination: str) -> dict[str, int]:
        """``{state: rows}`` of a destination (every state, zeros included)."""
        self._ensure_schema()
        with self._engine.connect() as conn:
            found = dict(
                conn.execute(
                    sa.select(rows_table.c.state, sa.func.count())
                    .where(rows_table.c.destination_hash == sha(destination))
                    .group_by(rows_table.c.state)
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
                        rows_table.insert().values(
                            destination_hash=sha(destination),
                            key_hash=sha(record_key),
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
                    rows_table.update()
                    .where(self._pk(destination, record_key))
                    .where(rows_table.c.version == current.version)
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
                rows_table.update()
                .where(self._pk(destination, record_key))
                .where(rows_table.c.owner == owner)
                .values(updated_at=now, version=rows_table.c.version + 1, **values)
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
                "attempts": rows_table.c.attempts + 1,
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
                rows_table.update().where(rows_table.c.owner == owner).values(heartbeat_at=now)
            )
        return int(result.rowcount or 0)

    def forget(self, destination: str, record_key: str) -> bool:
        """Delete a record's row (e.g. after checking in Aha! that an ``ambiguous`` create did
        not happen: the next run then sends it)."""
        self._ensure_schema()
        with self._engine.begin() as conn:
            result = conn.execute(rows_table.delete().where(self._pk(destination, record_key)))
        return result.rowcount == 1

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> WriteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
