"""Teams: ``GET teams``, ``GET products/:id/teams``, ``GET|PUT|DELETE teams/:id``,
``POST teams`` (optional ``product_id``) and ``POST products/:id/teams``."""

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
from dagster_aha.testing.kinds.shared import project_ref

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState


def make_team(
    state: SandboxState,
    name: str,
    product: dict[str, Any] | None,
    member: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r = state.template("team")
    member = member or state.any_user()
    r.update(
        id=state.new_id(),
        name=name,
        project=project_ref(product) if product else None,
        custom_fields=[],
        team_members_count=1,
        team_members={
            "id": state.new_id(),
            "name": member["name"],
            "email": member["email"],
            "user_id": member["id"],
            "virtual": False,
        },
    )
    r["schedule"]["id"] = state.new_id()
    return r


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    pid = body.pop("product_id", None)
    prod = parent or (state.find("products", str(pid)) if pid else None)
    if pid and prod is None:
        raise SandboxError(422, "Product not found")
    rec = make_team(state, name, prod)
    rec.update(capacity=0, hourly_rate=None)
    return rec


KIND = Kind(name="teams", singular="team", create=_create)

list_route("teams", "teams")
list_route("teams", "products/:pid/teams", "products", "project")
detail_route("teams", "teams/:id")
create_route("teams", "products/:pid/teams", "products")
create_route("teams", "teams")
update_route("teams", "teams/:id")
delete_route("teams", "teams/:id")
