"""Products (workspaces): ``GET products``, ``GET products/:id``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import detail_route, list_route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import API, HOST, PRODUCT_REF_KEYS, note

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState


def make_product(state: SandboxState, p: int, created: str, updated: str) -> dict[str, Any]:
    """Seeded product number ``p`` (reference prefix ``PRJ<p>``)."""
    r = state.template("product")
    pid, prefix = state.new_id(), f"PRJ{p}"
    r.update(
        id=pid,
        reference_prefix=prefix,
        name=f"Project {p}",
        product_line=False,
        created_at=created,
        updated_at=updated,
        description=note(state, pid, "Project", f"Workspace {p}", created),
        url=f"{HOST}/projects/{prefix}",
        resource=f"{API}/products/{prefix}",
        children=[],
        workspace_type="product_workspace",
    )
    state.reserve_references(prefix)
    return r


KIND = Kind(
    name="products",
    singular="product",
    compact_keys=PRODUCT_REF_KEYS,
    searchable=True,
    ref_key="reference_prefix",
)

list_route("products", "products")
detail_route("products", "products/:id")
