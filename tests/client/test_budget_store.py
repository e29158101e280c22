"""One rate budget shared by real processes: the SQLite host store and the PostgreSQL store.

Judged by the enforcing sandbox (it rejects any request beyond its window's limit with a 429,
so 0 429s means that no window ever held more than the limit), never by wall-clock time.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from dagster_aha.client import AhaBudgetStoreError, AhaClient
from dagster_aha.client.budget_store import (
    BudgetStore,
    SharedFloor,
    budget_store_for,
    describe_store,
)
from dagster_aha.testing import AhaSandbox

READER = Path(__file__).with_name("budget_reader.py")
PROCESSES, RPS, FEATURES = 3, 6, 30  # 3 x 6 pages of 5 records; 18 requests at 6 per second


def _run_readers(aha: AhaSandbox, store: str) -> list[dict[str, int]]:
    products = [str(p["reference_prefix"]) for p in aha.state.records("products")]
    assert len(products) == PROCESSES
    start_at = time.time() + 60.0  # a deadline only: they start when all have imported
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", os.getcwd())}
    procs = [
        subprocess.Popen(
            [sys.executable, str(READER), aha.url, aha.api_key, p, store, str(RPS), str(start_at)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
        )
        for p in products
    ]
    for proc in procs:  # every process has imported: start them all at once
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        outs.append(json.loads(out.strip().splitlines()[-1]))
    return outs


def _sandbox() -> AhaSandbox:
    return AhaSandbox(
        products=PROCESSES,
        releases_per_product=1,
        features_per_release=FEATURES,
        latency=0.05,
        latency_jitter=0.05,
        requests_per_second=RPS,
        requests_per_minute=100_000,
    )


def _check(aha: AhaSandbox, outs: list[dict[str, int]]) -> None:
    assert [o["records"] for o in outs] == [FEATURES] * PROCESSES
    assert [o["unique"] for o in outs] == [FEATURES] * PROCESSES
    # every window of the server held at most its limit: it rejected nothing
    assert aha.stats.rate_limited == 0
    assert sum(o["client_429"] for o in outs) == 0
    assert aha.stats.total == PROCESSES * FEATURES // 5  # and no request was wasted


def test_host_store_shares_one_budget_between_processes(tmp_path: Path) -> None:
    with _sandbox() as aha:
        outs = _run_readers(aha, f"sqlite:///{tmp_path / 'budget.sqlite3'}")
        _check(aha, outs)


def test_postgres_store_shares_one_budget_between_processes(postgres_url: str) -> None:
    with _sandbox() as aha:
        outs = _run_readers(aha, postgres_url)
        _check(aha, outs)


def test_store_counts_requests_in_flight_and_frees_rejected_ones(tmp_path: Path) -> None:
    store = BudgetStore(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    windows = [(1.0, 2), (60.0, 100)]
    a, wait_a = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    b, _ = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert a is not None and b is not None and wait_a == 0.0
    c, wait_c = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert c is None and wait_c > 0  # two in flight fill the window
    assert store.try_acquire("other", windows, lead=0.0, hold=30.0)[0] is not None
    store.finish("acct", a, rejected=True)  # the server did not count it
    c, _ = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert c is not None
    store.finish("acct", b, rejected=False)  # answered: holds its slot one window longer
    d, wait_d = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert d is None and 0 < wait_d <= 1.0 + 1e-3
    assert store.in_window("acct", 1.0) == 2
    store.set_page_count("acct", "k", 7)
    store.set_page_count("acct", "k", 8)
    assert store.page_count("acct", "k") == 8 and store.page_count("acct", "x") is None
    store.close()


def test_a_poll_that_must_wait_does_not_queue_for_the_write_lock(tmp_path: Path) -> None:
    """A participant whose window is full learns its wait from a read: it does not line up
    behind the others' slot-taking transactions (SQLite's write lock)."""
    path = tmp_path / "b.sqlite3"
    store = BudgetStore(f"sqlite:///{path}")
    windows = [(1.0, 1), (60.0, 100)]
    first, _ = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert first is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is mid-transaction
    out: list[tuple[int | None, float]] = []
    poll = threading.Thread(
        target=lambda: out.append(store.try_acquire("acct", windows, lead=0.0, hold=30.0))
    )
    poll.start()
    poll.join(timeout=20)
    still_locked = other.in_transaction
    other.execute("ROLLBACK")
    other.close()
    poll.join(timeout=40)
    assert still_locked and out and out[0][0] is None and out[0][1] > 0
    # with the lock free and the slot answered, a caller whose requests take a whole window
    # to reach admission may send at once
    store.finish("acct", first, rejected=False)
    assert store.try_acquire("acct", windows, lead=0.0, hold=30.0)[0] is None
    assert store.try_acquire("acct", windows, lead=1.0, hold=30.0)[0] is not None
    store.close()


def test_every_participant_of_a_host_takes_the_hosts_lead(tmp_path: Path) -> None:
    """A process with no round trip of its own joins a window that the others fill: it takes
    the lead from round trips measured on its host, so it reuses a slot as soon as they do.
    From another host's round trips alone (possibly a longer path to Aha!) it keeps lead 0
    until its own first response."""
    url = f"sqlite:///{tmp_path / 'b.sqlite3'}"
    busy, here, elsewhere = (BudgetStore(url, origin=o) for o in ("host-a", "host-a", "host-b"))
    windows = [(10.0, 8), (60.0, 100)]  # a long short window: nothing here races the clock
    slots = [busy.try_acquire("acct", windows, lead=0.0, hold=30.0)[0] for _ in range(8)]
    for slot in slots:  # a busy participant's burst, answered after a 10 s round trip
        assert slot is not None
        busy.finish("acct", slot, rejected=False, rtt=10.0)
    time.sleep(0.1)  # its slots left the server's window (admitted >= 9.98 s before the answers)
    assert busy.try_acquire("acct", windows, lead=9.98, hold=30.0)[0] is not None
    borrowed = SharedFloor(samples=8, margin=0.02, cap=None)
    slot, _ = here.try_acquire("acct", windows, lead=None, hold=30.0, floor=borrowed)
    assert slot is not None and borrowed.lead == pytest.approx(9.98)
    # one whose own round trips give a shorter lead (a busy process: a wider margin) sees the
    # slots free when the others of its host do, not after them
    assert here.try_acquire("acct", windows, lead=5.0, hold=30.0)[0] is None
    wide = SharedFloor(samples=8, margin=0.02, cap=9.99)
    slot, _ = here.try_acquire("acct", windows, lead=5.0, hold=30.0, floor=wide)
    assert slot is not None and wide.lead == pytest.approx(9.98)
    unknown = SharedFloor(samples=8, margin=0.02, cap=None)
    slot, wait = elsewhere.try_acquire("acct", windows, lead=None, hold=30.0, floor=unknown)
    # it would reuse a slot a whole window after them, and polls meanwhile (a host's round
    # trip may come any moment)
    assert slot is None and unknown.lead == 0.0 and 0 < wait <= 0.05 * 10.0
    assert elsewhere.try_acquire("acct", windows, lead=0.0, hold=30.0)[1] > 5.0
    # with a round trip of its own, the other host may use every participant's, up to its own
    capped = SharedFloor(samples=8, margin=0.02, cap=5.0)
    elsewhere.try_acquire("acct", windows, lead=None, hold=30.0, floor=capped)
    assert capped.lead == pytest.approx(5.0)
    for store in (busy, here, elsewhere):
        store.close()


def test_a_store_written_by_an_earlier_version_gains_the_new_columns(tmp_path: Path) -> None:
    """A host store left by an earlier release (no round trips, no host keys): opened again,
    it gains the columns, and the requests it holds still count."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE aha_rate_slots (id INTEGER PRIMARY KEY AUTOINCREMENT, "
        "account VARCHAR(64) NOT NULL, sent_at FLOAT NOT NULL, done_at FLOAT, "
        "hold_until FLOAT NOT NULL)"
    )
    now = time.time()
    old.execute(
        "INSERT INTO aha_rate_slots (account, sent_at, done_at, hold_until) VALUES (?, ?, ?, ?)",
        ("acct", now, None, now + 30.0),  # a request of the old release, in flight
    )
    old.commit()
    old.close()
    store = BudgetStore(f"sqlite:///{path}")
    windows = [(1.0, 2), (60.0, 100)]
    assert store.try_acquire("acct", windows, lead=0.0, hold=30.0)[0] is not None
    assert store.try_acquire("acct", windows, lead=0.0, hold=30.0)[0] is None  # 2 in flight
    check = sqlite3.connect(path)
    columns = {row[1] for row in check.execute("PRAGMA table_info(aha_rate_slots)")}
    check.close()
    assert {"rtt", "origin"} <= columns
    store.close()


def test_the_store_forgets_expired_slots_and_dead_senders(tmp_path: Path) -> None:
    store = BudgetStore(f"sqlite:///{tmp_path / 'b.sqlite3'}")
    windows = [(1.0, 1), (60.0, 100)]
    dead, _ = store.try_acquire("acct", windows, lead=0.0, hold=0.05)  # never answers
    assert dead is not None
    time.sleep(0.1)  # past its hold: its sender is presumed dead
    alive, _ = store.try_acquire("acct", windows, lead=0.0, hold=30.0)
    assert alive is not None and store.in_window("acct", 1.0) == 1


def test_budget_store_setting() -> None:
    assert budget_store_for("process") is None and budget_store_for(None) is None
    assert describe_store("postgresql+psycopg2://u:secret@h/db") == (
        "postgresql+psycopg2://u:***@h/db"
    )
    with pytest.raises(ValueError, match="budget_store"):
        budget_store_for("redis://localhost")


def test_an_unreachable_store_is_a_typed_error_without_its_password() -> None:
    url = "postgresql+psycopg2://aha:s3cr3t-pw@127.0.0.1:1/budget"  # nothing listens on port 1
    with pytest.raises(AhaBudgetStoreError) as info:
        BudgetStore(url)
    err = info.value
    assert "s3cr3t-pw" not in str(err) and "s3cr3t-pw" not in repr(err)
    assert err.store == "postgresql+psycopg2://aha:***@127.0.0.1:1/budget"
    assert "could not be opened" in str(err) and "OperationalError" in str(err)
    with pytest.raises(AhaBudgetStoreError):
        AhaClient(api_key="k", base_url="http://127.0.0.1:9", budget_store=url)


def test_a_store_that_fails_sends_nothing_and_an_answered_request_still_counts(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with AhaSandbox(products=1, releases_per_product=1, features_per_release=2) as aha:
        client = AhaClient(
            api_key=aha.api_key,
            base_url=aha.url,
            budget_store=f"sqlite:///{tmp_path / 'b.sqlite3'}",
        )
        store = client.rate_limiter.store
        assert store is not None
        assert client.me()["id"]
        # the store breaks after it has taken a slot: the answered request is not failed
        real_finish = store.finish

        def broken_finish(*args: object, **kwargs: object) -> None:
            raise AhaBudgetStoreError(message="budget store x could not record a response")

        store.finish = broken_finish  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="dagster_aha.client"):
            assert client.me()["id"]
        assert "the slot stays held until it expires" in caplog.text
        store.finish = real_finish  # type: ignore[method-assign]
        # the database goes away: the next request fails before anything is sent
        sent = aha.stats.total
        gone = tmp_path / "gone" / "b.sqlite3"
        store._engine = store._sa.create_engine(f"sqlite:///{gone}")
        store._reader = None
        with pytest.raises(AhaBudgetStoreError, match="could not take a request slot"):
            client.me()
        assert aha.stats.total == sent
        client.close()


def _locked_at_once(tmp_path: Path) -> Exception:
    """A real "database is locked" that SQLite returns without its busy wait (a stale WAL
    snapshot: SQLITE_BUSY_SNAPSHOT), as SQLAlchemy raises it."""
    from sqlalchemy.exc import OperationalError

    db = str(tmp_path / "snap.sqlite3")
    a = sqlite3.connect(db, isolation_level=None)
    a.execute("PRAGMA journal_mode=WAL")
    a.execute("CREATE TABLE x (i INTEGER)")
    b = sqlite3.connect(db, timeout=5, isolation_level=None)
    b.execute("BEGIN")
    b.execute("SELECT * FROM x").fetchall()
    a.execute("INSERT INTO x VALUES (1)")
    started = time.monotonic()
    try:
        b.execute("INSERT INTO x VALUES (2)")
    except sqlite3.OperationalError as exc:
        assert time.monotonic() - started < 1.0  # at once, not after the 5 s busy timeout
        return OperationalError("INSERT INTO x VALUES (2)", {}, exc)
    finally:
        b.close()
        a.close()
    raise AssertionError("SQLite did not report the stale snapshot")


def test_a_lock_sqlite_reports_at_once_is_retried_and_other_errors_are_not(
    tmp_path: Path,
) -> None:
    """Several processes opening a new store file at once sometimes get "database is locked"
    from SQLite without its busy wait (2 of 90 openings of 6 processes): that is retried
    after a short pause, within a deadline; any other database error is raised at once."""
    from sqlalchemy.exc import OperationalError

    from dagster_aha.client.store_errors import retry_locked

    locked = _locked_at_once(tmp_path)
    calls: list[float] = []

    def flaky() -> str:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise locked
        return "opened"

    assert retry_locked(flaky) == "opened"
    assert len(calls) == 3

    other = OperationalError("SELECT 1", {}, sqlite3.OperationalError("no such table: x"))
    calls.clear()

    def broken() -> None:
        calls.append(time.monotonic())
        raise other

    with pytest.raises(OperationalError, match="no such table"):
        retry_locked(broken)
    assert len(calls) == 1

    def always_locked() -> None:
        calls.append(time.monotonic())
        raise locked

    calls.clear()
    started = time.monotonic()
    with pytest.raises(OperationalError, match="database is locked"):
        retry_locked(always_locked, deadline_s=0.3)
    assert time.monotonic() - started < 5.0  # the deadline holds
    assert len(calls) >= 2

    def locked_after_the_busy_wait() -> None:  # another process holds the lock: raised
        calls.append(time.monotonic())
        raise locked

    calls.clear()
    with pytest.raises(OperationalError):
        retry_locked(locked_after_the_busy_wait, waited_s=0.0)
    assert len(calls) == 1


def test_processes_opening_a_new_store_together_all_get_it(tmp_path: Path) -> None:
    """Six processes open the same new store file at the same moment: every one gets it."""
    url = f"sqlite:///{tmp_path / 'new' / 'budget.sqlite3'}"
    start = time.time() + 3.0
    code = (
        "import sys, time\n"
        "from dagster_aha.client.budget_store import BudgetStore\n"
        f"while time.time() < {start!r}: pass\n"
        "BudgetStore(sys.argv[1]).close()\n"
        "print('opened')\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 6, [err[-500:] for _, err in outs]
    assert all(out.strip() == "opened" for out, _ in outs)
