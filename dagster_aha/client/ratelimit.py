"""Process-wide, thread-safe rate limiter per Aha! account.

Aha! limits requests per account/IP (300/minute and 20/second), not per client object, so every
:class:`AhaClient` of the same account in a process shares one :class:`RateLimiter` (see
:func:`get_shared_limiter`). The limiter works on two levels:

1. **Local windows** (proactive, always on): a sliding-window log of this process's sends
   enforces ``requests_per_second`` and ``requests_per_minute`` exactly (never more than the
   limit inside any window of the configured length, measured on send times). Once round trips
   have been observed, a send leaves a window only when it has also left the *server's* window:
   ``send + window + (its round trip - the shortest recent round trip)``. Requests whose
   admission the server delays (latency jitter) hold their slot longer, so a lone process can
   run at the ceiling without the server ever seeing ``limit + 1`` requests in a window. A
   request still in flight keeps its slot while it is within the recent round-trip range, and
   until its response when it is slower than that.
2. **Server headers** (cooperative, :mod:`.header_pacing`, where the rules are documented):
   every response's ``X-Ratelimit-Limit``, ``X-Ratelimit-Remaining`` and ``X-Ratelimit-Reset``
   are compared with what this process itself sent. Alone on the account they never slow the
   process down; once others are seen, the window is shared and this process caps its own
   sends in it; processes that start together ramp up over their first window. With
   ``slow_start=True``, only one request is in flight until the first response (off by
   default).

3. **Budget store** (optional, :mod:`dagster_aha.client.budget_store`): one log of every
   participant's requests (in flight included) in SQLite or PostgreSQL. The head of the FIFO
   queue takes a slot there as well as in the local windows; responses re-date the slot. The
   lead it sends with is its own, or the one its host's round trips in the store give when
   that is more (every participant of a host then sees a slot free at the same moment).
   After waiting the short window the head takes a place in the store
   (:mod:`.store_admission`, :mod:`.budget_places`): it is not starved by participants with
   a longer lead.

Callers are admitted first come, first served (a queue of waiting threads): a thread is never
overtaken by a later one, so the concurrent page fetches of one paginated read go out in page
order and the read's in-order prefetch window never waits on a starved page.

A 429 calls :meth:`RateLimiter.block_until`, which pauses every thread using the limiter.

Requests are matched to responses per thread: :meth:`RateLimiter.acquire` and the following
:meth:`RateLimiter.update_from_headers` must run on the same thread (as :class:`AhaClient` does).
A thread that acquires again without reporting a response finishes its previous request with an
unknown round trip.

Files: this module (admission), :mod:`.local_windows` (level 1 and the head's wait, a mixin),
:mod:`.admission_lead` (the lead and 429 blocks, a mixin), :mod:`.limiters` (the process-wide
limiter per account), :mod:`.header_pacing` (level 2, a mixin), :mod:`.rate_windows` (sends,
windows, round-trip extremes, resets), :mod:`.store_admission` (level 3, a mixin),
:mod:`.budget_store`.
"""

from __future__ import annotations

import bisect
import logging
import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from dagster_aha.client.admission_lead import AdmissionLead
from dagster_aha.client.budget_slots import Place
from dagster_aha.client.header_pacing import HeaderPacing
from dagster_aha.client.local_windows import LocalWindows
from dagster_aha.client.rate_windows import (
    DONE,
    EPSILON,
    IN_FLIGHT,
    REJECTED,
    RTT_SAMPLES,
    LocalWindow,
    Send,
    SlidingExtremum,
    parse_reset,
)
from dagster_aha.client.store_admission import StoreAdmission

if TYPE_CHECKING:
    from dagster_aha.client.budget_store import BudgetStore

__all__ = ["AdmissionTimeout", "RateLimiter", "parse_reset"]

logger = logging.getLogger("dagster_aha.client")


class AdmissionTimeout(TimeoutError):
    """:meth:`RateLimiter.acquire` was not admitted within its ``timeout`` (nothing was sent)."""

    def __init__(self, waited: float, timeout: float) -> None:
        self.waited = waited
        self.timeout = timeout
        super().__init__(f"no request slot within {timeout:g} s (waited {waited:.1f} s)")


class RateLimiter(HeaderPacing, AdmissionLead, StoreAdmission, LocalWindows):
    """Blocks callers of :meth:`acquire` so that both windows and the server budget hold."""

    #: Initial/minimal reserve of a shared window, as a share of its limit (at least 2).
    RESERVE_SHARE = 0.1

    def __init__(
        self,
        requests_per_second: float = 20,
        requests_per_minute: float = 300,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        second_window: float = 1.0,
        minute_window: float = 60.0,
        slow_start: bool = False,
        rng: random.Random | None = None,
        store: BudgetStore | None = None,
        account: str = "",
        in_flight_hold: float = 90.0,
    ) -> None:
        if requests_per_second <= 0 or requests_per_minute <= 0:
            raise ValueError("rate limits must be positive")
        if second_window <= 0 or minute_window <= 0:
            raise ValueError("window lengths must be positive")
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        sec_limit, min_limit = int(max(1, requests_per_second)), int(max(1, requests_per_minute))
        self._second = LocalWindow(second_window, sec_limit, self.reserve(sec_limit))
        self._minute = LocalWindow(minute_window, min_limit, self.reserve(min_limit))
        self._windows: tuple[LocalWindow, ...] = (self._second, self._minute)
        self._margin = max(EPSILON, min(self.ADMISSION_MARGIN, 0.05 * second_window))
        # the shared budget store (other processes/hosts), or None (this process only)
        self._store = store
        self._account = store.account_key(account) if store is not None else account
        self._store_windows = tuple((w.span, w.limit) for w in self._windows)
        self._hold = float(in_flight_hold)
        self._store_lead = 0.0  # the lead from the store's round trips (few of our own yet)
        # a place in the store (taken after waiting a short window, see budget_places) and
        # when it was last extended (own clock); None while no one waits or a caller uses it
        self._place: tuple[Place, float] | None = None
        self.places = 0  # places taken (diagnostics)
        # after a 429 that our own pacing caused: a wider margin for a while
        self._wider = 0.0
        self._wider_until = float("-inf")
        self._lock = threading.Lock()
        # each waiter sleeps on its own condition (real time only): a response or the caller
        # ahead being admitted wakes the head of the queue alone, not every waiting thread
        self._real_sleep = sleep is time.sleep
        self._queue: deque[threading.Condition] = deque()  # callers of acquire, in order
        self._local = threading.local()
        self._blocked_until = 0.0
        # other processes were seen on the account (any window) until then
        self._shared_until = float("-inf")
        # the ramp-up after the first response (header pacing): its start, and the end of
        # the requests it let go (the next response)
        self._ramp_from: float | None = None
        self._ramp_batch_end: float | None = None
        self._ramp_cap = False  # the short window's cap is the ramp-up's (not shared)
        self._share = 1.0  # our share of the server's count while shared (moving average)
        # server windows we can identify by their X-Ratelimit-Limit: limit -> window
        self._by_limit: dict[int, LocalWindow] = {}
        for w in self._windows:
            self._by_limit.setdefault(w.limit, w)
        # per identified server window length: max own sends inside it (shared windows only)
        self._caps: dict[float, int] = {}
        # when each cap stops applying: a cap is evidence about one server window, so without a
        # newer response it lapses once that window has fully passed (e.g. the server stopped
        # sending X-Ratelimit-* headers, or a single 429 arrived from a server that never limits)
        self._cap_expiry: dict[float, float] = {}
        # own admitted requests: response times, ascending (for the server-window count)
        self._responses: deque[float] = deque()
        self._in_flight = 0
        # unidentified windows: remaining budget until reset (monotonic time)
        self._remaining: float | None = None
        self._reset_at = 0.0
        self._last_send = float("-inf")
        # slow start: until the first response, only one request is in flight
        self._first_send: float | None = None
        self._seen_response = not slow_start
        self._slow_start = slow_start
        self._rtt_lo = SlidingExtremum(RTT_SAMPLES, is_max=False)
        self._rtt_hi = SlidingExtremum(RTT_SAMPLES, is_max=True)
        self._rtt = 0.0  # decaying maximum of observed response times (diagnostics)
        self.total_wait = 0.0
        self.acquired = 0

    def _finish(
        self, s: Send, now: float, rtt: float | None, state: int, *, orphan: bool = False
    ) -> None:
        if s.state != IN_FLIGHT:
            return
        s.state = state
        s.rtt = rtt
        s.done = None if orphan else now  # an orphan ended some time before ``now``
        self._in_flight -= 1
        if state == DONE:
            if self._responses and self._responses[-1] > now:
                bisect.insort(self._responses, now)  # timed from its headers: kept sorted
            else:
                self._responses.append(now)

    def acquire(self, *, priority: bool = False, timeout: float | None = None) -> float:
        """Block until one request may be sent; return the seconds waited.

        ``timeout``: seconds to wait at most (None: until admitted); past it
        :class:`AdmissionTimeout` is raised and the caller has no slot (it sends nothing).

        Callers are admitted in arrival order (first come, first served): a thread is never
        overtaken by later ones, so a paginated read's next page in order is not starved by
        the pages behind it (which would stall the in-order prefetch window). ``priority``
        puts the caller first (the retry of a rejected request: it holds up a read's order).
        With a budget store, the head of the queue also takes a slot in the shared store.
        """
        local = self._local
        start = self._clock()
        slept = 0.0  # injected sleep: its own accounting (fake clocks in tests)
        ticket = threading.Condition(self._lock)

        def elapsed() -> float:
            return (self._clock() - start) if self._real_sleep else slept

        refused_at: float | None = None  # elapsed() when the store first had no slot for us

        with self._lock:
            if priority:
                self._queue.appendleft(ticket)
            else:
                self._queue.append(ticket)
        try:
            while True:
                orphan: int | None = None
                token: int | None = None
                with self._lock:
                    now = self._clock()
                    prev: Send | None = getattr(local, "send", None)
                    if prev is not None:
                        # this thread's previous request never reported back: round trip unknown
                        self._finish(prev, now, None, DONE, orphan=True)
                        local.send = None
                        orphan = prev.token
                    head = self._queue[0] is ticket
                    wait = self._wait_needed(now) if head else None
                    ask_store = self._store is not None and wait is not None and wait <= 0
                    own_lead = self._lead_known(now)
                    lead: float | None = self._lead(now) if own_lead else None
                    if wait is not None and wait <= 0 and not ask_store:
                        return self._admit(now, local, start, slept, None)
                if orphan is not None:
                    self._finish_in_store(orphan, rejected=False)
                if ask_store:
                    # how long the store has kept this caller waiting (not the local windows,
                    # nor the callers ahead of it in this process)
                    asked = elapsed()
                    refused = 0.0 if refused_at is None else asked - refused_at
                    token, wait = self._ask_store(lead, refused)
                    if token is None and refused_at is None:
                        refused_at = asked
                with self._lock:
                    if token is not None:
                        return self._admit(self._clock(), local, start, slept, token)
                    step = 1.0 if wait is None else min(wait, 1.0)
                    if timeout is not None:
                        waited = elapsed()
                        if waited >= timeout:
                            raise AdmissionTimeout(waited, timeout)
                        step = min(step, max(timeout - waited, EPSILON))
                    if wait is None or self._real_sleep:
                        # releases the lock while waiting: a response, or the caller ahead
                        # being admitted, wakes us early
                        ticket.wait(step)
                        continue
                # injected sleep (fake clocks in tests): outside the lock; re-check afterwards
                self._sleep(step)
                slept += step
        finally:
            unused: Place | None = None
            with self._lock:
                was_head = bool(self._queue) and self._queue[0] is ticket
                self._queue.remove(ticket)
                if was_head:
                    self._wake_head()
                if not self._queue and self._place is not None:
                    unused, self._place = self._place[0], None  # no one waits for it now
            if unused is not None:
                self._cancel_place(unused)

    def _wake_head(self) -> None:
        """Wake the first waiter (call with the lock held): it alone may be admitted next."""
        if self._queue:
            self._queue[0].notify()

    def _admit(
        self, now: float, local: threading.local, start: float, slept: float, token: int | None
    ) -> float:
        s = Send(now, token)
        for w in self._windows:
            w.log.append(s)
        local.send = s
        self._in_flight += 1
        self._last_send = now
        if self._first_send is None:
            self._first_send = now
        if self._remaining is not None:
            self._remaining -= 1
        self.acquired += 1
        waited = (now - start) if self._real_sleep else slept
        self.total_wait += waited
        return waited

    @property
    def store(self) -> BudgetStore | None:
        """The shared budget store, or ``None`` (this process's own windows only)."""
        return self._store

    @property
    def shared(self) -> bool:
        """Other participants use the account: a store, or foreign usage seen lately."""
        with self._lock:
            return self._store is not None or self._clock() < self._shared_until

    @classmethod
    def reserve(cls, limit: int) -> int:
        """Initial budget left untouched in a shared window (absorbs requests in flight)."""
        return max(2, math.ceil(limit * cls.RESERVE_SHARE))

    # -- server feedback ---------------------------------------------------------------------
    def update_from_headers(
        self,
        headers: Mapping[str, str],
        latency: float | None = None,
        *,
        status: int | None = None,
        age: float = 0.0,
    ) -> None:
        """Feed ``X-Ratelimit-Limit/Remaining/Reset`` from any response (429s included).

        Call it on the thread that called :meth:`acquire` for this request, once the attempt is
        over (``headers={}`` after a connection error). ``latency`` (seconds from send to
        response) says a response arrived and times the round trip; ``status=429`` says the
        server rejected the request (it then counts toward no server window). ``age`` is how
        long ago the response's headers arrived (the client reads and checks the body before
        it reports): the round trip and the slot's exit are timed from the headers.
        """
        rejected = status == 429
        age = max(0.0, float(age)) if age == age else 0.0
        mine: Send | None = getattr(self._local, "send", None)
        if self._store is not None and mine is not None and mine.token is not None:
            # first in the shared store, so that a waiter woken below sees the slot's new state
            rtt_seen = (
                min(max(0.0, self._clock() - age - mine.t), latency)
                if latency is not None and latency >= 0 and mine.state == IN_FLIGHT
                else None
            )
            self._finish_in_store(mine.token, rejected=rejected, age=age, rtt=rtt_seen)
        with self._lock:
            now = self._clock()
            self._seen_response = True
            s: Send | None = getattr(self._local, "send", None)
            self._local.send = None
            at = now - age if s is None else max(s.t, now - age)
            rtt: float | None = None
            if latency is not None and latency >= 0:
                # the slot is held from the send to the response; the round-trip statistics
                # (the lead) take the caller's own timing when shorter (the request on the
                # wire, without a new connection's set-up)
                rtt = at - s.t if s is not None and s.state == IN_FLIGHT else latency
                sample = min(rtt, latency)
                self._rtt_lo.add(sample)
                self._rtt_hi.add(sample)
                self._rtt = max(self._rtt * 0.95, min(sample, 5.0))
            if s is not None:
                self._finish(s, at, rtt, REJECTED if rejected else DONE)
                self._wake_head()  # its slot may be free now (for the first waiter)
            keep = max(w.span for w in self._windows) + 1.0 + 2 * (self._rtt_hi.value or 0.0)
            while self._responses and self._responses[0] < now - keep:
                self._responses.popleft()
        if self._store is not None:
            return  # the store holds every participant's requests: headers add nothing
        self._pace_from_headers(headers, rejected, s)

    # -- diagnostics ---------------------------------------------------------------------------
    @property
    def caps(self) -> dict[float, int]:
        """Own-send caps per identified server window length (shared windows only)."""
        with self._lock:
            now = self._clock()
            return {sp: c for sp, c in self._caps.items() if now < self._cap_expiry.get(sp, 0.0)}

    @property
    def foreign(self) -> dict[float, float]:
        """Last estimate of other processes' requests per identified window length."""
        with self._lock:
            return {w.span: w.foreign for w in self._windows if w.foreign is not None}

    @property
    def waiting(self) -> int:
        """Callers of :meth:`acquire` not yet admitted (they are admitted in arrival order)."""
        with self._lock:
            return len(self._queue)

    @property
    def windows(self) -> tuple[tuple[float, int], ...]:
        """``(length in seconds, limit)`` of the two local windows."""
        return tuple((w.span, w.limit) for w in self._windows)


def __getattr__(name: str) -> object:
    # the process-wide registry lives in .limiters (it imports this module)
    if name in ("get_shared_limiter", "reset_shared_limiters"):
        from dagster_aha.client import limiters

        return getattr(limiters, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
