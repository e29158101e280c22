"""The write rules every kind shares: how one key of a POST/PUT body changes a record.

A kind's own keys (a feature's ``release``, a goal's ``success_metric``) are handled first by
its ``Kind.write`` (``kinds/<kind>.py``); what it does not handle falls through to these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.kinds.shared import (
    READ_ONLY_KEYS,
    find_user,
    linked_record_ids,
    merge_custom_fields,
    set_tags,
    status_name,
    time_frame,
    user_ref,
)

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

_SCALARS = (str, int, float, bool)


def apply_changes(
    state: SandboxState, kind: str, rec: dict[str, Any], changes: dict[str, Any]
) -> None:
    """Apply a (partial) write body to a private copy ``rec``; bumps ``updated_at``."""
    spec = state.kind(kind)
    ts = state.now()
    for key, value in changes.items():
        if spec.write is not None and spec.write(state, rec, key, value, ts):
            continue
        apply_common(state, kind, rec, key, value, ts)
    if "updated_at" in rec:  # teams have no updated_at in Aha!'s records
        rec["updated_at"] = ts


def apply_common(
    state: SandboxState, kind: str, rec: dict[str, Any], key: str, value: Any, ts: str
) -> None:
    """One key of a write body, by the rules all kinds share."""
    if key == "custom_fields":
        merge_custom_fields(rec, value, ts, state)
    elif key == "custom_object_links":
        # on records other than custom object records, links are custom fields of ids
        links = linked_record_ids(state, value)
        merge_custom_fields(rec, {k: [str(x) for x in ids] for k, ids in links.items()}, ts)
    elif key == "description":
        body = value.get("body") if isinstance(value, dict) else value
        desc = rec.get("description")
        if isinstance(desc, dict):
            rec["description"] = {**desc, "body": body, "updated_at": ts}
        else:
            rec["description"] = body
    elif key == "workflow_status" and state.kind(kind).statuses:
        rec["workflow_status"] = state.status(kind, status_name(value))
    elif key == "tags" and state.kind(kind).taggable:
        if isinstance(value, str):
            tags: list[Any] = value.split(",")
        elif isinstance(value, list):
            tags = value
        elif value is None:
            tags = []
        else:
            raise SandboxError(422, "tags must be a comma-separated string or an array")
        set_tags(rec, [str(t) for t in tags if isinstance(t, (str, int, float))])
    elif key == "assigned_to_user" and "assigned_to_user" in rec:
        rec["assigned_to_user"] = (
            {"default_assignee": False, **user_ref(find_user(state, value))} if value else None
        )
    elif key == "time_frame" and "time_frame" in rec:
        rec["time_frame"] = time_frame(value, rec.get("time_frame"))
    elif key in READ_ONLY_KEYS:
        return
    elif (
        key in rec
        and (rec[key] is None or isinstance(rec[key], _SCALARS))
        and (value is None or isinstance(value, _SCALARS))
    ):
        rec[key] = value
