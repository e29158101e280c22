"""Rate limiter policy: alone at the ceiling, foreign usage, expiring header information."""

from __future__ import annotations

import random
import time

from dagster_aha.client import RateLimiter
from dagster_aha.testing import AhaSandbox, Fault


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.wall = 1_700_000_000.0

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return self.wall + (self.now - 1000.0)

    def sleep(self, s: float) -> None:
        self.now += s


def _limiter(rps: float, rpm: float, ft: FakeTime) -> RateLimiter:
    return RateLimiter(
        rps,
        rpm,
        clock=ft.clock,
        wall_clock=ft.wall_clock,
        sleep=ft.sleep,
        slow_start=False,
        rng=random.Random(0),
    )


def _headers(limit: int, remaining: int) -> dict[str, str]:
    return {
        "X-Ratelimit-Limit": str(limit),
        "X-Ratelimit-Remaining": str(remaining),
        "X-Ratelimit-Reset": "1",
    }


def test_alone_the_headers_never_slow_down_beyond_the_local_windows() -> None:
    """Each response reports exactly our own usage: the full per-second window is used."""
    ft = FakeTime()
    lim = _limiter(10, 1000, ft)
    sends = []
    for _ in range(30):
        lim.acquire()
        sends.append(ft.now)
        used = sum(1 for t in sends if t > ft.now - 1.0)
        lim.update_from_headers(_headers(10, 10 - used), latency=0.0)
    assert lim.caps == {} and lim.foreign[1.0] == 0.0
    # never 11 in a window; after the first window's ramp-up (other processes may be starting
    # too), every window is used in full: each send waits only for the one 10 sends earlier
    for i in range(10, 30):
        assert sends[i] - sends[i - 10] >= 1.0 - 1e-9
    for i in range(20, 30):
        assert sends[i] - sends[i - 10] < 1.0 + 0.01


def test_foreign_usage_caps_own_sends_and_the_cap_expires() -> None:
    ft = FakeTime()
    lim = _limiter(10, 1000, ft)
    lim.acquire()
    lim.update_from_headers(_headers(10, 2), latency=0.0)  # 8 counted, 1 ours: shared
    assert lim.foreign[1.0] == 7.0
    assert lim.caps == {1.0: 1}
    t = ft.now
    lim.acquire()  # our one slot frees when our first send leaves the server window
    assert ft.now - t >= 1.0 - 1e-6
    # no newer response: the cap lapses after a window; the knowledge that the account is
    # shared lasts for the longest window (60 s), then the local windows alone apply
    ft.now += 5.0
    assert lim.caps == {}
    ft.now += 60.0
    t = ft.now
    for _ in range(10):
        lim.acquire()
    assert ft.now == t


def test_server_without_headers_gets_only_the_local_windows() -> None:
    ft = FakeTime()
    lim = _limiter(5, 1000, ft)
    for _ in range(10):
        lim.acquire()
        lim.update_from_headers({}, latency=0.0)
    assert lim.caps == {} and lim.foreign == {}
    assert ft.now - 1000.0 < 1.0 + 0.01  # 5 at once, 5 one window later


def test_rejected_request_does_not_hold_a_slot() -> None:
    ft = FakeTime()
    lim = _limiter(3, 1000, ft)
    for _ in range(3):
        lim.acquire()
        lim.update_from_headers(_headers(3, 0), latency=0.0, status=429)
    t = ft.now
    lim.acquire()  # the server counted none of them: no wait for the window
    assert ft.now == t


def test_lone_client_reaches_the_ceiling_of_an_enforcing_sandbox() -> None:
    """A lone process uses every window in full after its start, with no 429 (scaled windows)."""
    rps, scale, n = 10, 1.0, 50  # 10 per 1 s window: wide, so that a loaded machine's
    # scheduling delays (tenths of a second at worst) stay small next to a window
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2 * n,
        requests_per_second=rps,
        requests_per_minute=10_000,
        time_scale=scale,
    ) as aha:
        client = aha.client(max_concurrency=8)
        assert client.rate_limiter.windows == ((1.0, rps), (60.0, 10_000))
        t0 = time.perf_counter()
        records = list(client.iter_records("features", per_page=2))
        wall = time.perf_counter() - t0
        assert len(records) == 2 * n
        assert aha.stats.rate_limited == 0 and aha.stats.total == n
        arrivals = sorted(r.time for r in aha.requests)
    window = 1.0 / scale
    # slow start (one probe, then half the spare budget per response) may leave part of the
    # first window unused, so that processes starting together do not burst: by the end of
    # the second window, two windows' worth of requests have arrived
    ramp = arrivals[2 * rps - 1] - arrivals[0]
    assert ramp <= 2 * window + 0.2, (ramp, wall)
    # after it, slots are reused as soon as they leave the server's window: full windows. A
    # slot is typically reused within 0.1 s of its exit (the median), and the three windows
    # after the ramp together lose less than half a window (one scheduling stall of a loaded
    # machine may delay a few sends, it cannot fail this)
    gaps = sorted(arrivals[i] - arrivals[i - rps] for i in range(2 * rps, n))
    assert gaps[len(gaps) // 2] <= window + 0.1, gaps
    windows_after = (n - 2 * rps) / rps
    span = arrivals[n - 1] - arrivals[2 * rps - 1]
    assert span <= windows_after * window + 0.5, (span, gaps)
    # and the server never saw more than rps requests in any window
    for i in range(rps, n):
        assert arrivals[i] - arrivals[i - rps] >= window - 0.002


def test_a_single_429_does_not_mark_the_account_shared() -> None:
    """One 429 (here injected, with exhausted headers) is waited out, then full speed again:
    it is no evidence of other processes, so no shared-mode caps follow it."""
    with AhaSandbox(
        products=1,
        releases_per_product=1,
        features_per_release=2,
        enforce_rate_limits=False,
        requests_per_second=1_000_000,
        requests_per_minute=60_000_000,
        faults=[Fault("429", times=1)],
    ) as aha:
        client = aha.client(max_concurrency=4)
        t0 = time.perf_counter()
        for _ in range(60):
            client.me()
        wall = time.perf_counter() - t0
        assert aha.stats.rate_limited == 1 and aha.stats.total == 61
        assert client.rate_limiter.caps == {} and not any(client.rate_limiter.foreign.values())
        assert wall < 10.0  # the 429's wait (about a second), not a minute of shared pacing


def test_requests_still_in_flight_count_as_longer_round_trips_for_the_lead() -> None:
    """20 requests sent together: when the first answers (1.0 s), its round trip is the
    shortest of 20, so the next window may start ~20 ms later, not a whole window later as
    with one answer alone; the lead shrinks as the others stay out longer (spread grows)."""
    import threading

    def run(in_flight: int) -> tuple[float, float, float]:
        ft = FakeTime()
        lim = _limiter(20, 1000, ft)
        sent = threading.Barrier(in_flight + 1)
        answer = [threading.Event() for _ in range(in_flight)]

        def request(i: int) -> None:
            lim.acquire()
            sent.wait()
            answer[i].wait(10)
            lim.update_from_headers(_headers(20, 20 - in_flight), latency=ft.now - 1000.0)

        threads = [threading.Thread(target=request, args=(i,)) for i in range(in_flight)]
        for t in threads:
            t.start()
        sent.wait()
        ft.now = 1001.0
        answer[0].set()
        threads[0].join(10)
        lead_now = lim.lead
        ft.now = 1001.3  # the other requests are still out: the spread is at least 0.3 s
        lead_later = lim.lead
        ft.now = 1001.0
        # the 21st request needs the first one's slot: it may go once that slot has certainly
        # left the server's window (its admission + 1 s) minus the lead of the next send
        waited = lim.acquire() if in_flight == 20 else float("nan")
        for e in answer:
            e.set()
        for t in threads:
            t.join(10)
        return lead_now, lead_later, waited

    lead, later, waited = run(20)
    assert 0.95 <= lead <= 0.99  # the shortest of 20 round trips, minus the 20 ms margin
    assert later < lead  # 19 requests out for 1.3 s: a wider margin
    assert waited <= 0.05  # not 1.0 s (the lead without the requests in flight: 0)
    lone, _, _ = run(1)
    assert lone == 0.0  # one round trip alone says little about the floor


def test_a_shared_window_grants_a_tenth_of_its_spare_budget_per_response() -> None:
    """Processes without a store take a small share of what is left per response, so that
    their caps cannot regrow past the window together (4 processes drew 429s at 0.15)."""
    ft = FakeTime()
    lim = _limiter(100, 100_000, ft)
    lim.acquire()
    # 12 counted, 1 ours: shared; spare = 100 - reserve 10 - 12 = 78
    lim.update_from_headers(_headers(100, 88), latency=0.0)
    assert lim.shared
    t = ft.now
    sent = 1
    while sent < 30:
        lim.acquire()
        if ft.now > t:
            break
        sent += 1
    # our first send plus a tenth of the spare (7.8, rounded either way): 8 or 9 in the window
    assert 8 <= sent <= 9
