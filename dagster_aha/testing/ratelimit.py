"""Server-side rate-limit windows for :class:`~dagster_aha.testing.AhaSandbox`.

Design: a **sliding-window log** per window (one for the per-second limit, one for the
per-minute limit; each window's length is divided by ``time_scale``). A request is admitted when
every window holds fewer than ``limit`` admitted requests; admitted requests are recorded in
every window. **Rejected requests (429) do not count** toward any window, so a client that
waits until ``X-Ratelimit-Reset`` always gets the next request through, and a client pacing by
``Remaining``/``Reset`` can use ~100% of the ceiling with no 429s.

Headers (on every response): the window with the least remaining capacity is reported
(ties: the one that frees last). ``X-Ratelimit-Reset`` is the UTC epoch time at which that
window frees a slot (its oldest entry expires; ``now + length`` when it is empty), rounded
**up**: an integer when ``time_scale == 1``, else a float with 3 decimals.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque


class RateLimiter:
    """Two sliding windows (per second, per minute) with Aha!-style headers."""

    def __init__(
        self,
        requests_per_second: int,
        requests_per_minute: int,
        *,
        time_scale: float = 1.0,
        enforce: bool = True,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self.time_scale = float(time_scale)
        self.enforce = enforce
        self._windows: list[tuple[int, float, deque[float]]] = [
            (int(requests_per_second), 1.0 / self.time_scale, deque()),
            (int(requests_per_minute), 60.0 / self.time_scale, deque()),
        ]
        self._lock = threading.Lock()

    def _format_reset(self, epoch: float) -> str:
        if self.time_scale == 1.0:
            return str(math.ceil(epoch))
        return f"{math.ceil(epoch * 1000.0) / 1000.0:.3f}"

    def _headers(self, now_m: float, now_wall: float) -> dict[str, str]:
        best: tuple[int, float, int] | None = None  # (remaining, reset_wall, limit)
        for limit, length, hits in self._windows:
            remaining = max(0, limit - len(hits))
            reset_m = (hits[0] + length) if hits else now_m + length
            reset_wall = now_wall + (reset_m - now_m)
            if (
                best is None
                or remaining < best[0]
                or (remaining == best[0] and reset_wall > best[1])
            ):
                best = (remaining, reset_wall, limit)
        assert best is not None
        return {
            "X-Ratelimit-Limit": str(best[2]),
            "X-Ratelimit-Remaining": str(best[0]),
            "X-Ratelimit-Reset": self._format_reset(best[1]),
        }

    def _purge(self, now_m: float) -> None:
        for _limit, length, hits in self._windows:
            cutoff = now_m - length
            while hits and hits[0] <= cutoff:
                hits.popleft()

    def admit(self) -> tuple[bool, dict[str, str]]:
        """Try to admit one request. Returns (admitted, headers after the decision)."""
        with self._lock:
            now_m = time.monotonic()
            now_wall = time.time()
            self._purge(now_m)
            if not self.enforce:
                # A server that does not limit does not advertise a limit either: clients
                # pacing by X-Ratelimit-* headers must not slow down for a budget that is off.
                return True, {}
            allowed = all(len(h) < lim for lim, _l, h in self._windows)
            if allowed:
                for _limit, _length, hits in self._windows:
                    hits.append(now_m)
            return allowed, self._headers(now_m, now_wall)

    def peek(self) -> dict[str, str]:
        """Headers for a response that does not consume capacity (e.g. an injected fault)."""
        if not self.enforce:
            return {}
        with self._lock:
            now_m = time.monotonic()
            self._purge(now_m)
            return self._headers(now_m, time.time())

    def exhausted_headers(self) -> dict[str, str]:
        """Headers for an injected 429: remaining 0, reset one (scaled) second from now."""
        with self._lock:
            limit = self._windows[0][0]
            return {
                "X-Ratelimit-Limit": str(limit),
                "X-Ratelimit-Remaining": "0",
                "X-Ratelimit-Reset": self._format_reset(time.time() + 1.0 / self.time_scale),
            }
