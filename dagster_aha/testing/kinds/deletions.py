"""The recycle bin: ``GET deletions`` (paginated), one item per record deleted in the sandbox.

Aha!'s document shows a deletion item only in the restore response (``POST
deletions/:id/restore``): ``{"id", "deleted_at", "status", "record": {"name", "type",
"reference_num"}, "deleted_by"}``. The sandbox serves that shape and adds the deleted record's
``id`` under ``record``; readers must not rely on it (see ``dagster_aha.dlt.deletions``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import (
    DEFAULT_PER_PAGE,
    MAX_PER_PAGE,
    Response,
    int_param,
    json_response,
    route,
)

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

#: the ``record.type`` of each kind (Aha!'s model names)
RECORD_TYPES: dict[str, str] = {
    "products": "Project",
    "releases": "Release",
    "features": "Feature",
    "epics": "Epic",
    "ideas": "Idea",
    "goals": "Goal",
    "initiatives": "Initiative",
    "users": "User",
    "teams": "Team",
    "custom_object_records": "CustomObjectRecord",
}


def deletion_item(state: SandboxState, kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The recycle-bin item of ``rec`` (of ``kind``), deleted now."""
    me = state.any_user()
    record: dict[str, Any] = {
        "id": rec["id"],
        "name": rec.get("name"),
        "type": RECORD_TYPES.get(kind, kind),
    }
    ref = rec.get(state.kind(kind).ref_key)
    if isinstance(ref, str):
        record["reference_num"] = ref
    return {
        "id": state.new_id(),
        "deleted_at": state.now(),
        "status": "deleted",
        "record": record,
        "deleted_by": {"id": me.get("id"), "name": me.get("name"), "email": me.get("email")},
    }


@route("GET", "deletions")
def _deletions(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    per_page = max(1, min(int_param(params, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE))
    page = max(1, int_param(params, "page", 1))
    with sb.state.lock:
        items = list(reversed(sb.state.deletions))  # newest first
    chunk = items[(page - 1) * per_page : page * per_page]
    return json_response(
        200,
        {
            "deletions": chunk,
            "pagination": {
                "total_records": len(items),
                "total_pages": math.ceil(len(items) / per_page),
                "current_page": page,
            },
        },
    )
