"""Rendering, validation, sample requests and dry runs: no HTTP involved."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from pydantic import ValidationError

from dagster_aha.destinations import (
    TEMPLATE_NAMES,
    TEMPLATES,
    AhaDestination,
    RecordError,
    sample_requests,
    write_records,
)

EXPECTED = {
    "create_feature": ("POST", "releases/{release_id}/features", "feature"),
    "create_epic": ("POST", "releases/{release_id}/epics", "epic"),
    "create_epic_in_default_release": ("POST", "products/{product_id}/epics", "epic"),
    "update_epic": ("PUT", "epics/{epic_id}", "epic"),
    "delete_epic": ("DELETE", "epics/{epic_id}", "epic"),
    "create_goal": ("POST", "products/{product_id}/goals", "goal"),
    "update_goal": ("PUT", "products/{product_id}/goals/{goal_id}", "goal"),
    "create_initiative": ("POST", "products/{product_id}/initiatives", "initiative"),
    "update_initiative": (
        "PUT",
        "products/{product_id}/initiatives/{initiative_id}",
        "initiative",
    ),
    "create_custom_table_record": (
        "POST",
        "products/{product_id}/custom_objects/{custom_table_key}/records",
        "custom_object_record",
    ),
    "create_team": ("POST", "teams", "team"),
}


def test_eleven_templates_match_the_documented_endpoints() -> None:
    assert set(TEMPLATE_NAMES) == set(EXPECTED)
    assert len(TEMPLATE_NAMES) == 11
    for name, (method, path, wrap) in EXPECTED.items():
        t = TEMPLATES[name]
        assert (t.method, t.path, t.wrap_key) == (method, path, wrap), name


def feature_dest(**kw: object) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": "PRJ1-R-1"},
        **kw,  # type: ignore[arg-type]
    )


def test_body_is_wrapped_mapped_excluded_and_custom_fields_use_the_map_form() -> None:
    dest = feature_dest(
        field_mapping={"title": "name", "details": "description"},
        exclude_attributes=["internal_note"],
        custom_fields={"ext_id": "external_id", "prio": "priority"},
    )
    req = dest.render(
        {"title": "A", "details": "<p>x</p>", "internal_note": "secret", "ext_id": "E-1", "prio": 3}
    )
    assert req.method == "POST"
    assert req.path == "releases/PRJ1-R-1/features"
    assert req.body == {
        "feature": {
            "name": "A",
            "description": "<p>x</p>",
            "custom_fields": {"external_id": "E-1", "priority": 3},
        }
    }


def test_read_form_custom_fields_are_converted_to_the_write_map() -> None:
    req = feature_dest().render(
        {"name": "A", "custom_fields": [{"key": "priority", "value": "P1", "id": 9}]}
    )
    assert req.body == {"feature": {"name": "A", "custom_fields": {"priority": "P1"}}}


def test_json_native_conversion() -> None:
    u = uuid.UUID("12345678-1234-5678-1234-567812345678")
    req = feature_dest().render(
        {
            "name": "A",
            "due_date": dt.date(2024, 5, 1),
            "at": dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc),
            "estimate": Decimal("2.50"),
            "count": Decimal("3"),
            "big": Decimal("0.1000000000000000000001"),
            "uid": u,
            "tags": ("a", "b"),
        }
    )
    assert req.body == {
        "feature": {
            "name": "A",
            "due_date": "2024-05-01",
            "at": "2024-05-01T12:00:00+00:00",
            "estimate": 2.5,
            "count": 3,
            "big": "0.1000000000000000000001",
            "uid": str(u),
            "tags": ["a", "b"],
        }
    }


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (["not", "a", "mapping"], "not a mapping"),
        ("text", "not a mapping"),
        ({"description": "no name"}, "'name' is required"),
        ({"name": "   "}, "'name' is required"),
        ({"name": "A", "blob": b"\x00"}, "record.blob: value of type bytes"),
        ({"name": "A", "x": float("nan")}, "not a finite number"),
        ({"name": "A", "x": {"y": object()}}, "record.x.y: value of type object"),
    ],
)
def test_bad_records_raise_record_error(record: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        feature_dest().render(record)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "missing"),
        ("", "empty"),
        ("   ", "empty"),
        ("PRJ1-E-1\nX", "newline or control"),
        (" PRJ1-E-1", "whitespace"),
        ("..", "not a valid id"),
        (1.5, "must be a string or an integer"),
    ],
)
def test_bad_path_params_from_records(value: object, message: str) -> None:
    dest = AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
    with pytest.raises(RecordError, match=message):
        dest.render({"ref": value, "name": "x"})
    with pytest.raises(RecordError, match="field 'ref' is missing"):
        dest.render({"name": "x"})


@pytest.mark.parametrize("evil", ["../products/PRJ2", "E-1/../../me", "E-1?x=1", "E-1#f", "%2F"])
def test_path_params_are_encoded_and_cannot_change_the_endpoint(evil: str) -> None:
    dest = AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
    req = dest.render({"ref": evil, "name": "x"})
    head, _, segment = req.path.partition("/")
    assert head == "epics"
    assert "/" not in segment and "?" not in segment and "#" not in segment
    assert req.path_values == {"epic_id": evil}
    # The path field is taken out of the body.
    assert req.body == {"epic": {"name": "x"}}


def test_update_without_fields_fails_and_delete_has_no_body() -> None:
    dest = AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
    with pytest.raises(RecordError, match="nothing to update"):
        dest.render({"ref": "PRJ1-E-1"})
    delete = AhaDestination(
        template="delete_epic", path_params={"epic_id": {"from_field": "ref"}}, allow_delete=True
    )
    req = delete.render({"ref": "PRJ1-E-1", "other": 1})
    assert (req.method, req.path, req.body) == ("DELETE", "epics/PRJ1-E-1", None)


def test_custom_table_records_do_not_need_a_name() -> None:
    dest = AhaDestination(
        template="create_custom_table_record",
        path_params={"product_id": "PRJ1", "custom_table_key": "customers"},
        custom_fields={"company": "name", "site": "website"},
    )
    req = dest.render({"company": "Acme", "site": "acme.com"})
    assert req.path == "products/PRJ1/custom_objects/customers/records"
    assert req.body == {
        "custom_object_record": {"custom_fields": {"name": "Acme", "website": "acme.com"}}
    }


def test_transform_runs_first_and_its_errors_fail_the_record() -> None:
    dest = feature_dest(transform=lambda r: {"name": r["title"].upper()})
    assert dest.render({"title": "a"}).body == {"feature": {"name": "A"}}
    with pytest.raises(RecordError, match="transform raised KeyError"):
        dest.render({"nope": 1})
    # The callable is not part of dumps.
    assert "transform" not in dest.model_dump()


def test_configuration_errors_are_raised_at_construction() -> None:
    with pytest.raises(ValidationError, match="allow_delete=True"):
        AhaDestination(template="delete_epic", path_params={"epic_id": "PRJ1-E-1"})
    with pytest.raises(ValidationError, match="allow_delete=True"):
        AhaDestination(method="DELETE", path="features/{id}", path_params={"id": "1"})
    with pytest.raises(ValidationError, match="release_id"):
        AhaDestination(template="create_feature")
    with pytest.raises(ValidationError, match="unknown path parameter"):
        AhaDestination(template="create_feature", path_params={"release_id": "R", "x": "y"})
    with pytest.raises(ValidationError, match="either template"):
        AhaDestination()
    with pytest.raises(ValidationError, match="wrap_key"):
        AhaDestination(method="POST", path="teams")
    with pytest.raises(ValidationError, match="not a URL"):
        AhaDestination(method="POST", path="https://evil.example/api/v1/teams", wrap_key="team")
    with pytest.raises(ValidationError, match="invalid manual path"):
        AhaDestination(method="POST", path="teams/../me", wrap_key="team")
    with pytest.raises(ValidationError, match="Authorization"):
        AhaDestination(method="POST", path="teams", wrap_key="team", headers={"Authorization": "x"})
    with pytest.raises(ValidationError, match="batch_property"):
        feature_dest(batch_size=10)
    with pytest.raises(ValidationError, match="create templates"):
        AhaDestination(template="update_epic", path_params={"epic_id": "1"}, match_on="name")
    with pytest.raises(ValidationError, match="newline"):
        AhaDestination(template="update_epic", path_params={"epic_id": "1\n2"})


def test_manual_destination_renders_the_path_template() -> None:
    dest = AhaDestination(
        method="POST",
        path="/api/v1/products/{product_id}/releases",
        wrap_key="release",
        path_params={"product_id": {"from_field": "product"}},
    )
    req = dest.render({"product": "PRJ 2", "name": "R1"})
    assert (req.method, req.path) == ("POST", "products/PRJ%202/releases")
    assert req.body == {"release": {"name": "R1"}}


def test_sample_requests_show_exact_requests_without_http() -> None:
    dest = AhaDestination(
        method="PUT",
        path="features/{id}",
        wrap_key="feature",
        path_params={"id": {"from_field": "ref"}},
        headers={"X-Trace": "abc"},
    )
    records = [{"ref": "PRJ1-1", "name": "A"}, {"name": "no ref"}, {"ref": "PRJ1-3", "x": 1}, {}]
    samples = sample_requests(dest, records, n=3, base_url="https://acme.aha.io")
    assert samples[0] == {
        "index": 0,
        "method": "PUT",
        "path": "features/PRJ1-1",
        "params": {"disable_mailers": "true"},
        "url": "https://acme.aha.io/api/v1/features/PRJ1-1?disable_mailers=true",
        "headers": {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "X-Trace": "abc",
        },
        "body": {"feature": {"name": "A"}},
    }
    assert samples[1]["index"] == 1 and "missing" in samples[1]["error"]
    assert samples[2]["body"] == {"feature": {"x": 1}}
    assert len(samples) == 3
    assert all("Authorization" not in s.get("headers", {}) for s in samples)


def test_dry_run_reports_every_record_without_a_client() -> None:
    dest = feature_dest(dry_run=True)
    report = write_records(None, dest, [{"name": "A"}, {"nope": 1}, 5])
    assert [o.status for o in report.outcomes] == ["dry_run", "failed", "failed"]
    assert report.outcomes[0].request == {
        "method": "POST",
        "path": "releases/PRJ1-R-1/features",
        "params": {"disable_mailers": "true"},
        "body": {"feature": {"name": "A"}},
    }
    assert report.counts["dry_run"] == 1 and report.counts["failed"] == 2
    assert report.requests == 0 and not report.ok
    assert report.failed_records() == [{"nope": 1}, 5]
    assert report.retryable_records() == []
    rows = report.to_rows()
    assert rows[0]["status"] == "dry_run" and rows[0]["path"] == "releases/PRJ1-R-1/features"


def test_disable_mailers_off_removes_the_query_option() -> None:
    dest = feature_dest(disable_mailers=False)
    (sample,) = sample_requests(dest, [{"name": "A"}], n=1)
    assert sample["params"] == {} and sample["url"] == "/api/v1/releases/PRJ1-R-1/features"
