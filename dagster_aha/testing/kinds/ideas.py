"""Ideas: ``GET ideas``, ``GET products/:id/ideas``, ``GET ideas/:id``, ``GET ideas/related``
(ideas whose name matches ``q``) and ``GET ideas/endorsements`` (the account's idea votes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import (
    Response,
    detail_route,
    json_response,
    list_response,
    list_route,
    page_of,
    route,
)
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST, note, project_ref, set_tags

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

IDEA_STATUSES = (
    ("Needs review", "#dce7c6", False),
    ("In progress", "#ecdd8f", False),
    ("Shipped", "#ecdd8f", True),
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

#: the keys of an item of ``GET ideas/related`` (its example)
RELATED_KEYS = (
    "id",
    "name",
    "reference_num",
    "created_at",
    "updated_at",
    "workflow_status",
    "description",
    "url",
    "resource",
)


# before ideas/:id, which would otherwise take "related" and "endorsements" for an idea id
@route("GET", "ideas/related")
def _related(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    words = (params.get("q") or "").lower().split()
    recs = [
        r
        for r in sb.state.select("ideas", where=None, params={})
        if words and any(w in str(r.get("name") or "").lower() for w in words)
    ]
    return list_response(sb, "ideas", recs, params, compact=RELATED_KEYS)


@route("GET", "ideas/endorsements")
def _endorsements(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    # no seeded idea has endorsements (``endorsements_count`` 0): an empty, paginated list
    chunk, pagination = page_of([], params)
    return json_response(200, {"idea_endorsements": chunk, "pagination": pagination})


list_route("ideas", "ideas")
list_route("ideas", "products/:pid/ideas", "products", "product_id")
detail_route("ideas", "ideas/:id")
