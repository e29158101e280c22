"""Cooperative pacing from the server's ``X-Ratelimit-*`` headers (no budget store).

A mixin of :class:`~dagster_aha.client.ratelimit.RateLimiter` (see its module documentation,
"Server headers"): each response's ``X-Ratelimit-Limit/Remaining/Reset`` is compared with what
this process itself sent. Alone on the account, the headers never slow the process down; once
other processes are seen, a window is *shared* and this process keeps a cap on its own sends
in it, set by every response to ``own + GRANT_SHARE * (limit - reserve - server count)``. An
unidentified window (its limit matches neither configured one) spreads the remaining requests
until its reset.
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
    LocalWindow,
    SlidingExtremum,
    header_value,
    parse_reset,
)

__all__ = ["HeaderPacing"]


class HeaderPacing:
    """The header-driven part of the limiter's state and its updates (a mixin)."""

    #: Share of the shared window's spare budget (limit - reserve - count) one response grants.
    GRANT_SHARE = 0.15
    #: Largest reserve a shared window grows to after 429s, as a share of its limit.
    MAX_RESERVE_SHARE = 0.5
    #: Windows over which a grown reserve relaxes (by ``e``) back to its minimum.
    RESERVE_RELAX_WINDOWS = 30.0
    #: Share of the spare budget granted per response during a process's first short window.
    STARTUP_GRANT_SHARE = 0.5

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
    _cautious_until: float | None
    _slow_start: bool
    _rtt_lo: SlidingExtremum
    _rtt_hi: SlidingExtremum

    if TYPE_CHECKING:

        def _own_inside(self, w: LocalWindow, now: float) -> int: ...

    def _pace_from_headers(self, headers: Mapping[str, str], rejected: bool) -> None:
        """Take one response's ``X-Ratelimit-*`` headers into account (no budget store)."""
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
                self._update_identified(window, remaining, rejected, self._clock())
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

    def _update_identified(
        self, w: LocalWindow, remaining: float, rejected: bool, now: float
    ) -> None:
        span, limit = w.span, w.limit
        lo = self._rtt_lo.value or 0.0
        spread = (self._rtt_hi.value or lo) - lo
        edge = spread + EPSILON
        count = max(0.0, limit - remaining)  # the server's count in its window
        resp = self._responses
        n = len(resp)
        own = n - bisect.bisect_right(resp, now - span)  # our admitted requests inside it
        own_hi = n - bisect.bisect_right(resp, now - span - edge) + self._in_flight
        foreign_lo = count - own_hi
        if rejected and now >= self._shared_until and now >= w.shared_until:
            # A 429 alone is no evidence of other processes: its headers may describe another
            # window, or come from a proxy or an injected fault. The caller already waits for
            # the reset (block_until); only 2xx responses' counts can mark the account shared.
            return
        w.foreign = max(0.0, count - own)
        margin = spread + EPSILON + 0.01 * span
        # a grown reserve relaxes back to the minimum
        if w.reserve > w.reserve_min:
            decay = math.exp(-(now - w.relaxed_at) / (self.RESERVE_RELAX_WINDOWS * span))
            w.reserve = w.reserve_min + (w.reserve - w.reserve_min) * decay
        w.relaxed_at = now
        if foreign_lo >= 1 and now >= self._shared_until and count > 0:
            self._share = min(1.0, own / count)  # newly shared: start from what we see
        if (foreign_lo >= 1 or now < self._shared_until) and rejected:
            # a 429 although we shared: keep a larger reserve for a while
            w.reserve = min(limit * self.MAX_RESERVE_SHARE, w.reserve * 1.5 + 1)
        if foreign_lo >= 1:
            w.shared_until = now + span + margin
        if self._cautious_until is None:
            self._cautious_until = now + self._second.span
        cautious = self._slow_start and now < self._cautious_until and w is self._second
        if now >= w.shared_until and not cautious:
            # alone on the account in this window: the local window is the whole truth
            self._caps.pop(span, None)
            self._cap_expiry.pop(span, None)
        else:
            # shared, or the first short window of a process (others may be starting too:
            # ramp up to the budget in a few round trips instead of one burst)
            grant = self.GRANT_SHARE if now < w.shared_until else self.STARTUP_GRANT_SHARE
            mine = self._own_inside(w, now)
            spare = limit - w.reserve - count
            self._caps[span] = max(1, min(limit, mine + self._stochastic(grant * spare)))
            self._cap_expiry[span] = now + span + margin
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
                # taken from our share while the account is shared
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
