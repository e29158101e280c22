"""The write engine: renders records, writes them concurrently, accounts for every one.

Guarantees:

* exactly one :class:`WriteOutcome` per input record, in input order; a bad record (not a
  mapping, missing ``name``/path param, non-JSON value) fails alone and the others are written;
* records sharing a key in one input (``record_key`` or ``match_on``) are each ``failed``
  ("duplicate key in input"), never silently merged; identical requests without a key are one
  record (written once, the copies ``skipped``);
* writes run on a bounded thread pool and every call goes through the client's shared rate
  limiter, so a large batch paces itself at the account limit instead of causing 429 storms;
* a create whose result is unknown (reset, timeout, HTTP 500/502/503/504, an unreadable 2xx) is
  ``ambiguous`` and never re-sent in the run (see ``writer.py``);
* with ``match_on`` the engine lists the create scope once per run and updates
  (``on_match="update"``) or skips records that already exist, comparing keys exactly; a
  listing that does not return the match field makes the engine refuse to create;
* with a :class:`WriteLedger` every record is claimed atomically before it is sent, so two runs
  (threads, processes, hosts) never send the same record, a request that succeeded is not sent
  again (re-execution, retries), and a record a killed run left ``sent`` is resolved by look-up
  or reported ``ambiguous``, never blindly re-sent;
* diffing (``diff.py``): a record whose rendered request equals the one the ledger last sent
  successfully is ``unchanged`` (no request); with ``match_on`` a matched record that already
  holds every field sent is ``unchanged`` too; a record that failed in an earlier run is sent
  again (``retry=True`` on its outcome);
* sync modes (``sync.py``): ``create``, ``upsert``, ``update_only``, ``mirror`` (removed keys
  deleted or reported ``removed_upstream``, guarded by ``max_deletes``: ``mirror.py``);
* a dry run renders every request and attaches the :class:`WritePlan` (``plan.py``: look-ups
  with a client, reads only), so upserts show as the updates/creates they would be.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from dagster_aha.destinations.checks import (
    DestinationCheck,
    DestinationCheckItem,
    check_destination,
    sample_requests,
)
from dagster_aha.destinations.claims import LedgerSession
from dagster_aha.destinations.destination import AhaDestination
from dagster_aha.destinations.diff import lookup_fields
from dagster_aha.destinations.ledger import WriteLedger
from dagster_aha.destinations.mirror import plan_removals, run_removals
from dagster_aha.destinations.plan import destination_identity, plan_writes
from dagster_aha.destinations.render import (
    batches,
    mark_duplicate_keys,
    render_all,
    request_dict,
)
from dagster_aha.destinations.report import WriteOutcome, WriteReport
from dagster_aha.destinations.writer import LOOKUP_FIELDS, Counter, Writer

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

__all__ = [
    "LOOKUP_FIELDS",
    "DestinationCheck",
    "DestinationCheckItem",
    "Writer",
    "check_destination",
    "destination_identity",
    "sample_requests",
    "write_records",
]

#: Kept for code that patches the writer class under its old name.
_Writer = Writer


def write_records(
    client: AhaClient | None,
    destination: AhaDestination,
    records: Iterable[Any],
    *,
    ledger: WriteLedger | None = None,
    run_id: str | None = None,
    dry_run: bool | None = None,
    max_concurrency: int | None = None,
    on_outcome: Callable[[WriteOutcome], None] | None = None,
) -> WriteReport:
    """Write ``records`` to ``destination`` and account for every one of them.

    Args:
        client: the :class:`AhaClient` (may be ``None`` for a dry run).
        destination: where and how to write.
        records: upstream records (mappings); anything else becomes a ``failed`` outcome.
        ledger: a :class:`WriteLedger` recording every record's state: claims make concurrent
            runs safe and nothing that succeeded is sent again. ``None``: no ledger (the
            Dagster op, job and asset use one by default).
        run_id: recorded in the ledger (the Dagster run id in Dagster).
        dry_run: override ``destination.dry_run`` for this call: render only, no HTTP.
        max_concurrency: worker threads (default: ``destination.max_concurrency``, else the
            client's ``max_concurrency``); the client's shared limiter paces the requests.
        on_outcome: called (from worker threads) as each outcome is known, e.g. for logging.

    Returns:
        A :class:`WriteReport` with one outcome per record, in input order.
    """
    started = time.monotonic()
    items = list(records)
    is_dry = destination.dry_run if dry_run is None else dry_run
    rendered, outcomes = render_all(destination, items)
    present = {r.record_key for r in rendered.values()}  # keys in the input (mirror)
    unrendered = len(outcomes)
    mark_duplicate_keys(destination, rendered, outcomes)

    if is_dry:
        for i, req in rendered.items():
            outcomes[i] = WriteOutcome(
                index=i,
                status="dry_run",
                match_key=req.match_key,
                request=request_dict(destination, req.method, req.path, req.body),
            )
        if destination.batching and rendered:
            for batch in batches(destination, rendered):
                assert destination.batch_property is not None
                body = {
                    **destination.batch_extra,
                    destination.batch_property: [r.body for _, r in batch],
                }
                for i, req in batch:
                    outcomes[i].request = request_dict(destination, req.method, req.path, body)
        plan = plan_writes(client, destination, items, ledger=ledger)
        for item in plan.items:
            if item.index is not None and outcomes[item.index].status == "dry_run":
                outcomes[item.index].detail = f"plan: {item.action}" + (
                    f" ({item.reason})" if item.reason else ""
                )
                outcomes[item.index].changes = item.changes
        dry = _finish(destination, items, outcomes, started, plan.reads, None, None, True)
        dry.plan = plan
        dry.errors = list(plan.errors)
        return dry

    if client is None:
        raise ValueError("write_records needs a client unless dry_run=True")
    if destination.mode == "mirror" and ledger is None:
        raise ValueError(
            "mode='mirror' needs a write ledger (ledger=WriteLedger(...)): it deletes only "
            "what the ledger shows this destination wrote"
        )

    stats_before = _stats(client)
    calls = Counter()
    session = (
        LedgerSession(ledger, destination_identity(client, destination), run_id)
        if ledger is not None
        else None
    )
    writer = Writer(client, destination, calls, session)
    writer.lookup_fields = lookup_fields(
        writer.lookup_fields, [r.record_body or {} for r in rendered.values()]
    )
    workers = max_concurrency or destination.max_concurrency or client.max_concurrency or 4
    workers = max(1, int(workers))

    def report(outs: Iterable[WriteOutcome]) -> list[WriteOutcome]:
        outs = list(outs)
        if on_outcome is not None:
            for o in outs:
                on_outcome(o)
        return outs

    if on_outcome is not None:
        for o in outcomes.values():
            on_outcome(o)

    units: list[Callable[[], list[WriteOutcome]]] = []
    if destination.batching:
        for batch in batches(destination, rendered):
            units.append(lambda b=batch: report(writer.write_batch(b)))
    else:
        for i in sorted(rendered):
            units.append(lambda i=i: report([writer.handle(i, rendered[i])]))

    errors: list[str] = []
    with session if session is not None else nullcontext():
        if units:
            with ThreadPoolExecutor(
                max_workers=min(workers, len(units)), thread_name_prefix="aha-write"
            ) as pool:
                for outs in pool.map(lambda unit: unit(), units):
                    for o in outs:
                        outcomes[o.index] = o
        if destination.mode == "mirror" and session is not None and ledger is not None and items:
            # an empty input never deletes (a stale/skipped run, or a broken upstream query)
            removal = plan_removals(
                destination, ledger, session.destination, present, unrendered=unrendered
            )
            if removal.error:
                errors.append(removal.error)
            for o in report(run_removals(writer, session, removal, len(items))):
                outcomes[o.index] = o

    stats_after = _stats(client)
    attempts = rate_limited = None
    if stats_before is not None and stats_after is not None:
        attempts = stats_after[0] - stats_before[0]
        rate_limited = stats_after[1] - stats_before[1]
    result = _finish(
        destination, items, outcomes, started, calls.value, attempts, rate_limited, False
    )
    result.errors = errors
    return result


def _stats(client: AhaClient) -> tuple[int, int] | None:
    try:
        s = client.stats
        return int(s.requests), int(s.rate_limited)
    except Exception:
        return None


def _finish(
    destination: AhaDestination,
    items: list[Any],
    outcomes: Mapping[int, WriteOutcome],
    started: float,
    calls: int,
    attempts: int | None,
    rate_limited: int | None,
    dry: bool,
) -> WriteReport:
    ordered = [outcomes[i] for i in sorted(outcomes)]  # input order, then mirror removals
    return WriteReport(
        destination=destination.label,
        outcomes=ordered,
        records=items,
        requests=calls,
        http_attempts=attempts,
        rate_limited=rate_limited,
        duration_seconds=time.monotonic() - started,
        dry_run=dry,
    )
