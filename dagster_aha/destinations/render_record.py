"""Rendering one upstream record into the request to send (:func:`render_record`).

Pure: it never touches the network, so the exact same code produces dry runs, sample payloads
and the real requests. The steps, in order (the destination's options are documented on
:class:`~dagster_aha.destinations.destination.AhaDestination`):

1. ``transform(record)`` (Python users; must return a mapping);
2. path params: fixed values, or ``{"from_field": "col"}`` taken from the record (the field is
   then removed from the body); every value is URL-encoded with ``quote_segment``;
3. ``exclude_attributes`` removed;
4. ``custom_fields`` helper: upstream columns moved into ``custom_fields`` (write map form);
5. ``field_mapping`` renames upstream names to Aha! names;
6. JSON-native conversion (datetime/date -> ISO 8601, Decimal -> number, UUID -> str, ...);
7. validation (``name`` on creates, non-empty updates) and wrapping under the singular key.

``match_on`` names a field of the *rendered* body (after mapping): ``"name"`` or
``"custom_fields.<key>"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from dagster_aha.client.urls import quote_segment
from dagster_aha.destinations.json_values import RecordError, to_json_native
from dagster_aha.destinations.keys import (
    canonical_json,
    content_hash,
    is_blank,
    key_text,
    ledger_value,
    raw_match_value,
)
from dagster_aha.destinations.templates import HttpMethod, WriteKind

if TYPE_CHECKING:
    from dagster_aha.destinations.destination import AhaDestination

__all__ = ["FromField", "RenderedRequest", "check_segment_value", "render_record"]

_BAD_SEGMENT_RE = re.compile(r"[\x00-\x1f\x7f]")


class FromField(BaseModel):
    """A path parameter taken from a field of each record: ``{"from_field": "epic_ref"}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    from_field: str = Field(min_length=1)


@dataclass
class RenderedRequest:
    """One request ready to send: ``path`` is relative to ``/api/v1/`` and already encoded."""

    method: HttpMethod
    path: str
    body: dict[str, Any] | None
    kind: WriteKind
    path_values: dict[str, str] = field(default_factory=dict)
    """Decoded path parameter values (for look-ups and messages)."""
    record_body: dict[str, Any] | None = None
    """The unwrapped body (what goes under ``wrap_key``)."""
    match_key: str | None = None
    """The upsert key as text (for outcomes), when ``match_on`` is set."""
    match_raw: Any = None
    """The raw upsert value (compared exactly, sent as is in look-ups)."""
    record_key: str = ""
    """The record's identity in the write ledger (canonical JSON, or ``sha256:<hash>``)."""
    request_hash: str = ""
    """SHA-256 of the rendered request (method, path, body)."""

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "body": self.body}


def check_segment_value(name: str, value: object, source: str) -> str:
    if value is None:
        raise RecordError(f"path parameter {name!r} is missing ({source} is null)")
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(
            f"path parameter {name!r} must be a string or an integer "
            f"({source} is {type(value).__name__})"
        )
    text = str(value)
    if not text.strip():
        raise RecordError(f"path parameter {name!r} is empty ({source})")
    if _BAD_SEGMENT_RE.search(text):
        raise RecordError(
            f"path parameter {name!r} contains a newline or control character ({source})"
        )
    if text != text.strip():
        raise RecordError(f"path parameter {name!r} has leading/trailing whitespace ({source})")
    try:
        quote_segment(text)
    except ValueError as exc:
        raise RecordError(f"path parameter {name!r} is not a valid id ({source}): {exc}") from None
    return text


def _read_form_to_map(value: Any) -> Any:
    """Custom fields in the read form (``[{"key", "value"}]``) -> write map form."""
    if isinstance(value, list) and all(isinstance(v, Mapping) and "key" in v for v in value):
        return {str(v["key"]): v.get("value") for v in value}
    return value


def render_record(dest: AhaDestination, record: object) -> RenderedRequest:
    """Render one upstream record into the request to send.

    Raises :class:`RecordError` (the record becomes a ``failed`` outcome) for a non-mapping
    record, a missing/invalid path parameter, a non-JSON value, a create without ``name``,
    an update without any field, or a failing ``transform``.
    """
    if not isinstance(record, Mapping):
        raise RecordError(f"record is not a mapping (got {type(record).__name__})")
    data: dict[str, Any] = dict(record)
    if dest.transform is not None:
        try:
            transformed = dest.transform(dict(data))
        except Exception as exc:
            raise RecordError(f"transform raised {type(exc).__name__}: {exc}") from None
        if not isinstance(transformed, Mapping):
            raise RecordError(f"transform must return a mapping (got {type(transformed).__name__})")
        data = dict(transformed)
    for key in data:
        if not isinstance(key, str):
            raise RecordError(f"record key {key!r} is not a string")

    path_values: dict[str, str] = {}
    used_fields: set[str] = set()
    for name in dest.path_param_names:
        spec = dest.path_params[name]
        if isinstance(spec, FromField):
            if spec.from_field not in data:
                raise RecordError(
                    f"path parameter {name!r}: field {spec.from_field!r} is missing from the record"
                )
            path_values[name] = check_segment_value(
                name, data[spec.from_field], f"field {spec.from_field!r}"
            )
            used_fields.add(spec.from_field)
        else:
            path_values[name] = str(spec)
    path = dest.path_template.format(**{k: quote_segment(v) for k, v in path_values.items()})

    kind = dest.kind
    if kind == "delete":
        digest = content_hash(dest.http_method, path, None)
        return RenderedRequest(
            method=dest.http_method,
            path=path,
            body=None,
            kind=kind,
            path_values=path_values,
            record_key=_record_key(dest, data, path, None, digest),
            request_hash=digest,
        )

    body = {k: v for k, v in data.items() if k not in used_fields}
    for attr in dest.exclude_attributes:
        body.pop(attr, None)
    if "custom_fields" in body:
        body["custom_fields"] = _read_form_to_map(body["custom_fields"])
    if dest.custom_fields:
        moved = {
            cf_key: body.pop(column)
            for column, cf_key in dest.custom_fields.items()
            if column in body
        }
        if moved:
            existing = body.get("custom_fields")
            if existing is None:
                existing = {}
            if not isinstance(existing, Mapping):
                raise RecordError(
                    "record has a 'custom_fields' value that is not a map; cannot merge "
                    "the custom_fields helper columns into it"
                )
            body["custom_fields"] = {**dict(existing), **moved}
    if dest.field_mapping:
        renamed: dict[str, Any] = {}
        for k, v in body.items():
            target = dest.field_mapping.get(k, k)
            if target in renamed and target != k:
                raise RecordError(
                    f"field_mapping renames {k!r} to {target!r}, which the record already has"
                )
            renamed[target] = v
        body = renamed
    body = to_json_native(body, "record")

    if kind == "create" and dest.name_required:
        name_value = body.get("name")
        if name_value is None or (isinstance(name_value, str) and not name_value.strip()):
            raise RecordError(
                "field 'name' is required to create a "
                f"{dest.effective_wrap_key or 'record'} (map an upstream column to 'name' "
                "with field_mapping)"
            )
    if "name" in body and body["name"] is not None and not isinstance(body["name"], str):
        raise RecordError(f"field 'name' must be a string (got {type(body['name']).__name__})")
    if kind == "update" and not body:
        raise RecordError("nothing to update: the record has no fields besides its id")

    match_raw: Any = None
    if dest.match_on is not None:
        match_raw = raw_match_value(body, dest.match_on)
        if is_blank(match_raw):
            raise RecordError(
                f"match_on {dest.match_on!r}: the record has no value for the upsert key"
            )

    wrap = dest.effective_wrap_key
    wrapped = {wrap: body} if wrap else body
    size = len(json.dumps(wrapped, ensure_ascii=False).encode("utf-8"))
    if size > dest.max_body_bytes:
        largest = max(body, key=lambda k: len(json.dumps(body[k], ensure_ascii=False)))
        raise RecordError(
            f"request body is {size:,} bytes, over max_body_bytes={dest.max_body_bytes:,} "
            f"(largest field: {largest!r}); nothing was sent"
        )
    digest = content_hash(dest.http_method, path, wrapped)
    return RenderedRequest(
        method=dest.http_method,
        path=path,
        body=wrapped,
        kind=kind,
        path_values=path_values,
        record_body=body,
        match_key=key_text(match_raw) if dest.match_on is not None else None,
        match_raw=match_raw,
        record_key=_record_key(dest, data, path, match_raw, digest),
        request_hash=digest,
    )


def _record_key(
    dest: AhaDestination, data: Mapping[str, Any], path: str, match_raw: Any, digest: str
) -> str:
    if dest.record_key is not None:
        fields = [dest.record_key] if isinstance(dest.record_key, str) else dest.record_key
        values: dict[str, Any] = {}
        for name in fields:
            if name not in data or data[name] is None:
                raise RecordError(f"record_key field {name!r} is missing from the record")
            values[name] = to_json_native(data[name], f"record.{name}")
        return canonical_json(values[fields[0]] if len(fields) == 1 else values)
    if dest.match_on is not None:
        from_fields = any(isinstance(v, FromField) for v in dest.path_params.values())
        key = ledger_value(match_raw)
        return canonical_json({"path": path, "key": key} if from_fields else key)
    return f"sha256:{digest}"
