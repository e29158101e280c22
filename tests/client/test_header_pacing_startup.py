"""Header pacing (no budget store) when several processes start at once: the ramp-up after a
process's first response, and 429s as evidence of other processes."""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable

from dagster_aha.client import RateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def wall_clock(self) -> float:
        return 1_700_000_000.0 + (self.now - 1000.0)

    def sleep(self, s: float) -> None:
        self.now += s


def _limiter(ft: FakeTime) -> RateLimiter:
    return RateLimiter(
        20, 300, clock=ft.clock, wall_clock=ft.wall_clock, sleep=ft.sleep, rng=random.Random(0)
    )


def _headers(limit: int, remaining: int) -> dict[str, str]:
    return {
        "X-Ratelimit-Limit": str(limit),
        "X-Ratelimit-Remaining": str(remaining),
        "X-Ratelimit-Reset": "1",
    }


class Requests:
    """One thread per request (the limiter matches a response to its request by thread)."""

    def __init__(self, lim: RateLimiter) -> None:
        self._lim = lim
        self._jobs: list[queue.Queue[Callable[[], object] | None]] = []
        self._done: list[queue.Queue[object]] = []
        self._threads: list[threading.Thread] = []

    def _run(self, i: int) -> None:
        while (job := self._jobs[i].get()) is not None:
            self._done[i].put(job())

    def send(self) -> int:
        """A new request, acquired on its own thread; returns its number."""
        i = len(self._threads)
        self._jobs.append(queue.Queue())
        self._done.append(queue.Queue())
        t = threading.Thread(target=self._run, args=(i,), daemon=True)
        self._threads.append(t)
        t.start()
        self._call(i, self._lim.acquire)
        return i

    def answer(self, i: int, remaining: int, latency: float, status: int = 200) -> None:
        self._call(
            i,
            lambda: self._lim.update_from_headers(
                _headers(20, remaining), latency=latency, status=status
            ),
        )

    def _call(self, i: int, fn: Callable[[], object]) -> None:
        self._jobs[i].put(fn)
        self._done[i].get(timeout=10)

    def close(self) -> None:
        for q in self._jobs:
            q.put(None)
        for t in self._threads:
            t.join(10)


def _first_response_and_batch(ft: FakeTime, reqs: Requests, lim: RateLimiter) -> list[int]:
    """A fresh process's first request answered at 1 s (1 counted, ours), then the batch its
    ramp-up cap lets go at once (cap: 1 + half of 20 - reserve 2 - count 1, not 20)."""
    first = reqs.send()
    ft.now += 1.0
    reqs.answer(first, 19, 1.0)
    (cap,) = lim.caps.values()
    assert 9 <= cap <= 10
    batch = [reqs.send() for _ in range(cap - 1)]
    assert ft.now == 1001.0  # these went at once
    return batch


def test_a_fresh_process_ramps_up_and_goes_full_speed_once_its_batch_shows_it_alone() -> None:
    """The first response (1 counted, ours) lets go about half the spare budget, not 19: a
    process cannot tell yet whether others started with it. When that batch has answered
    with counts that are all its own, the ramp is over: no cap, nothing shared."""
    ft = FakeTime()
    lim = _limiter(ft)
    reqs = Requests(lim)
    try:
        batch = _first_response_and_batch(ft, reqs, lim)
        ft.now += 1.0
        for k, i in enumerate(batch):
            reqs.answer(i, 20 - (k + 1), 1.0)  # in order, each count is ours alone
        assert lim.caps == {} and not lim.shared
        t = ft.now
        for _ in range(20 - len(batch)):  # the rest of the window, at once
            reqs.send()
        assert ft.now == t
    finally:
        reqs.close()


def test_the_batch_that_answers_with_other_processes_counts_marks_the_account_shared() -> None:
    """The same start, but the server's count grows faster than the batch's own requests:
    others started too. The account is shared and the cap stays (no burst of 19)."""
    ft = FakeTime()
    lim = _limiter(ft)
    reqs = Requests(lim)
    try:
        batch = _first_response_and_batch(ft, reqs, lim)
        ft.now += 1.0
        for k, i in enumerate(batch):
            reqs.answer(i, 20 - 2 * (k + 1), 1.0)  # two counted per answer: one is not ours
        assert lim.shared
        assert lim.foreign[1.0] >= 1
        assert lim.caps[1.0] <= len(batch) + 2  # about what it has, not the window's 20
    finally:
        reqs.close()


def test_several_429s_in_one_window_mark_the_account_shared() -> None:
    """One 429 alone is waited out and proves nothing (see test_ratelimit_policy); a second in
    the same window, from the same identified window, means other processes use the budget:
    with requests in flight the 2xx counts could not show them."""
    ft = FakeTime()
    lim = _limiter(ft)
    reqs = Requests(lim)
    try:
        a, b = reqs.send(), reqs.send()
        ft.now += 0.2
        reqs.answer(a, 0, 0.2, status=429)
        assert not lim.shared
        reqs.answer(b, 0, 0.2, status=429)
        assert lim.shared and lim.caps[1.0] <= 2
        # the share it starts from is what it had in the window, not 0 (all it got were
        # 429s): the minute window, which the server did not report, keeps a usable cap
        t = ft.now
        reqs.answer(reqs.send(), 17, 0.1)
        assert ft.now - t < 1.5
    finally:
        reqs.close()
