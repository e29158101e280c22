"""Idea votes: ``GET ideas/endorsements`` (the account's), ``GET ideas/:id/endorsements``;
seeded one per idea for the first two ideas of each product."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import list_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

COMPACT_KEYS = (
    "id",
    "idea_id",
    "created_at",
    "updated_at",
    "value",
    "link",
    "weight",
    "endorsed_by_portal_user",
    "endorsed_by_idea_user",
    "idea_organization",
)


def make_endorsement(state: SandboxState, idea: dict[str, Any], n: int) -> dict[str, Any]:
    ts = idea["created_at"]
    org = f"ACCOUNT-O-{n}"
    return {
        "id": state.new_id(),
        "idea_id": idea["id"],
        "created_at": ts,
        "updated_at": ts,
        "value": None,
        "link": None,
        "weight": 1,
        "endorsed_by_portal_user": {
            "id": state.new_id(),
            "name": "John Long",
            "email": "john@long.com",
            "created_at": ts,
        },
        "endorsed_by_idea_user": {
            "id": state.new_id(),
            "name": "John Long",
            "email": "john@long.com",
            "created_at": ts,
            "title": None,
        },
        "idea_organization": {
            "id": state.new_id(),
            "name": "Acme",
            "created_at": ts,
            "url": f"{HOST}/ideas/idea_organizations/{org}",
            "resource": f"{API}/idea_organizations/{org}",
        },
        "idea": {"id": idea["id"]},
    }


def seed_idea_endorsements(state: SandboxState) -> None:
    for prod in state.snapshot("products"):
        ideas = [i for i in state.snapshot("ideas") if i["product_id"] == prod["id"]]
        for n, idea in enumerate(ideas[:2], start=1):
            state.store("idea_endorsements", make_endorsement(state, idea, n))


KIND = Kind(
    name="idea_endorsements", singular="idea_endorsement", compact_keys=COMPACT_KEYS, ref_key="id"
)

list_route("idea_endorsements", "ideas/endorsements")
list_route("idea_endorsements", "ideas/:pid/endorsements", "ideas", "idea")
