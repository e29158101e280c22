"""Exactly once with the write ledger, with real processes against a sandbox in its own process.

* ``kill -9`` of a writer half-way, then a re-run: nothing the ledger shows as succeeded is sent
  again; a record left ``sent`` is looked up (``match_on``) or reported ``ambiguous``;
* two writers at once (threads, and separate processes), SQLite and PostgreSQL ledgers, the
  same 60 records: 60 features in the sandbox.

Every scenario checks 0 duplicates and exactly one outcome per input record.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dagster_aha.destinations import WriteLedger, write_records

from . import exactly_once_proc as proc
from .conftest import FIGURES

pytestmark = pytest.mark.faults

HELPER = str(Path(proc.__file__).resolve())
N = 60


class Sandbox:
    """The sandbox process: its URL, key, and the external ids stored (over HTTP)."""

    def __init__(self, latency: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, HELPER, "sandbox", "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        info = json.loads(self.proc.stdout.readline())
        self.url: str = info["url"]
        self.api_key: str = info["api_key"]

    def ext_counts(self, prefix: str) -> Counter[str]:
        counts: Counter[str] = Counter()
        with proc.client(self.url, self.api_key) as c:
            for f in c.iter_records(
                f"releases/{proc.RELEASE}/features", fields="custom_fields", record_key="features"
            ):
                for cf in f.get("custom_fields") or []:
                    value = cf.get("value")
                    if cf.get("key") == "external_id" and str(value).startswith(f"{prefix}-"):
                        counts[str(value)] += 1
        return counts

    def stop(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def sandbox_proc() -> Iterator[Sandbox]:
    """One sandbox process for the module (each test writes its own external-id prefix).

    Latency 0.05 s per request keeps a few writes in flight at any moment (so ``kill -9`` lands
    on requests sent without a result) and makes two writers overlap."""
    sb = Sandbox(0.05)
    try:
        yield sb
    finally:
        sb.stop()


def writer_cmd(
    sb: Sandbox, ledger: str, *, prefix: str, match_on: bool, run_id: str, **kw: Any
) -> list[str]:
    cmd = [sys.executable, HELPER, "write", "--url", sb.url, "--api-key", sb.api_key]
    cmd += ["--ledger", ledger, "--records", str(N), "--run-id", run_id, "--prefix", prefix]
    if match_on:
        cmd.append("--match-on")
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    return cmd


def write_here(
    sb: Sandbox, ledger: WriteLedger, *, prefix: str, match_on: bool, run_id: str
) -> dict[str, Any]:
    """A writer in this (the test's) process."""
    with proc.client(sb.url, sb.api_key) as c:
        rep = write_records(
            c,
            proc.destination(match_on),
            proc.records(N, prefix),
            ledger=ledger,
            run_id=run_id,
            max_concurrency=4,
        )
    return {
        "indices": [o.index for o in rep.outcomes],
        "statuses": [o.status for o in rep.outcomes],
    }


def assert_exactly_once(sb: Sandbox, prefix: str, *reports: dict[str, Any]) -> Counter[str]:
    for rep in reports:
        assert rep["indices"] == list(range(N)), "exactly one outcome per input record"
    counts = sb.ext_counts(prefix)
    dupes = {k: n for k, n in counts.items() if n > 1}
    FIGURES.add("records_checked", N)
    FIGURES.add("duplicates_found", len(dupes))
    assert dupes == {}
    return counts


def ledger_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")


@pytest.mark.parametrize("match_on", [True, False], ids=["match_on", "no-match_on"])
def test_kill_9_half_way_then_rerun(sandbox_proc: Sandbox, tmp_path: Path, match_on: bool) -> None:
    sb = sandbox_proc
    prefix = "k1" if match_on else "k2"
    ledger_path = str(tmp_path / "ledger.sqlite")
    first = subprocess.Popen(
        writer_cmd(
            sb, ledger_path, prefix=prefix, match_on=match_on, run_id="killed", heartbeat_timeout=1
        ),
        stdout=subprocess.DEVNULL,
    )
    ledger = WriteLedger(ledger_path, heartbeat_timeout=1.0, settle_seconds=0.0, wait_seconds=30)
    ident = f"{sb.url} POST releases/{proc.RELEASE}/features"
    deadline = time.monotonic() + 90
    done = 0
    while time.monotonic() < deadline and done < 15:
        try:
            done = ledger.counts(ident)["succeeded"]
        except Exception:  # the writer has not created the schema yet
            done = 0
        time.sleep(0.01)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    left = ledger.counts(ident)
    assert 15 <= left["succeeded"] < N, left  # really killed half-way
    in_flight = left["sent"]
    time.sleep(0.2)  # let the sandbox finish the requests the dead writer had in flight

    # the re-run takes over the dead writer's claims once its heartbeat is 1 s old
    second = write_here(sb, ledger, prefix=prefix, match_on=match_on, run_id="rerun")
    counts = assert_exactly_once(sb, prefix, second)
    statuses = Counter(second["statuses"])
    # nothing that succeeded was sent again (unchanged: the ledger's last request is the same)
    assert statuses["unchanged"] == left["succeeded"]
    if match_on:
        assert set(statuses) <= {"unchanged", "created"}, statuses
        assert all(counts[f"{prefix}-{i}"] == 1 for i in range(N))
    else:
        # a record the dead writer left "sent" is reported ambiguous, never re-sent
        assert statuses["ambiguous"] == in_flight, (statuses, left)
        assert set(statuses) <= {"unchanged", "created", "ambiguous"}
        assert sum(counts.values()) >= N - in_flight
    print(
        f"\nkill -9 ({'match_on' if match_on else 'no match_on'}): {N} records, killed with "
        f"{ {k: v for k, v in left.items() if v} }, re-run {dict(statuses)}, "
        f"in sandbox {sum(counts.values())}, duplicates 0"
    )


@pytest.mark.parametrize("ledger_kind", ["sqlite", "postgres"])
@pytest.mark.parametrize("how", ["threads", "processes"])
def test_two_concurrent_writers_write_each_record_once(
    sandbox_proc: Sandbox,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    ledger_kind: str,
    how: str,
) -> None:
    """Two threads of the test process, or a writer process next to the test process."""
    sb = sandbox_proc
    prefix = f"c-{how}-{ledger_kind}"
    url = ledger_for(ledger_kind, tmp_path, request)
    reports: list[dict[str, Any]] = []
    lock = threading.Lock()
    other: subprocess.Popen[str] | None = None
    if how == "processes":
        other = subprocess.Popen(
            writer_cmd(sb, url, prefix=prefix, match_on=True, run_id="p1"),
            stdout=subprocess.PIPE,
            text=True,
        )
        # start writing here once the other process has begun (its ledger rows appear)
        probe = WriteLedger(url)
        ident = f"{sb.url} POST releases/{proc.RELEASE}/features"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and other.poll() is None:
            try:
                if sum(probe.counts(ident).values()) > 0:
                    break
            except Exception:
                pass
            time.sleep(0.01)
        probe.close()

    def one(n: int) -> None:
        rep = write_here(sb, WriteLedger(url), prefix=prefix, match_on=True, run_id=f"t{n}")
        with lock:
            reports.append(rep)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(2 if other is None else 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if other is not None:
        out, _ = other.communicate(timeout=120)
        assert other.returncode == 0
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert len(reports) == 2
    counts = assert_exactly_once(sb, prefix, *reports)
    assert sum(counts.values()) == N and all(counts[f"{prefix}-{i}"] == 1 for i in range(N))
    both = Counter(s for rep in reports for s in rep["statuses"])
    # each record is created by exactly one writer; the other finds it written
    assert both["created"] == N and both["unchanged"] + both["updated"] == N, both
    print(
        f"\n2 writers ({how}, {ledger_kind} ledger): {N} records each, outcomes "
        f"{dict(both)}, in sandbox {sum(counts.values())}, duplicates 0"
    )
