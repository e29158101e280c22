"""Record shapes served by the sandbox vs Aha!'s own OpenAPI response examples."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from dagster_aha.testing import AhaSandbox

from ._api import Api
from .openapi_document import SPEC

# spec path -> (sandbox path, response key)
LIST_PATHS: dict[str, tuple[str, str]] = {
    "/products": ("products", "products"),
    "/products/{product_id}/releases": ("products/PRJ1/releases", "releases"),
    "/features": ("features", "features"),
    "/products/{product_id}/features": ("products/PRJ1/features", "features"),
    "/releases/{release_id}/features": ("releases/PRJ1-R-1/features", "features"),
    "/epics/{epic_id}/features": ("epics/PRJ1-E-1/features", "features"),
    "/epics": ("epics", "epics"),
    "/products/{product_id}/epics": ("products/PRJ1/epics", "epics"),
    "/releases/{release_id}/epics": ("releases/PRJ1-R-1/epics", "epics"),
    "/ideas": ("ideas", "ideas"),
    "/products/{product_id}/ideas": ("products/PRJ1/ideas", "ideas"),
    "/goals": ("goals", "goals"),
    "/products/{product_id}/goals": ("products/PRJ1/goals", "goals"),
    "/initiatives": ("initiatives", "initiatives"),
    "/products/{product_id}/initiatives": ("products/PRJ1/initiatives", "initiatives"),
    "/users": ("users", "users"),
    "/teams": ("teams", "teams"),
    "/products/{product_id}/custom_objects/{key}/records": (
        "products/PRJ1/custom_objects/customers/records",
        "custom_object_records",
    ),
}
# list path -> the detail path whose example describes its full (`fields=*`) records
FULL_OF = {
    "products": "/products/{id}",
    "releases": "/releases/{id}",
    "features": "/features/{id}",
    "epics": "/epics/{id}",
    "ideas": "/ideas/{id}",
    "goals": "/goals/{id}",
    "initiatives": "/initiatives/{id}",
    "users": "/users/{id}",
    "teams": "/teams/{id}",
    "custom_object_records": "/custom_object_records/{id}",
}
DETAIL_PATHS: dict[str, tuple[str, str]] = {
    "/me": ("me", "user"),
    "/products/{id}": ("products/PRJ1", "product"),
    "/releases/{id}": ("releases/PRJ1-R-1", "release"),
    "/features/{id}": ("features/PRJ1-1", "feature"),
    "/epics/{id}": ("epics/PRJ1-E-1", "epic"),
    "/ideas/{id}": ("ideas/PRJ1-I-1", "idea"),
    "/goals/{id}": ("goals/PRJ1-G-1", "goal"),
    "/initiatives/{id}": ("initiatives/PRJ1-S-1", "initiative"),
    "/users/{id}": ("users/{user}", "user"),
    "/teams/{id}": ("teams/{team}", "team"),
    "/custom_object_records/{id}": ("custom_object_records/{record}", "custom_object_record"),
}

# Deliberate differences, each with its reason.
DETAIL_EXTRA: dict[str, set[str]] = {
    # goal list items carry time_frame; the detail example omits it; we serve one record shape
    "/goals/{id}": {"time_frame"},
    # initiative list items (products/{id}/initiatives, POST bodies) carry time_frame; the
    # detail example omits it (same reason)
    "/initiatives/{id}": {"time_frame"},
    # user list items carry user_roles; the detail example omits it (same reason)
    "/users/{id}": {"user_roles"},
}
# List examples that were captured with a `fields=` parameter (or a richer default) are
# compared with the documented thin list form of another path instead.
LIST_COMPARE_WITH: dict[str, str] = {
    # example captured with fields=reference_num,created_by_user
    "/features": "/products/{product_id}/features",
    "/epics/{epic_id}/features": "/products/{product_id}/features",
    "/epics": "/products/{product_id}/epics",
    # example shows full records; aha-api.md documents the thin form of /initiatives
    "/products/{product_id}/initiatives": "/initiatives",
}


def _example(spec: dict[str, Any], path: str) -> Any:
    for resp in spec["paths"][path]["get"]["responses"].values():
        for content in resp.get("content", {}).values():
            if "example" in content:
                return content["example"]
    raise AssertionError(f"no example for {path}")


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return json.loads(SPEC.read_text())


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with AhaSandbox(
        products=2, releases_per_product=2, features_per_release=3, enforce_rate_limits=False
    ) as sb:
        yield Api(sb)


def _kind_of(value: Any) -> str:
    return type(value).__name__


def test_every_served_spec_path_is_covered(spec: dict[str, Any]) -> None:
    for path in [*LIST_PATHS, *DETAIL_PATHS, "/bookmarks/custom_pivots/{report_id}"]:
        assert "get" in spec["paths"][path], path


@pytest.mark.parametrize("spec_path", sorted(LIST_PATHS))
def test_list_default_keys_match_spec(spec: dict[str, Any], api: Api, spec_path: str) -> None:
    path, key = LIST_PATHS[spec_path]
    items = _example(spec, LIST_COMPARE_WITH.get(spec_path, spec_path))[key]
    always = set.intersection(*(set(i) for i in items))
    sometimes = set.union(*(set(i) for i in items))
    ours = api.get(path).json()[key]
    assert ours
    for rec in ours:
        assert always <= set(rec) <= sometimes, (spec_path, set(rec) ^ always)


@pytest.mark.parametrize("spec_path", sorted(LIST_PATHS))
def test_list_star_keys_match_detail_example(
    spec: dict[str, Any], api: Api, spec_path: str
) -> None:
    path, key = LIST_PATHS[spec_path]
    detail = FULL_OF[key]
    expected = set(_example(spec, detail)[DETAIL_PATHS[detail][1]]) | DETAIL_EXTRA.get(
        detail, set()
    )
    for rec in api.get(path, fields="*").json()[key]:
        assert set(rec) == expected, (spec_path, set(rec) ^ expected)


@pytest.mark.parametrize("spec_path", sorted(DETAIL_PATHS))
def test_detail_keys_and_types_match_spec(spec: dict[str, Any], api: Api, spec_path: str) -> None:
    path, key = DETAIL_PATHS[spec_path]
    sb = api.sb
    path = path.format(
        user=sb.state.records("users")[1]["id"],
        team=sb.state.records("teams")[0]["id"],
        record=sb.state.records("custom_object_records")[0]["id"],
    )
    example = _example(spec, spec_path)[key]
    ours = api.get(path).json()[key]
    assert set(ours) == set(example) | DETAIL_EXTRA.get(spec_path, set())
    for field, value in example.items():
        if value is not None and ours[field] is not None:
            assert _kind_of(ours[field]) == _kind_of(value), (spec_path, field)


def test_pivot_views_match_spec(spec: dict[str, Any], api: Api) -> None:
    example = _example(spec, "/bookmarks/custom_pivots/{report_id}")
    report = next(iter(api.sb.state.reports))
    pivot = api.get(f"bookmarks/custom_pivots/{report}", view="pivot").json()
    assert set(pivot) == set(example)
    for part in ("columns", "rows", "field_definitions"):
        ex_item = next(iter(example[part].values()))
        assert all(set(v) == set(ex_item) for v in pivot[part].values()), part
    ex_cell = example["cells"][0][0][0][0]
    cell = next(v for r in pivot["cells"] for c in r for v in c)[0]
    assert set(cell) == set(ex_cell)
    assert isinstance(cell["id"], int) and isinstance(cell["row_ref"], int)
