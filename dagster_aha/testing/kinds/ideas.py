"""Ideas: ``GET ideas``, ``GET products/:id/ideas``, ``GET ideas/:id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST, note, project_ref, set_tags

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

IDEA_STATUSES = (
    ("Needs review", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#4ba84f", True),
    ("Will not implement", "#999999", True),
)


def make_idea(
    state: SandboxState,
    prod: dict[str, Any],
    name: str,
    created: str,
    updated: str,
    *,
    votes: int = 0,
    status: str = "Needs review",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    r = state.template("idea")
    iid = state.new_id()
    _, ref = state.next_reference(prod, "I")
    r.update(
        id=iid,
        name=name,
        reference_num=ref,
        product_id=prod["id"],
        votes=votes,
        initial_votes=0,
        endorsements_count=0,
        comments_count=0,
        score=votes,
        created_at=created,
        updated_at=updated,
        status_changed_at=created,
        workflow_status=state.status("ideas", status),
        description=note(state, iid, "Ideas::Idea", f"<p>{name}</p>", created),
        url=f"{HOST}/ideas/ideas/{ref}",
        resource=f"{API}/ideas/{ref}",
        product=project_ref(prod),
        feature=None,
        assigned_to_user=None,
        integration_fields=[],
        custom_fields=[],
        categories=[],
        duplicates=[],
    )
    set_tags(r, tags or [])
    return r


KIND = Kind(
    name="ideas",
    singular="idea",
    compact_keys=("id", "name", "product_id", "votes"),
    statuses=IDEA_STATUSES,
    searchable=True,
    taggable=True,
)

list_route("ideas", "ideas")
list_route("ideas", "products/:pid/ideas", "products", "product_id")
detail_route("ideas", "ideas/:id")
