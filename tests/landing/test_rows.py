"""RowShaper: the row a record lands as (flattened objects, string ids, custom field columns)."""

from __future__ import annotations

from dagster_aha.dlt.rows import RowShaper


def test_objects_flatten_to_three_levels_ids_become_strings_and_nulls_are_left_out() -> None:
    record = {
        "id": 6794433014623200993,
        "name": "Improve search",
        "score": 12,
        "done": False,
        "ratio": 0.5,
        "description": None,
        "release": {
            "id": 42,
            "name": "R1",
            "owner": {"id": 7, "team": {"id": 8, "lead": {"id": 9, "name": "Deep"}}},
        },
        "goals": [{"id": 1, "name": "G"}, {"id": 2, "parent": {"goal_id": 3}}],
        "tag_ids": [10, 11],
        "Weird Key": "x",
    }
    row, hints = RowShaper().shape(record)
    assert row == {
        "id": "6794433014623200993",
        "name": "Improve search",
        "score": 12,
        "done": False,
        "ratio": 0.5,
        "release__id": "42",
        "release__name": "R1",
        "release__owner__id": "7",
        "release__owner__team__id": "8",
        # the fourth level stays one JSON column, its ids strings too
        "release__owner__team__lead": {"id": "9", "name": "Deep"},
        "goals": [{"id": "1", "name": "G"}, {"id": "2", "parent": {"goal_id": "3"}}],
        "tag_ids": ["10", "11"],
        "weird_key": "x",
    }
    assert {h["name"]: h["data_type"] for h in hints} == {
        "release__owner__team__lead": "json",
        "goals": "json",
        "tag_ids": "json",
    }


def test_custom_fields_are_columns_typed_from_their_type_and_hinted_once() -> None:
    shaper = RowShaper()
    fields = [
        {"key": "revenue", "type": "number", "value": "100.5"},
        {"key": "priority", "type": "string", "value": "P2"},
        {"key": "component", "type": "array", "value": ["mobile"]},
        {"key": "empty", "type": "string", "value": ""},
        {"key": "label", "type": "number", "value": "not a number"},
        {"name": "no key"},
    ]
    row, hints = shaper.shape({"id": "1", "custom_fields": fields})
    assert row == {
        "id": "1",
        "custom_fields__revenue": 100.5,
        "custom_fields__priority": "P2",
        "custom_fields__component": ["mobile"],
        "custom_fields__label": "not a number",
    }
    assert {h["name"]: h["data_type"] for h in hints} == {
        "custom_fields__revenue": "double",
        "custom_fields__component": "json",
    }
    again, more = shaper.shape({"id": "2", "custom_fields": fields[:3]})
    assert again["custom_fields__revenue"] == 100.5 and more == []  # hints only once per table
