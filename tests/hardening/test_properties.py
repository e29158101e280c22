"""Property tests (hypothesis): pagination parsing and pivot-view flattening."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict

from dagster_aha.client import AhaClient, AhaResponseError, PivotViewReport, parse_pagination

from .conftest import FIGURES

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,  # the same examples on every run (CI figures stay comparable)
    suppress_health_check=[HealthCheck.too_slow],
)

# ---- parse_pagination ---------------------------------------------------------------------

count_values = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000).map(str),
    st.booleans(),
    st.just("n/a"),
)


def _as_int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except ValueError:
        return None


@SETTINGS
@given(
    key=st.sampled_from(["pagination", "pagingation", None]),
    shape=st.sampled_from(["object", "list", "empty_list", "null", "string"]),
    total_records=count_values,
    total_pages=count_values,
    current_page=count_values,
)
def test_parse_pagination_every_shape(
    key: str | None, shape: str, total_records: Any, total_pages: Any, current_page: Any
) -> None:
    inner = {
        "total_records": total_records,
        "total_pages": total_pages,
        "current_page": current_page,
    }
    body: dict[str, Any] = {"features": []}
    if key is not None:
        body[key] = {
            "object": inner,
            "list": [inner],
            "empty_list": [],
            "null": None,
            "string": "page 1",
        }[shape]
    got = parse_pagination(body)
    if key is None or shape not in ("object", "list"):
        assert got is None
        return
    assert got is not None
    assert got.total_records == _as_int(total_records)
    assert got.total_pages == _as_int(total_pages)
    assert got.current_page == _as_int(current_page)


# ---- iter_records over generated page layouts (no server: a fake requests session) ----------


class FakeSession(requests.Session):
    """Answers list pages from ``pages(page, per_page)``; records every request."""

    def __init__(self, pages: Callable[[int, int], dict[str, Any]]) -> None:
        super().__init__()
        self.pages = pages
        self.seen: list[tuple[int, int]] = []
        self._lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, **kw: Any) -> requests.Response:  # type: ignore[override]
        params = kw.get("params")
        if params is None:
            params = {k: v[0] for k, v in parse_qs(urlsplit(str(url)).query).items()}
        page, per_page = int(params["page"]), int(params["per_page"])
        with self._lock:
            self.seen.append((page, per_page))
        resp = requests.Response()
        resp.status_code = 200
        resp._content = json.dumps(self.pages(page, per_page)).encode()
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        resp.url = str(url)
        return resp


def _fake_client(session: FakeSession) -> AhaClient:
    return AhaClient(
        base_url="https://acme.aha.io",
        api_key="k",
        session=session,
        requests_per_second=1e9,
        requests_per_minute=1e12,
        max_concurrency=3,
    )


@SETTINGS
@given(
    n=st.integers(min_value=0, max_value=45),
    per_page=st.integers(min_value=1, max_value=12),
    style=st.sampled_from(["object", "list", "pagingation"]),
    extra_empty_pages=st.integers(min_value=0, max_value=2),
)
def test_iter_records_reads_every_record_once(
    n: int, per_page: int, style: str, extra_empty_pages: int
) -> None:
    records = [{"id": str(1000 + i), "name": f"r{i}"} for i in range(n)]
    # a server may over-count pages: the trailing pages are then empty
    total_pages = -(-n // per_page) + extra_empty_pages

    def pages(page: int, size: int) -> dict[str, Any]:
        pag = {"total_records": n, "total_pages": total_pages, "current_page": page}
        chunk = records[(page - 1) * size : page * size]
        key = "pagingation" if style == "pagingation" else "pagination"
        return {"features": chunk, key: [pag] if style == "list" else pag}

    session = FakeSession(pages)
    with _fake_client(session) as client:
        got = list(client.iter_records("features", per_page=per_page, record_key="features"))
    assert got == records
    FIGURES.add("records_checked", n)
    assert sorted(p for p, _ in session.seen) == sorted(set(p for p, _ in session.seen))


@SETTINGS
@given(n=st.integers(min_value=0, max_value=30), per_page=st.integers(min_value=1, max_value=10))
def test_missing_pagination_means_a_single_page(n: int, per_page: int) -> None:
    records = [{"id": str(i)} for i in range(n)]

    def pages(page: int, size: int) -> dict[str, Any]:
        return {"features": records[(page - 1) * size : page * size]}

    session = FakeSession(pages)
    with _fake_client(session) as client:
        got = list(client.iter_records("features", per_page=per_page))
    assert got == records[:per_page]
    assert [p for p, _ in session.seen] == [1]


# ---- pivot view flattening ----------------------------------------------------------------


def _headers(
    prefix: str, depth: int, branching: list[int], fd_refs: list[str]
) -> tuple[dict[str, Any], list[str], list[list[tuple[str, str]]]]:
    """A header tree: (headers by ref, top-level refs, leaf paths of (title ref, value))."""
    headers: dict[str, Any] = {}
    top: list[str] = []
    leaves: list[list[tuple[str, str]]] = []

    def grow(parent: str | None, level: int, path: list[tuple[str, str]]) -> None:
        for i in range(branching[level]):
            ref = f"{prefix}{len(headers)}"
            value = f"{prefix}-L{level}-{i}-{len(headers)}"
            headers[ref] = {
                "ref": ref,
                "parent_ref": parent,
                "child_refs": [],
                "plain_value": value,
                "field_definition_ref": fd_refs[level],
            }
            if parent is None:
                top.append(ref)
            else:
                headers[parent]["child_refs"].append(ref)
            here = [*path, (fd_refs[level], value)]
            if level + 1 < depth:
                grow(ref, level + 1, here)
            else:
                leaves.append([(ref, ""), *here])

    if depth:
        grow(None, 0, [])
    return headers, top, leaves


@st.composite
def pivot_reports(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row_depth = draw(st.integers(min_value=1, max_value=4))
    col_depth = draw(st.integers(min_value=0, max_value=3))
    n_values = draw(st.integers(min_value=1, max_value=3))
    row_branch = draw(st.lists(st.integers(1, 3), min_size=row_depth, max_size=row_depth))
    col_branch = draw(st.lists(st.integers(1, 2), min_size=col_depth, max_size=col_depth))
    numeric_refs = draw(st.booleans())

    fds: dict[str, Any] = {}

    def fd(title: str) -> str:
        ref = str(len(fds) + 1)
        fds[ref] = {"ref": int(ref) if numeric_refs else ref, "title": title}
        return ref

    row_fds = [fd(f"Row level {i}") for i in range(row_depth)]
    col_fds = [fd(f"Column level {i}") for i in range(col_depth)]
    value_fds = [fd(f"Value {i}") for i in range(n_values)]
    rows, top_rows, row_leaves = _headers("r", row_depth, row_branch, row_fds)
    cols, top_cols, col_leaves = _headers("c", col_depth, col_branch, col_fds)
    titles = {ref: d["title"] for ref, d in fds.items()}

    cells: list[Any] = []
    expected: list[dict[str, Any]] = []
    for rleaf in row_leaves:
        per_row: list[Any] = []
        for cleaf in col_leaves or [[(None, "")]]:
            cref = cleaf[0][0]
            group = []
            row: dict[str, Any] = {titles[str(t)]: v for t, v in rleaf[1:]}
            row.update({titles[str(t)]: v for t, v in cleaf[1:]})
            for k, vref in enumerate(value_fds):
                value = f"v{len(expected)}-{k}"
                group.append(
                    {
                        "row_ref": rleaf[0][0],
                        "column_ref": cref,
                        "field_definition_ref": int(vref) if numeric_refs else vref,
                        "plain_value": value,
                    }
                )
                row[titles[vref]] = value
            per_row.append(group)
            expected.append(row)
        cells.append(per_row)
    report = {
        "top_level_rows": top_rows,
        "top_level_columns": top_cols,
        "rows": rows,
        "columns": cols,
        "cells": cells,
        "field_definitions": fds,
    }
    return report, expected


@SETTINGS
@given(pivot_reports())
def test_pivot_flattening_any_nesting_depth(
    case: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    report, expected = case
    got = PivotViewReport.model_validate(report).to_rows()
    assert got == expected
    FIGURES.add("records_checked", len(got))


@SETTINGS
@given(pivot_reports(), st.sampled_from(["row", "column", "parent", "field"]), st.data())
def test_pivot_missing_refs_give_a_clear_error(
    case: tuple[dict[str, Any], list[dict[str, Any]]], what: str, data: st.DataObject
) -> None:
    report, _ = case
    groups = [g for per_row in report["cells"] for g in per_row]
    group = data.draw(st.sampled_from(groups))
    if what == "row":
        group[0]["row_ref"] = "r-missing"
        needle = "r-missing"
    elif what == "column":
        group[0]["column_ref"] = "c-missing"
        needle = "c-missing"
    elif what == "parent":
        deep = [h for h in report["rows"].values() if h["parent_ref"] is not None]
        if not deep:
            deep = list(report["rows"].values())
            deep[0]["field_definition_ref"] = "fd-missing"
            needle = "fd-missing"
        else:
            data.draw(st.sampled_from(deep))["parent_ref"] = "p-missing"
            needle = "p-missing"  # every header has a leaf below it: the path is walked
    else:
        group[-1]["field_definition_ref"] = "fd-missing"
        needle = "fd-missing"
    with pytest.raises(AhaResponseError) as info:
        PivotViewReport.model_validate(report).to_rows()
    assert needle in str(info.value)
