"""Comments: ``GET products/:id/comments`` (every comment of the product's records),
``GET features/:id/comments``, ``GET comments/:id``; seeded on the first features."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route, update_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import HOST, user_ref

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

#: the keys of the spec's ``GET products/{id}/comments`` example items
COMPACT_KEYS = ("id", "body", "user", "attachments", "reactions")


def make_comment(
    state: SandboxState, feature: dict[str, Any], n: int, created: str
) -> dict[str, Any]:
    cid = state.new_id()
    return {
        "id": cid,
        "body": f"<p>Comment {n} on {feature['reference_num']}</p>",
        "user": user_ref(state.any_user()),
        "attachments": [],
        "reactions": [],
        "commentable_id": feature["id"],
        "commentable_type": "Feature",
        "created_at": created,
        "updated_at": created,
        "url": f"{HOST}/comments/{cid}",
        "product_id": feature["product_id"],
        "feature": {"id": feature["id"], "reference_num": feature["reference_num"]},
    }


def seed_comments(state: SandboxState) -> None:
    for prod in state.snapshot("products"):
        features = [f for f in state.snapshot("features") if f["product_id"] == prod["id"]]
        for n, feature in enumerate(features[:3], start=1):
            state.store("comments", make_comment(state, feature, n, feature["updated_at"]))


KIND = Kind(name="comments", singular="comment", compact_keys=COMPACT_KEYS, ref_key="id")

list_route("comments", "products/:pid/comments", "products", "product_id")
list_route("comments", "features/:pid/comments", "features", "feature")
detail_route("comments", "comments/:id")
update_route("comments", "comments/:id")
