"""The lead: how long a request takes at least from its send to the server's admission.

A mixin of :class:`~dagster_aha.client.ratelimit.RateLimiter` (see its module documentation,
"Local windows"). A slot of ours is reused at ``response + window - lead``: the request that
held it was admitted before its response, and the next one needs at least ``lead`` to reach
admission. The lead is the shortest recent round trip minus a margin for the server's time
between admitting a request and our receiving its response (wider while there are few round
trips, and for a while after a 429). With a budget store, the store's round trips measured on
this host can give more (see :class:`~dagster_aha.client.budget_store.SharedFloor`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dagster_aha.client.rate_windows import IN_FLIGHT, LocalWindow, SlidingExtremum

__all__ = ["AdmissionLead"]


class AdmissionLead:
    """The limiter's lead from its round trips, and the wider margin after a 429 (a mixin)."""

    #: Round trips needed before sends may count on reaching admission ``lead`` seconds later
    #: (answered ones, and requests in flight for longer than the shortest answered one).
    LEAD_SAMPLES = 8
    #: Margin (seconds, capped at 5% of the short window) for the server's time between
    #: admitting a request and our receiving its response, which varies per response: a slot
    #: is reused at ``response + window - (shortest round trip - margin)``.
    ADMISSION_MARGIN = 0.02

    # the limiter's state this mixin reads and updates (set by RateLimiter.__init__)
    _lock: threading.Lock
    _clock: Callable[[], float]
    _second: LocalWindow
    _minute: LocalWindow
    _rtt_lo: SlidingExtremum
    _rtt_hi: SlidingExtremum
    _margin: float
    _store_lead: float
    _wider: float
    _wider_until: float
    _blocked_until: float

    @property
    def lead(self) -> float:
        """Shortest delay assumed from a send to its admission by the server (seconds).

        0 until ``LEAD_SAMPLES`` round trips are known (the shortest of a few round trips says
        little about the floor). A request still in flight for longer than the shortest round
        trip seen counts as a known round trip that is longer (a censored sample): when the
        first of 20 requests sent together answers, its round trip is the shortest of 20.
        Then the shortest recent round trip minus the margin, which grows with the spread of
        the round trips when there are few of them (the gap between the shortest one seen and
        the true floor; an in-flight request's age counts towards the spread) and after a 429
        (see :meth:`block_until`).
        """
        return self._lead(self._clock())

    def _lead_basis(self, now: float) -> tuple[int, float]:
        """Round trips the lead rests on, and their spread (see :attr:`lead`)."""
        lo = self._rtt_lo.value
        n = self._rtt_lo.count
        if lo is None:
            return 0, 0.0
        spread = (self._rtt_hi.value or lo) - lo
        if n >= self.LEAD_SAMPLES:
            return n, spread
        for s in self._second.log:  # every request in flight is still in the short window
            if s.state == IN_FLIGHT and now - s.t >= lo:
                n += 1
                spread = max(spread, now - s.t - lo)
        return n, spread

    def _lead_known(self, now: float) -> bool:
        return self._lead_basis(now)[0] >= self.LEAD_SAMPLES

    def _lead(self, now: float) -> float:
        lo = self._rtt_lo.value
        n, spread = self._lead_basis(now)
        if lo is None or n < self.LEAD_SAMPLES:
            # with a store, the lead its participants' round trips give (never above our own
            # shortest round trip: a send cannot reach admission later than its response)
            shared = self._store_lead
            return max(0.0, min(shared, lo - self._margin)) if lo is not None else 0.0
        margin = max(self._margin, 2.0 * spread / (n + 1))
        if now < self._wider_until:
            margin = max(margin, self._wider)
        return max(0.0, lo - margin)

    def _floor_margin(self) -> float:
        """The margin below the store's shortest round trip (wider for a while after a 429)."""
        with self._lock:
            if self._clock() < self._wider_until:
                return max(self._margin, self._wider)
            return self._margin

    def _own_cap(self) -> float | None:
        """Upper bound of the lead from our own round trips (None before the first one: the
        store then lends only the round trips measured on this host)."""
        with self._lock:
            lo = self._rtt_lo.value
        return None if lo is None else max(0.0, lo - self._margin)

    @property
    def round_trip(self) -> float | None:
        """Longest of the recent round trips (seconds), ``None`` before the first response."""
        return self._rtt_hi.value

    def block_until(self, seconds_from_now: float) -> None:
        """Pause every sender for ``seconds_from_now`` (used on 429).

        A 429 also doubles the admission margin (from ``ADMISSION_MARGIN`` up to a quarter of
        the shortest round trip) for the next minute-window: the round trips were a poorer
        guide to the server's admission times than assumed.
        """
        with self._lock:
            now = self._clock()
            self._blocked_until = max(self._blocked_until, now + seconds_from_now)
            lo = self._rtt_lo.value or 0.0
            self._wider = min(max(self._wider, self._margin) * 2, max(self._margin, lo / 4))
            self._wider_until = now + self._minute.span
