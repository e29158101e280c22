"""Features: lists (account, product, release, epic), ``GET|PUT|DELETE features/:id``,
``POST releases/:id/features``; writes of ``release`` and ``epic``/``master_feature``."""

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
    custom_field,
    goal_refs,
    initiative_ref,
    note,
    project_ref,
    record_ref,
    release_of,
    release_ref,
    set_tags,
    user_list_field,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

#: also the statuses of epics
FEATURE_STATUSES = (
    ("New", "#dce7c6", False),
    ("Under consideration", "#e5e5e5", False),
    ("Designed", "#ecdd8f", False),
    ("Ready to develop", "#c5e1f7", False),
    ("In development", "#f9c87f", False),
    ("Ready to ship", "#b3e5b8", False),
    ("Shipped", "#ecdd8f", True),
    ("Will not implement", "#999999", True),
)
COMPONENTS = ("web", "mobile", "api")
COMPACT_KEYS = ("id", "reference_num", "name", "created_at", "url", "resource", "product_id")


def make_feature(
    state: SandboxState,
    rel: dict[str, Any],
    name: str,
    created: str,
    updated: str,
    *,
    status: str = "New",
    tags: list[str] | None = None,
    epic: dict[str, Any] | None = None,
    initiative: dict[str, Any] | None = None,
    goal: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    priority: str | None = None,
) -> dict[str, Any]:
    prod = state.require("products", rel["product_id"])
    r = state.template("feature")
    fid = state.new_id()
    n, ref = state.next_reference(prod, "")
    user = user or state.any_user()
    r.update(
        id=fid,
        name=name,
        reference_num=ref,
        initiative_reference_num=initiative["reference_num"] if initiative else None,
        release_reference_num=rel["reference_num"],
        epic_reference_num=epic["reference_num"] if epic else None,
        position=n,
        score=(n * 7) % 100,
        created_at=created,
        updated_at=updated,
        start_date=created[:10],
        due_date=rel["release_date"],
        product_id=prod["id"],
        progress=None,
        status_changed_on=None,
        created_by_user=user_ref(user),
        workflow_status=state.status("features", status),
        project=project_ref(prod),
        description=note(state, fid, "Feature", f"<p>{name}</p>", created),
        attachments=[],
        url=f"{HOST}/features/{ref}",
        resource=f"{API}/features/{ref}",
        release=release_ref(rel),
        master_feature=record_ref(epic) if epic else None,
        epic=record_ref(epic) if epic else None,
        initiative=initiative_ref(initiative) if initiative else None,
        goals=goal_refs(goal),
        assigned_to_user={"default_assignee": False, **user_ref(user)},
        requirements=[],
        key_results=[],
        feature_links=[],
        comments_count=0,
        feature_only_original_estimate=None,
        feature_only_remaining_estimate=None,
        feature_only_work_done=None,
    )
    r["belongs_to_release_phase"] = None
    set_tags(r, tags or [])
    r["integration_fields"] = (
        [
            {
                "id": state.new_id(),
                "name": "key",
                "value": f"JRA-{n}",
                "integration_id": 204584239,
                "service_name": "jira",
                "created_at": created,
            }
        ]
        if n % 4 == 0
        else []
    )
    reviewer = users[n % len(users)] if (users := state.snapshot("users")) else user
    r["custom_fields"] = [
        custom_field("external_id", None, created, type_="string"),
        *([custom_field("priority", priority, created)] if priority else []),
        # typed fields as in the document's examples: a date, a number (a decimal string),
        # a multi-choice list, a user list (ids with full_value and email_value)
        custom_field("expected_completion_date", rel["release_date"], created, type_="date"),
        custom_field("revenue", f"{(n * 100) % 1000}.0", created, type_="number"),
        custom_field("component", [COMPONENTS[n % len(COMPONENTS)]], created, type_="array"),
        user_list_field("reviewers", [reviewer], created),
    ]
    return r


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    assert parent is not None  # the release of POST releases/:id/features
    return make_feature(state, parent, name, ts, ts)


def _write(state: SandboxState, rec: dict[str, Any], key: str, value: Any, ts: str) -> bool:
    if key == "release":
        rel = release_of(state, rec, value)
        rec["release"] = release_ref(rel)
        rec["release_reference_num"] = rel["reference_num"]
        return True
    if key in ("epic", "master_feature"):
        epic = state.find("epics", str(value)) if value else None
        if value and epic is None:
            raise SandboxError(422, "Epic not found")
        rec["epic"] = rec["master_feature"] = record_ref(epic) if epic else None
        rec["epic_reference_num"] = epic["reference_num"] if epic else None
        return True
    return False


KIND = Kind(
    name="features",
    singular="feature",
    compact_keys=COMPACT_KEYS,
    statuses=FEATURE_STATUSES,
    searchable=True,
    taggable=True,
    create=_create,
    write=_write,
)

list_route("features", "features")
list_route("features", "products/:pid/features", "products", "product_id")
list_route("features", "releases/:pid/features", "releases", "release")
list_route("features", "epics/:pid/features", "epics", "epic")
detail_route("features", "features/:id")
create_route("features", "releases/:pid/features", "releases")
update_route("features", "features/:id")
delete_route("features", "features/:id")
