"""Cooperative pacing from the server's ``X-Ratelimit-*`` headers (no budget store).

A mixin of :class:`~dagster_aha.client.ratelimit.RateLimiter`: each response's
``X-Ratelimit-Limit``, ``X-Ratelimit-Remaining`` and ``X-Ratelimit-Reset`` are compared with
what this process itself sent.

* When ``X-Ratelimit-Limit`` names one of the configured windows (it equals
  ``requests_per_second`` or ``requests_per_minute``), the limiter knows that window's length
  and estimates the *foreign* usage in it: ``(limit - remaining)`` minus our own admitted
  requests inside the server's window (our responses received within the last window
  length; a request and its response are separated by a near-constant server time, so this
  counts the same requests as the server does). **Alone on the account the estimate is 0
  and the headers never slow the process down**: only the local windows apply (an upper
  bound of our own count, including requests in flight and those near the window's edge,
  decides whether anybody else is there, so jitter cannot fake foreign usage).
* When foreign usage is seen, the window is *shared* until a full window passes without
  any: this process then keeps a *cap* on its own sends still inside the window
  (self-clocking: a slot is reused only when one of our own sends leaves the server window).
  Each response sets the cap to ``own + GRANT_SHARE * (limit - reserve - server_count)``
  (stochastically rounded, so that small windows still converge; ``own`` counts our requests
  the server's window held, i.e. answered within it, not those sent since, so the many
  responses of one stale view do not add up): several processes doing
  this with no coordination fill the window up to ``limit - reserve`` together, each taking
  a share of what is left. The reserve starts at ``RESERVE_SHARE`` of the limit (at least
  1), grows on every 429 met while shared (multiplicative increase) and relaxes back over
  ``RESERVE_RELAX_WINDOWS`` windows.
* Information expires: a cap (``_cap_expiry``) and the shared state lapse when their window
  has passed with no newer response reporting that window. The server reports only the
  window with the least remaining, so another shared window's cap may only *grow* from it.
* Otherwise (unknown window) sends are spread so that the remaining requests last until the
  reset (allowed rate = ``remaining / time_to_reset``), and ``remaining == 0`` waits for it.
* A server that sends no ``X-Ratelimit-*`` headers gets the local windows only.

* Processes that start together: the first process answered sees only its own request counted
  and cannot tell whether others started with it. So the requests its first response lets go
  (its *batch*) are half the spare budget (``STARTUP_GRANT_SHARE``), and the short window's cap
  stays until that batch has answered: with few of its own requests in flight, their counts
  show the others (a request's count can only hold our requests sent before its own admission,
  those sent with it; see ``_own_in_flight_before``). Alone, the cap is then lifted at once.
  Requests already out (a read's speculative pages) keep their slots. Two 429s from one
  identified window within a window also mark it shared (one alone may be a proxy's or an
  injected fault). A cap, and the evidence that a window is shared, last for the window plus a
  round trip: the next responses that can revise them answer the sends they allow. Measured (4
  processes x 15,000 features at 1.0 s, starting in the same second, no store): 0-1 429s of
  ~300 requests in each of 7 runs (27-34 before the ramp; 1-5 while shared caps grew by 0.15 of
  the spare per response).

``X-Ratelimit-Reset`` is UTC epoch seconds (int or float); a value below 10^9 is read as
seconds from now.
"""

from __future__ import annotations

import bisect
import math
import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from dagster_aha.client.rate_windows import (
    EPSILON,
    IN_FLIGHT,
    LocalWindow,
    Send,
    SlidingExtremum,
    header_value,
    parse_reset,
)

__all__ = ["HeaderPacing"]


class HeaderPacing:
    """The header-driven part of the limiter's state and its updates (a mixin)."""

    #: Share of the shared window's spare budget (limit - reserve - count) one response grants.
    #: (0.15 drew 1-5 429s per run of 4 processes x 15,000 features at 1.0 s without a store,
    #: 0.10 drew 0-1: the processes' caps regrow together more slowly.)
    GRANT_SHARE = 0.10
    #: Largest reserve a shared window grows to after 429s, as a share of its limit.
    MAX_RESERVE_SHARE = 0.5
    #: Windows over which a grown reserve relaxes (by ``e``) back to its minimum.
    RESERVE_RELAX_WINDOWS = 30.0
    #: Share of the spare budget granted per response during a process's first short window.
    STARTUP_GRANT_SHARE = 0.5
    #: 429s from one identified window, inside one window length, that mark it shared.
    REJECTIONS_SHARED = 2

    # the limiter's state this mixin reads and updates (set by RateLimiter.__init__)
    _lock: threading.Lock
    _clock: Callable[[], float]
    _wall: Callable[[], float]
    _rng: random.Random
    _windows: tuple[LocalWindow, ...]
    _second: LocalWindow
    _by_limit: dict[int, LocalWindow]
    _caps: dict[float, int]
    _cap_expiry: dict[float, float]
    _responses: deque[float]
    _in_flight: int
    _remaining: float | None
    _reset_at: float
    _shared_until: float
    _share: float
    _ramp_from: float | None
    _ramp_batch_end: float | None
    _ramp_cap: bool
    _slow_start: bool
    _rtt_lo: SlidingExtremum
    _rtt_hi: SlidingExtremum

    if TYPE_CHECKING:

        def _own_inside(self, w: LocalWindow, now: float) -> int: ...

    def _pace_from_headers(
        self, headers: Mapping[str, str], rejected: bool, sent: Send | None = None
    ) -> None:
        """Take one response's ``X-Ratelimit-*`` headers into account (no budget store).

        ``sent`` is the request this response answers (its send time and round trip), when
        known.
        """
        rem_raw = header_value(headers, "X-Ratelimit-Remaining")
        if rem_raw is None:
            return
        try:
            remaining = float(rem_raw.strip())
        except ValueError:
            return
        if remaining != remaining:  # NaN
            return
        limit: int | None = None
        lim_raw = header_value(headers, "X-Ratelimit-Limit")
        if lim_raw is not None:
            try:
                limit = int(float(lim_raw.strip()))
            except (ValueError, OverflowError):
                limit = None
        window = self._by_limit.get(limit) if limit is not None else None
        if window is not None:
            with self._lock:
                self._update_identified(window, remaining, rejected, self._clock(), sent)
            return
        ttr = parse_reset(header_value(headers, "X-Ratelimit-Reset"), self._wall())
        if ttr is None:
            return
        with self._lock:
            now = self._clock()
            reset_at = now + ttr
            if (
                self._remaining is not None
                and now < self._reset_at
                and abs(reset_at - self._reset_at) < 0.5
            ):
                # same server window: the budget only goes down (responses arrive out of order)
                self._remaining = min(self._remaining, remaining)
            elif self._remaining is None or now >= self._reset_at or reset_at > self._reset_at:
                self._remaining = remaining
                self._reset_at = reset_at
            # else: a stale response from an earlier window: ignore

    def _stochastic(self, x: float) -> int:
        """``x`` rounded down or up at random, ``round(x)`` on average (small windows converge)."""
        base = math.floor(x)
        return base + (1 if self._rng.random() < x - base else 0)

    def _own_in_flight_before(self, sent: Send | None, lo: float, edge: float) -> int:
        """Our requests in flight that the server may have admitted before ``sent``.

        A request sent later than ``sent``'s own admission delay allows (its round trip above
        the shortest one, plus the spread) reached the server after it: with 20 requests in
        flight, only those sent together with ``sent`` can hide in its count.
        """
        if sent is None or sent.rtt is None:
            return self._in_flight
        latest = sent.t + max(0.0, sent.rtt - lo) + edge
        later = sum(1 for s in self._second.log if s.state == IN_FLIGHT and s.t > latest)
        return max(0, self._in_flight - later)

    def _cautious(self, now: float) -> bool:
        """The ramp-up after a process's first response: until the requests that response let
        go (its *batch*) have answered.

        A process cannot tell from its first response whether others started with it (it
        may simply have been admitted first); the answers to its batch can, because few of
        its own requests are then in flight to hide in their counts. The batch is what was
        sent before the next response, at most in the first half-window (a slot of the first
        request reused a window later is not part of it); the ramp ends within two windows
        and two round trips in any case.
        """
        start = self._ramp_from
        if start is None:
            return False
        span = self._second.span
        if now >= start + 2.0 * (span + (self._rtt_hi.value or 0.0)):
            return False
        end = start + 0.5 * span
        if self._ramp_batch_end is None:
            if now < end:
                return True  # the batch is still being sent
        else:
            end = min(end, self._ramp_batch_end)
        return any(s.state == IN_FLIGHT and start <= s.t < end for s in self._second.log)

    def _end_ramp(self, now: float) -> None:
        """Drop the ramp-up's cap once the ramp is over (call with the lock held): alone, the
        next response may be a round trip away, and nothing else would lift it before."""
        if not self._ramp_cap or self._cautious(now):
            return
        self._ramp_cap = False
        w = self._second
        if now >= w.shared_until and now >= self._shared_until:
            self._caps.pop(w.span, None)
            self._cap_expiry.pop(w.span, None)

    def _update_identified(
        self, w: LocalWindow, remaining: float, rejected: bool, now: float, sent: Send | None
    ) -> None:
        span, limit = w.span, w.limit
        lo = self._rtt_lo.value or 0.0
        spread = (self._rtt_hi.value or lo) - lo
        edge = spread + EPSILON
        count = max(0.0, limit - remaining)  # the server's count in its window
        resp = self._responses
        n = len(resp)
        own = n - bisect.bisect_right(resp, now - span)  # our admitted requests inside it
        own_hi = n - bisect.bisect_right(resp, now - span - edge)
        own_hi += self._own_in_flight_before(sent, lo, edge)
        foreign_lo = count - own_hi
        if rejected and now >= self._shared_until and now >= w.shared_until:
            # A 429 alone is no evidence of other processes: its headers may describe another
            # window, or come from a proxy or an injected fault. The caller already waits for
            # the reset (block_until). Several in one window are: with 20 requests in flight,
            # the 2xx responses' counts cannot tell our own requests from the others' (all of
            # ours may have been admitted before), so a process that fanned out first would
            # otherwise never see the processes that started with it.
            rej = w.rejections
            while rej and rej[0] <= now - span - edge:
                rej.popleft()
            rej.append(now)
            if len(rej) < self.REJECTIONS_SHARED:
                return
            rej.clear()
            foreign_lo = max(foreign_lo, 1.0)
        w.foreign = max(0.0, count - own)
        margin = spread + EPSILON + 0.01 * span
        # a grown reserve relaxes back to the minimum
        if w.reserve > w.reserve_min:
            decay = math.exp(-(now - w.relaxed_at) / (self.RESERVE_RELAX_WINDOWS * span))
            w.reserve = w.reserve_min + (w.reserve - w.reserve_min) * decay
        w.relaxed_at = now
        if foreign_lo >= 1 and now >= self._shared_until and count > 0:
            # newly shared: start from what we see (our sends in the window, when all we got
            # were 429s)
            self._share = min(1.0, max(own, self._own_inside(w, now)) / count)
        if (foreign_lo >= 1 or now < self._shared_until) and rejected:
            # a 429 although we shared: keep a larger reserve for a while
            w.reserve = min(limit * self.MAX_RESERVE_SHARE, w.reserve * 1.5 + 1)
        # what the server says of a window reaches us a round trip late: evidence lasts
        # for the window and the round trip of the next responses that can revise it
        late = self._rtt_hi.value or 0.0
        if foreign_lo >= 1:
            w.shared_until = now + span + margin + late
        if self._ramp_from is None:
            self._ramp_from = now
        elif self._ramp_batch_end is None and now > self._ramp_from:
            self._ramp_batch_end = now
        cautious = w is self._second and self._cautious(now)
        if now >= w.shared_until and not cautious:
            # alone on the account in this window: the local window is the whole truth
            self._caps.pop(span, None)
            self._cap_expiry.pop(span, None)
            if w is self._second:
                self._ramp_cap = False
        else:
            # shared, or the first short window of a process (others may be starting too:
            # ramp up to the budget in a few round trips instead of one burst)
            shared = now < w.shared_until or now < self._shared_until
            grant = self.GRANT_SHARE if shared else self.STARTUP_GRANT_SHARE
            spare = limit - w.reserve - count
            cap = own + self._stochastic(grant * spare)
            if not shared:
                # a ramp-up limits growth only: our requests that the count may hold (sent
                # before this one, e.g. a read's speculative pages) keep their slots
                cap = max(cap, int(own_hi))
            self._ramp_cap = not shared
            self._caps[span] = max(1, min(limit, cap))
            self._cap_expiry[span] = now + span + margin + late
        w.reported_until = now + span + margin
        if now < w.shared_until and count > 0:
            self._share += 0.1 * (min(1.0, own / count) - self._share)
        if foreign_lo >= 1:
            # other processes use this account: remembered for the longest window
            longest = max(o.span for o in self._windows)
            self._shared_until = max(self._shared_until, now + longest + margin)
        for other in self._windows:
            if other is w:
                continue
            if now >= other.reported_until:
                # not reported lately: it has at least ``remaining`` left, a floor for the cap
                # taken from our share while the account is shared; grows additively (one
                # request per 1/GRANT_SHARE responses) until the server reports the window
                base = other.floor if now < other.floor_until else 0.0
                other.floor = max(base, float(self._own_inside(other, now))) + max(
                    self.GRANT_SHARE, self.GRANT_SHARE * (remaining - other.reserve)
                )
                if rejected:
                    other.floor = 0.0
                other.floor_until = now + other.span + margin
                continue
            if other.span in self._caps and remaining - other.reserve > 0:
                # it has at least ``remaining`` left: its cap may only grow
                mine = self._own_inside(other, now)
                grown = mine + self._stochastic(self.GRANT_SHARE * (remaining - other.reserve))
                self._caps[other.span] = min(other.limit, max(self._caps[other.span], grown))
