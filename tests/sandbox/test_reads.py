from __future__ import annotations

import re

import pytest
import requests

from dagster_aha.testing import AhaSandbox

from ._api import Api

LISTS = [
    ("products", "products"),
    ("products/PRJ1/releases", "releases"),
    ("features", "features"),
    ("products/PRJ1/features", "features"),
    ("releases/PRJ1-R-1/features", "features"),
    ("epics/PRJ1-E-1/features", "features"),
    ("epics", "epics"),
    ("products/PRJ2/epics", "epics"),
    ("releases/PRJ1-R-2/epics", "epics"),
    ("ideas", "ideas"),
    ("products/PRJ1/ideas", "ideas"),
    ("goals", "goals"),
    ("products/PRJ1/goals", "goals"),
    ("initiatives", "initiatives"),
    ("products/PRJ1/initiatives", "initiatives"),
    ("users", "users"),
    ("teams", "teams"),
    ("products/PRJ1/custom_objects/customers/records", "custom_object_records"),
]
DETAILS = [
    ("products", "PRJ1", "product"),
    ("releases", "PRJ1-R-1", "release"),
    ("features", "PRJ1-1", "feature"),
    ("epics", "PRJ1-E-1", "epic"),
    ("ideas", "PRJ1-I-1", "idea"),
    ("goals", "PRJ1-G-1", "goal"),
    ("initiatives", "PRJ1-S-1", "initiative"),
]
ID19 = re.compile(r"^[1-9]\d{18}$")
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_me(ro: Api) -> None:
    r = ro.get("me")
    assert r.status_code == 200
    user = r.json()["user"]
    assert ID19.match(user["id"]) and "@" in user["email"]
    assert {p["product_name"] for p in user["product_roles"]} == {"Project 1", "Project 2"}
    assert TS.match(user["created_at"])


@pytest.mark.parametrize(("path", "key"), LISTS)
def test_list_endpoints(ro: Api, path: str, key: str) -> None:
    r = ro.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert set(body) == {key, "pagination"}
    assert set(body["pagination"]) == {"total_records", "total_pages", "current_page"}
    assert body[key], f"{path} returned no records"
    assert all(ID19.match(rec["id"]) for rec in body[key])


def test_list_scopes_by_parent(ro: Api) -> None:
    prj1 = ro.get("products/PRJ1").json()["product"]["id"]
    feats = ro.get("products/PRJ1/features", fields="product_id", per_page=200).json()
    assert feats["pagination"]["total_records"] == 36
    assert {f["product_id"] for f in feats["features"]} == {prj1}
    rel = ro.get("releases/PRJ1-R-2/features", fields="release", per_page=200).json()["features"]
    assert len(rel) == 12 and {f["release"]["reference_num"] for f in rel} == {"PRJ1-R-2"}
    assert ro.get("features").json()["pagination"]["total_records"] == 72
    epics = ro.get("releases/PRJ1-R-2/epics", fields="release").json()["epics"]
    assert {e["release"]["reference_num"] for e in epics} == {"PRJ1-R-2"}


@pytest.mark.parametrize(("kind", "ref", "key"), DETAILS)
def test_detail_by_reference_and_id(ro: Api, kind: str, ref: str, key: str) -> None:
    by_ref = ro.get(f"{kind}/{ref}")
    assert by_ref.status_code == 200, by_ref.text
    rec = by_ref.json()[key]
    by_id = ro.get(f"{kind}/{rec['id']}").json()[key]
    assert by_id == rec
    ref_key = "reference_prefix" if kind == "products" else "reference_num"
    assert rec[ref_key] == ref
    assert TS.match(rec["updated_at"]) and TS.match(rec["created_at"])


def test_detail_other_kinds(ro: Api) -> None:
    user = ro.get("users").json()["users"][0]
    assert ro.get(f"users/{user['id']}").json()["user"]["email"] == user["email"]
    team = ro.get("teams").json()["teams"][0]
    assert ro.get(f"teams/{team['id']}").json()["team"]["name"] == team["name"]
    rec = ro.get("products/PRJ1/custom_objects/customers/records").json()
    rec0 = rec["custom_object_records"][0]
    got = ro.get(f"custom_object_records/{rec0['id']}").json()["custom_object_record"]
    assert got["key"] == "customers" and got["custom_fields"][0]["key"] == "name"


def test_record_shapes(ro: Api) -> None:
    f = ro.get("features/PRJ1-2").json()["feature"]
    assert re.match(r"^PRJ1-\d+$", f["reference_num"])
    assert f["release"]["reference_num"] == "PRJ1-R-1" == f["release_reference_num"]
    assert set(f["workflow_status"]) >= {"id", "name", "complete", "color"}
    assert f["url"] == "https://sandbox.aha.io/features/PRJ1-2"
    assert f["resource"] == "https://sandbox.aha.io/api/v1/features/PRJ1-2"
    slot = [cf for cf in f["custom_fields"] if cf["key"] == "external_id"]
    assert slot and slot[0]["value"] is None
    assert isinstance(f["integration_fields"], list)
    assert ro.get("epics/PRJ1-E-3").json()["epic"]["reference_num"] == "PRJ1-E-3"
    assert (
        ro.get("goals/PRJ2-G-1").json()["goal"]["url"].endswith("/strategic_imperatives/PRJ2-G-1")
    )
    assert ro.get("initiatives/PRJ2-S-2").json()["initiative"]["reference_num"] == "PRJ2-S-2"


def test_auth_errors(ro: Api) -> None:
    missing = requests.get(ro.url("me"), timeout=5)
    assert missing.status_code == 401 and "error" in missing.json()
    wrong = requests.get(ro.url("me"), headers={"Authorization": "Bearer nope"}, timeout=5)
    assert wrong.status_code == 403 and "error" in wrong.json()
    assert "sandbox-key" not in missing.text + wrong.text


def test_not_found(ro: Api) -> None:
    for path in ["features/PRJ1-9999", "products/NOPE", "nothing/here", "releases/123/features"]:
        r = ro.get(path)
        assert r.status_code == 404, path
        assert "error" in r.json()
    assert ro.get("products/PRJ1/custom_objects/nope/records").status_code == 404
    assert ro.session.get(f"{ro.sb.url}/other", timeout=5).status_code == 404


def test_compact_fields_and_star(ro: Api) -> None:
    compact = ro.get("features").json()["features"][0]
    assert set(compact) == {
        "id",
        "reference_num",
        "name",
        "created_at",
        "url",
        "resource",
        "product_id",
    }
    picked = ro.get("features", fields="id,updated_at,custom_fields").json()["features"][0]
    assert set(picked) == {"id", "updated_at", "custom_fields"}
    full = ro.get("features", fields="*").json()["features"][0]
    assert full == ro.get(f"features/{compact['id']}").json()["feature"]
    detail = ro.get("features/PRJ1-1", fields="name,reference_num").json()["feature"]
    assert detail == {"name": full["name"], "reference_num": "PRJ1-1"}
    assert set(ro.get("products").json()["products"][0]) == {
        "id",
        "reference_prefix",
        "name",
        "product_line",
        "created_at",
        "url",
        "workspace_type",
    }
    assert set(ro.get("ideas").json()["ideas"][0]) == {"id", "name", "product_id", "votes"}


def test_pagination(ro: Api) -> None:
    first = ro.get("features").json()
    assert len(first["features"]) == 30
    assert first["pagination"] == {"total_records": 72, "total_pages": 3, "current_page": 1}
    third = ro.get("features", page=3).json()
    assert len(third["features"]) == 12 and third["pagination"]["current_page"] == 3
    assert ro.get("features", page=4).json()["features"] == []
    ids = [f["id"] for p in (1, 2, 3) for f in ro.get("features", page=p).json()["features"]]
    assert len(set(ids)) == 72
    five = ro.get("features", per_page=5).json()
    assert len(five["features"]) == 5 and five["pagination"]["total_pages"] == 15


def test_per_page_capped_at_200() -> None:
    from dagster_aha.testing import AhaSandbox

    with AhaSandbox(
        products=1, releases_per_product=3, features_per_release=80, enforce_rate_limits=False
    ) as sb:
        api = Api(sb)
        body = api.get("features", per_page=500).json()
        assert len(body["features"]) == 200
        assert body["pagination"] == {"total_records": 240, "total_pages": 2, "current_page": 1}


def test_filters(ro: Api) -> None:
    all_f = ro.get("features", fields="name,updated_at,tags,custom_fields", per_page=200)
    feats = all_f.json()["features"]
    cut = sorted(f["updated_at"] for f in feats)[40]
    newer = ro.get("features", updated_since=cut, per_page=200).json()["features"]
    assert len(newer) == sum(1 for f in feats if f["updated_at"] > cut)  # strictly after
    q = ro.get("features", q="SEARCH", per_page=200, fields="name").json()["features"]
    assert q and all("search" in f["name"].lower() for f in q)
    assert len(q) == sum(1 for f in feats if "search" in f["name"].lower())
    tagged = ro.get("features", tag="API", per_page=200).json()["features"]
    assert len(tagged) == sum(1 for f in feats if "API" in f["tags"])
    p1 = ro.get("features", **{"custom_fields[priority]": "P1", "per_page": 200}).json()
    expected = sum(
        1
        for f in feats
        for cf in f["custom_fields"]
        if cf["key"] == "priority" and cf["value"] == "P1"
    )
    assert p1["pagination"]["total_records"] == expected > 0
    assert ro.get("epics", q="epic 1").json()["epics"][0]["name"] == "Epic 1"
    ideas = ro.get("ideas", fields="tags", per_page=200).json()["ideas"]
    some_tag = next(t for i in ideas for t in i["tags"])
    assert ro.get("ideas", tag=some_tag).json()["pagination"]["total_records"] == sum(
        1 for i in ideas if some_tag in i["tags"]
    )
    assert ro.get("releases/PRJ1-R-1", fields="name").json()["release"]["name"] == "Release 1"
    assert len(ro.get("products/PRJ1/releases", q="release 2").json()["releases"]) == 1
    assert ro.get("features", updated_since="not a date").status_code == 400


def test_pivot_list_view(ro: Api) -> None:
    report_id = next(iter(ro.sb.state.reports))
    body = ro.get(f"bookmarks/custom_pivots/{report_id}", view="list", per_page=50).json()
    assert set(body) == {"pagination", "columns", "rows"}
    assert isinstance(body["pagination"], list) and len(body["pagination"]) == 1
    assert body["pagination"][0] == {"total_records": 72, "total_pages": 2, "current_page": 1}
    assert [c["title"] for c in body["columns"]] == [
        "Product name",
        "Release name",
        "Feature status",
        "Feature reference #",
        "Feature name",
    ]
    row = body["rows"][0]
    assert len(row) == 5
    assert set(row[0]) == {"id", "plain_value", "html_value", "rich_value"}
    assert isinstance(row[0]["id"], int) and row[0]["plain_value"] == "Project 1"
    assert set(row[2]["rich_value"]) == {"id", "name", "color"}
    default = ro.get(f"bookmarks/custom_pivots/{report_id}").json()
    assert len(default["rows"]) == 72  # default list view: up to 100 rows per page
    assert ro.get(f"bookmarks/custom_pivots/{report_id}", view="bogus").status_code == 400
    assert ro.get("bookmarks/custom_pivots/1234").status_code == 404


def test_pivot_view_nested(ro: Api) -> None:
    report_id = next(iter(ro.sb.state.reports))
    body = ro.get(f"bookmarks/custom_pivots/{report_id}", view="pivot").json()
    assert set(body) == {
        "top_level_columns",
        "columns",
        "top_level_rows",
        "rows",
        "cells",
        "field_definitions",
    }
    rows, cols, fds = body["rows"], body["columns"], body["field_definitions"]
    assert len(body["top_level_rows"]) == 2  # products
    top = rows[str(body["top_level_rows"][0])]
    assert top["parent_ref"] is None and len(top["child_refs"]) == 3  # releases
    child = rows[str(top["child_refs"][0])]
    assert child["parent_ref"] == top["ref"] and child["plain_value"] == "Release 1"
    assert fds[str(top["field_definition_ref"])]["table"] == "projects"
    assert fds[str(child["field_definition_ref"])]["table"] == "releases"
    assert all(fds[str(c["field_definition_ref"])]["field"] == "status" for c in cols.values())
    leaf_rows = [r for r in rows.values() if not r["child_refs"]]
    assert len(body["cells"]) == len(leaf_rows) == 6
    assert all(len(r) == len(body["top_level_columns"]) for r in body["cells"])
    values = [v for r in body["cells"] for c in r for v in c]
    assert len(values) == 72
    first = values[0]
    assert [fds[str(f["field_definition_ref"])]["field"] for f in first] == [
        "reference_num",
        "name",
    ]
    assert str(first[0]["row_ref"]) in rows and str(first[0]["column_ref"]) in cols
    # each value sits in the column of its feature's status
    for row_cells in body["cells"]:
        for col_values in row_cells:
            for value in col_values:
                ref = value[0]["plain_value"]
                status = ro.sb.state.get("features", ref)
                assert status is not None
                col = cols[str(value[0]["column_ref"])]
                assert col["plain_value"] == status["workflow_status"]["name"]


def test_determinism_with_seed() -> None:
    from dagster_aha.testing import AhaSandbox

    a = AhaSandbox(seed=7, products=1, releases_per_product=1, features_per_release=4)
    b = AhaSandbox(seed=7, products=1, releases_per_product=1, features_per_release=4)
    c = AhaSandbox(seed=8, products=1, releases_per_product=1, features_per_release=4)
    assert a.state.records("features") == b.state.records("features")
    assert a.state.reports == b.state.reports
    assert [f["id"] for f in a.state.records("features")] != [
        f["id"] for f in c.state.records("features")
    ]


def test_non_ascii_ids_in_the_path_are_decoded_as_utf8() -> None:
    """A percent-encoded UTF-8 id reaches the router intact (a 404 naming it, not mojibake)."""
    with AhaSandbox(products=1, releases_per_product=1, features_per_release=1) as sb:
        r = requests.get(
            f"{sb.url}/api/v1/epics/%D0%B0-1",
            headers={"Authorization": f"Bearer {sb.api_key}"},
            timeout=5,
        )
        assert r.status_code == 404
        assert sb.requests[-1].path == "epics/\u0430-1"  # Cyrillic a


def test_nested_lists_follow_moves_creates_and_deletes(api: Api) -> None:
    """The nested lists are served from a per-parent index, the account-wide ones from a list
    kept per generation: every write must show in them at once."""

    def refs(path: str) -> set[str]:
        body = api.get(path, per_page=200, fields="reference_num").json()
        return {f["reference_num"] for f in body["features"]}

    everything = refs("features")
    r1, r2 = refs("releases/PRJ1-R-1/features"), refs("releases/PRJ1-R-2/features")
    moved = sorted(r1)[0]
    assert api.put(f"features/{moved}", {"feature": {"release": "PRJ1-R-2"}}).status_code == 200
    assert refs("releases/PRJ1-R-1/features") == r1 - {moved}
    assert refs("releases/PRJ1-R-2/features") == r2 | {moved}
    made = api.post("releases/PRJ1-R-1/features", {"feature": {"name": "New"}}).json()["feature"]
    assert refs("releases/PRJ1-R-1/features") == (r1 - {moved}) | {made["reference_num"]}
    gone = sorted(r2)[0]
    assert api.delete(f"features/{gone}").status_code == 204
    assert refs("releases/PRJ1-R-2/features") == (r2 | {moved}) - {gone}
    assert gone not in refs("products/PRJ1/features")
    assert refs("features") == (everything | {made["reference_num"]}) - {gone}
