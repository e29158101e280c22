"""Pure helpers of the read side: schema inference, previews, fields, checks."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from dagster_aha.sources import STREAMS, infer_column_schema, markdown_preview
from dagster_aha.sources.checks import (
    IDS_UNIQUE,
    REQUIRED_KEYS_PRESENT,
    check_ids_unique,
    evaluate_checks,
)
from dagster_aha.sources.metadata import json_native_in_place, json_native_rows
from dagster_aha.sources.streams import custom_table_stream, resolve_fields

KEY = dg.AssetKey(["aha", "features"])


def test_infer_column_schema_types_and_nullability() -> None:
    rows = [
        {"id": "1", "score": 3, "ratio": 0.5, "done": True, "tags": ["a"], "status": {"n": 1}},
        {"id": "2", "score": 4.5, "ratio": None, "done": False, "tags": []},
    ]
    columns = {c.name: c for c in infer_column_schema(rows).columns}
    assert list(columns) == ["id", "score", "ratio", "done", "tags", "status"]
    assert columns["id"].type == "string" and columns["id"].constraints.unique
    assert not columns["id"].constraints.nullable
    assert columns["score"].type == "integer|number"
    assert columns["ratio"].type == "number" and columns["ratio"].constraints.nullable
    assert columns["done"].type == "boolean"
    assert columns["tags"].type == "array"
    assert columns["status"].type == "object" and columns["status"].constraints.nullable
    dup = infer_column_schema([{"id": "1"}, {"id": "1"}]).columns[0]
    assert not dup.constraints.unique
    assert infer_column_schema([{"x": None}]).columns[0].type == "null"


def test_markdown_preview_escapes_and_truncates() -> None:
    rows = [
        {"name": "a|b\nc", "id": "1", "workflow_status": {"name": "Shipped"}, "tags": [1, 2]},
        *({"id": str(i), "name": "x" * 100} for i in range(2, 10)),
    ]
    md = markdown_preview(rows, limit=3).value
    lines = md.splitlines()
    assert lines[0] == "| id | name | workflow_status | tags |"
    assert lines[2] == "| 1 | a\\|b c | Shipped | [2 items] |"
    assert "x" * 39 + "…" in lines[3]
    assert md.endswith("_3 of 9 rows._")
    assert markdown_preview([]).value == "_No rows._"


def test_json_native_rows_turns_integer_ids_into_strings() -> None:
    [row] = json_native_rows(
        [{"id": 5938362174479841842, "product_id": 7, "score": 3, "cf": [{"id": 1, "value": 2}]}]
    )
    assert row == {"id": "5938362174479841842", "product_id": "7", "score": 3,
                   "cf": [{"id": "1", "value": 2}]}  # fmt: skip


def test_in_place_conversion_matches_the_copying_one_on_parsed_records() -> None:
    """The read path converts each parsed record in place; it must give the same record."""
    raw = (
        '{"id": 5938362174479841842, "name": "A", "score": 3, "ratio": 0.5, "done": true,'
        ' "custom_fields": [{"id": 415795050, "value": 2, "nested": {"parent_id": 9}}],'
        ' "release": {"id": "6776", "integration_id": 12, "user_ids": [1, [2, "x"]]},'
        ' "goal_id": [3, {"id": 4}], "tags": [1, 2], "empty": null, "obj_id": {"k": 5}}'
    )
    [want] = json_native_rows([json.loads(raw)])
    rec = json.loads(raw)
    assert json_native_in_place(rec) is rec
    assert json.dumps(rec, sort_keys=True) == json.dumps(want, sort_keys=True)
    assert rec["custom_fields"][0] == {"id": "415795050", "value": 2, "nested": {"parent_id": "9"}}
    assert rec["release"]["user_ids"] == [1, [2, "x"]]  # not an id key ("_ids")
    assert rec["goal_id"] == ["3", {"id": "4"}] and rec["tags"] == [1, 2]
    assert rec["obj_id"] == {"k": 5}


def test_resolve_fields() -> None:
    features = STREAMS["features"]
    defaults = resolve_fields(features, None)
    assert defaults[:3] == ("id", "reference_num", "updated_at")
    assert sorted(defaults) == sorted(features.fields)
    assert resolve_fields(features, "name, tags") == (
        "id", "reference_num", "updated_at", "name", "tags"
    )  # fmt: skip
    assert resolve_fields(features, ["*"]) == ("*",)
    assert resolve_fields(STREAMS["users"], {"features": ["name"]}) == resolve_fields(
        STREAMS["users"], None
    )
    with pytest.raises(ValueError, match="Empty fields"):
        resolve_fields(features, "")


def test_stream_paths_quote_data_derived_segments() -> None:
    assert STREAMS["releases"].product_path("PRJ 1/x") == "products/PRJ%201%2Fx/releases"
    assert STREAMS["releases"].per_product_only
    with pytest.raises(ValueError, match="cannot be listed per product"):
        STREAMS["users"].product_path("PRJ1")
    table = custom_table_stream("PRJ1", "my table", name="t")
    assert table.account_path == "products/PRJ1/custom_objects/my%20table/records"
    assert table.record_key == "custom_object_records"


def test_checks_fail_on_duplicates_and_missing_keys() -> None:
    rows = [
        {"id": "1", "reference_num": "PRJ1-1"},
        {"id": "1", "reference_num": "PRJ1-1"},
        {"id": "2", "reference_num": ""},
        {"reference_num": "PRJ1-3"},
    ]
    unique = check_ids_unique(KEY, rows)
    assert not unique.passed
    assert unique.metadata["duplicate_ids"].value == 1
    assert unique.metadata["sample"].value == ["1"]
    results = {
        r.check_name: r
        for r in evaluate_checks(
            KEY, rows, ("id", "reference_num"), {IDS_UNIQUE, REQUIRED_KEYS_PRESENT}
        )
    }
    required = results[REQUIRED_KEYS_PRESENT]
    assert not required.passed
    assert required.description == "2 row(s) lack required keys"
    assert required.metadata["missing_id"].value == 1
    assert required.metadata["missing_reference_num"].value == 1
    assert evaluate_checks(KEY, rows, ("id",), {IDS_UNIQUE})[0].check_name == IDS_UNIQUE
    assert evaluate_checks(KEY, rows, ("id",), set()) == []
    ok = evaluate_checks(
        KEY, rows[:1], ("id", "reference_num"), {IDS_UNIQUE, REQUIRED_KEYS_PRESENT}
    )
    assert all(r.passed for r in ok)
