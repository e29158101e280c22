"""Each of the 11 templates (and a manual destination) against the sandbox: documented method +
path, wrapped body, and the record appears / changes / disappears in the sandbox state."""

from __future__ import annotations

from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, write_records
from dagster_aha.testing import AhaSandbox


def writes(aha: AhaSandbox) -> list[Any]:
    return [r for r in aha.requests if r.method != "GET"]


def run(aha: AhaSandbox, dest: AhaDestination, records: list[Any]) -> Any:
    with aha.client() as client:
        report = write_records(client, dest, records)
    return report


def only_write(aha: AhaSandbox) -> Any:
    (req,) = writes(aha)
    assert req.query == {"disable_mailers": "true"}
    assert req.status in (200, 204)
    return req


def test_create_feature(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_feature",
        path_params={"release_id": "PRJ1-R-2"},
        field_mapping={"title": "name"},
        custom_fields={"ext": "external_id"},
    )
    report = run(aha_sandbox, dest, [{"title": "New feature", "ext": "JIRA-1"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "releases/PRJ1-R-2/features")
    assert req.json == {
        "feature": {"name": "New feature", "custom_fields": {"external_id": "JIRA-1"}}
    }
    (o,) = report.outcomes
    assert o.status == "created" and o.http_status == 200
    stored = aha_sandbox.state.get("features", o.aha_id)
    assert stored is not None and stored["name"] == "New feature"
    assert stored["release"]["reference_num"] == "PRJ1-R-2"
    assert o.reference_num == stored["reference_num"] and o.url == stored["url"]
    assert {"key": "external_id", "value": "JIRA-1"}.items() <= stored["custom_fields"][0].items()


def test_create_epic(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="create_epic", path_params={"release_id": "PRJ1-R-1"})
    report = run(aha_sandbox, dest, [{"name": "Epic X", "description": "d"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "releases/PRJ1-R-1/epics")
    assert req.json == {"epic": {"name": "Epic X", "description": "d"}}
    stored = aha_sandbox.state.get("epics", report.outcomes[0].aha_id)
    assert stored is not None and stored["name"] == "Epic X"
    assert stored["release"]["reference_num"] == "PRJ1-R-1"


def test_create_epic_in_default_release(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_epic_in_default_release", path_params={"product_id": "PRJ2"}
    )
    report = run(aha_sandbox, dest, [{"name": "Default epic"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "products/PRJ2/epics")
    assert req.json == {"epic": {"name": "Default epic"}}
    stored = aha_sandbox.state.get("epics", report.outcomes[0].aha_id)
    assert (
        stored is not None
        and stored["product_id"] == aha_sandbox.state.get("products", "PRJ2")["id"]
    )  # type: ignore[index]


def test_update_epic_from_a_record_field(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
    report = run(aha_sandbox, dest, [{"ref": "PRJ1-E-2", "name": "Renamed epic"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("PUT", "epics/PRJ1-E-2")
    assert req.json == {"epic": {"name": "Renamed epic"}}
    assert report.outcomes[0].status == "updated"
    assert aha_sandbox.state.get("epics", "PRJ1-E-2")["name"] == "Renamed epic"  # type: ignore[index]


def test_delete_epic(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="delete_epic", path_params={"epic_id": {"from_field": "ref"}}, allow_delete=True
    )
    assert aha_sandbox.state.get("epics", "PRJ1-E-3") is not None
    report = run(aha_sandbox, dest, [{"ref": "PRJ1-E-3"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path, req.json, req.status) == ("DELETE", "epics/PRJ1-E-3", None, 204)
    assert report.outcomes[0].status == "deleted" and report.outcomes[0].http_status == 204
    assert aha_sandbox.state.get("epics", "PRJ1-E-3") is None


def test_delete_is_refused_without_allow_delete_and_nothing_is_sent(
    aha_sandbox: AhaSandbox,
) -> None:
    with pytest.raises(ValueError, match="allow_delete=True"):
        AhaDestination(template="delete_epic", path_params={"epic_id": "PRJ1-E-1"})
    with pytest.raises(ValueError, match="allow_delete=True"):
        AhaDestination(method="DELETE", path="features/{id}", path_params={"id": "PRJ1-1"})
    assert aha_sandbox.requests == []
    assert aha_sandbox.state.get("epics", "PRJ1-E-1") is not None


def test_create_goal(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="create_goal", path_params={"product_id": "PRJ1"})
    report = run(aha_sandbox, dest, [{"name": "Goal X", "effort": 15, "value": 5}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "products/PRJ1/goals")
    assert req.json == {"goal": {"name": "Goal X", "effort": 15, "value": 5}}
    stored = aha_sandbox.state.get("goals", report.outcomes[0].aha_id)
    assert stored is not None and stored["name"] == "Goal X"


def test_update_goal(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="update_goal",
        path_params={"product_id": "PRJ1", "goal_id": {"from_field": "goal"}},
    )
    report = run(aha_sandbox, dest, [{"goal": "PRJ1-G-1", "name": "Goal renamed"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("PUT", "products/PRJ1/goals/PRJ1-G-1")
    assert req.json == {"goal": {"name": "Goal renamed"}}
    assert report.outcomes[0].status == "updated"
    assert aha_sandbox.state.get("goals", "PRJ1-G-1")["name"] == "Goal renamed"  # type: ignore[index]


def test_create_initiative(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="create_initiative", path_params={"product_id": "PRJ2"})
    report = run(aha_sandbox, dest, [{"name": "Init X", "presented": True}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "products/PRJ2/initiatives")
    assert req.json == {"initiative": {"name": "Init X", "presented": True}}
    stored = aha_sandbox.state.get("initiatives", report.outcomes[0].aha_id)
    assert stored is not None and stored["name"] == "Init X"


def test_update_initiative(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="update_initiative",
        path_params={"product_id": "PRJ1", "initiative_id": "PRJ1-S-1"},
    )
    report = run(aha_sandbox, dest, [{"name": "Smarter initiative"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("PUT", "products/PRJ1/initiatives/PRJ1-S-1")
    assert req.json == {"initiative": {"name": "Smarter initiative"}}
    assert report.outcomes[0].status == "updated"
    stored = aha_sandbox.state.get("initiatives", "PRJ1-S-1")
    assert stored is not None and stored["name"] == "Smarter initiative"


def test_create_custom_table_record(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        template="create_custom_table_record",
        path_params={"product_id": "PRJ1", "custom_table_key": "customers"},
        custom_fields={"company": "name", "site": "website"},
    )
    report = run(aha_sandbox, dest, [{"company": "Major conglomerate", "site": "www.conglom.com"}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "products/PRJ1/custom_objects/customers/records")
    assert req.json == {
        "custom_object_record": {
            "custom_fields": {"name": "Major conglomerate", "website": "www.conglom.com"}
        }
    }
    stored = aha_sandbox.state.get("custom_object_records", report.outcomes[0].aha_id)
    assert stored is not None and stored["key"] == "customers"
    values = {cf["key"]: cf["value"] for cf in stored["custom_fields"]}
    assert values == {"name": "Major conglomerate", "website": "www.conglom.com"}


def test_create_team(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="create_team")
    report = run(aha_sandbox, dest, [{"name": "Account team", "capacity": 40}])
    req = only_write(aha_sandbox)
    assert (req.method, req.path) == ("POST", "teams")
    assert req.json == {"team": {"name": "Account team", "capacity": 40}}
    stored = aha_sandbox.state.get("teams", report.outcomes[0].aha_id)
    assert stored is not None and stored["name"] == "Account team"


def test_manual_destination(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(
        method="PUT",
        path="features/{feature_id}",
        wrap_key="feature",
        path_params={"feature_id": {"from_field": "key"}},
        exclude_attributes=["sync_note"],
        field_mapping={"title": "name"},
        disable_mailers=False,
    )
    report = run(aha_sandbox, dest, [{"key": "PRJ1-2", "title": "Manual", "sync_note": "x"}])
    (req,) = writes(aha_sandbox)
    assert (req.method, req.path, req.query) == ("PUT", "features/PRJ1-2", {})
    assert req.json == {"feature": {"name": "Manual"}}
    assert report.outcomes[0].status == "updated"
    assert aha_sandbox.state.get("features", "PRJ1-2")["name"] == "Manual"  # type: ignore[index]


def test_bad_records_fail_alone_and_the_rest_is_written(aha_sandbox: AhaSandbox) -> None:
    dest = AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
    records: list[Any] = [
        {"ref": "PRJ1-E-1", "name": "ok 1"},
        "garbage",
        {"name": "no ref"},
        {"ref": "PRJ1-E-1\n", "name": "newline"},
        {"ref": "NOPE-E-999", "name": "unknown epic"},
        {"ref": "PRJ1-E-2", "name": "ok 2"},
    ]
    report = run(aha_sandbox, dest, records)
    assert [o.status for o in report.outcomes] == [
        "updated",
        "failed",
        "failed",
        "failed",
        "failed",
        "updated",
    ]
    assert report.outcomes[4].http_status == 404
    assert not report.ok
    assert report.failed_records() == records[1:5]
    assert report.retryable_records() == []
    # Only the three renderable records reached the server.
    assert sorted(r.path for r in writes(aha_sandbox)) == [
        "epics/NOPE-E-999",
        "epics/PRJ1-E-1",
        "epics/PRJ1-E-2",
    ]
