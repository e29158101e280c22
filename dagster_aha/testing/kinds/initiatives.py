"""Initiatives: lists, ``GET initiatives/:id``, ``POST products/:id/initiatives``,
``PUT initiatives/:id`` and ``PUT|DELETE products/:id/initiatives/:id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import (
    create_route,
    delete_route,
    detail_route,
    list_route,
    update_route,
)
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import (
    API,
    HOST,
    TIME_FRAMES,
    goal_refs,
    note,
    project_ref,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

TIME_FRAME_2018 = next(k for k, v in TIME_FRAMES.items() if v == "2018")
#: also the statuses of goals
INITIATIVE_STATUSES = (
    ("Not Started", "#dce7c6", False),
    ("On Track", "#ecdd8f", False),
    ("At Risk", "#f27474", False),
    ("Done", "#ecdd8f", True),
)


def make_initiative(
    state: SandboxState,
    prod: dict[str, Any],
    name: str | None,
    created: str,
    updated: str,
    *,
    goal: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r = state.template("initiative")
    sid = state.new_id()
    n, ref = state.next_reference(prod, "S")
    user = state.any_user()
    r.update(
        id=sid,
        name=name or f"Initiative {n}",
        reference_num=ref,
        product_id=prod["id"],
        status="not_started",
        effort=10 * n,
        value=5 * n,
        presented=True,
        score=n,
        position=n,
        progress=None,
        start_date=None,
        end_date=None,
        created_at=created,
        updated_at=updated,
        workflow_status=state.status("initiatives", "Not Started"),
        description=note(state, sid, "Initiative", f"Initiative {n}", created),
        project=project_ref(prod),
        created_by_user=user_ref(user),
        assigned_to_user=None,
        attachments=[],
        integration_fields=[],
        custom_fields=[],
        epic=[],
        master_features=[],
        features=[],
        releases=[],
        key_results=[],
        goals=goal_refs(goal),
        time_frame={"id": TIME_FRAME_2018, "name": "2018"},
        url=f"{HOST}/initiatives/{ref}",
        resource=f"{API}/initiatives/{ref}",
        comments_count=0,
    )
    return r


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    assert parent is not None  # the product of POST products/:id/initiatives
    return make_initiative(state, parent, name, ts, ts)


KIND = Kind(
    name="initiatives",
    singular="initiative",
    compact_keys=("id", "name", "reference_num", "status", "effort", "value", "presented"),
    statuses=INITIATIVE_STATUSES,
    searchable=True,
    create=_create,
)

list_route("initiatives", "initiatives")
list_route("initiatives", "products/:pid/initiatives", "products", "product_id")
detail_route("initiatives", "initiatives/:id")
create_route("initiatives", "products/:pid/initiatives", "products")
update_route("initiatives", "initiatives/:id")
update_route("initiatives", "products/:pid/initiatives/:id", product_scoped=True)
delete_route("initiatives", "products/:pid/initiatives/:id", product_scoped=True)
