"""Goals (strategic imperatives): lists, ``GET goals/:id``, ``POST products/:id/goals``,
``PUT goals/:id`` and ``PUT|DELETE products/:id/goals/:id``. A goal's status lives in its
``success_metric``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.http import (
    create_route,
    delete_route,
    detail_route,
    list_route,
    update_route,
)
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.initiatives import INITIATIVE_STATUSES
from dagster_aha.testing.kinds.shared import API, HOST, note, project_ref, status_name

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

GOAL_STATUSES = INITIATIVE_STATUSES
COMPACT_KEYS = (
    "id",
    "name",
    "reference_num",
    "color",
    "position",
    "effort",
    "value",
    "progress",
    "progress_source",
    "created_at",
    "updated_at",
    "url",
    "resource",
    "product_id",
    "description",
    "success_metric",
    "time_frame",
    "project",
    "initiatives",
    "releases",
    "features",
    "key_results",
    "comments_count",
    "custom_fields",
)


def make_goal(
    state: SandboxState, prod: dict[str, Any], name: str | None, created: str, updated: str
) -> dict[str, Any]:
    r = state.template("goal")
    gid = state.new_id()
    n, ref = state.next_reference(prod, "G")
    r.update(
        id=gid,
        name=name or f"Goal {n}",
        reference_num=ref,
        product_id=prod["id"],
        position=n,
        effort=10 * n,
        value=5 * n,
        progress=None,
        created_at=created,
        updated_at=updated,
        project=project_ref(prod),
        description=note(state, gid, "StrategicImperative", f"Goal {n}", created),
        url=f"{HOST}/strategic_imperatives/{ref}",
        resource=f"{API}/goals/{ref}",
        initiatives=[],
        releases=[],
        features=[],
        key_results=[],
        comments_count=0,
        custom_fields=[],
        parent=None,
        parents=[],
    )
    r["success_metric"].update(name=f"Metric {n}", description=None)
    r["success_metric"]["workflow_status"] = state.status("goals", "Not Started")
    r["success_metric"]["workflow_status_times"] = []
    return r


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    assert parent is not None  # the product of POST products/:id/goals
    return make_goal(state, parent, name, ts, ts)


def metric_note(
    state: SandboxState, goal: dict[str, Any], current: Any, value: Any, ts: str
) -> dict[str, Any] | None:
    """A success metric's ``description``: a note object (as in the examples), or null."""
    body = value.get("body") if isinstance(value, dict) else value
    if body is None:
        return None
    if not isinstance(body, str):
        raise SandboxError(422, "success_metric.description must be text")
    if isinstance(current, dict):
        return {**current, "body": body, "updated_at": ts}
    return note(state, goal["id"], "StrategicImperativeMetric", body, ts)


def _write(state: SandboxState, rec: dict[str, Any], key: str, value: Any, ts: str) -> bool:
    if key == "workflow_status":
        # a goal's status is its success metric's
        rec["success_metric"] = {
            **rec["success_metric"],
            "workflow_status": state.status("goals", status_name(value)),
        }
        return True
    if key == "success_metric" and isinstance(value, dict):
        sm = dict(rec["success_metric"])
        for k2, v2 in value.items():
            if k2 == "workflow_status":
                sm["workflow_status"] = state.status("goals", str(v2))
            elif k2 == "name":
                sm["name"] = v2
            elif k2 == "description":
                sm["description"] = metric_note(state, rec, sm.get("description"), v2, ts)
        rec["success_metric"] = sm
        return True
    return False


KIND = Kind(
    name="goals",
    singular="goal",
    compact_keys=COMPACT_KEYS,
    statuses=GOAL_STATUSES,
    create=_create,
    write=_write,
)

list_route("goals", "goals")
list_route("goals", "products/:pid/goals", "products", "product_id")
detail_route("goals", "goals/:id")
create_route("goals", "products/:pid/goals", "products")
update_route("goals", "goals/:id")
update_route("goals", "products/:pid/goals/:id", product_scoped=True)
delete_route("goals", "products/:pid/goals/:id", product_scoped=True)
