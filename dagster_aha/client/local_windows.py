"""Level 1 of the limiter: this process's own windows, and how long the head must wait.

A mixin of :class:`~dagster_aha.client.ratelimit.RateLimiter` (see its module documentation,
"Local windows"). A send holds its slot in a local window until it has certainly left the
*server's* window (:meth:`LocalWindows._expiry`); :meth:`LocalWindows._wait_needed` is the
wait of the head of the FIFO queue under both windows, the caps of shared windows (set by
:mod:`.header_pacing`), the probe of the first request, a 429 block and the budget an
unidentified server window reported.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from dagster_aha.client.rate_windows import (
    EPSILON,
    IN_FLIGHT,
    MAX_IN_FLIGHT_HOLD,
    REJECTED,
    LocalWindow,
    Send,
    SlidingExtremum,
)

__all__ = ["LocalWindows"]


class LocalWindows:
    """The exits of our sends from the server's windows, and the head's wait (a mixin)."""

    #: Safety factor on our share of a shared window the server has not reported lately.
    UNSEEN_SHARE = 0.9
    #: Seconds the first request may take before others go out without its headers.
    PROBE_TIMEOUT = 1.0

    # the limiter's state this mixin reads and updates (set by RateLimiter.__init__)
    _windows: tuple[LocalWindow, ...]
    _rtt_lo: SlidingExtremum
    _rtt_hi: SlidingExtremum
    _blocked_until: float
    _seen_response: bool
    _first_send: float | None
    _shared_until: float
    _share: float
    _caps: dict[float, int]
    _cap_expiry: dict[float, float]
    _remaining: float | None
    _reset_at: float
    _last_send: float
    _lead: Callable[[float], float]
    _end_ramp: Callable[[float], None]

    # -- the server-window exit of one send --------------------------------------------------
    def _expiry(self, s: Send, span: float, now: float) -> float:
        """When ``s`` has certainly left a server window of length ``span``."""
        if s.state == REJECTED:
            return s.t  # the server did not count it
        exit_at = s.t + span
        lo = self._rtt_lo.value
        if lo is None:
            return exit_at  # nothing observed yet: the plain send-time window
        if s.rtt is not None:
            # the part of its round trip above the shortest one delayed its admission at most
            # admitted before its response, and our next send needs at least ``lead`` to reach
            # admission: the slot may be reused at ``response + span - lead``
            return max(exit_at, s.t + s.rtt + span - self._lead(now))
        spread = (self._rtt_hi.value or lo) - lo
        exit_at += spread + EPSILON
        if s.state == IN_FLIGHT:
            if now - s.t < MAX_IN_FLIGHT_HOLD:
                # it may be admitted any moment: the slot is held until its response (waiters
                # are woken by responses, see acquire)
                return max(exit_at, now + max(span - lo, 0.002, 0.05 * span))
            return exit_at
        if s.done is not None:  # failed without a response: may have been admitted until then
            exit_at = max(exit_at, s.done + span - lo + EPSILON)
        return exit_at

    def _live(self, w: LocalWindow, now: float, limit: int) -> list[float] | None:
        """Sorted exits of our sends still inside ``w`` if they reach ``limit``, else None."""
        log = w.log
        while log and self._expiry(log[0], w.span, now) <= now:
            log.popleft()
        if len(log) < limit:
            return None
        exits = [self._expiry(s, w.span, now) for s in log]
        live = sorted(e for e in exits if e > now)
        if len(live) < len(log):  # drop expired entries behind a live head
            w.log = deque(s for s, e in zip(log, exits, strict=True) if e > now)
        return live if len(live) >= limit else None

    def _own_inside(self, w: LocalWindow, now: float) -> int:
        """Our sends still inside ``w`` (in flight included), for the cap of a shared window."""
        log = w.log
        while log and self._expiry(log[0], w.span, now) <= now:
            log.popleft()
        return sum(1 for s in log if self._expiry(s, w.span, now) > now)

    # -- waiting -----------------------------------------------------------------------------
    def _wait_needed(self, now: float) -> float:
        wait = self._blocked_until - now
        if not self._seen_response and self._first_send is not None:
            probe_left = self._first_send + self.PROBE_TIMEOUT - now
            if probe_left > 0:
                wait = max(wait, min(probe_left, 0.005))
        self._end_ramp(now)
        for span in [sp for sp, exp in self._cap_expiry.items() if now >= exp]:
            self._caps.pop(span, None)
            self._cap_expiry.pop(span, None)
        shared = now < self._shared_until
        for w in self._windows:
            cap = self._caps.get(w.span)
            if cap is None and shared:
                # the account is shared but the server has not reported this window lately
                # (it reports only its tightest one): our share of its budget
                cap = int(self._share * (w.limit - w.reserve) * self.UNSEEN_SHARE)
                if now < w.floor_until:
                    cap = max(cap, int(w.floor))
            limit = w.limit if cap is None else max(1, min(w.limit, cap))
            live = self._live(w, now, limit)
            if live is not None:
                wait = max(wait, live[len(live) - limit] - now)
        if self._remaining is not None:
            if now >= self._reset_at:
                self._remaining = None  # window over: no information until the next response
            else:
                ttr = self._reset_at - now
                if self._remaining <= 0:
                    wait = max(wait, ttr)
                else:
                    interval = ttr / self._remaining
                    wait = max(wait, self._last_send + interval - now)
        return wait
