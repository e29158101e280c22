"""Mirror mode: what to do with the records that left the upstream.

The write ledger knows every key this destination wrote. A key that has an Aha! id in the
ledger and is not in this run's input has left the upstream (:func:`removed_entries`). It is
deleted when the destination deletes removed records (``allow_delete=True`` /
``on_removed="delete"``), else reported ``removed_upstream``. Only records the ledger shows as
*created* by this destination are ever deleted (``mirror_matched=True`` extends it to records
it matched and updated). ``max_deletes`` guards a run: above it nothing is deleted, every
removal is reported ``removed_upstream`` with the reason, and the run carries the error.

Nothing is deleted when an input record could not be rendered (its key is unknown, so it may
be one of the "removed" keys), nor when the input is empty (a skipped run, or an upstream query
that broke, far more often than a table whose every row was removed).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dagster_aha.client.errors import AhaNotFoundError
from dagster_aha.client.urls import quote_segment
from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.ledger import LedgerEntry, WriteLedger
from dagster_aha.destinations.render import request_dict
from dagster_aha.destinations.report import WriteOutcome
from dagster_aha.destinations.sync import threshold_exceeded

if TYPE_CHECKING:
    from dagster_aha.destinations.claims import LedgerSession
    from dagster_aha.destinations.writer import Writer

__all__ = ["RemovalPlan", "delete_path", "plan_removals", "removed_entries", "run_removals"]


def removed_entries(
    ledger: WriteLedger, identity: str, present: Collection[str]
) -> list[LedgerEntry]:
    """Ledger rows of ``identity`` with an Aha! id whose key is not in ``present``."""
    return [
        e
        for e in ledger.entries(identity, states=("succeeded", "sent", "ambiguous"))
        if e.aha_id and e.record_key not in present and _deletable_state(e)
    ]


def _deletable_state(entry: LedgerEntry) -> bool:
    # succeeded, or a delete of an earlier run whose result is unknown (DELETE is idempotent)
    return entry.state == "succeeded" or entry.request_kind == "delete"


def delete_path(destination: AhaDestination, entry: LedgerEntry) -> str | None:
    """``DELETE`` path of a record the destination wrote (the template's record path)."""
    endpoint = destination.endpoint
    if endpoint is None or endpoint.update_path is None or entry.aha_id is None:
        return None
    values: dict[str, Any] = json.loads(entry.path_values) if entry.path_values else {}
    for name, spec in destination.path_params.items():
        if isinstance(spec, str | int) and name not in values:
            values[name] = str(spec)
    try:
        return endpoint.update_path.format(
            id=quote_segment(entry.aha_id), **{k: quote_segment(str(v)) for k, v in values.items()}
        )
    except (KeyError, ValueError):
        return None


@dataclass
class RemovalPlan:
    """What a mirror run does with the removed keys."""

    delete: list[LedgerEntry]
    keep: list[tuple[LedgerEntry, str]]
    """Removed keys left alone, with the reason."""
    error: str | None = None
    """Set when a guardrail stopped every delete (``max_deletes``)."""
    total: int = 0
    """The destination's records in the ledger (the base of a ``max_deletes`` ratio)."""


def plan_removals(
    destination: AhaDestination,
    ledger: WriteLedger,
    identity: str,
    present: Collection[str],
    *,
    unrendered: int = 0,
) -> RemovalPlan:
    """Split the removed keys into deletes and kept ones (see the module doc)."""
    removed = removed_entries(ledger, identity, present)
    total = sum(1 for e in ledger.entries(identity, states=("succeeded",)) if e.aha_id)
    plan = RemovalPlan(delete=[], keep=[], total=total)
    for entry in removed:
        if not destination.deletes_removed:
            plan.keep.append((entry, "left the upstream (on_removed='keep'): not deleted"))
        elif entry.origin != "created" and not destination.mirror_matched:
            plan.keep.append(
                (
                    entry,
                    "left the upstream, but this destination did not create the Aha! record "
                    "(it matched an existing one): not deleted (mirror_matched=False)",
                )
            )
        elif unrendered:
            plan.keep.append(
                (
                    entry,
                    f"left the upstream, but {unrendered} input record(s) could not be rendered "
                    "(their keys are unknown): nothing is deleted in this run",
                )
            )
        elif delete_path(destination, entry) is None:
            plan.keep.append((entry, "left the upstream; its delete path is unknown"))
        else:
            plan.delete.append(entry)
    limit = destination.max_deletes
    if plan.delete and threshold_exceeded(len(plan.delete), total, limit):
        what = f"{limit:.0%} of {total}" if isinstance(limit, float) else str(limit)
        plan.error = (
            f"mirror would delete {len(plan.delete)} of the destination's {total} record(s), "
            f"above max_deletes={limit} ({what}): nothing was deleted"
        )
        plan.keep.extend((e, f"left the upstream; not deleted: {plan.error}") for e in plan.delete)
        plan.delete = []
    return plan


def _kept(index: int, entry: LedgerEntry, reason: str) -> WriteOutcome:
    return WriteOutcome(
        index=index,
        status="removed_upstream",
        aha_id=entry.aha_id,
        reference_num=entry.reference_num,
        url=entry.url,
        record_key=entry.record_key,
        detail=reason,
    )


def run_removals(
    writer: Writer, session: LedgerSession, plan: RemovalPlan, first_index: int
) -> list[WriteOutcome]:
    """Delete (or report) the removed keys; outcomes are numbered from ``first_index``."""
    dest = writer.dest
    outs: list[WriteOutcome] = []
    index = first_index
    for entry, reason in plan.keep:
        outs.append(_kept(index, entry, reason))
        index += 1
    for entry in plan.delete:
        outs.append(_delete_one(writer, session, entry, index, dest))
        index += 1
    return outs


def _delete_one(
    writer: Writer,
    session: LedgerSession,
    entry: LedgerEntry,
    index: int,
    dest: AhaDestination,
) -> WriteOutcome:
    ledger, identity, key = session.ledger, session.destination, entry.record_key
    path = delete_path(dest, entry)
    assert path is not None
    request = request_dict(dest, "DELETE", path, None)
    base: dict[str, Any] = {
        "index": index,
        "aha_id": entry.aha_id,
        "reference_num": entry.reference_num,
        "url": entry.url,
        "record_key": key,
        "request": request,
    }
    claim = ledger.claim(identity, key, owner=session.owner, run_id=session.run_id)
    current = claim.previous
    if not claim.acquired or current is None or not _deletable_state(current):
        if claim.acquired:
            ledger.release(identity, key, owner=session.owner)
        return WriteOutcome(
            status="failed",
            retryable=True,
            error="another writer holds or changed this record in the write ledger: not deleted",
            **base,
        )
    if not ledger.mark_sent(
        identity, key, owner=session.owner, request_hash="delete", request_kind="delete"
    ):
        return WriteOutcome(
            status="failed", retryable=True, error="write ledger row taken over", **base
        )
    try:
        writer.send("DELETE", path, None)
    except AhaNotFoundError:
        ledger.forget(identity, key)
        return WriteOutcome(
            status="deleted", detail="left the upstream; already gone from Aha! (404)", **base
        )
    except Exception as exc:
        # a DELETE is idempotent: the row stays this destination's record, the next run retries
        ledger.resolve(identity, key, owner=session.owner, state="succeeded", error=str(exc))
        return WriteOutcome(
            status="failed",
            retryable=True,
            http_status=getattr(exc, "status", None),
            error=f"delete of a record that left the upstream failed: {exc}",
            **base,
        )
    ledger.forget(identity, key)
    return WriteOutcome(status="deleted", http_status=204, detail="left the upstream", **base)
