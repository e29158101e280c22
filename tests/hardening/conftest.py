"""Shared settings and figures of the reliability and security hardening suite.

Every sandbox here is small, answers with latency 0 and advertises "rate limits off"; 429 storms
use a tiny scaled window (``time_scale``), clients back off for milliseconds and time out after
0.3 s so that ``slow`` faults (0.45 s) are just beyond the client timeout.

The suite's figures (faults injected, records checked, duplicates, leaks, hostile inputs) are
accumulated in :data:`FIGURES` and printed in the terminal summary.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from dagster_aha.client import reset_shared_limiters
from dagster_aha.testing import AhaSandbox

#: A recognisable API key: it must appear 0 times in any log, event, error or repr.
CANARY_KEY = "sk-LEAKCANARY-1234567890"

#: "Rate limits off" on both sides (the sandbox still sends X-Ratelimit headers; advertise the
#: client's "off" limits), and a scaled window so an injected 429 resets after ~1 ms.
FAST_SANDBOX: dict[str, Any] = {
    "enforce_rate_limits": False,
    "requests_per_second": 1_000_000,
    "requests_per_minute": 60_000_000,
    "time_scale": 1000.0,
    "latency": 0.0,
}

CLIENT_TIMEOUT = 0.3
SLOW_DELAY = 0.45  # just beyond the client timeout

#: Client settings: tiny backoff, short timeout, a retry budget that survives ~40% fault rates.
FAST_CLIENT: dict[str, Any] = {
    "timeout": CLIENT_TIMEOUT,
    "backoff_base": 0.001,
    "backoff_max": 0.005,
    "max_retries": 8,
    # Not the sandbox's advertised limits: a client that recognises the advertised limit as its
    # own per-second window paces a 429 over a real second; unrecognised, it follows the
    # (scaled, ~1 ms) X-Ratelimit-Reset.
    "requests_per_second": 2_000_000,
    "requests_per_minute": 120_000_000,
}


class Figures:
    """Thread-safe counters reported at the end of the session."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.faults_by_kind: Counter[str] = Counter()
        self.fault_tests: set[str] = set()  # fault-matrix tests that recorded their faults
        self.collected: set[str] = set()  # every fault-matrix test collected (pre-selection)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self.counts[name] += n

    def add_faults(self, test_id: str, by_kind: dict[str, int]) -> int:
        total = sum(by_kind.values())
        with self._lock:
            self.faults_by_kind.update(by_kind)
            self.counts["faults_injected"] += total
            self.fault_tests.add(test_id)
        return total


FIGURES = Figures()


def record_faults(request: pytest.FixtureRequest, sandbox: AhaSandbox) -> int:
    """Add the faults ``sandbox`` injected so far to the session figures; return their number."""
    return FIGURES.add_faults(request.node.nodeid, sandbox.stats.faults_injected)


#: the modules of the seeded fault matrix: each of their tests records the faults it injected
#: (the other `faults`-marked tests script their faults and assert on them directly)
MATRIX_MODULES = ("test_fault_matrix_reads", "test_fault_matrix_writes", "test_crash_resume")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Remember the whole fault matrix before ``-k``/``-m`` deselect part of it."""
    FIGURES.collected.update(
        item.nodeid
        for item in items
        if item.get_closest_marker("faults") is not None
        and "/hardening/" in item.nodeid.replace("\\", "/")
        and any(f"/{module}.py::" in item.nodeid for module in MATRIX_MODULES)
        and "test_most_extractions" not in item.nodeid
    )


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    reset_shared_limiters()
    yield
    reset_shared_limiters()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    c = FIGURES.counts
    if not c:
        return
    tr = terminalreporter
    tr.section("dagster_aha hardening figures")
    tr.write_line(f"faults injected:      {c['faults_injected']}  {dict(FIGURES.faults_by_kind)}")
    tr.write_line(f"records checked:      {c['records_checked']}")
    tr.write_line(f"duplicates found:     {c['duplicates_found']}")
    tr.write_line(f"leak scans (texts):   {c['leak_texts_scanned']}, leaks found: {c['leaks']}")
    tr.write_line(f"hostile inputs tried: {c['hostile_inputs']}")
    tr.write_line(
        f"key echo forms tried: {c['echo_forms_tried']} (in {c['echo_texts_checked']} texts), "
        f"shown after decoding: {c['echo_leaks']}"
    )
    tr.write_line(
        f"hostile hosts tried:  {c['hostile_hosts']}, accepted: {c['hostile_hosts_accepted']}"
    )
    tr.write_line(
        f"deadlines hit:        {c['deadlines_hit']} (longest attempt "
        f"{c['longest_attempt_ms'] / 1000:.2f} s for a {c['deadline_timeout_ms'] / 1000:.2f} s "
        f"timeout), wait budgets hit: {c['wait_budgets_hit']}"
    )
    tr.write_line(
        f"bytes capped:         {c['responses_capped']} response(s), "
        f"{c['bytes_refused'] / 2**20:.1f} MiB offered, "
        f"{c['bytes_read_when_capped'] / 2**20:.1f} MiB read"
    )
