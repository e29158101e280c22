"""Idea categories: ``GET products/:id/idea_categories``; seeded two per product."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster_aha.testing.http import list_route
from dagster_aha.testing.kinds.base import Kind

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

NAMES = ("Usability", "Performance")


def seed_idea_categories(state: SandboxState) -> None:
    for prod in state.snapshot("products"):
        for name in NAMES:
            state.store(
                "idea_categories",
                {
                    "id": state.new_id(),
                    "name": name,
                    "parent_id": None,
                    "project_id": int(prod["id"]),
                    "created_at": prod["created_at"],
                    "product_id": prod["id"],
                },
            )


KIND = Kind(
    name="idea_categories",
    singular="idea_category",
    compact_keys=("id", "name", "parent_id", "project_id", "created_at"),
    ref_key="id",
)

list_route("idea_categories", "products/:pid/idea_categories", "products", "product_id")
