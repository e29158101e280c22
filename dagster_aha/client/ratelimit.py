"""Process-wide, thread-safe rate limiter per Aha! account.

Aha! limits requests per account/IP (300/minute and 20/second), not per client object, so every
:class:`AhaClient` of the same account in a process shares one :class:`RateLimiter` (see
:func:`get_shared_limiter`). The limiter works on two levels:

1. **Local windows** (proactive): a sliding-window log of this process's send times enforces
   both ``requests_per_second`` and ``requests_per_minute``.
2. **Server headers** (cooperative): every response's ``X-Ratelimit-Limit``,
   ``X-Ratelimit-Remaining`` and ``X-Ratelimit-Reset`` update a budget estimate (decremented
   locally on each send, lowered by every later response).

   * When ``X-Ratelimit-Limit`` names one of the configured windows (it equals
     ``requests_per_second`` or ``requests_per_minute``), the limiter knows that window's
     length and keeps a *cap* on this process's own sends inside it (self-clocking: a slot is
     reused only when one of our own earlier sends has left the server's window, plus a margin
     of ~1.5 observed round trips). Each response resets the reported window's cap to
     ``own + floor(GRANT_SHARE * spare)`` where ``own`` is our sends inside the window and
     ``spare`` is ``remaining`` minus a reserve (10% of the limit, at least 4; a negative spare
     shrinks the cap). Several *processes* sharing one account each do this without any
     coordination and together hold the server window just under its limit: the budget settles
     about ``reserve + 1/GRANT_SHARE`` below the limit (~87% of a 300/min window), 429s rare.
     The reported window is the one with the least remaining; other identified windows' caps
     may only grow from it.
   * Otherwise (unknown window) sends are spread so that the remaining requests last until the
     reset (allowed rate = ``remaining / time_to_reset``), and ``remaining == 0`` waits for it.

   Until the first response of a process arrives, only one request is in flight (slow start),
   so a fresh process learns the shared budget before it sends a burst.

   ``X-Ratelimit-Reset`` is UTC epoch seconds (int or float); a value below 10^9 is read as
   seconds from now.

A 429 calls :meth:`RateLimiter.block_until`, which pauses every thread using the limiter.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

__all__ = ["RateLimiter", "get_shared_limiter", "parse_reset", "reset_shared_limiters"]

#: A reset value below this is read as "seconds from now" rather than a UTC epoch.
EPOCH_THRESHOLD = 1_000_000_000
#: Never trust a reset further away than this (clock skew, bad header).
MAX_RESET_WAIT = 120.0


def parse_reset(value: str | None, now_wall: float) -> float | None:
    """Seconds from now until ``value`` (epoch seconds, int or float, or small = relative)."""
    if value is None:
        return None
    try:
        num = float(str(value).strip())
    except ValueError:
        return None
    if num != num or num < 0:  # NaN or negative
        return None
    delay = num - now_wall if num >= EPOCH_THRESHOLD else num
    return min(max(delay, 0.0), MAX_RESET_WAIT)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    # requests' CaseInsensitiveDict handles any case; plain dicts get a fallback scan.
    val = headers.get(name)
    if val is None:
        low = name.lower()
        for k, v in headers.items():
            if k.lower() == low:
                return v
    return val


class RateLimiter:
    """Blocks callers of :meth:`acquire` so that both windows and the server budget hold."""

    #: Share of the server's spare budget (remaining minus reserve) one response grants.
    GRANT_SHARE = 0.1

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
        slow_start: bool = True,
    ) -> None:
        if requests_per_second <= 0 or requests_per_minute <= 0:
            raise ValueError("rate limits must be positive")
        self.requests_per_second = requests_per_second
        self.requests_per_minute = requests_per_minute
        self._clock = clock
        self._wall = wall_clock
        self._sleep = sleep
        self._second = (second_window, int(max(1, requests_per_second)), deque())
        self._minute = (minute_window, int(max(1, requests_per_minute)), deque())
        self._windows: tuple[tuple[float, int, deque[float]], ...] = (self._second, self._minute)
        self._lock = threading.Lock()
        self._blocked_until = 0.0
        # server windows we can identify by their X-Ratelimit-Limit: limit -> window length
        self._spans: dict[int, float] = {
            int(max(1, requests_per_second)): second_window,
            int(max(1, requests_per_minute)): minute_window,
        }
        # per identified server window: max own sends inside it (None = no constraint yet)
        self._caps: dict[float, int] = {}
        # when each cap stops applying: a cap is evidence about one server window, so without a
        # newer response it lapses once that window has fully passed (e.g. the server stopped
        # sending X-Ratelimit-* headers, or a single 429 arrived from a server that never limits)
        self._cap_expiry: dict[float, float] = {}
        # unidentified windows: remaining budget until reset (monotonic time)
        self._remaining: float | None = None
        self._reset_at = 0.0
        self._last_send = float("-inf")
        # slow start: until the first response, only one request is in flight
        self._first_send: float | None = None
        self._seen_response = not slow_start
        self._rtt = 0.0  # decaying maximum of observed response times
        self.total_wait = 0.0
        self.acquired = 0

    # -- waiting -----------------------------------------------------------------------------
    def _margin(self, span: float) -> float:
        # our send time precedes the server's admission time by up to one round trip
        return min(0.25 * span, 0.005 + 0.01 * span + 1.5 * self._rtt)

    def _own_sends(self, now: float, span: float) -> list[float]:
        cutoff = now - span - self._margin(span)
        return [t for t in self._minute[2] if t > cutoff]

    #: Seconds the first request may take before others go out without its headers.
    PROBE_TIMEOUT = 1.0

    def _wait_needed(self, now: float) -> float:
        wait = self._blocked_until - now
        if not self._seen_response and self._first_send is not None:
            probe_left = self._first_send + self.PROBE_TIMEOUT - now
            if probe_left > 0:
                wait = max(wait, min(probe_left, 0.005))
        for span, limit, log in self._windows:
            while log and log[0] <= now - span:
                log.popleft()
            if len(log) >= limit:
                wait = max(wait, log[len(log) - limit] + span - now)
        for span in [sp for sp, exp in self._cap_expiry.items() if now >= exp]:
            self._caps.pop(span, None)
            self._cap_expiry.pop(span, None)
        for span, cap in self._caps.items():
            # self-clocking: a slot frees when one of our own sends leaves the server window
            mine = self._own_sends(now, span)
            if len(mine) >= cap:
                wait = max(wait, mine[len(mine) - cap] + span + self._margin(span) - now)
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

    def acquire(self) -> float:
        """Block until one request may be sent; return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait_needed(now)
                if wait <= 0:
                    for _, _, log in self._windows:
                        log.append(now)
                    self._last_send = now
                    if self._first_send is None:
                        self._first_send = now
                    if self._remaining is not None:
                        self._remaining -= 1
                    self.acquired += 1
                    self.total_wait += waited
                    return waited
            # sleep outside the lock; re-check afterwards (other threads may have sent)
            step = min(wait, 1.0)
            self._sleep(step)
            waited += step

    def block_until(self, seconds_from_now: float) -> None:
        """Pause every sender for ``seconds_from_now`` (used on 429)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self._clock() + seconds_from_now)

    @staticmethod
    def reserve(limit: int) -> int:
        """Budget left untouched in an identified window (absorbs in-flight requests)."""
        return max(4, math.ceil(limit * 0.1))

    def update_from_headers(self, headers: Mapping[str, str], latency: float | None = None) -> None:
        """Feed ``X-Ratelimit-Limit/Remaining/Reset`` from any response (429s included).

        ``latency`` (seconds from send to response) widens the self-clocking margin.
        """
        self._seen_response = True
        if latency is not None and latency >= 0:
            with self._lock:
                self._rtt = max(self._rtt * 0.95, min(latency, 5.0))
        rem_raw = _header(headers, "X-Ratelimit-Remaining")
        if rem_raw is None:
            return
        try:
            remaining = float(rem_raw.strip())
        except ValueError:
            return
        limit: int | None = None
        lim_raw = _header(headers, "X-Ratelimit-Limit")
        if lim_raw is not None:
            try:
                limit = int(float(lim_raw.strip()))
            except ValueError:
                limit = None
        span = self._spans.get(limit) if limit is not None else None
        if span is not None and limit is not None:
            with self._lock:
                now = self._clock()
                for lim, sp in self._spans.items():
                    mine = len(self._own_sends(now, sp))
                    spare = remaining - self.reserve(lim)
                    # rounded towards "fewer sends": the budget settles ~1/GRANT_SHARE above the
                    # reserve, which absorbs requests in flight from other processes
                    grant = (
                        math.floor(self.GRANT_SHARE * spare)
                        if spare > 0
                        else -math.ceil(self.GRANT_SHARE * -spare)
                    )
                    cap = max(1, mine + grant)
                    if sp == span:
                        self._caps[sp] = cap  # the reported window: may shrink
                        self._cap_expiry[sp] = now + sp + self._margin(sp)
                    elif sp in self._caps:
                        # other windows have at least this much left: they may only grow
                        self._caps[sp] = max(self._caps[sp], cap)
            return
        ttr = parse_reset(_header(headers, "X-Ratelimit-Reset"), self._wall())
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

    @property
    def caps(self) -> dict[float, int]:
        """Own-send caps per identified server window length (for diagnostics)."""
        with self._lock:
            return dict(self._caps)


_REGISTRY: dict[tuple[str, float, float], RateLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def get_shared_limiter(
    base_url: str, requests_per_second: float, requests_per_minute: float
) -> RateLimiter:
    """The process-wide limiter for one account and one pair of limits."""
    key = (base_url, float(requests_per_second), float(requests_per_minute))
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = RateLimiter(requests_per_second, requests_per_minute)
            _REGISTRY[key] = limiter
        return limiter


def reset_shared_limiters() -> None:
    """Forget every shared limiter (for tests)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
