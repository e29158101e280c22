"""How many requests a paginated read keeps in flight: Little's law on the measured round trip.

Throughput = requests in flight / round trip. To reach the rate the limits allow, a read needs
``rate x round trip`` requests in flight (20/s at 1.0 s: 20). Fewer caps the read below the
ceiling (the old fixed default of 4 gave 4 / latency requests/s), and so does holding fewer
than one short window's budget ready (the limits allow bursts of 20); more only queue in the
rate limiter and hold prefetched pages in memory. :class:`InFlightTarget` turns the limiter's
recent round trips into that number, with headroom for the variation of the round trip, and
``max_concurrency`` is only its upper cap.
"""

from __future__ import annotations

import math

__all__ = ["DEFAULT_MAX_CONCURRENCY", "InFlightTarget"]

#: Upper cap of requests in flight per read (and worker threads); the target is usually lower.
DEFAULT_MAX_CONCURRENCY = 64


class InFlightTarget:
    """``target(round_trip)``: requests to keep in flight for ``rate`` requests per second.

    ``rate`` is the short window's limit over its length (20/s for Aha!, 200/s for a sandbox
    with time compressed 10x). The target is never below one short window's budget: the
    fastest schedule the limits allow sends a window's budget at once whenever a window frees
    (20 requests every second), so that many must be ready even when the round trip is much
    shorter than the window (at 0.1 s, rate x round trip is only 2). Deterministic: the same
    inputs give the same target.
    """

    #: Multiplies rate x round trip: the round trip varies, and a slot freed by a slow response
    #: must find a request ready to go.
    HEADROOM = 1.25
    #: Added on top (the page being yielded, a retry waiting in the limiter).
    EXTRA = 2
    #: Never fewer than this (a short list still overlaps two pages).
    MINIMUM = 2

    def __init__(self, rate: float, cap: int, *, window_budget: int | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        if cap < 1:
            raise ValueError("cap must be >= 1")
        self.rate = float(rate)
        self.cap = int(cap)
        self.window_budget = int(window_budget) if window_budget else max(1, round(rate))

    def target(self, round_trip: float | None) -> int:
        want = self.window_budget
        if round_trip is not None and round_trip > 0 and not math.isnan(round_trip):
            want = max(want, math.ceil(self.rate * round_trip * self.HEADROOM - 1e-9))
        return max(min(self.MINIMUM, self.cap), min(self.cap, want + self.EXTRA))
