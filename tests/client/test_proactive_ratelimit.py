"""Proactive rate limiting (4): the local windows, FIFO admission, header pacing."""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from dagster_aha import (
    AhaClient,
)
from dagster_aha.client import RateLimiter, get_shared_limiter

API_KEY = "sk-test-SECRET-0123456789abcdef"


# 4. proactive rate limiting ---
class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0
        self.slept = 0.0

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall + (self.now - 1000.0)

    def sleep(self, s: float) -> None:
        self.slept += s
        self.now += s


def _limiter(rps: float, rpm: float, ft: FakeTime) -> RateLimiter:
    return RateLimiter(
        rps, rpm, clock=ft.clock, wall_clock=ft.wall_clock, sleep=ft.sleep, slow_start=False
    )


@pytest.mark.parametrize(
    ("rps", "rpm", "limit", "span", "n"),
    [(5, 1000, 5, 1.0, 12), (100, 10, 10, 60.0, 25)],
    ids=["per-second", "per-minute"],
)
def test_limiter_enforces_each_window(
    rps: float, rpm: float, limit: int, span: float, n: int
) -> None:
    ft = FakeTime()
    lim = _limiter(rps, rpm, ft)
    sends = []
    for _ in range(n):
        lim.acquire()
        sends.append(ft.now)
    for i in range(limit, n):
        assert sends[i] - sends[i - limit] >= span - 1e-9
    assert sends[limit - 1] - sends[0] < 1e-9  # the first window's budget goes at once
    assert ft.now - 1000.0 == pytest.approx((n - 1) // limit * span)


def test_limiter_real_time_both_windows_small() -> None:
    lim = RateLimiter(4, 6, second_window=0.2, minute_window=0.6, slow_start=False)
    t0 = time.monotonic()
    stamps = []
    for _ in range(9):
        lim.acquire()
        stamps.append(time.monotonic() - t0)
    for i in range(4, 9):
        assert stamps[i] - stamps[i - 4] >= 0.2 - 0.01
    for i in range(6, 9):
        assert stamps[i] - stamps[i - 6] >= 0.6 - 0.01
    assert stamps[-1] < 1.0


def test_limiter_thread_safe() -> None:
    lim = RateLimiter(10, 1000, second_window=0.2, slow_start=False)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            lim.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stamps.sort()
    assert len(stamps) == 30
    for i in range(10, 30):
        assert stamps[i] - stamps[i - 10] >= 0.2 - 0.01


def test_limiter_admits_callers_in_arrival_order() -> None:
    """First come, first served: a waiting caller is never overtaken by a later one (a
    paginated read's next page in order must not starve behind the pages after it)."""
    lim = RateLimiter(2, 1000, second_window=0.15, slow_start=False)
    lim.acquire()
    lim.acquire()  # the window is full: every caller below has to wait
    order: list[int] = []
    lock = threading.Lock()

    def worker(k: int) -> None:
        lim.acquire()
        with lock:
            order.append(k)

    threads = []
    for k in range(8):
        t = threading.Thread(target=worker, args=(k,))
        t.start()
        threads.append(t)
        deadline = time.monotonic() + 5.0
        while lim.waiting < k + 1 - len(order) and time.monotonic() < deadline:
            time.sleep(0.001)  # caller k is queued before caller k + 1 starts
    for t in threads:
        t.join()
    assert order == list(range(8))
    assert lim.waiting == 0


def test_a_caller_interrupted_while_waiting_does_not_block_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lim = RateLimiter(1, 1000, second_window=0.2, slow_start=False)
    lim.acquire()  # the window is full: the next caller has to wait
    real_wait = threading.Condition.wait
    interrupted = False

    def wait_once_interrupted(self: threading.Condition, timeout: float | None = None) -> bool:
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt  # e.g. Ctrl-C while the caller waits
        return real_wait(self, timeout)

    monkeypatch.setattr(threading.Condition, "wait", wait_once_interrupted)
    with pytest.raises(KeyboardInterrupt):
        lim.acquire()
    assert lim.waiting == 0  # its place in the queue was given up
    t0 = time.monotonic()
    lim.acquire()  # the next caller is admitted when the window frees, not blocked forever
    assert time.monotonic() - t0 < 30.0


def test_limiter_shared_per_account(httpserver: HTTPServer) -> None:
    base = httpserver.url_for("/").rstrip("/")
    a = AhaClient(api_key="k1", base_url=base)
    b = AhaClient(api_key="k2", base_url=base)
    c = AhaClient(api_key="k1", base_url=base, requests_per_second=5)
    d = AhaClient("acme", "k1")
    assert a.rate_limiter is b.rate_limiter is get_shared_limiter(base, 20, 300)
    assert c.rate_limiter is not a.rate_limiter
    assert d.rate_limiter is not a.rate_limiter


def test_header_remaining_zero_blocks_until_reset() -> None:
    ft = FakeTime()
    lim = _limiter(100, 10_000, ft)
    lim.update_from_headers(
        {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": str(int(ft.wall_clock()) + 3)}
    )
    lim.acquire()
    assert ft.slept == pytest.approx(3.0)


def test_header_unknown_window_spreads_remaining_until_reset() -> None:
    ft = FakeTime()
    lim = _limiter(100, 10_000, ft)
    # Limit 50 matches neither configured window: spread 4 requests over 2 seconds
    lim.update_from_headers(
        {"X-Ratelimit-Limit": "50", "X-Ratelimit-Remaining": "4", "x-ratelimit-reset": "2"}
    )
    sends = []
    for _ in range(4):
        lim.acquire()
        sends.append(ft.now - 1000.0)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert all(g >= 0.4 for g in gaps), sends
    assert sends[-1] <= 2.0 + 1e-9


def test_header_known_window_self_clocks_when_shared() -> None:
    """With foreign usage near the limit, a process only reuses its own slots as they leave."""
    ft = FakeTime()
    lim = RateLimiter(
        20,
        300,
        clock=ft.clock,
        wall_clock=ft.wall_clock,
        sleep=ft.sleep,
        slow_start=False,
        rng=random.Random(0),
    )
    for _ in range(3):
        lim.acquire()
        ft.now += 1.0
    # server: 290 of 300 used in the minute window, only 3 of them ours -> shared
    lim.update_from_headers(
        {
            "X-Ratelimit-Limit": "300",
            "X-Ratelimit-Remaining": "10",
            "X-Ratelimit-Reset": str(int(ft.wall_clock()) + 50),
        }
    )
    assert lim.foreign[60.0] == 287.0
    start = ft.now
    lim.acquire()  # must wait for our first send (t=1000) to leave the 60 s window
    assert ft.now >= 1000.0 + 60.0
    assert ft.now - start < 60.0
    # budget back (others stopped, but they were here): the cap grows by a share of the spare
    lim.update_from_headers(
        {"X-Ratelimit-Limit": "300", "X-Ratelimit-Remaining": "250", "X-Ratelimit-Reset": "60"}
    )
    t = ft.now
    for _ in range(5):
        lim.acquire()
    assert ft.now - t < 1.0
    assert lim.caps[60.0] >= 2 + 5


def test_header_known_window_alone_means_no_cap() -> None:
    """The server counting exactly our own requests never slows us down; foreign usage does."""
    ft = FakeTime()
    lim = _limiter(1000, 300, ft)
    lim.acquire()
    lim.update_from_headers(
        {"X-Ratelimit-Limit": "300", "X-Ratelimit-Remaining": "299", "X-Ratelimit-Reset": "60"}
    )
    assert lim.caps == {} and lim.foreign[60.0] == 0.0
    lim.acquire()
    lim.update_from_headers(
        {"X-Ratelimit-Limit": "300", "X-Ratelimit-Remaining": "20", "X-Ratelimit-Reset": "60"}
    )
    # 280 counted, 2 ours: shared; the spare budget is below the reserve -> give back (>= 1)
    assert lim.foreign[60.0] == 278.0
    assert lim.caps == {60.0: 1}


def test_client_feeds_headers_to_limiter(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/me").respond_with_json(
        {"user": {"id": "1"}},
        headers={
            "X-Ratelimit-Limit": "77",
            "X-Ratelimit-Remaining": "0",
            "X-Ratelimit-Reset": "0.3",
        },
    )
    c = make_client()
    c.me()
    t0 = time.monotonic()
    c.me()  # waits for the reset announced by the previous response
    assert time.monotonic() - t0 >= 0.25


class SlidingWindowServer:
    """Server-side sliding window with Aha!-style headers (429s do not count)."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.hits: list[float] = []
        self.lock = threading.Lock()
        self.ok = 0
        self.rejected = 0

    def __call__(self, request: Request) -> Response:
        with self.lock:
            now = time.monotonic()
            self.hits = [h for h in self.hits if h > now - self.window]
            admitted = len(self.hits) < self.limit
            if admitted:
                self.hits.append(now)
                self.ok += 1
            else:
                self.rejected += 1
            remaining = self.limit - len(self.hits)
            reset = (self.hits[0] + self.window if self.hits else now + self.window) - now
        headers = {
            "X-Ratelimit-Limit": str(self.limit),
            "X-Ratelimit-Remaining": str(remaining),
            "X-Ratelimit-Reset": f"{time.time() + reset:.3f}",
        }
        if not admitted:
            return Response("", status=429, headers=headers)
        return Response('{"user": {"id": "1"}}', content_type="application/json", headers=headers)


def test_two_processes_sharing_an_account_stay_under_the_limit(threaded_server: HTTPServer) -> None:
    """Two independent limiters (as in two processes) pace on the shared server headers."""
    srv = SlidingWindowServer(limit=20, window=0.5)
    threaded_server.expect_request("/api/v1/me").respond_with_handler(srv)
    base = threaded_server.url_for("/").rstrip("/")
    clients = [
        AhaClient(
            api_key=API_KEY,
            base_url=base,
            backoff_base=0.01,
            rate_limiter=RateLimiter(100, 20, second_window=0.05, minute_window=0.5),
        )
        for _ in range(2)
    ]
    stop = time.monotonic() + 1.5

    def run(c: AhaClient) -> None:
        while time.monotonic() < stop:
            c.me()

    threads = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # ceiling: 20 per sliding 0.5 s, so at most ~60 in 1.5 s; the caps ramp up from zero
    assert srv.ok >= 20, (srv.ok, srv.rejected)
    assert srv.rejected <= max(1, srv.ok // 20), (srv.ok, srv.rejected)
