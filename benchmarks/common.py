"""Shared helpers of the benchmarks: the theoretical lower bound, per-variant subprocesses
with peak RSS, and table/JSON output.

The lower bound
---------------
Aha! allows ``per_second`` requests in any sliding window of ``1 s`` and ``per_minute``
requests in any sliding window of ``60 s`` (both windows divided by ``time_scale`` when the
benchmark compresses time). The earliest time at which request ``i`` (0-based) may *arrive* at
the server is::

    t_0 = 0
    t_i = max(t_{i-1},
              t_{i-per_second} + 1 s / time_scale   if i >= per_second,
              t_{i-per_minute} + 60 s / time_scale  if i >= per_minute)

(greedy earliest schedule; any schedule that respects both windows is at least as late
request by request). The last response cannot come back before ``t_{N-1} + latency``, so::

    bound(N) = t_{N-1} + latency

The bound ignores everything a real client cannot avoid but the limits do not impose: the
round trip of the first page (a client must read ``total_pages`` before it knows which pages
to ask for), server time spent serialising pages, and jitter. It is a strict lower bound,
so efficiency = bound / wall is at most 1.0 and a client reaches about
``bound / (bound + latency)`` at best.

Example (real time, ``time_scale=1``): 300 pages of 200 records = 60,000 records fit in the
first minute's budget: 15 bursts of 20 one second apart, so ``t_299 = 14 s`` and
``bound = 14 s + latency``. Request 301 could only be sent at ``t = 60 s``: the per-minute
window is a cliff.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PER_SECOND = 20
PER_MINUTE = 300
RECORDS_PER_PAGE = 200


@dataclass(frozen=True)
class Limits:
    """The two sliding windows of Aha!'s rate limit, optionally compressed in time."""

    per_second: int = PER_SECOND
    per_minute: int = PER_MINUTE
    time_scale: float = 1.0

    @property
    def second_window(self) -> float:
        return 1.0 / self.time_scale

    @property
    def minute_window(self) -> float:
        return 60.0 / self.time_scale


def earliest_schedule(n_requests: int, limits: Limits) -> list[float]:
    """Earliest arrival times of ``n_requests`` requests that respect both sliding windows."""
    times: list[float] = []
    for i in range(n_requests):
        t = times[-1] if times else 0.0
        if i >= limits.per_second:
            t = max(t, times[i - limits.per_second] + limits.second_window)
        if i >= limits.per_minute:
            t = max(t, times[i - limits.per_minute] + limits.minute_window)
        times.append(t)
    return times


def lower_bound(n_requests: int, limits: Limits, latency: float) -> float:
    """Seconds before the last of ``n_requests`` responses can arrive (see module doc)."""
    if n_requests <= 0:
        return 0.0
    return earliest_schedule(n_requests, limits)[-1] + latency


def pages_for(records: int, per_page: int = RECORDS_PER_PAGE) -> int:
    """Number of list requests needed for ``records`` records (at least one)."""
    return max(1, -(-records // per_page))


def max_in_window(arrivals: Sequence[float], window: float) -> int:
    """Largest number of arrivals observed in any sliding window of ``window`` seconds."""
    best = 0
    q: deque[float] = deque()
    for t in sorted(arrivals):
        q.append(t)
        while q and q[0] <= t - window:
            q.popleft()
        best = max(best, len(q))
    return best


# --------------------------------------------------------------------------- subprocesses


def peak_rss_bytes() -> int:
    """Peak resident set size of the calling process, in bytes.

    Reads ``VmHWM`` from ``/proc/self/status`` (Linux): unlike ``getrusage().ru_maxrss``, it
    is per address space, so a spawned child does not inherit its parent's peak (the kernel
    carries ``ru_maxrss`` across fork+exec). Elsewhere falls back to ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def _child(
    fn: Callable[..., dict[str, Any]],
    kwargs: Mapping[str, Any],
    conn: Any,
    env: Mapping[str, str],
) -> None:
    os.environ.update(env)
    try:
        result = fn(**kwargs)
        # a variant that resets its VmHWM between steps reports its own peak
        result["peak_rss_bytes"] = max(result.get("peak_rss_bytes", 0), peak_rss_bytes())
        conn.send(("ok", result))
    except BaseException as exc:  # report every failure to the parent, then exit
        conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
    finally:
        conn.close()


class Subprocess:
    """``fn(**kwargs)`` running in a fresh *spawned* interpreter; :meth:`result` returns its
    result dict plus ``peak_rss_bytes`` of that interpreter, so that each variant's memory is
    its own. ``fn`` must be importable (module level)."""

    def __init__(
        self,
        fn: Callable[..., dict[str, Any]],
        kwargs: Mapping[str, Any],
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = getattr(fn, "__name__", "benchmark")
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child, args=(fn, dict(kwargs), child, dict(env or {})))
        self._proc.start()
        child.close()

    def result(self, timeout: float = 900.0) -> dict[str, Any]:
        """Wait for the result; raise ``RuntimeError`` (with the child's traceback) on failure."""
        proc = self._proc
        try:
            if not self._conn.poll(timeout):
                raise RuntimeError(f"{self.name} did not finish within {timeout:.0f} s")
            try:
                status, payload = self._conn.recv()
            except EOFError:
                proc.join(timeout=30)
                raise RuntimeError(
                    f"{self.name}: its subprocess exited (code {proc.exitcode}) without a result"
                ) from None
        finally:
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()
                proc.join()
            self._conn.close()
        if status != "ok":
            raise RuntimeError(f"{self.name} failed in its subprocess: {payload}")
        return payload


def run_in_subprocess(
    fn: Callable[..., dict[str, Any]],
    kwargs: Mapping[str, Any],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
) -> dict[str, Any]:
    """``Subprocess(fn, kwargs).result()``: one variant in its own interpreter."""
    return Subprocess(fn, kwargs, env=env).result(timeout)


class Stopwatch:
    """``with Stopwatch() as sw: ...; sw.elapsed`` (monotonic seconds)."""

    def __init__(self) -> None:
        self.start = 0.0
        self.elapsed = 0.0

    def __enter__(self) -> Stopwatch:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


# --------------------------------------------------------------------------- output


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    fmt: str = "{}"


def _cell(row: Mapping[str, Any], col: Column) -> str:
    value = row.get(col.key)
    if value is None:
        return "-"
    try:
        return col.fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """A GitHub-flavoured Markdown table (readable in a terminal as well)."""
    cells = [[_cell(r, c) for c in columns] for r in rows]
    widths = [max([len(c.title)] + [len(line[i]) for line in cells]) for i, c in enumerate(columns)]
    out = ["| " + " | ".join(c.title.ljust(w) for c, w in zip(columns, widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in cells:
        out.append("| " + " | ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)) + " |")
    return "\n".join(out)


def write_json(path: str | None, payload: Mapping[str, Any]) -> None:
    if not path:
        return
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")


def mib(n_bytes: float | None) -> float | None:
    return None if n_bytes is None else n_bytes / (1024 * 1024)


def efficiency(bound: float, wall: float) -> float | None:
    return None if wall <= 0 else bound / wall


def wait_for_windows(limits: Limits, margin: float = 0.2) -> None:
    """Sleep until every request of a previous variant has left both sliding windows, so
    each variant starts with the full budget."""
    time.sleep(limits.minute_window + margin * limits.second_window + 0.05)
