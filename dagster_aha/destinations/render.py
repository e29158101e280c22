"""Rendering a whole input: every record's request, the records that fail alone, duplicate keys,
and the grouping of rendered requests into batches. Pure: no HTTP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dagster_aha.destinations.destination import AhaDestination, RecordError, RenderedRequest
from dagster_aha.destinations.report import WriteOutcome

__all__ = ["batches", "mark_duplicate_keys", "render_all", "request_dict", "request_params"]


def request_params(destination: AhaDestination) -> dict[str, str]:
    return {"disable_mailers": "true"} if destination.disable_mailers else {}


def request_dict(destination: AhaDestination, method: str, path: str, body: Any) -> dict[str, Any]:
    return {"method": method, "path": path, "params": request_params(destination), "body": body}


def render_all(
    destination: AhaDestination, records: Sequence[Any]
) -> tuple[dict[int, RenderedRequest], dict[int, WriteOutcome]]:
    """Render every record; a record that cannot be rendered is a ``failed`` outcome."""
    rendered: dict[int, RenderedRequest] = {}
    failed: dict[int, WriteOutcome] = {}
    for i, record in enumerate(records):
        try:
            rendered[i] = destination.render(record)
        except RecordError as exc:
            failed[i] = WriteOutcome(index=i, status="failed", error=str(exc), retryable=False)
        except RecursionError:
            failed[i] = WriteOutcome(
                index=i, status="failed", error="record is nested too deeply", retryable=False
            )
    return rendered, failed


def mark_duplicate_keys(
    destination: AhaDestination,
    rendered: dict[int, RenderedRequest],
    outcomes: dict[int, WriteOutcome],
) -> None:
    """Take records that share a record key out of ``rendered`` (in place).

    With an explicit key (``record_key`` or ``match_on``) every record of a shared key fails
    ("duplicate key in input"): which one is right cannot be known, and writing one after the
    other would silently merge distinct upstream records. With the content-hash key two
    records are identical requests, i.e. one record: the first is written, the others are
    ``skipped`` with a pointer to it.
    """
    by_key: dict[str, list[int]] = {}
    for i in sorted(rendered):
        by_key.setdefault(rendered[i].record_key, []).append(i)
    explicit = destination.record_key is not None or destination.match_on is not None
    for key, indices in by_key.items():
        if len(indices) < 2:
            continue
        if not explicit:
            for i in indices[1:]:
                req = rendered.pop(i)
                outcomes[i] = WriteOutcome(
                    index=i,
                    status="skipped",
                    detail=f"identical to record #{indices[0]} (same request content): "
                    "written once",
                    request=request_dict(destination, req.method, req.path, req.body),
                )
            continue
        shown = key if len(key) <= 200 else f"{key[:200]}… ({len(key):,} chars)"
        others = ", ".join(f"#{i}" for i in indices[:10]) + (" …" if len(indices) > 10 else "")
        for i in indices:
            req = rendered.pop(i)
            outcomes[i] = WriteOutcome(
                index=i,
                status="failed",
                error=f"duplicate key in input: {len(indices)} records ({others}) share the "
                f"key {shown}; none of them was written",
                retryable=False,
                match_key=req.match_key,
                request=request_dict(destination, req.method, req.path, req.body),
            )


def batches(
    destination: AhaDestination, rendered: Mapping[int, RenderedRequest]
) -> list[list[tuple[int, RenderedRequest]]]:
    assert destination.batch_size is not None
    by_path: dict[tuple[str, str], list[tuple[int, RenderedRequest]]] = {}
    for i in sorted(rendered):
        req = rendered[i]
        by_path.setdefault((req.method, req.path), []).append((i, req))
    out: list[list[tuple[int, RenderedRequest]]] = []
    size = destination.batch_size
    for group in by_path.values():
        out.extend(group[pos : pos + size] for pos in range(0, len(group), size))
    return out
