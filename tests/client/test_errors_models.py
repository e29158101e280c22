from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from dagster_aha import (
    AhaAuthError,
    AhaBadRequestError,
    AhaError,
    AhaNotFoundError,
    AhaRateLimitError,
    AhaResponseError,
    AhaServerError,
    AhaTimeoutError,
    CustomTableRecord,
    Epic,
    Feature,
    Goal,
    Idea,
    Initiative,
    Pagination,
    Product,
    Release,
    Team,
    User,
)
from dagster_aha.client import parse_error_message
from dagster_aha.client.errors import error_for_status


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"error": "end_at must be after start_at"}', "end_at must be after start_at"),
        ('{"message": "Record not found"}', "Record not found"),
        ('{"errors": ["Name can\'t be blank", "Bad"]}', "Name can't be blank; Bad"),
        ('{"errors": [{"message": "Name is taken"}]}', "Name is taken"),
        ('{"errors": [{"field": "name", "message": "is taken"}]}', "name: is taken"),
        (
            '{"errors": {"name": ["can\'t be blank"], "release": "missing"}}',
            "name can't be blank; release missing",
        ),
        ('{"error": "Bad", "errors": ["Worse"]}', "Bad; Worse"),
        ('{"errors": {"message": "Nested"}}', "Nested"),
        ("plain text failure", "plain text failure"),
        ("", ""),
    ],
)
def test_parse_error_message(body: str, expected: str) -> None:
    assert parse_error_message(body) == expected


def test_parse_html_error_page() -> None:
    body = (
        "<!DOCTYPE html><html><head><title>We're sorry, but something went wrong (500)</title>"
        "<style>body{color:red}</style></head><body><div class='dialog'><h1>We're sorry, "
        "but something went wrong.</h1><p>If you are the application owner check the logs."
        "</p></div><script>var x = 1;</script></body></html>"
    )
    msg = parse_error_message(body, "text/html")
    assert "<" not in msg and "color:red" not in msg and "var x" not in msg
    assert "something went wrong" in msg
    assert len(msg) <= 200
    long_html = "<html><body>" + "x" * 5000 + "</body></html>"
    assert len(parse_error_message(long_html)) <= 200


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, AhaBadRequestError),
        (401, AhaAuthError),
        (403, AhaAuthError),
        (404, AhaNotFoundError),
        (422, AhaBadRequestError),
        (429, AhaRateLimitError),
        (500, AhaServerError),
        (502, AhaServerError),
        (503, AhaServerError),
        (504, AhaTimeoutError),
        (409, AhaError),
    ],
)
def test_error_for_status(status: int, cls: type[AhaError]) -> None:
    err = error_for_status(status, "GET", "https://acme.aha.io/api/v1/x", b'{"error":"boom"}')
    assert type(err) is cls
    assert err.status == status and err.method == "GET"
    assert err.url == "https://acme.aha.io/api/v1/x"
    assert "boom" in err.message and "boom" in str(err)
    assert err.body_excerpt == '{"error":"boom"}'
    assert isinstance(err, AhaError)


def test_not_found_message() -> None:
    err = error_for_status(404, "GET", "https://acme.aha.io/api/v1/features/X-1", b"")
    assert "not found or not visible to this API key" in str(err)


def test_error_positional_contract_and_pickle() -> None:
    err = AhaServerError(500, "PUT", "https://a.aha.io/api/v1/epics/1", "oops", "<html>")
    assert (err.status, err.method, err.url, err.message, err.body_excerpt) == (
        500,
        "PUT",
        "https://a.aha.io/api/v1/epics/1",
        "oops",
        "<html>",
    )
    assert str(err) == "500 PUT https://a.aha.io/api/v1/epics/1: oops"
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is AhaServerError and again.message == "oops"
    assert isinstance(AhaResponseError(message="x"), ValueError)


BIG = "6434552458299516367"


@pytest.mark.parametrize(
    "cls", [Product, Release, Feature, Epic, Idea, Goal, Initiative, Team, CustomTableRecord, User]
)
def test_models_ids_are_str_and_extra_allowed(cls: type) -> None:
    m = cls.model_validate({"id": int(BIG), "name": "x", "surprise": {"a": 1}})
    assert m.id == BIG and isinstance(m.id, str)
    assert m.model_extra == {"surprise": {"a": 1}}
    assert m.model_dump()["surprise"] == {"a": 1}
    assert cls.model_validate({"id": BIG}).id == BIG


def test_model_id_coercion_edge_cases() -> None:
    assert Feature.model_validate({"id": "1", "product_id": 131414752}).product_id == "131414752"
    with pytest.raises(ValidationError):
        Feature.model_validate({"id": True})
    with pytest.raises(ValidationError):
        Feature.model_validate({"id": 1.5})
    with pytest.raises(ValidationError):
        Feature.model_validate({"name": "no id"})


def test_team_decimal_strings_and_numbers() -> None:
    assert Team.model_validate({"id": 1, "capacity": "205.0"}).capacity == "205.0"
    assert Team.model_validate({"id": 1, "capacity": 0, "hourly_rate": None}).capacity == 0


def test_pagination_model() -> None:
    p = Pagination.model_validate({"total_records": 3, "total_pages": 1, "current_page": 1})
    assert p.total_pages == 1
