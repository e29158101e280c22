"""Workflows: ``GET products/:id/workflows`` (not paginated, as in the spec's example), one
per record type with statuses, built from the sandbox's status catalogue."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import json_response, route

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox

#: status kind -> (workflow name, statusable_type)
WORKFLOWS = {
    "features": ("Product feature workflow", "Feature"),
    "releases": ("Product release workflow", "Release"),
    "ideas": ("Product idea workflow", "Idea"),
    "initiatives": ("Initiative workflow", "Initiative"),
    "goals": ("Goal workflow", "StrategicImperative"),
}


@route("GET", "products/:pid/workflows")
def _workflows(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    sb.state.require("products", m["pid"])
    out = []
    for kind, (name, statusable) in WORKFLOWS.items():
        wid = int(hashlib.sha256(f"workflow:{kind}".encode()).hexdigest()[:8], 16)
        out.append(
            {
                "id": wid,
                "name": name,
                "statusable_type": statusable,
                "transitions_only": False,
                "workflow_statuses": [dict(s) for s in sb.state.statuses.get(kind, [])],
            }
        )
    return json_response(200, {"workflows": out})
