"""To-dos: ``GET tasks`` (``updated_since``), ``GET products/:id/tasks``,
``GET features/:id/tasks``, ``GET tasks/:id``; seeded two per product, on its first feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route, update_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST, user_ref

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

#: the keys of the spec's ``GET tasks`` example items
COMPACT_KEYS = (
    "id",
    "name",
    "due_date",
    "status",
    "body",
    "position",
    "assigned_to_users",
    "created_by_user",
    "attachments",
)


def make_task(
    state: SandboxState, feature: dict[str, Any], n: int, created: str, updated: str
) -> dict[str, Any]:
    tid = state.new_id()
    user = state.any_user()
    return {
        "id": tid,
        "name": f"To-do {n} for {feature['reference_num']}",
        "due_date": created[:10],
        "status": "pending" if n % 2 else "completed",
        "body": f"<p>Follow up on {feature['name']}</p>",
        "position": n,
        "assigned_to_users": [{"id": state.new_id(), "status": "pending", "user": user_ref(user)}],
        "created_by_user": user_ref(user),
        "attachments": [],
        "created_at": created,
        "updated_at": updated,
        "url": f"{HOST}/tasks/{tid}",
        "resource": f"{API}/tasks/{tid}",
        "product_id": feature["product_id"],
        "feature": {"id": feature["id"], "reference_num": feature["reference_num"]},
    }


def seed_tasks(state: SandboxState) -> None:
    for prod in state.snapshot("products"):
        features = [f for f in state.snapshot("features") if f["product_id"] == prod["id"]]
        if not features:
            continue
        for n in (1, 2):
            first = features[0]
            state.store(
                "tasks", make_task(state, first, n, first["created_at"], first["updated_at"])
            )


KIND = Kind(name="tasks", singular="task", compact_keys=COMPACT_KEYS, ref_key="id")

list_route("tasks", "tasks")
list_route("tasks", "products/:pid/tasks", "products", "product_id")
list_route("tasks", "features/:pid/tasks", "features", "feature")
detail_route("tasks", "tasks/:id")
update_route("tasks", "tasks/:id")
