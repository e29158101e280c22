"""One write run's use of the :class:`WriteLedger`: claims, heartbeats, and recording results.

For each rendered record the engine asks :meth:`LedgerSession.acquire`:

* a row that already ``succeeded`` with the same request content hash is not sent again
  (``skipped``, with the Aha! id from the ledger);
* a row another live writer holds is waited for (up to ``ledger.wait_seconds``), then
  re-evaluated; still held: ``failed`` (retryable), nothing sent;
* otherwise the row is claimed (a dead writer's row is taken over) and the engine resolves it
  from its previous state (see ``writer.py``); before each HTTP write the row is marked
  ``sent`` (:meth:`before_send`), and the outcome is recorded (:meth:`finish`).

A background thread refreshes the heartbeat of every row the session holds.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from dagster_aha.destinations.destination import RenderedRequest
from dagster_aha.destinations.ledger import LedgerEntry, WriteLedger
from dagster_aha.destinations.report import WriteOutcome

__all__ = ["Acquired", "LedgerSession"]

logger = logging.getLogger("dagster_aha.destinations")


class ClaimLost(Exception):
    """The row was taken over by another writer (this one stopped heart-beating): not sent."""


@dataclass(frozen=True)
class Acquired:
    """The session owns the row; ``previous`` is the row before the claim (None: new)."""

    previous: LedgerEntry | None


def ledger_outcome(entry: LedgerEntry, index: int, req: RenderedRequest) -> WriteOutcome:
    """``unchanged``: the ledger shows this exact request succeeded before (no request)."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(entry.updated_at))
    return WriteOutcome(
        index=index,
        status="unchanged",
        aha_id=entry.aha_id,
        reference_num=entry.reference_num,
        url=entry.url,
        match_key=req.match_key,
        detail=f"already written, unchanged since (write ledger: succeeded in run "
        f"{entry.run_id or '?'} at {when}, same request content): not sent again",
    )


class LedgerSession:
    def __init__(self, ledger: WriteLedger, destination: str, run_id: str | None) -> None:
        self.ledger = ledger
        self.destination = destination
        self.run_id = run_id
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sent: set[str] = set()
        self._sent_lock = threading.Lock()

    # -- lifetime ----------------------------------------------------------------------

    def __enter__(self) -> LedgerSession:
        interval = max(0.05, min(self.ledger.heartbeat_timeout / 4, 15.0))

        def beat() -> None:
            while not self._stop.wait(interval):
                try:
                    self.ledger.heartbeat(self.owner)
                except Exception as exc:  # a missed beat only risks an early takeover
                    logger.warning("write ledger heartbeat failed: %s", exc)

        self._thread = threading.Thread(target=beat, name="aha-ledger-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- per record --------------------------------------------------------------------

    def acquire(self, index: int, req: RenderedRequest) -> Acquired | WriteOutcome:
        """Claim the record's row, or return its final outcome (already written / busy)."""
        deadline = time.monotonic() + self.ledger.wait_seconds
        delay = 0.02
        while True:
            entry = self.ledger.get(self.destination, req.record_key)
            if (
                entry is not None
                and entry.state == "succeeded"
                and entry.sent_hash == req.request_hash
                and not entry.held_by_other(self.owner, self.ledger.heartbeat_timeout)
            ):
                return ledger_outcome(entry, index, req)
            claim = self.ledger.claim(
                self.destination,
                req.record_key,
                owner=self.owner,
                run_id=self.run_id,
                request_hash=req.request_hash,
            )
            if claim.acquired:
                return Acquired(previous=claim.previous)
            holder = claim.previous
            if time.monotonic() >= deadline:
                return WriteOutcome(
                    index=index,
                    status="failed",
                    retryable=True,
                    match_key=req.match_key,
                    error=f"another live writer (run {holder.run_id if holder else '?'}) holds "
                    f"this record in the write ledger (state {holder.state if holder else '?'})"
                    f" after waiting {self.ledger.wait_seconds:g}s: not sent",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def already_written(self, entry: LedgerEntry, index: int, req: RenderedRequest) -> WriteOutcome:
        return ledger_outcome(entry, index, req)

    def before_send(self, req: RenderedRequest, kind: str) -> None:
        """Mark the row ``sent`` before the request goes out; raise :class:`ClaimLost` if the
        row is no longer this session's."""
        if not self.ledger.mark_sent(
            self.destination,
            req.record_key,
            owner=self.owner,
            request_hash=req.request_hash,
            request_kind=kind,
        ):
            raise ClaimLost(
                "the write ledger row was taken over by another writer (this run stopped "
                "heart-beating): not sent"
            )
        with self._sent_lock:
            self._sent.add(req.record_key)

    def finish(
        self, req: RenderedRequest, outcome: WriteOutcome, previous: LedgerEntry | None
    ) -> None:
        """Record ``outcome`` and release the row.

        A ``failed`` outcome of a record this session did not send keeps a previous
        ``sent``/``ambiguous`` state (as ``ambiguous``): an earlier request may have been
        applied, so the record must not become blindly re-sendable.
        """
        status = outcome.status
        with self._sent_lock:
            sent_now = req.record_key in self._sent
        sent_hash: str | None = None
        origin: str | None = None
        if status == "created":
            origin = "created"
        elif (
            status in ("updated", "unchanged", "skipped")
            and req.kind == "create"
            and (previous is None or previous.origin is None)
        ):
            origin = "matched"  # an existing Aha! record found by match_on
        sent_body = path_values = None
        if status in ("created", "updated", "deleted", "unchanged"):
            state = "succeeded"
            sent_hash = req.request_hash
            if req.record_body is not None:
                sent_body = json.dumps(req.record_body, sort_keys=True, ensure_ascii=False)
            path_values = json.dumps(req.path_values, sort_keys=True)
        elif status == "skipped":
            state = "succeeded"  # the record exists (matched) or is already gone (delete)
            if req.kind == "delete":
                sent_hash = req.request_hash
        elif status == "ambiguous":
            state = "ambiguous"
        else:
            state = "failed"
            if (
                not sent_now
                and previous is not None
                and previous.state in ("sent", "ambiguous")
                and previous.request_kind == "create"
            ):
                state = "ambiguous"
        self.ledger.resolve(
            self.destination,
            req.record_key,
            owner=self.owner,
            state=state,  # type: ignore[arg-type]
            aha_id=outcome.aha_id,
            reference_num=outcome.reference_num,
            url=outcome.url,
            error=outcome.error,
            sent_hash=sent_hash,
            origin=origin if state == "succeeded" else None,
            sent_body=sent_body,
            path_values=path_values,
        )
