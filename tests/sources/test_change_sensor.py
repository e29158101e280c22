"""The change sensor against the sandbox: it requests exactly the streams (and product
partitions) that changed, nothing when nothing changed, nothing twice, within its budget."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest
from sources_helpers import get_paths

from dagster_aha import build_aha_assets, build_aha_change_sensor
from dagster_aha.sources.audit_feed import AuditCursor
from dagster_aha.testing import AhaSandbox

STREAMS = ("features", "epics", "ideas", "goals", "requirements", "tasks", "users")


def _tick(
    sensor: dg.SensorDefinition,
    aha: AhaSandbox,
    instance: dg.DagsterInstance,
    cursor: str | None,
    **resource: Any,
) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"aha": aha.resource(**resource)}
    ) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _selection(request: dg.RunRequest) -> set[str]:
    return {k.to_user_string() for k in request.asset_selection or []}


def test_sensor_requests_only_what_changed_and_nothing_twice(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_aha_change_sensor(build_aha_assets(streams=STREAMS))

    first = _tick(sensor, aha, instance, None)
    assert first.run_requests == [] and first.skip_reason is not None
    assert get_paths(aha) == ["audits"]
    assert "created_since" in aha.requests[0].query

    aha.clear_requests()
    aha.state.update_record("feature", "PRJ1-2", name="Renamed in Aha!")
    requirement = aha.state.records("requirements")[0]
    aha.state.update_record("requirement", requirement["id"], name="Sharper requirement")
    second = _tick(sensor, aha, instance, first.cursor)
    assert len(second.run_requests) == 1
    assert _selection(second.run_requests[0]) == {"aha/features", "aha/requirements"}
    assert get_paths(aha) == ["audits"]  # one request: the audit feed's one page

    # the same tick evaluated again asks for the same run (same run_key: Dagster runs it once)
    again = _tick(sensor, aha, instance, first.cursor)
    assert [r.run_key for r in again.run_requests] == [second.run_requests[0].run_key]

    aha.clear_requests()
    third = _tick(sensor, aha, instance, second.cursor)
    assert third.run_requests == []  # nothing changed since: no run, nothing twice
    assert get_paths(aha) == ["audits"]

    # custom field values are audited on their own (CustomFieldValue, associated to the epic)
    aha.state.update_record("epic", "PRJ2-E-1", custom_fields={"priority": "P1"})
    aha.state.update_record("task", aha.state.records("tasks")[0]["id"], status="completed")
    fourth = _tick(sensor, aha, instance, third.cursor)
    assert [_selection(r) for r in fourth.run_requests] == [{"aha/epics", "aha/tasks"}]
    assert fourth.run_requests[0].run_key != second.run_requests[0].run_key


def test_http_writes_and_deletes_are_changes(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_aha_change_sensor(streams=["features", "goals"])
    start = _tick(sensor, aha, instance, None)
    client = aha.client()
    client.request("PUT", "features/PRJ1-1", json={"feature": {"name": "Edited over HTTP"}})
    aha.state.delete_record("goal", "PRJ2-G-1")
    result = _tick(sensor, aha, instance, start.cursor)
    assert [_selection(r) for r in result.run_requests] == [{"aha/features", "aha/goals"}]
    actions = sorted(a["audit_action"] for a in aha.state.records("audits"))
    assert actions == ["destroy", "update"]


def test_product_partitions_get_one_run_each(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(
        streams=["products", "features", "epics"], product_partitions=["PRJ1", "PRJ2"]
    )
    sensor = build_aha_change_sensor(assets)
    start = _tick(sensor, aha, instance, None)
    aha.state.update_record("feature", "PRJ2-3", name="Only product 2 changed")
    aha.state.update_record("product", "PRJ1", name="Renamed workspace")
    aha.clear_requests()
    result = _tick(sensor, aha, instance, start.cursor)
    by_partition = {r.partition_key: _selection(r) for r in result.run_requests}
    assert by_partition == {None: {"aha/products"}, "PRJ2": {"aha/features"}}
    assert get_paths(aha) == ["audits"]  # the partition came from the audit's reference


def test_a_tick_keeps_to_its_share_of_the_rate_budget(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    # 0.05 x 60/min x 60 s = 3 requests a tick; 700 audits are 4 pages of 200
    sensor = build_aha_change_sensor(streams=["features"], rate_budget_share=0.05)
    start = _tick(sensor, aha, instance, None, requests_per_minute=60)
    for i in range(700):
        aha.state.update_record("feature", "PRJ1-1", name=f"Edit {i}")
    aha.clear_requests()
    first = _tick(sensor, aha, instance, start.cursor, requests_per_minute=60)
    assert len(aha.requests) == 3
    assert len(first.run_requests) == 1
    aha.clear_requests()
    second = _tick(sensor, aha, instance, first.cursor, requests_per_minute=60)
    assert 1 <= len(aha.requests) <= 3
    assert len(second.run_requests) == 1  # the audits of the last page
    assert second.run_requests[0].run_key != first.run_requests[0].run_key
    third = _tick(sensor, aha, instance, second.cursor, requests_per_minute=60)
    assert third.run_requests == []
    assert len(AuditCursor.deserialize(third.cursor or "").seen) <= 700


def test_server_ignoring_created_since_costs_requests_not_audits(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_aha_change_sensor(streams=["features", "epics"])
    aha.state.update_record("epic", "PRJ1-E-1", name="Before the sensor")
    start = _tick(sensor, aha, instance, None)
    assert [_selection(r) for r in start.run_requests] == [{"aha/epics"}]  # initial lookback
    aha.state.audit_time_filters = False  # the server now returns the whole feed
    aha.state.update_record("feature", "PRJ1-3", name="After")
    result = _tick(sensor, aha, instance, start.cursor)
    assert [_selection(r) for r in result.run_requests] == [{"aha/features"}]
    assert _tick(sensor, aha, instance, result.cursor).run_requests == []


def test_sensor_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rate_budget_share"):
        build_aha_change_sensor(streams=["features"], rate_budget_share=0)
    with pytest.raises(ValueError, match="Unknown Aha! stream"):
        build_aha_change_sensor(streams=["nope"])
    with pytest.raises(ValueError, match="sensor timeout"):
        build_aha_change_sensor(streams=["features"], time_budget_seconds=600)
    sensor = build_aha_change_sensor(streams=["features"])
    assert sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_max_requests_per_tick_caps_a_tick(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    sensor = build_aha_change_sensor(streams=["features"], max_requests_per_tick=1)
    start = _tick(sensor, aha, instance, None)
    for i in range(450):  # 3 pages
        aha.state.update_record("feature", "PRJ1-1", name=f"Edit {i}")
    aha.clear_requests()
    cursor = start.cursor
    runs = 0
    for _ in range(3):
        result = _tick(sensor, aha, instance, cursor)
        runs += len(result.run_requests)
        cursor = result.cursor
    assert len(aha.requests) == 3 and runs == 3  # one page a tick, each a run of its audits
    assert _tick(sensor, aha, instance, cursor).run_requests == []
