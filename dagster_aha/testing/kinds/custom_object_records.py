"""Custom table (custom object) records: ``GET|POST products/:id/custom_objects/:key/records``,
``GET|PUT|DELETE custom_object_records/:id``; writes of ``custom_object_links``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.http import (
    Response,
    delete_route,
    detail_response,
    detail_route,
    list_response,
    route,
    unwrap,
    update_route,
)
from dagster_aha.testing.kinds.base import Kind
from dagster_aha.testing.kinds.shared import custom_field, linked_record_ids, user_ref

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

#: the custom tables a new sandbox account has: key -> [(field key, field name, field type)];
#: every product holds them. ``state.add_custom_table`` adds more (``state.custom_tables``).
TABLES = {"customers": [("name", "Name", "string"), ("website", "Website", "url")]}
CUSTOMERS = ["Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"]


def default_custom_tables() -> dict[str, dict[str, Any]]:
    """``state.custom_tables`` of a new account: ``TABLES``, in every product."""
    return {
        key: {"key": key, "name": key.capitalize(), "fields": [list(f) for f in fields]}
        for key, fields in TABLES.items()
    }


def table_fields(state: SandboxState, key: str) -> list[tuple[str, str, str]]:
    """``(field key, field name, field type)`` of the account's custom table ``key``."""
    table = state.custom_tables.get(key)
    return [tuple(f) for f in table["fields"]] if table else []  # type: ignore[misc]


def product_has_table(state: SandboxState, prod: dict[str, Any], key: str) -> bool:
    """Whether ``prod`` holds the custom table ``key`` (``products`` absent: every product)."""
    table = state.custom_tables.get(key)
    if table is None:
        return False
    products = table.get("products")
    return products is None or prod["id"] in products or prod["reference_prefix"] in products


def make_table_record(
    state: SandboxState,
    prod: dict[str, Any],
    key: str,
    created: str,
    updated: str,
    *,
    values: dict[str, Any] | None = None,
) -> dict[str, Any]:
    r = state.template("custom_object_record")
    user = state.any_user()
    r.update(
        id=state.new_id(),
        product_id=prod["id"],
        key=key,
        created_at=created,
        updated_at=updated,
        custom_fields=[],
        custom_object_links=[],
        linked_records=[],
        created_by_user=user_ref(user),
    )
    for fkey, _fname, _ftype in table_fields(state, key):
        if values and fkey in values:
            r["custom_fields"].append(table_field(state, key, fkey, values[fkey], created))
    return r


def table_field(state: SandboxState, table: str, key: str, value: Any, ts: str) -> dict[str, Any]:
    """A custom table record's field: typed by the table, with a string id (as in the
    document's create example)."""
    for fkey, fname, ftype in table_fields(state, table):
        if fkey == key:
            if not _fits(ftype, value):
                raise SandboxError(
                    422, f"Custom table field {key[:40]!r} does not take that value ({ftype})"
                )
            cf = custom_field(fkey, value, ts, type_=ftype)
            cf.update(id=str(cf["id"]), name=fname)
            return cf
    raise SandboxError(422, f"Unknown field {key[:40]!r} of custom table {table[:40]!r}")


def _fits(field_type: str, value: Any) -> bool:
    """Whether a write's value suits a custom table field of ``field_type``."""
    if value is None:
        return True
    if field_type == "number":
        if isinstance(value, bool):
            return False
        if isinstance(value, (int, float)):
            return True
        try:
            float(str(value))
        except ValueError:
            return False
        return isinstance(value, str)
    if field_type == "array":
        return isinstance(value, list) and all(isinstance(v, (str, int)) for v in value)
    return isinstance(value, str)  # string, url, email, date and note fields take text


def _write_fields(state: SandboxState, rec: dict[str, Any], value: Any, ts: str) -> None:
    if not isinstance(value, dict):
        raise SandboxError(400, "custom_fields must be an object keyed by the table's fields")
    fields = {cf["key"]: cf for cf in rec.get("custom_fields") or []}
    for key, val in value.items():
        fields[str(key)] = table_field(state, rec["key"], str(key), val, ts)
    rec["custom_fields"] = list(fields.values())


def _create(
    state: SandboxState,
    name: str,
    body: dict[str, Any],
    parent: dict[str, Any] | None,
    table_key: str | None,
    ts: str,
) -> dict[str, Any]:
    assert parent is not None and table_key is not None
    return make_table_record(state, parent, table_key, ts, ts)


def _write(state: SandboxState, rec: dict[str, Any], key: str, value: Any, ts: str) -> bool:
    if key == "custom_fields":
        _write_fields(state, rec, value, ts)
        return True
    if key != "custom_object_links":
        return False
    rec["custom_object_links"] = [
        {"key": k, "record_type": "CustomObjectRecord", "record_ids": ids}
        for k, ids in linked_record_ids(state, value).items()
    ]
    return True


KIND = Kind(
    name="custom_object_records", singular="custom_object_record", create=_create, write=_write
)


def _table(sb: AhaSandbox, m: dict[str, str]) -> tuple[dict[str, Any], str]:
    prod = sb.state.require("products", m["pid"])
    if not product_has_table(sb.state, prod, m["key"]):
        raise SandboxError(404, "Custom table not found")
    return prod, m["key"]


detail_route("custom_object_records", "custom_object_records/:id")
update_route("custom_object_records", "custom_object_records/:id")
delete_route("custom_object_records", "custom_object_records/:id")


@route("GET", "products/:pid/custom_objects/:key/records")
def _list(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    prod, key = _table(sb, m)
    recs = sb.state.select(
        "custom_object_records",
        where=lambda r: r["key"] == key,
        params=params,
        parent=("product_id", prod["id"]),
    )
    return list_response(sb, "custom_object_records", recs, params)


@route("POST", "products/:pid/custom_objects/:key/records")
def _create_route(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    data = unwrap(body, "custom_object_record")
    prod, key = _table(sb, m)
    rec = sb.state.create("custom_object_records", data, parent=prod, table_key=key)
    return detail_response(sb, "custom_object_records", rec, params)
