"""Pivot reports (custom pivots): ``GET bookmarks/custom_pivots/:id`` (``view=list|pivot``)
over the account's features, and the reports the sandbox is seeded with."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING, Any

from dagster_aha.testing.errors import SandboxError
from dagster_aha.testing.http import MAX_PER_PAGE, Response, int_param, json_response, route

if TYPE_CHECKING:
    from dagster_aha.testing.server import AhaSandbox
    from dagster_aha.testing.state.core import SandboxState

PIVOT_DEFAULT_PER_PAGE = 100


def seed_reports(state: SandboxState) -> None:
    """The two saved reports of a seeded account."""
    features_report = state.new_id()
    by_release = state.new_id()
    state.reports = {
        features_report: {
            "id": features_report,
            "name": "Features by product, release and status",
            "rows": ["product", "release"],
            "columns": ["status"],
            "values": ["reference_num", "name"],
        },
        by_release: {
            "id": by_release,
            "name": "Features by release",
            "rows": ["release"],
            "columns": ["product"],
            "values": ["reference_num", "name", "status"],
        },
    }


def build_pivot_report(
    state: SandboxState, report_id: str, view: str, page: int, per_page: int
) -> dict[str, Any]:
    """``GET bookmarks/custom_pivots/:id`` of a seeded report (``view``: list or pivot)."""
    report = state.reports.get(report_id)
    if report is None:
        raise SandboxError(404, "Record not found")
    with state.lock:
        products = state.records_by_id("products")
        releases = state.records_by_id("releases")
        features = state.snapshot("features")
    ctx = _PivotCtx(products, releases)
    features = [f for f in features if f["product_id"] in products]
    features.sort(
        key=lambda f: (
            list(products).index(f["product_id"]),
            _release_pos(releases, f),
            int(f["position"] or 0),
        )
    )
    if view == "list":
        fields = list(dict.fromkeys(report["rows"] + report["columns"] + report["values"]))
        total = len(features)
        pages = math.ceil(total / per_page)
        chunk = features[(page - 1) * per_page : page * per_page]
        return {
            "pagination": [{"total_records": total, "total_pages": pages, "current_page": page}],
            "columns": [ctx.coldef(f) for f in fields],
            "rows": [[ctx.cell(f, feat) for f in fields] for feat in chunk],
        }
    return ctx.pivot(report, features)


def _release_pos(releases: dict[str, dict[str, Any]], feat: dict[str, Any]) -> int:
    rid = feat["release"]["id"] if isinstance(feat.get("release"), dict) else None
    keys = list(releases)
    return keys.index(rid) if rid in releases else len(keys)


_FIELD_DEFS: dict[str, tuple[str, str, str]] = {
    "product": ("projects", "name", "Product name"),
    "release": ("releases", "name", "Release name"),
    "name": ("features", "name", "Feature name"),
    "reference_num": ("features", "reference_num", "Feature reference #"),
    "status": ("features", "status", "Feature status"),
}


class _PivotCtx:
    def __init__(self, products: dict[str, Any], releases: dict[str, Any]) -> None:
        self.products = products
        self.releases = releases

    @staticmethod
    def coldef(field: str) -> dict[str, str]:
        table, fld, title = _FIELD_DEFS[field]
        return {"table": table, "field": fld, "title": title}

    @staticmethod
    def _link(path: str, text: str) -> str:
        return f'<a data-drawer-url="{path}" href="{path}">{text}</a>'

    def key(self, field: str, feat: dict[str, Any]) -> str:
        if field == "product":
            return feat["product_id"]
        if field == "release":
            return feat["release"]["id"]
        if field == "status":
            return feat["workflow_status"]["id"]
        return feat["id"]

    def cell(self, field: str, feat: dict[str, Any]) -> dict[str, Any]:
        """One cell, as Aha!'s examples render it: ``html_value`` is the linked HTML,
        ``rich_value`` the HTML without the link (products, references), the plain text
        (names) or an object (statuses, with the status colour without ``#``)."""
        if field == "product":
            p = self.products[feat["product_id"]]
            name = escape(p["name"])
            rich = (
                '<span class="project-name"><span><i class="fa-regular fa-browser" '
                'style="display: table-cell; vertical-align: middle; padding-right: 5px; " '
                f'data-title="{name}"></i></span><span>{name}</span></span>'
            )
            link = self._link(f"/projects/{p['reference_prefix']}", rich)
            return {
                "id": int(p["id"]),
                "plain_value": p["name"],
                "html_value": link,
                "rich_value": rich,
            }
        if field == "release":
            rel = self.releases.get(feat["release"]["id"], feat["release"])
            link = self._link(f"/releases/{rel['reference_num']}", escape(rel["name"]))
            return {
                "id": int(rel["id"]),
                "plain_value": rel["name"],
                "html_value": link,
                "rich_value": rel["name"],
            }
        if field == "status":
            st = feat["workflow_status"]
            name = escape(st["name"])
            html = (
                f'<span class="status-pill" title="{name}" style="color: var(--aha-color-text); '
                f'border: none; background-color: {str(st["color"]).upper()}">{name}</span>'
            )
            return {
                "id": int(feat["id"]),
                "plain_value": st["name"],
                "html_value": html,
                "rich_value": {
                    "id": int(st["id"]),
                    "name": st["name"],
                    "color": str(st["color"]).lstrip("#"),
                },
            }
        value = str(feat[field])
        if field == "reference_num":
            rich = (
                '<aha-record-reference record-type="Feature" size="small" '
                f'icon-override="fa-solid fa-grid-2">{escape(value)}</aha-record-reference>'
            )
            link = self._link(f"/features/{feat['reference_num']}", rich)
            return {
                "id": int(feat["id"]),
                "plain_value": value,
                "html_value": link,
                "rich_value": rich,
            }
        link = self._link(f"/features/{feat['reference_num']}", escape(value))
        return {
            "id": int(feat["id"]),
            "plain_value": value,
            "html_value": link,
            "rich_value": value,
        }

    def pivot(self, report: dict[str, Any], features: list[dict[str, Any]]) -> dict[str, Any]:
        refs = iter(range(1, 1_000_000))
        fd_refs: dict[str, int] = {}
        pending: list[tuple[dict[str, Any], str]] = []

        def tree(
            dims: list[str], feats: list[dict[str, Any]]
        ) -> tuple[list[int], dict[str, Any], list[tuple[int, tuple]]]:
            nodes: dict[tuple, dict[str, Any]] = {}
            top: list[int] = []
            for feat in feats:
                path: tuple = ()
                parent: dict[str, Any] | None = None
                for dim in dims:
                    path = (*path, self.key(dim, feat))
                    node = nodes.get(path)
                    if node is None:
                        node = {
                            "ref": next(refs),
                            "parent_ref": parent["ref"] if parent else None,
                            "child_refs": [],
                            **self.cell(dim, feat),
                            "field_definition_ref": 0,
                        }
                        if dim == "status":
                            node["id"] = node["rich_value"]["id"]
                        pending.append((node, dim))
                        nodes[path] = node
                        if parent is None:
                            top.append(node["ref"])
                        else:
                            parent["child_refs"].append(node["ref"])
                    parent = node
            leaves = [(n["ref"], p) for p, n in nodes.items() if len(p) == len(dims)]
            return top, {str(n["ref"]): n for n in nodes.values()}, leaves

        def order(dims: list[str]) -> list[dict[str, Any]]:
            if "status" not in dims:
                return features
            return sorted(features, key=lambda f: int(f["workflow_status"]["position"] or 0))

        top_cols, cols, col_leaves = tree(report["columns"], order(report["columns"]))
        top_rows, rows, row_leaves = tree(report["rows"], order(report["rows"]))
        for field in [*report["columns"], *report["rows"], *report["values"]]:
            if field not in fd_refs:
                fd_refs[field] = next(refs)
        for node, dim in pending:
            node["field_definition_ref"] = fd_refs[dim]
        # leaf rows in depth-first order
        ordered_rows: list[tuple[int, tuple]] = []
        by_ref = dict(row_leaves)

        def walk(ref: int) -> None:
            node = rows[str(ref)]
            if not node["child_refs"] and ref in by_ref:
                ordered_rows.append((ref, by_ref[ref]))
            for child in node["child_refs"]:
                walk(child)

        for ref in top_rows:
            walk(ref)
        groups: dict[tuple[tuple, tuple], list[dict[str, Any]]] = {}
        for feat in features:
            rk = tuple(self.key(d, feat) for d in report["rows"])
            ck = tuple(self.key(d, feat) for d in report["columns"])
            groups.setdefault((rk, ck), []).append(feat)
        cells = [
            [
                [
                    [
                        {
                            **self.cell(v, feat),
                            "row_ref": rref,
                            "column_ref": cref,
                            "field_definition_ref": fd_refs[v],
                        }
                        for v in report["values"]
                    ]
                    for feat in groups.get((rpath, cpath), [])
                ]
                for cref, cpath in col_leaves
            ]
            for rref, rpath in ordered_rows
        ]
        return {
            "top_level_columns": top_cols,
            "columns": cols,
            "top_level_rows": top_rows,
            "rows": rows,
            "cells": cells,
            "field_definitions": {
                str(ref): {"ref": ref, **self.coldef(field)} for field, ref in fd_refs.items()
            },
        }


@route("GET", "bookmarks/custom_pivots/:id")
def _pivot(sb: AhaSandbox, m: dict[str, str], params: dict[str, str], body: Any) -> Response:
    view = params.get("view", "list") or "list"
    if view not in ("list", "pivot"):
        raise SandboxError(400, "view must be 'list' or 'pivot'")
    per_page = max(1, min(int_param(params, "per_page", PIVOT_DEFAULT_PER_PAGE), MAX_PER_PAGE))
    page = max(1, int_param(params, "page", 1))
    return json_response(200, sb.state.pivot_report(m["id"], view, page, per_page))
