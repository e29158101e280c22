"""Releases of a product: ``GET products/:id/releases``, ``GET|PUT releases/:id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route, update_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import (
    API,
    HOST,
    RELEASE_REF_KEYS,
    note,
    project_ref,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

RELEASE_STATUSES = (
    ("New", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#4ba84f", True),
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


KIND = Kind(
    name="releases",
    singular="release",
    compact_keys=RELEASE_REF_KEYS,
    statuses=RELEASE_STATUSES,
    searchable=True,
    taggable=True,
)

list_route("releases", "products/:pid/releases", "products", "product_id")
detail_route("releases", "releases/:id")
update_route("releases", "releases/:id")
