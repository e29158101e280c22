"""The list query filters every kind shares (``updated_since``, ``q``, ``tag``,
``workflow_status``, ``custom_fields[key]``); a kind's own filters are its ``Kind.filter``."""

from __future__ import annotations

from typing import Any

from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import cf_matches
from dagster_aha.testing.state.clock import parse_ts


def apply_filters(
    spec: Kind, recs: list[dict[str, Any]], params: dict[str, str]
) -> list[dict[str, Any]]:
    since = params.get("updated_since")
    if since:
        cut = parse_ts(since)
        recs = [r for r in recs if (r.get("updated_at") or "") > cut]
    q = params.get("q")
    if q and spec.searchable:
        ql = q.lower()
        recs = [r for r in recs if ql in str(r.get("name") or "").lower()]
    tag = params.get("tag")
    if tag and spec.taggable:
        tl = tag.lower()
        recs = [r for r in recs if any(t.lower() == tl for t in r.get("tags") or [])]
    status = params.get("workflow_status")
    if status and spec.statuses:
        sl = status.lower()
        recs = [
            r
            for r in recs
            if isinstance(r.get("workflow_status"), dict)
            and sl in (str(r["workflow_status"]["name"]).lower(), str(r["workflow_status"]["id"]))
        ]
    if spec.filter is not None:
        recs = spec.filter(recs, params)
    for pkey, pval in params.items():
        if pkey.startswith("custom_fields[") and pkey.endswith("]"):
            cf_key = pkey[len("custom_fields[") : -1]
            recs = [r for r in recs if cf_matches(r, cf_key, pval)]
    return recs
