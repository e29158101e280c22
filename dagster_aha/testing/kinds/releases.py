"""Releases of a product: ``GET|POST products/:id/releases``, ``GET|PUT releases/:id``,
``PUT|DELETE products/:id/releases/:id`` (``parent_id``: add it to a roll-up release)."""

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
from dagster_aha.testing.kinds.shared import (
    API,
    HOST,
    RELEASE_REF_KEYS,
    find_user,
    note,
    project_ref,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

RELEASE_STATUSES = (
    ("New", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#ecdd8f", True),
)


def make_release(
    state: SandboxState,
    prod: dict[str, Any],
    name: str | None,
    created: str,
    updated: str,
    *,
    released: bool = False,
) -> dict[str, Any]:
    r = state.template("release")
    rid = state.new_id()
    n, ref = state.next_reference(prod, "R")
    owner = user_ref(state.any_user())
    day = created[:10]
    r.update(
        id=rid,
        product_id=prod["id"],
        reference_num=ref,
        name=name or f"Release {n}",
        start_date=day,
        end_date=None,
        development_started_on=day,
        release_date=day,
        external_release_date=day,
        released=released,
        parking_lot=False,
        master_release=False,
        released_on=day if released else None,
        created_at=created,
        updated_at=updated,
        position=n,
        theme=note(state, rid, "Release", f"Theme of {ref}", created),
        url=f"{HOST}/releases/{ref}",
        resource=f"{API}/releases/{ref}",
        integration_fields=[],
        custom_fields=[],
        comments_count=0,
        workflow_status=state.status("releases", "Shipped" if released else "New"),
        owner=owner,
        goals=[],
        key_results=[],
        initiatives=[],
        project=project_ref(prod),
        created_by_user=owner,
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
    assert parent is not None  # the product of POST products/:id/releases
    return make_release(state, parent, name, ts, ts)


def _write(state: SandboxState, rec: dict[str, Any], key: str, value: Any, ts: str) -> bool:
    if key == "theme":
        body = value.get("body") if isinstance(value, dict) else value
        if body is not None and not isinstance(body, str):
            raise SandboxError(422, "theme must be text")
        rec["theme"] = {**rec["theme"], "body": body or "", "updated_at": ts}
        return True
    if key == "owner":
        rec["owner"] = user_ref(find_user(state, value)) if value else None
        return True
    if key == "status":
        if not isinstance(value, str):
            raise SandboxError(422, "status needs a workflow status name")
        rec["workflow_status"] = state.status("releases", value)
        return True
    if key == "parent_id":
        # "add a release to a roll-up release": the parent must be a release of the account
        if value is not None and state.find("releases", str(value)) is None:
            raise SandboxError(422, "Parent release not found")
        return True
    return False


KIND = Kind(
    name="releases",
    singular="release",
    compact_keys=RELEASE_REF_KEYS,
    statuses=RELEASE_STATUSES,
    searchable=True,
    taggable=True,
    create=_create,
    write=_write,
)

list_route("releases", "products/:pid/releases", "products", "product_id")
detail_route("releases", "releases/:id")
create_route("releases", "products/:pid/releases", "products")
update_route("releases", "releases/:id")
update_route("releases", "products/:pid/releases/:id", product_scoped=True)
delete_route("releases", "products/:pid/releases/:id", product_scoped=True)
