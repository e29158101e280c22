"""The total wait budget of one request, and ``Retry-After`` read without a ceiling.

Every wait a request decides on between its attempts (a back-off, a ``Retry-After``, a 429
pause, and the limiter's pacing beyond that) is taken from the request's budget; a wait that
does not fit raises :class:`~dagster_aha.client.errors.AhaWaitBudgetError` at once, instead of
sleeping first. ``Retry-After: 1e9`` therefore ends the request immediately rather than
waiting the (capped) 120 s five times. The wait for a request slot (the limiter, a shared
budget store held by other participants) ends when the budget left is spent: the request
then raises before it is sent (:meth:`WaitBudget.paced_out`).
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping

from dagster_aha.client.errors import AhaWaitBudgetError
from dagster_aha.client.urls import ShownUrl

__all__ = ["DEFAULT_WAIT_BUDGET", "WaitBudget", "requested_wait"]

#: Seconds one request may wait in total between its attempts (five minutes).
DEFAULT_WAIT_BUDGET = 300.0


def requested_wait(headers: Mapping[str, str], now_wall: float | None = None) -> float | None:
    """The wait ``Retry-After`` asks for, uncapped (``inf`` allowed); ``None`` if absent.

    Accepts delta-seconds (``120``, ``1e9``, ``inf``) and HTTP dates.
    """
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        now = time.time() if now_wall is None else now_wall
        return max(when.timestamp() - now, 0.0)
    if math.isnan(value) or value < 0:
        return None
    return value


class WaitBudget:
    """Seconds one request may still wait; :meth:`take` raises when a wait does not fit."""

    def __init__(self, budget: float, method: str, url: str | ShownUrl) -> None:
        self.budget = budget
        self.method = method
        self.url = url
        self.waited = 0.0

    @property
    def remaining(self) -> float:
        return max(self.budget - self.waited, 0.0)

    def take(
        self,
        seconds: float,
        *,
        why: str,
        status: int | None = None,
        requested: float | None = None,
    ) -> None:
        """Account for a wait of ``seconds`` (``requested``: what the server asked for)."""
        need = max(seconds, requested or 0.0)
        if need > self.remaining:
            asked = (
                f"; the server asked to wait {requested:g} s"
                if requested is not None and requested > seconds
                else ""
            )
            raise self._exceeded(
                f"gave up: {why} needs a wait of {need:g} s but only {self.remaining:.1f} s "
                f"of the request's {self.budget:g} s wait budget are left (waited "
                f"{self.waited:.1f} s){asked}",
                status=status,
                requested=need,
            )
        self.waited += seconds

    def paced_out(self, waited: float) -> AhaWaitBudgetError:
        """The error for pacing that found no free request slot within the budget left
        (``waited`` seconds of it); the request was not sent."""
        left = self.remaining
        self.waited += max(waited, 0.0)
        return self._exceeded(
            f"gave up before sending: the account's rate budget had no free request slot "
            f"within the {left:.1f} s left of the request's {self.budget:g} s wait budget "
            "(other requests or participants of the account hold it)",
            requested=None,
        )

    def _exceeded(
        self, message: str, *, status: int | None = None, requested: float | None
    ) -> AhaWaitBudgetError:
        return AhaWaitBudgetError(
            status,
            self.method,
            str(self.url),
            message,
            waited=self.waited,
            budget=self.budget,
            requested=requested,
        )

    def add(self, seconds: float) -> None:
        """Account for a wait that already happened (the limiter's pacing)."""
        self.waited += max(seconds, 0.0)
