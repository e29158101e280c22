"""Requirements of features: their own records, served nested in a feature's
``requirements`` (``fields=requirements`` on feature lists) and by
``GET features/:id/requirements`` (``updated_since``) and ``GET|PUT requirements/:id``;
seeded two on the first feature of each release."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import COMPUTED_FIELDS, detail_route, list_route, update_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST, record_ref, user_ref

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

COMPACT_KEYS = (
    "id",
    "name",
    "reference_num",
    "position",
    "created_at",
    "updated_at",
    "release_id",
    "workflow_status",
    "url",
    "resource",
    "feature",
)


def make_requirement(
    state: SandboxState, feature: dict[str, Any], n: int, created: str, updated: str
) -> dict[str, Any]:
    ref = f"{feature['reference_num']}-{n}"
    user = user_ref(state.any_user())
    return {
        "id": state.new_id(),
        "name": f"Requirement {n} of {feature['reference_num']}",
        "reference_num": ref,
        "position": n,
        "created_at": created,
        "updated_at": updated,
        "release_id": int(feature["release"]["id"]),
        "start_date": None,
        "end_date": None,
        "created_by_user": user,
        "workflow_status": state.status("features", "New"),
        "url": f"{HOST}/requirements/{ref}",
        "resource": f"{API}/requirements/{ref}",
        "description": None,
        "feature": {**record_ref(feature), "product_id": feature["product_id"]},
        "assigned_to_user": {"default_assignee": False, **user},
        "attachments": [],
        "tags": [],
        "full_tags": [],
        "custom_fields": [],
        "integration_fields": [],
        "comments_count": 0,
    }


def requirements_of(state: SandboxState, feature: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in state.snapshot("requirements") if r["feature"]["id"] == feature["id"]]


def seed_requirements(state: SandboxState) -> None:
    for rel in state.snapshot("releases"):
        features = [f for f in state.snapshot("features") if f["release"]["id"] == rel["id"]]
        if features:
            first = features[0]
            for n in (1, 2):
                state.store(
                    "requirements",
                    make_requirement(state, first, n, first["created_at"], first["updated_at"]),
                )


KIND = Kind(name="requirements", singular="requirement", compact_keys=COMPACT_KEYS)
COMPUTED_FIELDS.setdefault("features", {})["requirements"] = requirements_of

list_route("requirements", "features/:pid/requirements", "features", "feature")
detail_route("requirements", "requirements/:id")
update_route("requirements", "requirements/:id")
