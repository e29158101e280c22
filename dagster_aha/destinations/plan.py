"""The write plan: what a run would do to each record, from reads only.

:func:`plan_writes` renders every record, reads the write ledger, and does the look-ups a run
would do (the ``match_on`` listing of each create scope, through the client's shared rate
limiter; never a write), then reports per record one action:

* ``create`` / ``update`` (with the field-level diff against the Aha! record, or against the
  body the ledger last sent) / ``delete`` (a delete destination, or a mirror removal);
* ``unchanged`` (the ledger's last successful request is identical, or the Aha! record already
  holds every field sent): no request;
* ``skip`` (exists and is not updated, not found in ``update_only``, removed upstream and
  kept, ...) and ``fail`` (cannot be rendered, duplicate key, cannot be verified), each with
  the reason.

``WritePlan.totals`` counts the actions; ``WritePlan.writes`` is the number of write requests
the run would send. A dry run (``dry_run=True`` on ``write_records``, the op, the asset, the
job or the component) returns this plan.
"""

from __future__ import annotations

import json
from collections import Counter as Tally
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dagster_aha.destinations.destination import AhaDestination, RenderedRequest
from dagster_aha.destinations.diff import changes_text, diff_bodies, diff_fields, lookup_fields
from dagster_aha.destinations.keys import index_key
from dagster_aha.destinations.ledger import LedgerEntry, WriteLedger
from dagster_aha.destinations.mirror import plan_removals
from dagster_aha.destinations.render import mark_duplicate_keys, render_all, request_dict
from dagster_aha.destinations.report import WriteOutcome
from dagster_aha.destinations.writer import LOOKUP_FIELDS, Counter, Writer

if TYPE_CHECKING:
    from dagster_aha.client import AhaClient

__all__ = ["PLAN_ACTIONS", "PLAN_COLUMNS", "PlanAction", "PlannedWrite", "WritePlan", "plan_writes"]

PlanAction = Literal["create", "update", "unchanged", "delete", "skip", "fail"]
PLAN_ACTIONS: tuple[str, ...] = ("create", "update", "unchanged", "delete", "skip", "fail")
_WRITES = ("create", "update", "delete")

PLAN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "int"),
    ("action", "string"),
    ("reason", "string"),
    ("changes", "string (JSON)"),
    ("retry", "bool"),
    ("aha_id", "string"),
    ("reference_num", "string"),
    ("match_key", "string"),
    ("record_key", "string"),
    ("method", "string"),
    ("path", "string"),
    ("body", "string (JSON)"),
)


class PlannedWrite(BaseModel):
    """What a run would do to one record (``index`` ``None``: a mirror removal)."""

    model_config = ConfigDict(extra="forbid")

    index: int | None
    action: PlanAction
    reason: str | None = None
    changes: list[dict[str, Any]] | None = None
    """``update``: ``[{"field", "before", "after"}]`` (``before`` ``None`` when unknown)."""
    retry: bool = False
    """The record failed in an earlier run (ledger): the run sends it again."""
    aha_id: str | None = None
    reference_num: str | None = None
    match_key: str | None = None
    record_key: str | None = None
    request: dict[str, Any] | None = None

    def to_row(self) -> dict[str, Any]:
        req = self.request or {}
        return {
            "index": self.index,
            "action": self.action,
            "reason": self.reason,
            "changes": json.dumps(self.changes, default=str) if self.changes else None,
            "retry": self.retry,
            "aha_id": self.aha_id,
            "reference_num": self.reference_num,
            "match_key": self.match_key,
            "record_key": self.record_key,
            "method": req.get("method"),
            "path": req.get("path"),
            "body": json.dumps(req.get("body"), sort_keys=True)
            if req.get("body") is not None
            else None,
        }


class WritePlan(BaseModel):
    """The plan of a run: one :class:`PlannedWrite` per input record (input order), then the
    mirror removals; ``errors``: guardrails the run would hit (e.g. ``max_deletes``)."""

    model_config = ConfigDict(extra="forbid")

    destination: str
    mode: str
    items: list[PlannedWrite]
    reads: int = 0
    """Look-up requests the plan made (the run makes the same ones)."""
    errors: list[str] = Field(default_factory=list)

    @property
    def totals(self) -> dict[str, int]:
        """``{action: n}`` for every action (zeros included)."""
        c = Tally(i.action for i in self.items)
        return {a: c.get(a, 0) for a in PLAN_ACTIONS}

    @property
    def writes(self) -> int:
        """Write requests the run would send (one per create/update/delete)."""
        return sum(1 for i in self.items if i.action in _WRITES)

    def to_rows(self) -> list[dict[str, Any]]:
        return [i.to_row() for i in self.items]

    def summary(self) -> str:
        parts = [f"{a}={n}" for a, n in self.totals.items() if n]
        text = (
            f"plan for {self.destination} (mode {self.mode}): {len(self.items)} item(s) "
            f"[{', '.join(parts) or 'none'}], {self.writes} write(s), {self.reads} read(s)"
        )
        return text + "".join(f"; {e}" for e in self.errors)

    def markdown(self, limit: int = 20) -> str:
        """A Markdown table of a sample: writes and failures first, then the rest."""
        order = {"fail": 0, "delete": 1, "update": 2, "create": 3, "skip": 4, "unchanged": 5}
        ordered = sorted(self.items, key=lambda i: order[i.action])
        lines = ["| # | action | key | changes / reason |", "|---|---|---|---|"]
        for item in ordered[:limit]:
            text = changes_text(item.changes) if item.changes else (item.reason or "")
            if item.retry:
                text = f"retry; {text}"
            text = text.replace("|", "\\|").replace("\n", " ")
            if len(text) > 160:
                text = text[:159] + "…"
            key = (item.match_key or item.record_key or "").replace("|", "\\|")[:60]
            index = "" if item.index is None else str(item.index)
            lines.append(f"| {index} | {item.action} | {key} | {text} |")
        if len(ordered) > limit:
            lines.append(f"\n… {len(ordered) - limit} more")
        return "\n".join(lines)


def destination_identity(client: Any, destination: AhaDestination) -> str:
    account = getattr(client, "account_url", None) or getattr(client, "base_url", None) or "aha"
    return destination.identity(str(account))


def plan_writes(
    client: AhaClient | None,
    destination: AhaDestination,
    records: Iterable[Any],
    *,
    ledger: WriteLedger | None = None,
) -> WritePlan:
    """What writing ``records`` would do, without writing (see the module doc).

    ``client=None`` plans without look-ups: records that need one (``match_on``) are planned
    from the ledger alone, with the reason saying so.
    """
    items = list(records)
    rendered, failed = render_all(destination, items)
    present = {r.record_key for r in rendered.values()}
    unrendered = len(failed)
    mark_duplicate_keys(destination, rendered, failed)
    calls = Counter()
    writer = Writer(client, destination, calls) if client is not None else None  # type: ignore[arg-type]
    if writer is not None:
        writer.lookup_fields = lookup_fields(
            LOOKUP_FIELDS, [r.record_body or {} for r in rendered.values()]
        )
    identity = destination_identity(client, destination)
    planned: list[PlannedWrite] = []
    for i in range(len(items)):
        if i in failed:
            planned.append(_from_outcome(destination, failed[i]))
            continue
        req = rendered[i]
        entry = ledger.get(identity, req.record_key) if ledger is not None else None
        planned.append(_plan_one(destination, writer, i, req, entry))
    errors: list[str] = []
    if destination.mode == "mirror" and ledger is not None and items:
        removal = plan_removals(destination, ledger, identity, present, unrendered=unrendered)
        for entry in removal.delete:
            planned.append(_removal(entry, "delete", "left the upstream: deleted"))
        for entry, reason in removal.keep:
            planned.append(_removal(entry, "skip", reason))
        if removal.error:
            errors.append(removal.error)
    elif destination.mode == "mirror":
        errors.append("mode='mirror' needs a write ledger to know what it wrote")
    return WritePlan(
        destination=destination.label,
        mode=destination.effective_mode,
        items=planned,
        reads=calls.value,
        errors=errors,
    )


def _removal(entry: LedgerEntry, action: PlanAction, reason: str) -> PlannedWrite:
    return PlannedWrite(
        index=None,
        action=action,
        reason=reason,
        aha_id=entry.aha_id,
        reference_num=entry.reference_num,
        record_key=entry.record_key,
    )


def _from_outcome(destination: AhaDestination, out: WriteOutcome) -> PlannedWrite:
    action: PlanAction = "skip" if out.status == "skipped" else "fail"
    return PlannedWrite(
        index=out.index,
        action=action,
        reason=out.error or out.detail,
        match_key=out.match_key,
        request=out.request,
    )


def _plan_one(
    dest: AhaDestination,
    writer: Writer | None,
    index: int,
    req: RenderedRequest,
    entry: LedgerEntry | None,
) -> PlannedWrite:
    request = request_dict(dest, req.method, req.path, req.body)

    def item(action: PlanAction, reason: str | None = None, **kw: Any) -> PlannedWrite:
        retry = entry is not None and entry.state == "failed" and action in _WRITES
        if retry and entry is not None:
            note = f"retry: failed in run {entry.run_id or '?'}"
            reason = f"{note}; {reason}" if reason else note
        return PlannedWrite(
            index=index,
            action=action,
            reason=reason,
            retry=retry,
            match_key=req.match_key,
            record_key=req.record_key,
            request=request if action in _WRITES else None,
            **kw,
        )

    if entry is not None and entry.state == "succeeded" and entry.sent_hash == req.request_hash:
        return item(
            "unchanged",
            f"same request as the last successful write (run {entry.run_id or '?'})",
            aha_id=entry.aha_id,
            reference_num=entry.reference_num,
        )
    before = json.loads(entry.sent_body) if entry is not None and entry.sent_body else None
    if req.kind == "delete":
        return item("delete")
    if req.kind == "update":
        return item("update", changes=diff_bodies(before, req.record_body or {}))
    unknown = entry is not None and entry.state in ("sent", "ambiguous")
    if dest.match_on is None:
        if unknown:
            return item("fail", "an earlier create's result is unknown and cannot be looked up")
        if entry is not None and entry.state == "succeeded" and entry.aha_id:
            return item(
                "update",
                changes=diff_bodies(before, req.record_body or {}),
                aha_id=entry.aha_id,
                reference_num=entry.reference_num,
            )
        return item("create")
    if writer is None:
        return item("create", "not looked up (no client): created unless it exists")
    idx = writer.scope(req.path)
    try:
        writer.ensure_loaded(idx)
    except Exception as exc:
        return item("fail", f"could not list {req.path} for match_on: {exc}")
    with idx.lock:
        found = idx.entries.get(index_key(req.match_raw))
    if found is None:
        if dest.mode == "update_only":
            return item("skip", f"no record has {dest.match_on} = {req.match_key!r}")
        if idx.missing_field:
            return item("fail", writer._unverifiable(req.path, idx.missing_field))
        note = "an earlier attempt's result is unknown; " if unknown else ""
        return item("create", f"{note}no record with this key in {req.path}")
    aha_id = str(found["id"]) if found.get("id") is not None else None
    ref = str(found["reference_num"]) if found.get("reference_num") is not None else None
    if not dest.updates_matches:
        return item("skip", "the record exists", aha_id=aha_id, reference_num=ref)
    changes = diff_fields(req.record_body or {}, found)
    if not changes:
        return item(
            "unchanged",
            "the Aha! record already holds every field sent",
            aha_id=aha_id,
            reference_num=ref,
        )
    return item("update", changes=changes, aha_id=aha_id, reference_num=ref)


def planned_action(outcome: WriteOutcome) -> str:
    """The action a run planned for an outcome (``planned`` vs ``done`` in the metadata)."""
    status = outcome.status
    if status in ("created", "updated", "deleted"):
        return {"created": "create", "updated": "update", "deleted": "delete"}[status]
    if status == "unchanged":
        return "unchanged"
    if status in ("skipped", "removed_upstream", "dry_run"):
        return "skip" if status != "dry_run" else "create"
    method = (outcome.request or {}).get("method")
    if method is not None:
        return {"POST": "create", "PUT": "update", "DELETE": "delete"}.get(str(method), "fail")
    return "fail"
