"""The pieces a :class:`~dagster_aha.client.ratelimit.RateLimiter` is built from: one send of
this process (``Send``), a local sliding window and what the server said about it
(``LocalWindow``), the shortest/longest recent round trip (``SlidingExtremum``), and the reading
of ``X-Ratelimit-Reset`` (``parse_reset``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

__all__ = [
    "DONE",
    "EPSILON",
    "IN_FLIGHT",
    "MAX_IN_FLIGHT_HOLD",
    "REJECTED",
    "RTT_SAMPLES",
    "LocalWindow",
    "Send",
    "SlidingExtremum",
    "header_value",
    "parse_reset",
]

#: A reset value below this is read as "seconds from now" rather than a UTC epoch.
EPOCH_THRESHOLD = 1_000_000_000
#: Never trust a reset further away than this (clock skew, bad header).
MAX_RESET_WAIT = 120.0
#: Safety added to a send's estimated exit from the server window once round trips are known.
EPSILON = 0.001
#: Round trips remembered for the shortest/longest recent round trip.
RTT_SAMPLES = 128
#: A request in flight longer than this stops holding its slots (it will never report back).
MAX_IN_FLIGHT_HOLD = 300.0

IN_FLIGHT, DONE, REJECTED = 0, 1, 2


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


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    # requests' CaseInsensitiveDict handles any case; plain dicts get a fallback scan.
    val = headers.get(name)
    if val is None:
        low = name.lower()
        for k, v in headers.items():
            if k.lower() == low:
                return v
    return val


class Send:
    """One request of this process: send time, round trip (when known), state."""

    __slots__ = ("done", "rtt", "state", "t", "token")

    def __init__(self, t: float, token: int | None = None) -> None:
        self.t = t
        self.token = token  # its slot in the shared budget store, if any
        self.rtt: float | None = None
        self.done: float | None = None
        self.state = IN_FLIGHT


class SlidingExtremum:
    """Sliding minimum or maximum over the last ``size`` samples (monotonic deque)."""

    def __init__(self, size: int, is_max: bool) -> None:
        self._size = size
        self._max = is_max
        self._q: deque[tuple[int, float]] = deque()
        self._n = 0
        self.count = 0  # samples in the sliding range

    def add(self, x: float) -> None:
        q = self._q
        if self._max:
            while q and q[-1][1] <= x:
                q.pop()
        else:
            while q and q[-1][1] >= x:
                q.pop()
        q.append((self._n, x))
        self._n += 1
        self.count = min(self._n, self._size)
        while q[0][0] <= self._n - 1 - self._size:
            q.popleft()

    @property
    def value(self) -> float | None:
        return self._q[0][1] if self._q else None


class LocalWindow:
    """A local window (length, limit, log of sends) plus what the server said about it."""

    __slots__ = (
        "floor",
        "floor_until",
        "foreign",
        "limit",
        "log",
        "rejections",
        "relaxed_at",
        "reported_until",
        "reserve",
        "reserve_min",
        "share",
        "shared_until",
        "span",
    )

    def __init__(self, span: float, limit: int, reserve_min: int) -> None:
        self.span = span
        self.limit = limit
        self.log: deque[Send] = deque()
        self.reserve_min = reserve_min
        self.reserve = float(reserve_min)
        self.relaxed_at = 0.0
        self.shared_until = float("-inf")  # foreign usage seen recently
        self.foreign: float | None = None  # last estimate (diagnostics)
        self.share = 1.0  # our share of the server's count (moving average, shared windows)
        self.reported_until = float("-inf")  # the server reported this window recently
        self.floor = 0.0  # lower bound of its cap while not reported (from another report)
        self.floor_until = float("-inf")
        self.rejections: deque[float] = deque()  # our 429s from this window (while not shared)
