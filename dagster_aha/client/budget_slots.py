"""How a participant decides from the budget store's slots whether it may send now.

Pure functions of the rows :class:`~dagster_aha.client.budget_store.BudgetStore` read (no
database here): the model is in that module's documentation. A request in flight counts in
every window; an answered one leaves a window ``span - lead`` after its answer; the lead is
the caller's own, or the one its host's round trips give when that is more
(:class:`SharedFloor`).
"""

from __future__ import annotations

import bisect
import hashlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MIN_POLL", "NEWCOMER_POLL", "Row", "SharedFloor", "decide", "host_origin"]

#: Shortest poll (seconds) while every slot is held by requests in flight (no known exit).
MIN_POLL = 0.005
#: Longest poll of a participant with no lead yet, as a share of the short window.
NEWCOMER_POLL = 0.05

#: One slot as read: ``(sent_at, done_at, hold_until, rtt, origin)`` (``done_at`` None while in
#: flight; ``origin`` the sender's host key, None in a store written by an earlier version).
Row = tuple[float, "float | None", float, "float | None", "str | None"]


def host_origin() -> str:
    """This host's key in the store's slots: a hash of its host name (nothing else)."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:16]


@dataclass
class SharedFloor:
    """How a participant takes the lead from the store's round trips: ``samples`` of them are
    needed, ``margin`` is kept below the shortest one. Those measured on the participant's own
    host count (the same path to the server). A participant with too few round trips of its
    own may also take every participant's when its host has too few, up to ``cap`` (its own
    shortest round trip minus the margin); ``cap`` None (no round trip of its own yet): only
    its host's. ``lead`` is set to the lead the store gave."""

    samples: int
    margin: float
    cap: float | None
    lead: float = 0.0

    def lead_from(self, n: int, lo: float | None, hi: float | None) -> float:
        """The lead from ``n`` round trips between ``lo`` and ``hi`` (0 with too few)."""
        if n < self.samples or lo is None:
            return 0.0
        spread = float(hi if hi is not None else lo) - float(lo)
        lead = float(lo) - max(self.margin, 2.0 * spread / (n + 1))
        return max(0.0, lead if self.cap is None else min(lead, self.cap))


def decide(
    rows: Sequence[Row],
    now: float,
    windows: Sequence[tuple[float, int]],
    lead: float | None,
    floor: SharedFloor | None,
    origin: str | None = None,
) -> tuple[float, bool]:
    """(seconds to wait, 0 when a slot is free; whether expired rows are left to delete).

    ``rows`` are every slot of the account in the store, ``origin`` the caller's host key;
    the rest is :meth:`BudgetStore.try_acquire`'s (see the module documentation of
    :mod:`dagster_aha.client.budget_store` for the model).
    """
    longest = max(span for span, _ in windows)
    shortest = min(span for span, _ in windows)
    flying: list[float] = []  # send times of the requests in flight
    dones: list[float] = []  # answer times of the requests answered
    rtts: list[float] = []  # the round trips their senders measured
    here: list[float] = []  # those measured on ``origin`` (this participant's host)
    expired = False
    for sent, done, hold_until, rtt, sender in rows:
        if (done is None and hold_until <= now) or (done is not None and done <= now - longest):
            expired = True  # out of every window (or its sender died while it flew)
            continue
        if done is None:
            flying.append(sent)
        else:
            dones.append(done)
        if rtt is not None:
            rtts.append(rtt)
            if origin is not None and sender == origin:
                here.append(rtt)
    if floor is not None:
        # this host's round trips (the same path to the server); every participant's only
        # for a caller with too few of its own that has one (capped by it)
        few_here = len(here) < floor.samples
        basis = rtts if lead is None and floor.cap is not None and few_here else here
        n = len(basis)
        shared = floor.lead_from(n, min(basis) if n else None, max(basis) if n else None)
        floor.lead = shared
        # the host's lead is as safe as the caller's own, and it is the same for every
        # participant of the host: one whose own round trips vary more (a busy process)
        # does not see every slot free later than the others, and starve
        lead = shared if lead is None else max(lead, shared)
    lead = max(0.0, min(lead or 0.0, shortest))
    flying.sort()
    dones.sort()
    # requests in flight, oldest first: each answers no sooner than the shortest round trip
    # after its send; an answered one leaves a window ``span - lead`` after its answer
    floor_rtt = min(rtts) if rtts else 0.0
    wait = 0.0
    for span, limit in windows:
        inside = dones[bisect.bisect_right(dones, now - span + lead) :]
        excess = len(flying) + len(inside) - limit + 1
        if excess <= 0:
            continue
        if excess > len(inside):
            # requests in flight fill the window: the earliest the k-th of them can leave
            # it (then look again: its answer may come later)
            sent = flying[excess - len(inside) - 1]
            earliest = max(now, sent + floor_rtt) + span - lead
            wait = max(wait, MIN_POLL, 0.01 * span, earliest - now)
        else:
            wait = max(wait, inside[excess - 1] + span - lead - now + 1e-4)
    if floor is not None and floor.cap is None and floor.lead == 0.0:
        # a newcomer without a lead yet: nothing of its own in flight wakes it, and its
        # host's round trips may give one any moment (the others' first answers)
        wait = min(wait, max(MIN_POLL, NEWCOMER_POLL * shortest))
    return wait, expired
