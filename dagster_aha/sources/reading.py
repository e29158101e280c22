"""Reading one stream's records from Aha!, whatever its shape (see ``streams.py``).

:func:`iter_stream` is the one place that knows how a stream is listed: the account-wide or
per-product list, a child stream exploded from its parent's list (``fields=<child_key>``), a
per-record stream (one request per parent record), the audit feed (``created_since``) and the
custom field definitions with their options. Both the record assets and the dlt landing read
through it, so each stream has one meaning everywhere.

Incremental reads send ``stream.incremental_param`` and also filter on the client: a server that
ignores the parameter (or rounds it) returns more records, never fewer, and the rows older than
``since`` are dropped here, so a delta is a delta either way and nothing is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Any

from dagster_aha.client import AhaClient, PageInfo, quote_segment
from dagster_aha.sources.streams import STREAMS, AhaStream
from dagster_aha.sources.timestamps import format_ts, parse_ts

__all__ = ["iter_path", "iter_stream", "list_paths", "list_product_ids", "normalize_audit"]

#: Custom field types whose values come from a list of options (choice lists, tags).
_OPTION_TYPES = re.compile(r"select|tag|choice|multiple", re.IGNORECASE)


def list_product_ids(client: AhaClient) -> list[str]:
    """Every product id of the account (one request per 200 products)."""
    return [
        str(p["id"])
        for p in client.iter_records(
            "products", fields=["id", "reference_prefix"], record_key="products"
        )
        if p.get("id") is not None
    ]


def list_paths(
    client: AhaClient,
    stream: AhaStream,
    *,
    product: str | None = None,
    product_ids: Sequence[str] | None = None,
) -> list[str]:
    """The list path(s) of ``stream``: one product's, the account-wide one, or every product's.

    A stream with no account-wide list (releases) is read product by product, over
    ``product_ids`` when given, else over a fresh ``products`` listing.
    """
    if product is not None:
        return [stream.product_path(product)]
    if stream.account_path is not None:
        return [stream.account_path]
    ids = list(product_ids) if product_ids is not None else list_product_ids(client)
    return [stream.product_path(pid) for pid in ids]


def normalize_audit(record: dict[str, Any]) -> dict[str, Any]:
    """An audit row with ``changed_fields`` (the names in ``changes``) and ``user_id`` added.

    ``changes`` comes as a list of ``{"field_name", "value"}`` objects; a mapping of field name to
    change is accepted too. The original keys are kept.
    """
    row = dict(record)
    changes = record.get("changes")
    names: list[str] = []
    if isinstance(changes, list):
        for change in changes:
            if isinstance(change, dict):
                name = change.get("field_name") or change.get("name") or change.get("field")
                if name is not None and str(name) not in names:
                    names.append(str(name))
    elif isinstance(changes, dict):
        names = [str(k) for k in changes]
    row.setdefault("changed_fields", names)
    user = record.get("user")
    if "user_id" not in row:
        row["user_id"] = str(user["id"]) if isinstance(user, dict) and "id" in user else None
    return row


def _newer(record: dict[str, Any], field: str, since: datetime | None) -> bool:
    """False only when ``record[field]`` is a timestamp older than ``since`` (never drop
    what cannot be compared)."""
    if since is None:
        return True
    ts = parse_ts(record.get(field))
    return ts is None or ts >= since


def _older(record: dict[str, Any], field: str, until: datetime | None) -> bool:
    """False only when ``record[field]`` is a timestamp at or after ``until``."""
    if until is None:
        return True
    ts = parse_ts(record.get(field))
    return ts is None or ts < until


def _parent_columns(stream: AhaStream, parent: dict[str, Any]) -> dict[str, Any]:
    p = stream.parent_singular
    return {
        f"{p}_id": str(parent["id"]) if parent.get("id") is not None else None,
        f"{p}_reference_num": parent.get("reference_num"),
        f"{p}_updated_at": parent.get("updated_at"),
    }


def _explode(stream: AhaStream, parent: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The child rows nested in one parent record, each with the parent's columns."""
    assert stream.child_key is not None
    children = parent.get(stream.child_key)
    if not isinstance(children, list):
        return
    columns = _parent_columns(stream, parent)
    for child in children:
        if not isinstance(child, dict):
            continue
        row = {**child, **columns}
        if row.get("id") is None:
            # Aha!'s nested status intervals may come without an id: key them by parent,
            # status and start, which is what makes an interval unique.
            status = child.get("workflow_status_id") or child.get("status_id") or ""
            parent_id = columns[f"{stream.parent_singular}_id"]
            row["id"] = f"{parent_id}:{status}:{child.get('started_at')}"
        yield row


def _with_options(client: AhaClient, definition: dict[str, Any]) -> dict[str, Any]:
    """A custom field definition with its ``options`` (one request when it has options)."""
    row = dict(definition)
    if "options" in row or row.get("id") is None:
        return row
    if not _OPTION_TYPES.search(str(row.get("type") or "")):
        row["options"] = None
        return row
    path = f"custom_field_definitions/{quote_segment(str(row['id']))}/options"
    row["options"] = list(client.iter_records(path, record_key="options"))
    return row


def iter_stream(
    client: AhaClient,
    stream: AhaStream,
    *,
    fields: Sequence[str] = (),
    product: str | None = None,
    since: datetime | None = None,
    product_ids: Sequence[str] | None = None,
    on_path: Callable[[str], None] | None = None,
    on_page: Callable[[PageInfo], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Every record of ``stream`` (changed since ``since`` when given), over all its paths
    (:func:`list_paths`), each read by :func:`iter_path`."""
    for path in list_paths(client, stream, product=product, product_ids=product_ids):
        if on_path is not None:
            on_path(path)
        yield from iter_path(client, stream, path, fields=fields, since=since, on_page=on_page)


def iter_path(
    client: AhaClient,
    stream: AhaStream,
    path: str,
    *,
    fields: Sequence[str] = (),
    since: datetime | None = None,
    on_page: Callable[[PageInfo], None] | None = None,
    **read_options: Any,
) -> Iterator[dict[str, Any]]:
    """The records of one list path of ``stream`` (changed since ``since`` when given).

    Child streams yield one row per nested item, per-record streams one row per item of each
    parent's list, both with ``<parent>_id``, ``<parent>_reference_num`` and
    ``<parent>_updated_at`` columns; audits get ``changed_fields`` and ``user_id``; custom field
    definitions their ``options``. ``read_options`` go to ``AhaClient.iter_records`` of the list
    (of the parents, for a per-record stream).
    """
    params: dict[str, str] | None = (
        {stream.incremental_param: format_ts(since)} if since is not None else None
    )
    until: datetime | None = None
    if stream.until_param is not None:
        # one fixed window: what is created during the read is for the next read
        until = datetime.now(timezone.utc)
        params = {**(params or {}), stream.until_param: format_ts(until)}
    if stream.per_record_suffix is not None:
        yield from _iter_per_record(
            client, stream, path, params, since, fields, on_page, read_options
        )
        return
    parent_keyed = stream.child_key is not None
    filter_field = "updated_at" if parent_keyed else stream.cursor_field
    for record in client.iter_records(
        path,
        params=params,
        fields=list(fields) or None,
        record_key=stream.record_key,
        on_page=on_page,
        **read_options,
    ):
        if not _newer(record, filter_field, since) or not _older(record, filter_field, until):
            continue
        if parent_keyed:
            yield from _explode(stream, record)
        elif stream.name == "audits":
            yield normalize_audit(record)
        elif stream.name == "custom_field_definitions":
            yield _with_options(client, record)
        else:
            yield record


def _iter_per_record(
    client: AhaClient,
    stream: AhaStream,
    path: str,
    params: dict[str, str] | None,
    since: datetime | None,
    fields: Sequence[str],
    on_page: Callable[[PageInfo], None] | None,
    read_options: dict[str, Any],
) -> Iterator[dict[str, Any]]:
    """One request per parent record (listed first, ``fields=id,reference_num,updated_at``)."""
    assert stream.parent is not None and stream.per_record_suffix is not None
    parent_stream = STREAMS[stream.parent]
    parent_base = parent_stream.account_path or stream.parent
    parents = [
        p
        for p in client.iter_records(
            path,
            params=params,
            fields=["id", "reference_num", "updated_at"],
            record_key=parent_stream.record_key,
            on_page=on_page,
            **read_options,
        )
        if p.get("id") is not None and _newer(p, "updated_at", since)
    ]
    for parent in parents:
        columns = _parent_columns(stream, parent)
        record_path = f"{parent_base}/{quote_segment(str(parent['id']))}/{stream.per_record_suffix}"
        for record in client.iter_records(
            record_path, fields=list(fields) or None, record_key=stream.record_key
        ):
            row = {**record, **columns}
            if row.get("id") is not None:
                row["id"] = str(row["id"])  # record links carry integer ids: ids are strings
            yield row
