"""Sandbox set-up shared by the benchmarks (sizes, truth, request counters)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster_aha.testing import AhaSandbox


def layout(records: int, products: int) -> tuple[int, int, int]:
    """(products, releases_per_product, features_per_release) giving exactly ``records``
    features, preferring ``products`` products of 10 releases each."""
    if records < 1:
        raise ValueError("records must be >= 1")
    for p in (products, 1):
        for r in (10, 5, 4, 2, 1):
            if p >= 1 and records % (p * r) == 0:
                return p, r, records // (p * r)
    return 1, 1, records


@contextmanager
def start_sandbox(
    *,
    records: int,
    products: int,
    latency: float,
    jitter: float,
    time_scale: float,
    enforce_rate_limits: bool = True,
) -> Iterator[AhaSandbox]:
    """A started sandbox with exactly ``records`` features, enforcing the real limits
    (20/s, 300/min) with windows divided by ``time_scale``."""
    from dagster_aha.testing import AhaSandbox

    p, r, f = layout(records, products)
    sandbox = AhaSandbox(
        products=p,
        releases_per_product=r,
        features_per_release=f,
        latency=latency,
        latency_jitter=jitter,
        time_scale=time_scale,
        enforce_rate_limits=enforce_rate_limits,
    )
    with sandbox:
        yield sandbox


def features_truth(aha: AhaSandbox, product_id: str | None = None) -> set[str]:
    """Ids of the sandbox's features (of one product when ``product_id`` is given)."""
    return {
        str(rec["id"])
        for rec in aha.state.snapshot("features")
        if product_id is None or str(rec.get("product_id")) == product_id
    }


@dataclass(frozen=True)
class SandboxCounters:
    """Requests the sandbox answered, and how many of them with 429."""

    requests: int
    rate_limited: int

    @classmethod
    def read(cls, aha: AhaSandbox) -> SandboxCounters:
        stats = aha.stats
        return cls(stats.total, stats.rate_limited)

    def __sub__(self, other: SandboxCounters) -> SandboxCounters:
        return SandboxCounters(
            self.requests - other.requests, self.rate_limited - other.rate_limited
        )
