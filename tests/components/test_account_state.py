"""fetch_account_state against documented shapes and missing parts; column types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagster_aha.client import AhaAuthError, AhaNotFoundError, ClientStats
from dagster_aha.components.account_state import (
    AhaCustomFieldDefinition,
    fetch_account_state,
)
from dagster_aha.components.columns import custom_field_column_type, stream_schema


class _StubClient:
    """Answers like an Aha! account built from the OpenAPI examples; records the paths."""

    account_url = "https://acme.aha.io"

    def __init__(self, responses: dict[str, Any]) -> None:
        self.responses = responses
        self.paths: list[str] = []

    @property
    def stats(self) -> ClientStats:
        return ClientStats(requests=len(self.paths))

    def _answer(self, path: str) -> Any:
        self.paths.append(path)
        value = self.responses.get(path)
        if isinstance(value, Exception):
            raise value
        if value is None:
            raise AhaNotFoundError(404, "GET", path, "Record not found")
        return value

    def iter_records(self, path: str, **_: Any) -> Iterator[dict[str, Any]]:
        body = self._answer(path)
        key = path.rsplit("/", 1)[-1]
        yield from body[key]

    def request(self, method: str, path: str, **_: Any) -> Any:
        return self._answer(path)


PRODUCTS = {
    "products": [
        {"id": "131414752", "reference_prefix": "PRJ1", "name": "Project 1", "product_line": False},
        {"id": "610602692", "reference_prefix": "PL1", "name": "Line 1", "product_line": True},
    ]
}
DEFINITIONS = {
    "custom_field_definitions": [
        {
            "id": "581360680",
            "key": "priority",
            "name": "Priority",
            "type": "CustomFieldDefinitions::SelectConstant",
            "internal_name": None,
            "custom_fieldable_type": "Feature",
        },
        {
            "id": "1",
            "key": "initiative_custom_date",
            "name": "Initiative custom date",
            "type": "CustomFieldDefinitions::DateField",
            "custom_fieldable_type": "Initiative",
        },
    ]
}
OPTIONS = {"options": [{"text": "P1", "value": "486420793", "meta": {"color": "#666666"}}]}


def test_documented_shapes_and_named_tables_are_probed() -> None:
    client = _StubClient(
        {
            "products": PRODUCTS,
            "custom_field_definitions": DEFINITIONS,
            "custom_field_definitions/581360680/options": OPTIONS,
            "products/131414752/custom_objects/customers/records": {
                "custom_object_records": [{"id": "8397122"}],
                "pagination": {"total_records": 2, "total_pages": 2, "current_page": 1},
            },
            "products/610602692/custom_objects/customers/records": AhaAuthError(
                403, "GET", "x", "Enterprise+ only"
            ),
            "bookmarks/custom_pivots/42": {
                "pagination": [{"total_records": 3, "total_pages": 3, "current_page": 1}],
                "columns": [
                    {"table": "releases", "field": "name", "title": "Release name"},
                    {"table": "features", "field": "status", "title": "Feature status"},
                ],
                "rows": [],
            },
        }
    )
    state = fetch_account_state(
        client,  # type: ignore[arg-type]
        pivot_report_ids=["42"],
        custom_tables=[(None, "customers")],
    )
    assert [p.partition_key for p in state.products] == ["PRJ1", "PL1"]
    priority = state.custom_fields[0]
    assert (priority.record_type, priority.options) == ("Feature", ("P1",))
    assert [(t.product_prefix, t.key, t.records) for t in state.custom_tables] == [
        ("PRJ1", "customers", 2)
    ]
    report = state.pivot_report("42")
    assert report is not None and [c.title for c in report.columns] == [
        "Release name",
        "Feature status",
    ]
    assert state.requests == len(client.paths) == 7  # 1: the undocumented table list (404)
    initiatives = {c.name: c for c in stream_schema(state, "initiatives", ["id"]).columns}
    assert initiatives["custom_fields__initiative_custom_date"].type == "date"


def test_missing_optional_parts_are_warnings_and_a_bad_key_fails() -> None:
    client = _StubClient(
        {
            "products": PRODUCTS,
            "custom_field_definitions": AhaAuthError(403, "GET", "x", "forbidden"),
        }
    )
    state = fetch_account_state(client, pivot_report_ids=["7"])  # type: ignore[arg-type]
    assert state.custom_fields == () and state.pivot_reports == ()
    assert any("custom field definitions" in w for w in state.warnings)
    assert any("pivot report 7" in w for w in state.warnings)

    unauthorized = _StubClient({"products": AhaAuthError(401, "GET", "x", "bad key")})
    with pytest.raises(AhaAuthError):
        fetch_account_state(unauthorized)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("aha_type", "api_type", "expected"),
    [
        ("CustomFieldDefinitions::DateField", None, "date"),
        ("CustomFieldDefinitions::SelectConstant", None, "string"),
        ("CustomFieldDefinitions::LinkMany", None, "array"),
        ("CustomFieldDefinitions::Records::UsersField", None, "array"),
        ("CustomFieldDefinitions::NumberField", None, "number"),
        ("CustomFieldDefinitions::ScorecardField", "scorecard", "object"),
        ("CustomFieldDefinitions::UrlField", "url", "string"),
    ],
)
def test_custom_field_column_types(aha_type: str, api_type: str | None, expected: str) -> None:
    definition = AhaCustomFieldDefinition(key="k", type=aha_type, api_type=api_type)
    assert custom_field_column_type(definition) == expected


def test_a_server_listing_custom_tables_saves_the_probes() -> None:
    client = _StubClient(
        {
            "products": PRODUCTS,
            "custom_field_definitions": {"custom_field_definitions": []},
            "products/131414752/custom_objects": {
                "custom_objects": [
                    {
                        "key": "customers",
                        "name": "Customers",
                        "fields": [{"key": "website", "name": "Website", "type": "url"}],
                    }
                ]
            },
            "products/610602692/custom_objects": {"custom_objects": []},
        }
    )
    state = fetch_account_state(client)  # type: ignore[arg-type]
    assert [(t.product_prefix, t.key, t.name) for t in state.custom_tables] == [
        ("PRJ1", "customers", "Customers")
    ]
    assert [(f.key, f.custom_table_key) for f in state.table_fields("customers")] == [
        ("website", "customers")
    ]
    assert not any(p.endswith("/records") for p in client.paths)


def test_without_a_listing_it_costs_one_request() -> None:
    client = _StubClient(
        {"products": PRODUCTS, "custom_field_definitions": {"custom_field_definitions": []}}
    )
    fetch_account_state(client)  # type: ignore[arg-type]
    assert [p for p in client.paths if p.endswith("/custom_objects")] == [
        "products/131414752/custom_objects"
    ]
