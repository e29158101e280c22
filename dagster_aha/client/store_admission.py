"""The limiter's turn at the budget store: a slot, a place after a long wait, the answer.

A mixin of :class:`~dagster_aha.client.ratelimit.RateLimiter` (level 3 of its module
documentation). Only the head of the limiter's FIFO queue asks the store; after waiting the
short window it takes a place there (:mod:`dagster_aha.client.budget_places`), which the next
head uses until a request is sent with it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from dagster_aha.client.budget_slots import Place, SharedFloor
from dagster_aha.client.errors import AhaBudgetStoreError
from dagster_aha.client.rate_windows import LocalWindow

if TYPE_CHECKING:
    from dagster_aha.client.budget_store import BudgetStore

__all__ = ["StoreAdmission"]

logger = logging.getLogger("dagster_aha.client")


class StoreAdmission:
    """Slots, places and answers in the budget store (a mixin)."""

    #: Seconds a place in the budget store is held without its owner extending it.
    PLACE_TTL = 10.0

    # the limiter's state this mixin reads and updates (set by RateLimiter.__init__)
    LEAD_SAMPLES: int
    _lock: threading.Lock
    _clock: Callable[[], float]
    _store: BudgetStore | None
    _account: str
    _store_windows: tuple[tuple[float, int], ...]
    _windows: tuple[LocalWindow, ...]
    _hold: float
    _store_lead: float
    _place: tuple[Place, float] | None
    places: int
    _floor_margin: Callable[[], float]
    _own_cap: Callable[[], float | None]

    def _ask_store(self, lead: float | None, waited: float) -> tuple[int | None, float]:
        """One try at the store for the head of the queue: ``(slot, 0)`` or ``(None, wait)``.

        ``waited``: seconds since the store first had no slot for this caller. After the
        store has kept it waiting the short window, the head takes a place
        (:mod:`.budget_places`), so that participants with a longer lead cannot keep it
        waiting for as long as they send.
        """
        store = self._store
        assert store is not None
        floor = SharedFloor(self.LEAD_SAMPLES, self._floor_margin(), self._own_cap())
        with self._lock:
            held, self._place = self._place, None  # this caller uses it (no other at once)
        token: int | None = None
        try:
            now = self._clock()
            if held is not None and now - held[1] >= self.PLACE_TTL / 3:
                kept = store.keep_place(self._account, held[0], self.PLACE_TTL)
                held = (held[0], now) if kept else None
            if held is None and waited >= min(w.span for w in self._windows):
                held = (store.take_place(self._account, self.PLACE_TTL), now)
                self.places += 1
            if held is None:
                token, wait = store.try_acquire(
                    self._account, self._store_windows, lead, self._hold, floor=floor
                )
            else:
                token, wait, still = store.try_acquire_in_place(
                    self._account, self._store_windows, lead, self._hold, held[0], floor=floor
                )
                if not still:
                    held = None  # used for this request, or expired
        finally:
            extra: Place | None = None
            with self._lock:
                if lead is None:
                    # every participant's round trips: until this process has its own
                    self._store_lead = floor.lead
                if held is not None and token is None:
                    if self._place is None:
                        self._place = held
                    else:
                        extra = held[0]  # another caller took one meanwhile: one is enough
            if extra is not None:
                self._cancel_place(extra)
        return token, wait

    def _cancel_place(self, place: Place) -> None:
        """Give back an unused place (a failure only leaves it held until it expires)."""
        assert self._store is not None
        try:
            self._store.cancel_place(self._account, place)
        except AhaBudgetStoreError as exc:
            logger.warning("%s; the place stays held until it expires", exc.message)

    def _finish_in_store(
        self, token: int, *, rejected: bool, age: float = 0.0, rtt: float | None = None
    ) -> None:
        """Re-date (or free) a slot in the store. The request is over: a store failure now only
        leaves the slot held until its hold ends (counted as in flight), it fails no read."""
        if self._store is None:
            return
        try:
            self._store.finish(self._account, token, rejected=rejected, age=age, rtt=rtt)
        except AhaBudgetStoreError as exc:
            logger.warning("%s; the slot stays held until it expires", exc.message)
