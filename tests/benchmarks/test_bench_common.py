"""The lower bound, the schedule it is built on, and the output helpers (pure, fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.common import (
    Column,
    Limits,
    earliest_schedule,
    efficiency,
    format_table,
    lower_bound,
    max_in_window,
    pages_for,
    peak_rss_bytes,
    run_in_subprocess,
    write_json,
)


def test_300_pages_fit_in_the_first_minute() -> None:
    # 15 bursts of 20, one second apart: the last one is sent at t = 14 s.
    assert lower_bound(300, Limits(), latency=1.0) == pytest.approx(15.0)
    assert lower_bound(300, Limits(), latency=0.3) == pytest.approx(14.3)


def test_request_301_waits_for_the_minute_window() -> None:
    assert lower_bound(301, Limits(), latency=0.0) == pytest.approx(60.0)
    # 1,000 writes: three full minutes of 300, then 100 more in 5 bursts of 20.
    assert lower_bound(1000, Limits(), latency=0.3) == pytest.approx(184.3)


def test_time_scale_divides_the_windows_not_the_counts() -> None:
    scaled = Limits(time_scale=10)
    assert scaled.second_window == pytest.approx(0.1)
    assert scaled.minute_window == pytest.approx(6.0)
    assert lower_bound(300, scaled, latency=0.1) == pytest.approx(1.5)
    assert lower_bound(0, scaled, latency=0.1) == 0.0
    assert lower_bound(1, scaled, latency=0.1) == pytest.approx(0.1)


def test_earliest_schedule_respects_both_windows() -> None:
    limits = Limits(per_second=20, per_minute=300)
    times = earliest_schedule(700, limits)
    assert times == sorted(times)
    # a window is (t - span, t]: shift by a hair so that boundary arrivals fall out
    assert max_in_window(times, 1.0 - 1e-9) == 20
    assert max_in_window(times, 60.0 - 1e-9) == 300
    # and it is the earliest: any later request-i start would be slower
    assert times[19] == 0.0 and times[20] == pytest.approx(1.0)
    assert times[300] == pytest.approx(60.0)


def test_pages_and_efficiency() -> None:
    assert pages_for(60_000) == 300
    assert pages_for(60_001) == 301
    assert pages_for(0) == 1
    assert efficiency(1.5, 3.0) == pytest.approx(0.5)
    assert efficiency(1.5, 0.0) is None


def test_table_and_json(tmp_path: Path) -> None:
    rows = [{"variant": "a", "wall_s": 1.23456, "n": None}, {"variant": "bb", "wall_s": 10.0}]
    text = format_table(
        rows, [Column("variant", "variant"), Column("wall_s", "wall s", "{:.2f}"), Column("n", "n")]
    )
    lines = text.splitlines()
    assert lines[0].startswith("| variant | wall s")
    assert "| a       | 1.23   | -" in lines[2]
    assert "| bb      | 10.00  | -" in lines[3]
    out = tmp_path / "out.json"
    write_json(str(out), {"results": rows})
    assert json.loads(out.read_text())["results"][1]["variant"] == "bb"


def _allocate(mib: int) -> dict[str, int]:
    block = bytearray(mib * 1024 * 1024)
    block[::4096] = b"x" * len(block[::4096])
    return {"size": len(block)}


def _fail() -> dict[str, int]:
    raise ValueError("boom in the child")


def test_subprocess_reports_its_own_peak_rss() -> None:
    small = run_in_subprocess(_allocate, {"mib": 1})
    big = run_in_subprocess(_allocate, {"mib": 80})
    assert big["size"] == 80 * 1024 * 1024
    assert big["peak_rss_bytes"] - small["peak_rss_bytes"] > 60 * 1024 * 1024
    # the parent's own peak is not inherited by the child
    assert small["peak_rss_bytes"] < max(peak_rss_bytes(), 200 * 1024 * 1024)


def test_subprocess_failure_carries_the_child_traceback() -> None:
    with pytest.raises(RuntimeError, match="boom in the child"):
        run_in_subprocess(_fail, {})
