"""Workflow status history of features, epics and ideas.

Each status change of a record (a write of ``workflow_status``) closes its open interval and
opens one for the new status; a record never changed has one open interval since its creation
(computed, not stored). Served as ``workflow_status_times`` on the record when ``fields=``
names it (``[{status_id, status_name, started_at, ended_at}]``, the shape of the spec's goal
example) and by ``GET features|epics|ideas/:id/workflow_status_times`` (the spec's list shape,
with ``id``, ``workflow_status_id`` and ``created_at``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import COMPUTED_FIELDS, list_response, route
from dagster_aha.testing.kinds.base import Kind

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

OWNER_KINDS = ("features", "epics", "ideas")
LIST_KEYS = ("id", "workflow_status_id", "status_name", "started_at", "ended_at", "created_at")


def _stored(state: SandboxState, owner_id: str) -> list[dict[str, Any]]:
    return [r for r in state.snapshot("workflow_status_times") if r["owner_id"] == owner_id]


def intervals(state: SandboxState, rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every status interval of ``rec``, oldest first (list shape)."""
    stored = sorted(_stored(state, rec["id"]), key=lambda r: r["started_at"])
    if stored:
        return stored
    status = rec.get("workflow_status") or {}
    return [
        {
            "id": f"{rec['id']}1",
            "workflow_status_id": status.get("id"),
            "status_name": status.get("name"),
            "started_at": rec["created_at"],
            "ended_at": None,
            "created_at": rec["created_at"],
            "owner_id": rec["id"],
        }
    ]


def status_changed(
    state: SandboxState, kind: str, old: dict[str, Any], new_status: dict[str, Any], ts: str
) -> None:
    """Close ``old``'s open interval and open one for ``new_status`` (same status: nothing)."""
    if kind not in OWNER_KINDS:
        return
    current = old.get("workflow_status") or {}
    if current.get("id") == new_status.get("id"):
        return
    existing = intervals(state, old)
    for interval in existing:
        if interval["ended_at"] is None:
            interval = {**interval, "ended_at": ts}
        state.store("workflow_status_times", interval)
    state.store(
        "workflow_status_times",
        {
            "id": f"{old['id']}{len(existing) + 1}",
            "workflow_status_id": new_status.get("id"),
            "status_name": new_status.get("name"),
            "started_at": ts,
            "ended_at": None,
            "created_at": ts,
            "owner_id": old["id"],
        },
    )


def nested(state: SandboxState, rec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "status_id": i["workflow_status_id"],
            "status_name": i["status_name"],
            "started_at": i["started_at"],
            "ended_at": i["ended_at"],
        }
        for i in intervals(state, rec)
    ]


KIND = Kind(name="workflow_status_times", singular="workflow_status_time", ref_key="id")


def _list_route(kind: str) -> None:
    def handler(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
        rec = sb.state.require(kind, m["pid"])
        rows = [{k: i[k] for k in LIST_KEYS} for i in intervals(sb.state, rec)]
        return list_response(sb, "workflow_status_times", rows, params)

    route("GET", f"{kind}/:pid/workflow_status_times")(handler)


for _kind in OWNER_KINDS:
    COMPUTED_FIELDS.setdefault(_kind, {})["workflow_status_times"] = nested
    _list_route(_kind)
