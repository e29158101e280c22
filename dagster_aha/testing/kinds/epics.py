"""Epics: lists (account, product, release), ``GET|PUT|DELETE epics/:id``,
``POST releases/:id/epics`` and ``POST products/:id/epics`` (the first unreleased release)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import (
    Response,
    create_route,
    delete_route,
    detail_response,
    detail_route,
    list_route,
    route,
    unwrap,
    update_route,
)
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.features import FEATURE_STATUSES
from dagster_aha.testing.kinds.shared import (
    API,
    HOST,
    initiative_ref,
    note,
    project_ref,
    release_of,
    release_ref,
    set_tags,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

COMPACT_KEYS = ("id", "reference_num", "name", "created_at", "url", "resource")


def make_epic(
    state: SandboxState,
    rel: dict[str, Any],
    name: str | None,
    created: str,
    updated: str,
    *,
    initiative: dict[str, Any] | None = None,
) -> dict[str, Any]:
    prod = state.require("products", rel["product_id"])
    r = state.template("epic")
    eid = state.new_id()
    n, ref = state.next_reference(prod, "E")
    user = state.any_user()
    r.update(
        id=eid,
        name=name or f"Epic {n}",
        reference_num=ref,
        position=n,
        score=(n * 13) % 100,
        created_at=created,
        updated_at=updated,
        start_date=created[:10],
        due_date=rel["release_date"],
        product_id=prod["id"],
        progress=None,
        status_changed_on=None,
        created_by_user=user_ref(user),
        workflow_status=state.status("epics", "New"),
        project=project_ref(prod),
        description=note(state, eid, "Epic", f"<p>Epic {n}</p>", created),
        attachments=[],
        integration_fields=[],
        url=f"{HOST}/epics/{ref}",
        resource=f"{API}/epics/{ref}",
        release=release_ref(rel),
        initiative=initiative_ref(initiative) if initiative else None,
        initiative_reference_num=initiative["reference_num"] if initiative else None,
        assigned_to_user={"default_assignee": False, **user_ref(user)},
        features=[],
        goals=[],
        key_results=[],
        epic_links=[],
        comments_count=0,
        custom_fields=[],
    )
    set_tags(r, [])
    return r


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    assert parent is not None  # the release the epic goes into
    return make_epic(state, parent, name, ts, ts)


def _write(state: SandboxState, rec: dict[str, Any], key: str, value: Any, ts: str) -> bool:
    if key == "release":
        rec["release"] = release_ref(release_of(state, rec, value))
        return True
    return False


KIND = Kind(
    name="epics",
    singular="epic",
    compact_keys=COMPACT_KEYS,
    statuses=FEATURE_STATUSES,
    searchable=True,
    taggable=True,
    create=_create,
    write=_write,
)

list_route("epics", "epics")
list_route("epics", "products/:pid/epics", "products", "product_id")
list_route("epics", "releases/:pid/epics", "releases", "release")
detail_route("epics", "epics/:id")
create_route("epics", "releases/:pid/epics", "releases")
update_route("epics", "epics/:id")
delete_route("epics", "epics/:id")


@route("POST", "products/:pid/epics")
def _create_in_product(
    sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any
) -> Response:
    data = unwrap(body, "epic")
    with sb.state.lock:
        rel = sb.state.default_release(sb.state.require("products", m["pid"]))
        return detail_response(sb, "epics", sb.state.create("epics", data, parent=rel), params)
