"""Places in the budget store: how a participant that has waited long is not starved.

A participant that has too short a lead (a process on a host that has no round trips in the
store yet: lead 0) sees every slot free later than the others, who take it first; in a full
window it could wait until they had finished. Once the store has kept it waiting for the short
window it takes a *place*: a row that every other participant counts against the limit (so
they leave a slot free for it), held for a short time its owner keeps extending. The owner
sends with it as soon as the ordinary decision allows (its place and the places taken after it
not counted), or once every slot that came before the place has left the window counted with
lead 0 (:func:`~dagster_aha.client.budget_slots.decide`): every slot taken after the place
counted it, so its request cannot be the limit + 1st in the server's window. A place is not a
request: it leaves no window by itself, so places held at once are served in the order they
were taken and none shortens the window of an earlier one. A place keeps its time
(``reserved_at``) once it is sent, so that a later place still waits for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from dagster_aha.client.budget_slots import Place, Row
from dagster_aha.client.store_errors import guarded

__all__ = ["StorePlaces", "held_place"]


def held_place(rows: Sequence[Row], place: Place | None, now: float) -> bool:
    """Whether ``place`` is among ``rows``, unexpired and not yet sent."""
    if place is None:
        return False
    return any(
        r.slot == place[0] and r.placed and r.hold_until > now and r.first == place[1] for r in rows
    )


class StorePlaces:
    """The place operations of :class:`~dagster_aha.client.budget_store.BudgetStore`."""

    origin: str
    _engine: Any
    _sa: Any
    _slots: Any
    #: the store's clock, under the account's lock (BudgetStore's)
    _now_and_lock: Callable[[Any, str], float]

    def _insert_slot(
        self, conn: Any, account: str, now: float, hold_until: float, *, reserved_at: float | None
    ) -> int:
        """A new slot of this participant, sent (or placed, ``reserved_at``) at ``now``."""
        t = self._slots
        return int(
            conn.execute(
                t.insert()
                .values(
                    account=account,
                    sent_at=now,
                    done_at=None,
                    hold_until=hold_until,
                    origin=self.origin,
                    reserved_at=reserved_at,
                )
                .returning(t.c.id)
            ).scalar_one()
        )

    @guarded("take a place")
    def take_place(self, account: str, ttl: float) -> Place:
        """Take a place: a slot every other participant counts against the limit, held
        for ``ttl`` seconds unless :meth:`keep_place` extends it. Its owner sends with it
        (:meth:`try_acquire_in_place`) or gives it back (:meth:`cancel_place`)."""
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            slot = self._insert_slot(conn, account, now, now + ttl, reserved_at=now)
        return slot, now

    @guarded("keep a place")
    def keep_place(self, account: str, place: Place, ttl: float) -> bool:
        """Hold ``place`` ``ttl`` seconds from now; False if it has expired (it is then gone)."""
        t = self._slots
        with self._engine.begin() as conn:
            now = self._now_and_lock(conn, account)
            return bool(
                conn.execute(
                    t.update()
                    .where(
                        t.c.id == place[0],
                        t.c.account == account,
                        t.c.done_at.is_(None),
                        t.c.hold_until > now,
                        t.c.sent_at == t.c.reserved_at,  # not sent yet
                    )
                    .values(hold_until=now + ttl)
                ).rowcount
            )

    @guarded("give a place back")
    def cancel_place(self, account: str, place: Place) -> None:
        """Give back a place that was not used (call only for a place not turned into a send)."""
        t = self._slots
        with self._engine.begin() as conn:
            self._now_and_lock(conn, account)
            conn.execute(
                t.delete().where(t.c.id == place[0], t.c.account == account, t.c.done_at.is_(None))
            )
