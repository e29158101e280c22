"""Audits: ``GET audits``, an immutable record of every create, update and destroy.

Every write the sandbox performs (HTTP or ``state.update_record`` / ``delete_record`` /
``create``) appends one audit of the record (``auditable_type`` ``Feature``...) and, for the
values attached to it, one audit each of ``CustomFieldValue`` / ``Note`` with
``associated_type`` / ``associated_id`` naming the record, as Aha! stores them. Audit ids grow
with time (``after_id`` works). ``GET audits`` filters by ``created_since`` / ``created_before``
(unless ``state.audit_time_filters`` is False: a server that ignores them), ``auditable_type``,
``auditable_id``, ``associated_type``, ``associated_id``, ``audit_action``, ``user_id`` and
``after_id``; oldest first, paginated like every list.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.http import list_response, route
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import user_ref
from dagster_aha.testing.state.clock import parse_ts

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

#: the ``auditable_type`` of each kind's records (Aha!'s class names)
AUDITABLE_TYPES: dict[str, str] = {
    "products": "Project",
    "releases": "Release",
    "features": "Feature",
    "epics": "Epic",
    "ideas": "Ideas::Idea",
    "goals": "Goal",
    "initiatives": "Initiative",
    "users": "User",
    "teams": "Team",
    "custom_object_records": "CustomObjectRecord",
    "tasks": "Task",
    "comments": "Comment",
    "requirements": "Requirement",
    "idea_endorsements": "IdeaEndorsement",
    "idea_categories": "IdeaCategory",
    "release_phases": "ReleasePhase",
    "record_links": "RecordLink",
    "custom_field_definitions": "CustomFieldDefinition",
}
#: write-body keys that Aha! audits as their own (secondary) objects
_SECONDARY = {"custom_fields": "CustomFieldValue", "description": "Note"}
_VERBS = {"create": "added", "update": "updated", "destroy": "deleted"}
_AUDIT_ID_BASE = 6_000_000_000_000_000_000
COMPACT_KEYS = (
    "id",
    "audit_action",
    "created_at",
    "interesting",
    "user",
    "auditable_type",
    "auditable_id",
    "associated_type",
    "associated_id",
    "description",
    "auditable_url",
    "changes",
)


def _new_audit(
    state: SandboxState,
    ts: str,
    action: str,
    auditable_type: str,
    auditable_id: str,
    description: str,
    url: Any,
    changes: list[dict[str, Any]],
    associated: tuple[str, str] | None = None,
) -> None:
    n = state.next_ref("__audits__")
    audit: dict[str, Any] = {
        "id": str(_AUDIT_ID_BASE + n),
        "audit_action": action,
        "created_at": ts,
        "interesting": True,
        "user": user_ref(state.any_user()),
        "auditable_type": auditable_type,
        "auditable_id": auditable_id,
        "description": description,
        "auditable_url": url,
        "changes": changes,
    }
    if associated is not None:
        audit["associated_type"], audit["associated_id"] = associated
    state.store("audits", audit)


def _value(value: Any) -> Any:
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def record_audit(
    state: SandboxState,
    kind: str,
    rec: dict[str, Any],
    action: str,
    changes: dict[str, Any] | None,
    ts: str,
) -> None:
    """Append the audits of one write of ``rec`` (a kind without an auditable type: none)."""
    auditable_type = AUDITABLE_TYPES.get(kind)
    if auditable_type is None:
        return
    label = rec.get("reference_num") or rec.get("reference_prefix") or rec.get("name") or ""
    singular = state.kind(kind).singular.replace("_", " ")
    description = f"{_VERBS[action]} {singular} {label}".strip()
    own: list[dict[str, Any]] = []
    for key, value in (changes or {}).items():
        if action == "update" and key in _SECONDARY:
            items = value.items() if isinstance(value, dict) else [(key, value)]
            for field, field_value in items:
                _new_audit(
                    state,
                    ts,
                    "update",
                    _SECONDARY[key],
                    str(rec["id"]),
                    f"updated {field} of {singular} {label}".strip(),
                    rec.get("url"),
                    [{"field_name": str(field), "value": _value(field_value)}],
                    associated=(auditable_type, str(rec["id"])),
                )
            continue
        own.append({"field_name": key, "value": _value(value)})
    if action != "update" or own:
        _new_audit(
            state, ts, action, auditable_type, str(rec["id"]), description, rec.get("url"), own
        )


def _filter(recs: list[dict[str, Any]], params: dict[str, str], time_filters: bool) -> list:
    if time_filters:
        since = params.get("created_since")
        if since:
            cut = parse_ts(since)
            recs = [r for r in recs if r["created_at"] >= cut]
        before = params.get("created_before")
        if before:
            cut = parse_ts(before)
            recs = [r for r in recs if r["created_at"] < cut]
    for key in ("auditable_type", "auditable_id", "associated_type", "associated_id"):
        wanted = params.get(key)
        if wanted:
            recs = [r for r in recs if str(r.get(key) or "").lower() == wanted.lower()]
    action = params.get("audit_action")
    if action:
        recs = [r for r in recs if r["audit_action"] == action]
    user_id = params.get("user_id")
    if user_id:
        recs = [r for r in recs if str(r["user"]["id"]) == user_id]
    after = params.get("after_id")
    if after and after.isdigit():
        recs = [r for r in recs if int(r["id"]) > int(after)]
    return recs


KIND = Kind(name="audits", singular="audit", compact_keys=COMPACT_KEYS, ref_key="id")


@route("GET", "audits")
def _list_audits(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Any:
    recs = sorted(sb.state.snapshot("audits"), key=lambda r: int(r["id"]))
    recs = _filter(recs, params, getattr(sb.state, "audit_time_filters", True))
    return list_response(sb, "audits", recs, params)
