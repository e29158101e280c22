"""Speculative list pages: start pages 2..k together with page 1 when a previous read of the
same list says it has that many pages.

Without a hint a read must wait one round trip for page 1's ``total_pages`` before it can
fan out (at 1.0 s latency that is a whole second's budget of 20 requests left unused). The
page count of the previous read of the same path, parameters and page size is kept per
account: in the process, and in the budget store when one is configured (so that the next
Dagster run, in a new process or on another host, has it too).

What speculation may cost: pages beyond the end are only requested when the list shrank since
the previous read, and at most ``speculative_last_page(hint, budget) - actual pages`` of them:
never more than one short window's budget (19 for Aha!'s 20/s) per read, usually none. They
answer with an empty list and are discarded, so they never add or drop records: only pages
``<= total_pages`` of page 1's answer are used, exactly as without speculation.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_aha.client.budget_store import BudgetStore

__all__ = ["PageHints", "page_hints", "reset_page_hints", "speculative_last_page"]

logger = logging.getLogger("dagster_aha.client")


def speculative_last_page(hint: int | None, budget: int) -> int:
    """The last page to request together with page 1 (1: no speculation).

    ``hint`` is the previous read's page count, ``budget`` the requests the read may have in
    flight at once (at most one short window's budget).
    """
    if hint is None or hint <= 1 or budget <= 1:
        return 1
    return max(1, min(int(hint), int(budget)))


class PageHints:
    """Page counts of previous reads of one account (process memory, plus the store)."""

    def __init__(self, account: str, store: BudgetStore | None) -> None:
        self._account = account
        self._store = store
        self._known: dict[str, int] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(path: str, params: Mapping[str, Any], per_page: int) -> str:
        raw = json.dumps([path, sorted((str(k), str(v)) for k, v in params.items()), per_page])
        return hashlib.sha256(raw.encode()).hexdigest()[:32]

    def get(self, key: str) -> int | None:
        with self._lock:
            known = self._known.get(key)
        if known is not None or self._store is None:
            return known
        try:
            return self._store.page_count(self._store.account_key(self._account), key)
        except Exception as exc:  # a hint is an optimisation: a store hiccup must not fail a read
            logger.warning("budget store: no page count (%s)", type(exc).__name__)
            return None

    def set(self, key: str, pages: int) -> None:
        with self._lock:
            if self._known.get(key) == pages:
                return
            self._known[key] = pages
        if self._store is not None:
            try:
                self._store.set_page_count(self._store.account_key(self._account), key, pages)
            except Exception as exc:  # same: the read itself succeeded
                logger.warning("budget store: page count not kept (%s)", type(exc).__name__)


_HINTS: dict[tuple[str, str], PageHints] = {}
_HINTS_LOCK = threading.Lock()


def page_hints(account: str, store: BudgetStore | None) -> PageHints:
    """The process's page hints of ``account`` (shared by its clients)."""
    k = (account, store.url if store is not None else "process")
    with _HINTS_LOCK:
        hints = _HINTS.get(k)
        if hints is None:
            hints = PageHints(account, store)
            _HINTS[k] = hints
        return hints


def reset_page_hints() -> None:
    """Forget every page hint of the process (tests)."""
    with _HINTS_LOCK:
        _HINTS.clear()
