from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from dagster_aha import AhaResponseError, PivotListReport, PivotViewReport

#: The two example responses of Aha!'s Custom Pivot API documentation (tests/data/README.md).
SEED = Path(__file__).resolve().parents[1] / "data" / "aha-custom-pivot-examples.json"


@pytest.fixture(scope="module")
def seed() -> tuple[dict[str, Any], dict[str, Any]]:
    examples = json.loads(SEED.read_text(encoding="utf-8"))
    return examples["list_view"], examples["pivot_view"]


def test_seed_list_view(seed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    body = seed[0]
    assert "pagingation" in body
    report = PivotListReport.model_validate(body)
    rows = report.to_rows()
    assert len(rows) == 3
    assert rows[0] == {
        "Product name": "Project 1",
        "Release name": "Release 1",
        "Feature name": "Another Third Feature",
        "Feature reference #": "PRJ1-3",
        "Feature status": "Designed",
    }
    assert [r["Feature reference #"] for r in rows] == ["PRJ1-3", "PRJ1-2", "PRJ1-1"]
    ids = report.to_rows(value="id")
    assert ids[2]["Feature name"] == "1007868956" and isinstance(ids[2]["Feature name"], str)
    rich = report.to_rows(value="rich")
    assert rich[2]["Feature status"] == {"id": 934242751, "name": "New", "color": "727272"}
    html = report.to_rows(value="html")
    assert html[0]["Product name"].startswith("<a data-drawer-url")


def test_seed_pivot_view(seed: tuple[dict[str, Any], dict[str, Any]]) -> None:
    report = PivotViewReport.model_validate(seed[1])
    rows = report.to_rows()
    assert rows == [
        {
            "Release name": "Release 1",
            "Product name": "Project 1",
            "Feature reference #": ref,
            "Feature name": name,
            "Feature status": status,
        }
        for ref, name, status in [
            ("PRJ1-1", "Feature 1", "New"),
            ("PRJ1-2", "Another Feature", "Designed"),
            ("PRJ1-3", "Another Third Feature", "Designed"),
        ]
    ]
    rich = report.to_rows(value="rich")
    assert rich[0]["Feature status"]["name"] == "New"
    assert report.to_rows(value="id")[0]["Release name"] == "278327321"


def test_list_view_multi_valued_cells_and_duplicate_titles() -> None:
    body = {
        "pagination": {"total_records": 1, "total_pages": 1, "current_page": 1},
        "columns": [
            {"table": "features", "field": "name", "title": "Name"},
            {"table": "releases", "field": "name", "title": "Name"},
            {"table": "features", "field": "tags", "title": "Tags"},
            {"table": "features", "field": "x"},
        ],
        "rows": [
            [
                {"id": 1, "plain_value": "F", "html_value": "<b>F</b>", "rich_value": "F"},
                {"id": 2, "plain_value": "R", "html_value": "R", "rich_value": "R"},
                [
                    {
                        "id": 10,
                        "plain_value": "API",
                        "html_value": "<i>API</i>",
                        "rich_value": {"id": "6013053275679792248", "name": "API"},
                    },
                    {
                        "id": 11,
                        "plain_value": "UX",
                        "html_value": "<i>UX</i>",
                        "rich_value": {"id": "7", "name": "UX"},
                    },
                ],
                None,
            ]
        ],
    }
    r = PivotListReport.model_validate(body)
    assert r.column_names() == ["Name", "Name (2)", "Tags", "features.x"]
    (row,) = r.to_rows()
    assert row == {"Name": "F", "Name (2)": "R", "Tags": "API, UX", "features.x": None}
    (rich,) = r.to_rows(value="rich")
    assert rich["Tags"] == [{"id": "6013053275679792248", "name": "API"}, {"id": "7", "name": "UX"}]
    assert r.to_rows(value="html")[0]["Tags"] == "<i>API</i>, <i>UX</i>"
    assert r.to_rows(value="id")[0]["Tags"] == ["10", "11"]
    with pytest.raises(ValueError, match="value must be one of"):
        r.to_rows(value="bogus")  # type: ignore[arg-type]


def test_list_view_row_width_mismatch() -> None:
    r = PivotListReport.model_validate({"columns": [{"title": "A"}], "rows": [[{}, {}]]})
    with pytest.raises(AhaResponseError, match="row 0"):
        r.to_rows()


def _hdr(ref: int, parent: int | None, fd: int, value: str, children: list[int] = ()) -> dict:
    return {
        "ref": ref,
        "parent_ref": parent,
        "child_refs": list(children),
        "id": ref * 100,
        "plain_value": value,
        "html_value": f"<b>{value}</b>",
        "rich_value": value,
        "field_definition_ref": fd,
    }


def _nested_pivot() -> dict[str, Any]:
    """Rows: product > release (2 levels); columns: status > assignee (2 levels)."""
    fds = {
        "1": {"ref": 1, "table": "projects", "field": "name", "title": "Product"},
        "2": {"ref": 2, "table": "releases", "field": "name", "title": "Release"},
        "3": {"ref": 3, "table": "features", "field": "status", "title": "Status"},
        "4": {"ref": 4, "table": "users", "field": "name", "title": "Assignee"},
        "5": {"ref": 5, "table": "features", "field": "name", "title": "Feature"},
        "6": {"ref": 6, "table": "features", "field": "score", "title": "Score"},
    }
    rows = {
        "10": _hdr(10, None, 1, "P1", [11, 12]),
        "11": _hdr(11, 10, 2, "R1"),
        "12": _hdr(12, 10, 2, "R2"),
    }
    cols = {"20": _hdr(20, None, 3, "New", [21]), "21": _hdr(21, 20, 4, "Ann")}

    def cell(r: int, c: int, fd: int, v: str) -> dict:
        return {
            "id": 1,
            "plain_value": v,
            "html_value": v,
            "rich_value": v,
            "row_ref": r,
            "column_ref": c,
            "field_definition_ref": fd,
        }

    cells = [
        [  # row 11
            [
                [cell(11, 21, 5, "F1"), cell(11, 21, 6, "3")],
                [cell(11, 21, 5, "F2"), cell(11, 21, 6, "5")],
            ],
        ],
        [[[cell(12, 21, 5, "F3"), [cell(12, 21, 6, "1"), cell(12, 21, 6, "2")]]]],
    ]
    return {
        "top_level_rows": [10],
        "rows": rows,
        "top_level_columns": [20],
        "columns": cols,
        "cells": cells,
        "field_definitions": fds,
    }


def test_nested_multi_level_headers() -> None:
    rows = PivotViewReport.model_validate(_nested_pivot()).to_rows()
    assert rows == [
        {
            "Product": "P1",
            "Release": "R1",
            "Status": "New",
            "Assignee": "Ann",
            "Feature": "F1",
            "Score": "3",
        },
        {
            "Product": "P1",
            "Release": "R1",
            "Status": "New",
            "Assignee": "Ann",
            "Feature": "F2",
            "Score": "5",
        },
        {
            "Product": "P1",
            "Release": "R2",
            "Status": "New",
            "Assignee": "Ann",
            "Feature": "F3",
            "Score": "1, 2",
        },
    ]


def test_pivot_duplicate_titles_get_suffix() -> None:
    body = _nested_pivot()
    body["field_definitions"]["2"]["title"] = "Product"
    row = PivotViewReport.model_validate(body).to_rows()[0]
    assert row["Product"] == "P1" and row["Product (2)"] == "R1"


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda b: b["rows"].pop("11"), "row_ref '11'"),
        (lambda b: b["columns"].pop("20"), "column_ref '20'"),
        (lambda b: b["field_definitions"].pop("6"), "field_definition_ref 6"),
        (lambda b: b["field_definitions"].pop("1"), "field_definition_ref 1"),
    ],
)
def test_missing_refs_raise_clear_error(mutate: Any, match: str) -> None:
    body = _nested_pivot()
    mutate(body)
    with pytest.raises(AhaResponseError, match=match):
        PivotViewReport.model_validate(body).to_rows()


def test_pivot_100k_cells_flatten_into_every_row() -> None:
    # Speed is measured by `python -m benchmarks.pivot`, never timed here.
    n_rows, n_cols, n_fields = 500, 50, 4  # 25,000 groups x 4 fields = 100,000 cells
    fds = {str(i): {"ref": i, "title": f"F{i}"} for i in range(1, n_fields + 3)}
    rows = {str(1000 + r): _hdr(1000 + r, None, n_fields + 1, f"r{r}") for r in range(n_rows)}
    cols = {str(5000 + c): _hdr(5000 + c, None, n_fields + 2, f"c{c}") for c in range(n_cols)}
    cells = [
        [
            [
                [
                    {
                        "id": r * n_cols + c,
                        "plain_value": f"v{f}",
                        "html_value": "",
                        "rich_value": None,
                        "row_ref": 1000 + r,
                        "column_ref": 5000 + c,
                        "field_definition_ref": f,
                    }
                    for f in range(1, n_fields + 1)
                ]
            ]
            for c in range(n_cols)
        ]
        for r in range(n_rows)
    ]
    body = {
        "top_level_rows": list(rows),
        "rows": rows,
        "top_level_columns": list(cols),
        "columns": cols,
        "cells": cells,
        "field_definitions": fds,
    }
    parsed = json.loads(json.dumps(body))
    report = PivotViewReport.model_validate(parsed)
    out = report.to_rows()
    assert len(out) == n_rows * n_cols
    assert out[-1] == {"F5": "r499", "F6": "c49", "F1": "v1", "F2": "v2", "F3": "v3", "F4": "v4"}


def test_get_pivot_report_list_paginates(make_client: Any, httpserver: HTTPServer) -> None:
    cols = [{"table": "features", "field": "name", "title": "Feature"}]

    def page(p: int, names: list[str]) -> dict[str, Any]:
        return {
            "pagingation": [{"total_records": 5, "total_pages": 3, "current_page": p}],
            "columns": cols,
            "rows": [
                [{"id": i, "plain_value": n, "html_value": n, "rich_value": n}]
                for i, n in enumerate(names)
            ],
        }

    base = "/api/v1/bookmarks/custom_pivots/6434552458299516367"
    for p, names in [(1, ["a", "b"]), (2, ["c", "d"]), (3, ["e"])]:
        httpserver.expect_request(
            base, query_string={"view": "list", "page": str(p), "per_page": "2"}
        ).respond_with_json(page(p, names))
    client = make_client()
    report = client.get_pivot_report("6434552458299516367", per_page=2)
    assert isinstance(report, PivotListReport)
    assert [r["Feature"] for r in report.to_rows()] == ["a", "b", "c", "d", "e"]
    assert client.stats.pages == 3


def test_get_pivot_report_pivot_view(
    make_client: Any, httpserver: HTTPServer, seed: tuple[dict[str, Any], dict[str, Any]]
) -> None:
    httpserver.expect_request(
        "/api/v1/bookmarks/custom_pivots/801750833", query_string={"view": "pivot"}
    ).respond_with_json(seed[1])
    report = make_client().get_pivot_report(801750833, view="pivot")
    assert isinstance(report, PivotViewReport)
    assert len(report.to_rows()) == 3


def test_get_pivot_report_wrong_shape(make_client: Any, httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/v1/bookmarks/custom_pivots/1").respond_with_json({"x": 1})
    client = make_client()
    with pytest.raises(AhaResponseError, match="pivot view"):
        client.get_pivot_report(1, view="pivot")
    with pytest.raises(AhaResponseError, match="rows"):
        client.get_pivot_report(1)
    with pytest.raises(ValueError, match="view"):
        client.get_pivot_report(1, view="table")  # type: ignore[arg-type]
