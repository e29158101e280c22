"""Pivot reports of unexpected shapes raise ``AhaResponseError`` naming what was expected, and
flattening stays linear when one cell group holds thousands of same-titled fields."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import AhaResponseError, PivotListReport, PivotViewReport


def _cell(fd: int, v: str) -> dict[str, Any]:
    return {"id": 1, "plain_value": v, "row_ref": 10, "column_ref": 20, "field_definition_ref": fd}


def _view() -> dict[str, Any]:
    return {
        "top_level_rows": [10],
        "top_level_columns": [20],
        "rows": {"10": {"ref": 10, "field_definition_ref": 1, "plain_value": "P1"}},
        "columns": {"20": {"ref": 20, "field_definition_ref": 2, "plain_value": "New"}},
        "field_definitions": {
            "1": {"ref": 1, "title": "Product"},
            "2": {"ref": 2, "title": "Status"},
            "3": {"ref": 3, "title": "Feature"},
        },
        "cells": [[[_cell(3, "F1")]]],
    }


def _list() -> dict[str, Any]:
    return {"columns": [{"table": "features", "field": "name", "title": "Feature"}], "rows": [[]]}


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(body: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = body
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


VIEW_SHAPES = [
    ("cells is an object", _set("cells", {"a": 1}), "cells"),
    ("rows is a list", _set("rows", [1, 2]), "row headers"),
    ("a header is a string", _set("rows.10", "P1"), "rows"),
    ("field_definitions is a list", _set("field_definitions", []), "field definitions"),
    ("a group entry is a string", _set("cells.0.0", [_cell(3, "F1"), "oops"]), "cell object"),
    (
        "a multi-valued cell holds a number",
        _set("cells.0.0", [_cell(3, "F"), [_cell(3, "G"), 3]]),
        "cell object",
    ),
    ("top_level_rows is a string", _set("top_level_rows", "10"), "row refs"),
    ("child_refs is a number", _set("rows.10.child_refs", 5), "refs"),
    ("a title is an object", _set("field_definitions.3.title", {"x": 1}), "field_definitions"),
]
LIST_SHAPES = [
    ("columns are strings", _set("columns", ["Feature"]), "column objects"),
    ("a row is an object", _set("rows", [{"a": 1}]), "rows"),
    ("a row is null", _set("rows", [None]), "rows"),
    ("rows is an object", _set("rows", {"a": 1}), "rows"),
]


@pytest.mark.parametrize(
    ("what", "mutate", "expected"), VIEW_SHAPES, ids=[s[0] for s in VIEW_SHAPES]
)
def test_odd_pivot_view_shapes_raise_aha_response_error(
    what: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    body = _view()
    mutate(body)
    with pytest.raises(AhaResponseError, match="expected") as info:
        PivotViewReport.model_validate(body).to_rows()
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("what", "mutate", "expected"), LIST_SHAPES, ids=[s[0] for s in LIST_SHAPES]
)
def test_odd_pivot_list_shapes_raise_aha_response_error(
    what: str, mutate: Callable[[dict[str, Any]], None], expected: str
) -> None:
    body = _list()
    mutate(body)
    with pytest.raises(AhaResponseError, match="expected") as info:
        PivotListReport.model_validate(body).to_rows()
    assert expected in str(info.value)


def test_a_body_that_is_not_an_object_raises_aha_response_error() -> None:
    for bad in ([], "x", 3, None):
        with pytest.raises(AhaResponseError, match="expected a JSON object"):
            PivotViewReport.model_validate(bad)


def test_the_client_names_the_url_of_an_odd_pivot_view(
    make_client: Any, httpserver: HTTPServer
) -> None:
    body = _view()
    body["rows"] = [1]
    httpserver.expect_request("/api/v1/bookmarks/custom_pivots/7").respond_with_json(body)
    with pytest.raises(AhaResponseError, match=r"custom_pivots/7.*expected") as info:
        make_client().get_pivot_report("7", view="pivot")
    assert info.value.status == 200


def test_8000_same_titled_fields_flatten_in_linear_time() -> None:
    n = 16_000  # quadratic flattening took ~10 s for 8,000; linear takes milliseconds
    body = _view()
    body["cells"] = [[[_cell(3, str(i)) for i in range(n)]]]
    report = PivotViewReport.model_validate(copy.deepcopy(body))
    start = time.perf_counter()
    row = report.to_rows()[0]
    elapsed = time.perf_counter() - start
    assert len(row) == n + 2
    assert row["Feature"] == "0" and row[f"Feature ({n})"] == str(n - 1)
    assert elapsed < 5.0, f"{elapsed:.1f} s"
