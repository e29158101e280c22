"""Users and the account's own user: ``GET users`` (``email=``), ``GET users/:id``, ``GET me``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import Response, detail_route, json_response, list_route, route
from dagster_aha.testing.kinds.base import Kind

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

USER_NAMES = ["Mary Humpty", "John Smith", "Ada Lovelace", "Grace Hopper", "Alan Turing"]


def make_user(state: SandboxState, name: str, i: int, created: str, updated: str) -> dict[str, Any]:
    """Seeded user ``i`` (the first one is the administrator and ``GET me``)."""
    r = state.template("user")
    r.update(
        id=state.new_id(),
        name=name,
        email=f"{name.lower().replace(' ', '.')}@example.com",
        timezone="UTC",
        created_at=created,
        updated_at=updated,
        accessed_at=updated,
        product_roles=[],
        user_roles=[],
        administrator=(i == 0),
    )
    return r


def build_me(state: SandboxState) -> dict[str, Any]:
    """The ``user`` object of ``GET me``: the account's own user with a role per product."""
    with state.lock:
        user = state.any_user()
        products = state.snapshot("products")
    out = state.template("me")
    out.update(
        id=user["id"],
        name=user["name"],
        email=user["email"],
        created_at=user["created_at"],
        updated_at=user["updated_at"],
        product_roles=[
            {
                "role": 20,
                "role_description": "Owner",
                "product_id": p["id"],
                "product_name": p["name"],
            }
            for p in products
        ],
        preferences={"current_product_id": int(products[0]["id"]) if products else None},
    )
    out["accounts"][0]["account"].update(name="Sandbox", domain="sandbox")
    return out


def _by_email(recs: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    email = params.get("email")
    if not email:
        return recs
    return [r for r in recs if r["email"].lower() == email.lower()]


KIND = Kind(name="users", singular="user", filter=_by_email)


@route("GET", "me")
def _me(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    return json_response(200, {"user": sb.state.me()})


list_route("users", "users")
detail_route("users", "users/:id")
