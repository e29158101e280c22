"""One rate budget per Aha! account, shared exactly by every process and host that uses it.

Aha! counts requests per account/IP. :class:`RateLimiter` alone knows only its own process;
a *budget store* holds every participant's requests in one place, so that together they never
exceed the limits:

* ``"process"`` (the default): no store; the process-wide limiter plus header pacing.
* ``"host"``: a SQLite file in the temp directory, shared by every process of this user on
  this host (no service to run). ``"sqlite:///path/to/file.db"`` picks the file.
* ``"postgresql+psycopg2://user:pw@host/db"`` (any SQLAlchemy PostgreSQL URL, the same kind of
  URL as the write ledger's): one budget for a fleet (Dagster pods, several hosts).

Why a small SQL log and not ``pyrate-limiter`` or ``limits``: both were evaluated.
``limits`` has no SQLite or PostgreSQL storage. ``pyrate-limiter``'s buckets store one
immutable timestamp per admitted item (its PostgreSQL bucket also needs psycopg 3 and
psycopg_pool, while our URLs are psycopg2 SQLAlchemy URLs). The server counts a request only
when it *admits* it, one round trip after the send, so an exact shared budget must hold a slot
for a request still in flight and re-date it when the response arrives: neither library can.
SQLAlchemy (already a Dagster dependency) gives both backends with one code path.

The model (one table, one row per request, times in the *store's* clock: the host's wall clock
for SQLite, ``clock_timestamp()`` of the PostgreSQL server for a fleet, so hosts with skewed
clocks still agree):

* A request in flight counts in every window (it may be admitted any moment), until its
  response or, for a process that died, until ``hold_until``.
* A request whose response arrived at ``done`` was admitted before ``done``: it leaves a
  window of length ``span`` at ``done + span`` at the latest. A sender whose requests take at
  least ``lead`` seconds to reach admission may send once ``done + span - lead`` has passed
  (its request arrives after the old one left the server's window). ``lead`` is the sender's
  shortest recent round trip minus a margin for the server's post-admission time.
* Every sender of a host takes the lead from the round trips measured on that host (the same
  network path to Aha!; each slot records a hash of the host name it was sent from) when they
  give more than its own, so all of them see a slot free at the same moment. A process that
  just started (no round trip of its own: lead 0) would otherwise reuse a slot only a whole
  window after its response, and a busy one (its round trips vary more: a wider margin) a
  little later than the others, who take every slot first: in a full window it would starve
  until they had finished. Other hosts' round trips do not count for a sender that has none
  of its own (that host may be farther from Aha! than this one).
* A rejected request (429) is deleted: the server did not count it.
* A participant the store has kept waiting for the short window takes a *place*
  (:mod:`dagster_aha.client.budget_places`): a row the others count against the limit (places
  taken later excepted), which its owner turns into its request's slot; a process on a new
  host is not starved.

Acquiring runs in one transaction under a lock (``BEGIN IMMEDIATE`` on SQLite, an advisory
transaction lock per account on PostgreSQL): count, then insert. Admission order across
processes is not FIFO; within a process, :class:`RateLimiter` admits its threads FIFO. The
decision from the slots read is :mod:`dagster_aha.client.budget_slots`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any

from dagster_aha.client.budget_places import StorePlaces, held_place
from dagster_aha.client.budget_slots import Place, Row, SharedFloor, decide, host_origin
from dagster_aha.client.store_errors import (
    SQLITE_BUSY_TIMEOUT_S,
    guarded,
    retry_locked,
    store_errors,
)
from dagster_aha.client.store_settings import describe_store, host_store_path, store_url

__all__ = ["BudgetStore", "SharedFloor", "budget_store_for", "describe_store", "host_store_path"]


class BudgetStore(StorePlaces):
    """Request slots of every participant of an account, in a SQL database (see module doc).

    Every database failure is raised as :class:`AhaBudgetStoreError`.
    """

    def __init__(self, url: str, *, origin: str | None = None) -> None:
        #: this participant's host key in its slots (see :func:`host_origin`)
        self.origin = origin if origin is not None else host_origin()
        with store_errors(url, "be opened"):
            retry_locked(lambda: self._open_once(url))

    def _open_once(self, url: str) -> None:
        try:
            self._open(url)
        except BaseException:
            engine = getattr(self, "_engine", None)
            if engine is not None:
                self.close()  # a failed attempt keeps no connection
                del self._engine
            raise

    def _open(self, url: str) -> None:
        import sqlalchemy as sa
        from sqlalchemy import event

        self.url = url
        self._sa = sa
        self.dialect = "sqlite" if url.lower().startswith("sqlite") else "postgresql"
        if self.dialect == "sqlite":
            path = url.split(":///", 1)[1] if ":///" in url else ""
            if path and path != ":memory:":
                os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
            engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

            @event.listens_for(engine, "connect")
            def _connect(dbapi_conn: Any, _rec: Any) -> None:
                dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.close()

            @event.listens_for(engine, "begin")
            def _begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time: exact counts

            reader: Any = None
            if path and path != ":memory:":
                # reads without the write lock (WAL: they never wait for a writer)
                reader = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

                @event.listens_for(reader, "connect")
                def _connect_reader(dbapi_conn: Any, _rec: Any) -> None:
                    dbapi_conn.isolation_level = None  # autocommit: each SELECT a snapshot

        else:
            engine = sa.create_engine(url, pool_pre_ping=True, pool_size=2, max_overflow=8)
            reader = engine  # a plain transaction takes no advisory lock
        self._engine = engine
        self._reader = reader
        md = sa.MetaData()
        self._slots = sa.Table(
            "aha_rate_slots",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("account", sa.String(64), nullable=False, index=True),
            sa.Column("sent_at", sa.Float, nullable=False),
            sa.Column("done_at", sa.Float, nullable=True),
            sa.Column("hold_until", sa.Float, nullable=False),
            # the round trip its sender measured (its own clock), for the shared floor
            sa.Column("rtt", sa.Float, nullable=True),
            # the sender's host key (host_origin): whose round trips a newcomer may borrow
            sa.Column("origin", sa.String(32), nullable=True),
            # when its sender took a place for it (kept once it is sent; None: no place)
            sa.Column("reserved_at", sa.Float, nullable=True),
        )
        self._pages = sa.Table(
            "aha_page_counts",
            md,
            sa.Column("account", sa.String(64), primary_key=True),
            sa.Column("read_key", sa.String(64), primary_key=True),
            sa.Column("pages", sa.Integer, nullable=False),
            sa.Column("updated_at", sa.Float, nullable=False),
        )
        with engine.begin() as conn:
            if self.dialect == "postgresql":
                # concurrent first use by several processes: one creates the tables
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(735031)"))
            md.create_all(conn, checkfirst=True)
            columns = {c["name"] for c in sa.inspect(conn).get_columns("aha_rate_slots")}
            # a store written by an earlier version
            if "rtt" not in columns:
                conn.execute(sa.text("ALTER TABLE aha_rate_slots ADD COLUMN rtt FLOAT"))
            if "origin" not in columns:
                conn.execute(sa.text("ALTER TABLE aha_rate_slots ADD COLUMN origin VARCHAR(32)"))
            if "reserved_at" not in columns:
                conn.execute(sa.text("ALTER TABLE aha_rate_slots ADD COLUMN reserved_at FLOAT"))

    def __repr__(self) -> str:
        return f"BudgetStore({describe_store(self.url)!r})"

    # -- time and locking --------------------------------------------------------------------
    def _now(self, conn: Any) -> float:
        """The store's clock: the PostgreSQL server's for a fleet, this host's for SQLite."""
        if self.dialect == "postgresql":
            sql = "SELECT EXTRACT(EPOCH FROM clock_timestamp())"
            return float(conn.execute(self._sa.text(sql)).scalar_one())
        return time.time()

    def _now_and_lock(self, conn: Any, account: str) -> float:
        if self.dialect == "postgresql":
            key = zlib.crc32(account.encode()) - 2**31
            conn.execute(self._sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        # on SQLite, BEGIN IMMEDIATE holds the database's write lock already
        return self._now(conn)

    @staticmethod
    def account_key(base_url: str) -> str:
        """A fixed-width key for an account (its base URL; never the API key)."""
        return hashlib.sha256(base_url.encode()).hexdigest()[:32]

    # -- slots -------------------------------------------------------------------------------
    @guarded("take a request slot")
    def try_acquire(
        self,
        account: str,
        windows: Sequence[tuple[float, int]],
        lead: float | None,
        hold: float,
        *,
        floor: SharedFloor | None = None,
    ) -> tuple[int | None, float]:
        """Take one slot in every window: ``(slot id, 0.0)``, or ``(None, seconds to wait)``.

        ``windows`` are ``(span, limit)``; ``lead`` (>= 0) is the caller's shortest delay from
        send to admission, or ``None`` when the caller has too few round trips of its own.
        With ``floor`` (how many round trips are needed, the margin and the cap, see
        :class:`SharedFloor`; it gets the lead the store's round trips give), the round trips
        measured on this host give the lead when they give more than ``lead`` (or when
        ``lead`` is None; with too few of them, every participant's, capped); else 0. An
        in-flight slot is held at most ``hold`` seconds.

        A caller that has to wait learns so from a read that takes no lock, so that a poll
        does not queue behind the participants taking slots; a slot is taken under the lock,
        after the same decision on a fresh read.
        """
        slot, wait, _ = self._take(account, windows, lead, hold, floor, None)
        return slot, wait

    @guarded("take a request slot")
    def try_acquire_in_place(
        self,
        account: str,
        windows: Sequence[tuple[float, int]],
        lead: float | None,
        hold: float,
        place: Place,
        *,
        floor: SharedFloor | None = None,
    ) -> tuple[int | None, float, bool]:
        """:meth:`try_acquire` for a caller holding ``place`` (:meth:`take_place`):
        ``(slot id, wait, whether the place is still held)``.

        The place turns into the request's slot (its id) when the caller may send: by the
        ordinary decision (its place not counted against it), or once every slot that came
        before the place has left the window. A place that expired is not used: the caller
        is then an ordinary one (a new slot when one is free) and learns the place is gone.
        """
        return self._take(account, windows, lead, hold, floor, place)

    def _take(
        self,
        account: str,
        windows: Sequence[tuple[float, int]],
        lead: float | None,
        hold: float,
        floor: SharedFloor | None,
        place: Place | None,
    ) -> tuple[int | None, float, bool]:
        if self._reader is not None:
            with self._reader.connect() as conn:
                now = self._now(conn)
                rows = self._rows(conn, account)
                conn.rollback()
            held = held_place(rows, place, now)
            mine = place if held else None
            wait, _ = decide(rows, now, windows, lead, floor, self.origin, mine)
            if wait > 0:
                return None, wait, held
        sa, t = self._sa, self._slots
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            rows = self._rows(conn, account)
            held = held_place(rows, place, now)
            mine = place if held else None
            wait, expired = decide(rows, now, windows, lead, floor, self.origin, mine)
            if expired:
                longest = max(span for span, _ in windows)
                conn.execute(
                    t.delete().where(
                        t.c.account == account,
                        sa.or_(
                            sa.and_(t.c.done_at.is_not(None), t.c.done_at <= now - longest),
                            sa.and_(t.c.done_at.is_(None), t.c.hold_until <= now),
                        ),
                    )
                )
            if wait > 0:
                return None, wait, held
            if mine is not None:
                # the place becomes the request's slot (it keeps the place's time)
                conn.execute(
                    t.update()
                    .where(t.c.id == mine[0], t.c.account == account)
                    .values(sent_at=now, hold_until=now + hold)
                )
                return mine[0], 0.0, False
            slot = self._insert_slot(conn, account, now, now + hold, reserved_at=None)
            return slot, 0.0, False

    def _rows(self, conn: Any, account: str) -> list[Row]:
        """Every slot of ``account``, in one query."""
        t = self._slots
        query = self._sa.select(
            t.c.sent_at, t.c.done_at, t.c.hold_until, t.c.rtt, t.c.origin, t.c.reserved_at, t.c.id
        ).where(t.c.account == account)
        return [
            Row(
                sent=float(sent),
                done=None if done is None else float(done),
                hold_until=float(hold),
                rtt=None if rtt is None else float(rtt),
                origin=None if origin is None else str(origin),
                first=float(sent) if reserved is None else float(reserved),
                slot=int(slot),
                # a place not sent yet: sending it re-dates sent_at
                placed=reserved is not None and done is None and float(sent) == float(reserved),
            )
            for sent, done, hold, rtt, origin, reserved, slot in conn.execute(query)
        ]

    @guarded("record a response")
    def finish(
        self,
        account: str,
        slot: int,
        *,
        rejected: bool,
        age: float = 0.0,
        rtt: float | None = None,
    ) -> None:
        """The request of ``slot`` is over: rejected (429, not counted) or answered/failed.

        ``age``: seconds since its response arrived (the slot is dated then, never before it
        was sent); ``rtt``: the round trip its sender measured (for the shared lead).
        """
        sa, t = self._sa, self._slots
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            where = sa.and_(t.c.id == slot, t.c.account == account)
            if rejected:
                conn.execute(t.delete().where(where))
            else:
                at = now - max(0.0, age)
                conn.execute(
                    t.update()
                    .where(where, t.c.done_at.is_(None))
                    .values(
                        done_at=sa.case((t.c.sent_at > at, t.c.sent_at), else_=at),
                        rtt=None if rtt is None or not rtt >= 0 else float(rtt),
                    )
                )

    @guarded("count its slots")
    def in_window(self, account: str, span: float) -> int:
        """Slots counted in a window of ``span`` now (in flight included); diagnostics."""
        sa, t = self._sa, self._slots
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            return int(
                conn.execute(
                    sa.select(sa.func.count())
                    .select_from(t)
                    .where(
                        t.c.account == account,
                        sa.or_(
                            sa.and_(t.c.done_at.is_(None), t.c.hold_until > now),
                            t.c.done_at > now - span,
                        ),
                    )
                ).scalar_one()
            )

    # -- page counts of previous reads (speculative prefetch) --------------------------------
    @guarded("read a page count")
    def page_count(self, account: str, read_key: str) -> int | None:
        t = self._pages
        with (self._reader or self._engine).connect() as conn:
            row = conn.execute(
                self._sa.select(t.c.pages).where(t.c.account == account, t.c.read_key == read_key)
            ).first()
            conn.rollback()
        return None if row is None else int(row[0])

    @guarded("keep a page count")
    def set_page_count(self, account: str, read_key: str, pages: int) -> None:
        t = self._pages
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            done = conn.execute(
                t.update()
                .where(t.c.account == account, t.c.read_key == read_key)
                .values(pages=int(pages), updated_at=now)
            ).rowcount
            if not done:
                conn.execute(
                    t.insert().values(
                        account=account, read_key=read_key, pages=int(pages), updated_at=now
                    )
                )

    def close(self) -> None:
        self._engine.dispose()
        if self._reader is not None and self._reader is not self._engine:
            self._reader.dispose()


_STORES: dict[str, BudgetStore] = {}
_STORES_LOCK = threading.Lock()


def budget_store_for(setting: str | None) -> BudgetStore | None:
    """The process's store for a ``budget_store`` setting (``None`` for ``"process"``)."""
    url = store_url(setting or "process")
    if url is None:
        return None
    with _STORES_LOCK:
        store = _STORES.get(url)
        if store is None:
            store = BudgetStore(url)
            _STORES[url] = store
        return store
