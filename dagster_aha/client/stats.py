"""The counters an :class:`~dagster_aha.client.AhaClient` keeps (requests, retries, 429s, pages)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

__all__ = ["ClientStats", "StatsCounter"]


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of a client's cumulative counters."""

    requests: int = 0  # HTTP attempts sent (including retries)
    retries: int = 0  # attempts repeated after a failure or a 429
    rate_limited: int = 0  # 429 responses received
    pages: int = 0  # list pages received by iter_records / pivot list reports
    by_status: dict[int, int] = field(default_factory=dict)


class StatsCounter:
    """The live counters behind :class:`ClientStats` (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.pages = 0
        self.by_status: dict[int, int] = {}

    def snapshot(self) -> ClientStats:
        with self.lock:
            return ClientStats(
                self.requests, self.retries, self.rate_limited, self.pages, dict(self.by_status)
            )
