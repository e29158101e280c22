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
from typing import NamedTuple

__all__ = ["MIN_POLL", "NEWCOMER_POLL", "Place", "Row", "SharedFloor", "decide", "host_origin"]

#: Shortest poll (seconds) while every slot is held by requests in flight (no known exit).
MIN_POLL = 0.005
#: Longest poll of a participant with no lead yet, as a share of the short window.
NEWCOMER_POLL = 0.05


class Row(NamedTuple):
    """One slot as read from the store."""

    sent: float
    done: float | None  # None while in flight
    hold_until: float
    rtt: float | None
    origin: str | None  # the sender's host key; None in a store written by an earlier version
    first: float  # when the slot appeared: its place's time for a send that took one, else sent
    slot: int  # the slot's id
    placed: bool  # a place not yet sent


#: A participant's place in the store: ``(slot id, the store's time it was taken)``.
Place = tuple[int, float]


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
    place: Place | None = None,
) -> tuple[float, bool]:
    """(seconds to wait, 0 when a slot is free; whether expired rows are left to delete).

    ``rows`` are every slot of the account in the store, ``origin`` the caller's host key,
    ``place`` the caller's place (its row and the places taken after it are then not counted
    against the caller, who may also send once every slot that came before the place has left
    the window, counted with lead 0). A place not yet sent counts against the limit but leaves
    no window by itself (it turns into a request); the rest is
    :meth:`BudgetStore.try_acquire`'s (see the module documentation of
    :mod:`dagster_aha.client.budget_store` for the model).
    """
    longest = max(span for span, _ in windows)
    shortest = min(span for span, _ in windows)
    flying: list[float] = []  # send times of the requests in flight
    dones: list[float] = []  # answer times of the requests answered
    rtts: list[float] = []  # the round trips their senders measured
    here: list[float] = []  # those measured on ``origin`` (this participant's host)
    before: list[float | None] = []  # slots that came before the caller's place: answer times
    expired = False
    placed = 0  # places not yet sent that the caller leaves free
    for sent, done, hold_until, rtt, sender, first, slot, unsent in rows:
        if (done is None and hold_until <= now) or (done is not None and done <= now - longest):
            expired = True  # out of every window (or its sender died while it flew)
            continue
        if place is not None:
            if slot == place[0]:
                continue  # the caller's own place: the slot it is about to use
            if (first, slot) > (place[1], place[0]):
                if unsent:
                    continue  # a later place waits for the caller's: not counted
            else:
                before.append(done)
        if unsent:
            # a slot its owner will send with: counted, but it leaves no window by itself
            # (it turns into a request in flight, or is given back)
            placed += 1
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
        excess = len(flying) + len(inside) + placed - limit + 1
        if excess <= 0:
            continue
        # ``excess`` requests must leave the window first (a place turns into a request, so
        # it does not free a slot); beyond the requests out now, the places' own requests,
        # which are sent later: look again once the last of those out now has left
        k = min(excess, len(flying) + len(inside))
        if k == 0:
            here_wait = max(MIN_POLL, 0.01 * span)  # places alone fill it: they are sent soon
        elif k > len(inside):
            # requests in flight fill the window: the earliest the k-th of them can leave
            # it (then look again: its answer may come later)
            sent = flying[k - len(inside) - 1]
            earliest = max(now, sent + floor_rtt) + span - lead
            here_wait = max(MIN_POLL, 0.01 * span, earliest - now)
        else:
            here_wait = inside[k - 1] + span - lead - now + 1e-4
        if place is not None:
            here_wait = min(here_wait, _place_wait(before, now, span))
        wait = max(wait, here_wait)
    if floor is not None and floor.cap is None and floor.lead == 0.0:
        # a newcomer without a lead yet: nothing of its own in flight wakes it, and its
        # host's round trips may give one any moment (the others' first answers)
        wait = min(wait, max(MIN_POLL, NEWCOMER_POLL * shortest))
    return wait, expired


def _place_wait(before: Sequence[float | None], now: float, span: float) -> float:
    """Seconds until every slot that came before a place has left a window of ``span``,
    counted with lead 0 (answered at least ``span`` ago); 0 when they have.

    Every slot taken after the place counted it as a request in flight, so once the earlier
    ones are out of the server's window, the place's request cannot be the limit + 1st in it.
    """
    if any(done is None for done in before):
        return max(MIN_POLL, 0.01 * span)  # still in flight: look again
    last = max((done for done in before if done is not None), default=None)
    if last is None or last <= now - span:
        return 0.0
    return last + span - now + 1e-4
