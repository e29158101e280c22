"""The streams beyond the planned work items, read with ``build_aha_assets`` from the sandbox:
paths, request counts and rows; the audit feed incrementally by creation time (also from a
server that ignores ``created_since``); workflow status history as one row per interval."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import dagster as dg
from sources_helpers import get_paths, run

from dagster_aha import build_aha_assets
from dagster_aha.sources import DEFAULT_STREAMS, STREAMS
from dagster_aha.testing import AhaSandbox


def _counts(aha: AhaSandbox) -> Counter[str]:
    return Counter(get_paths(aha))


def test_account_wide_streams_are_one_list_each(aha: AhaSandbox) -> None:
    streams = ["tasks", "idea_endorsements", "release_phases", "requirements"]
    result = run(build_aha_assets(streams=streams), aha)
    assert _counts(aha) == Counter(
        {"tasks": 1, "ideas/endorsements": 1, "release_phases": 1, "features": 1}
    )
    assert len(result.rows("aha/tasks")) == aha.state.count("tasks")
    assert len(result.rows("aha/idea_endorsements")) == aha.state.count("idea_endorsements")
    assert len(result.rows("aha/release_phases")) == aha.state.count("release_phases")
    requirements = result.rows("aha/requirements")
    assert sorted(r["id"] for r in requirements) == sorted(
        r["id"] for r in aha.state.records("requirements")
    )
    assert all(r["feature_id"] and r["feature_reference_num"] for r in requirements)
    features_query = next(r.query for r in aha.requests if r.path == "features")
    assert "requirements" in features_query["fields"].split(",")  # no request per feature


def test_per_product_streams_list_the_products_once(aha: AhaSandbox) -> None:
    result = run(build_aha_assets(streams=["comments", "idea_categories", "workflows"]), aha)
    products = [p["id"] for p in aha.state.records("products")]
    expected = Counter({"products": 3})
    for pid in products:
        for suffix in ("comments", "idea_categories", "workflows"):
            expected[f"products/{pid}/{suffix}"] = 1
    assert _counts(aha) == expected
    assert len(result.rows("aha/comments")) == aha.state.count("comments")
    assert len(result.rows("aha/idea_categories")) == aha.state.count("idea_categories")
    workflows = result.rows("aha/workflows")
    assert {w["statusable_type"] for w in workflows} >= {"Feature", "Release", "Idea"}
    assert all(w["workflow_statuses"] for w in workflows)


def test_record_links_cost_one_request_per_feature(aha: AhaSandbox) -> None:
    result = run(build_aha_assets(streams=["record_links"]), aha)
    n_features = aha.state.count("features")
    counts = _counts(aha)
    assert counts["features"] == 1
    assert sum(v for k, v in counts.items() if k.endswith("/record_links")) == n_features
    assert len(counts) == 1 + n_features
    links = result.rows("aha/record_links")
    assert sorted({r["id"] for r in links}) == sorted(
        r["id"] for r in aha.state.records("record_links")
    )
    assert "record_links" not in DEFAULT_STREAMS
    assert STREAMS["record_links"].request_cost.startswith("1 per feature")


def test_custom_field_definitions_with_their_options(aha: AhaSandbox) -> None:
    result = run(build_aha_assets(streams=["custom_field_definitions"]), aha)
    rows = {r["key"]: r for r in result.rows("aha/custom_field_definitions")}
    assert rows["priority"]["type"] == "CustomFieldDefinitions::SelectConstant"
    assert [o["text"] for o in rows["priority"]["options"]] == ["P1", "P2", "P3"]
    assert rows["external_id"]["options"] is None  # a text field has no options: no request
    assert [o["text"] for o in rows["component"]["options"]] == ["web", "mobile", "api"]
    with_options = [r["id"] for r in rows.values() if r["options"] is not None]
    assert len(with_options) >= 2  # choice lists (single and multiple); text fields cost nothing
    assert _counts(aha) == Counter(
        {"custom_field_definitions": 1}
        | {f"custom_field_definitions/{i}/options": 1 for i in with_options}
    )


def test_workflow_status_history_is_a_child_table(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(
        streams=["features__workflow_status_times"], incremental=True, lookback=timedelta(0)
    )
    first = run(assets, aha, instance=instance)
    rows = first.rows("aha/features__workflow_status_times")
    assert len(rows) == aha.state.count("features")  # one open interval each
    assert {r["ended_at"] for r in rows} == {None}
    query = aha.requests[0].query
    assert aha.requests[0].path == "features"
    assert "workflow_status_times" in query["fields"].split(",")

    feature = aha.state.update_record("feature", "PRJ1-2", workflow_status="Shipped")
    aha.clear_requests()
    second = run(assets, aha, instance=instance)
    history = second.rows("aha/features__workflow_status_times")
    assert [r["feature_id"] for r in history] == [feature["id"]] * 2  # only the changed feature
    assert [r["status_name"] for r in history][-1] == "Shipped"
    assert history[0]["ended_at"] == history[1]["started_at"]
    assert "updated_since" in aha.requests[0].query


def test_partitioned_reads_stay_in_their_product(aha: AhaSandbox) -> None:
    streams = ["comments", "requirements", "record_links", "features__workflow_status_times"]
    assets = build_aha_assets(streams=streams, product_partitions=["PRJ1", "PRJ2"])
    result = run(assets, aha, partition_key="PRJ2")
    counts = _counts(aha)
    assert counts["products/PRJ2/comments"] == 1
    assert counts["products/PRJ2/features"] == 3  # requirements, links' parents, status times
    prj2 = {f["id"] for f in aha.state.records("features") if f["reference_num"].startswith("PRJ2")}
    assert sum(v for k, v in counts.items() if k.endswith("/record_links")) == len(prj2)
    assert not any("PRJ1" in path for path in counts)
    assert {r["feature_id"] for r in result.rows("aha/requirements", "PRJ2")} <= prj2
    assert {
        r["feature_id"] for r in result.rows("aha/features__workflow_status_times", "PRJ2")
    } == prj2


def test_audits_stream_is_incremental_by_creation_time(aha: AhaSandbox) -> None:
    instance = dg.DagsterInstance.ephemeral()
    assets = build_aha_assets(streams=["audits"], incremental=True, lookback=timedelta(0))
    for i in range(3):
        aha.state.update_record("feature", "PRJ1-1", name=f"Edit {i}")
    first = run(assets, aha, instance=instance)
    assert len(first.rows("aha/audits")) == 3
    audit = first.rows("aha/audits")[-1]
    assert audit["auditable_type"] == "Feature" and audit["audit_action"] == "update"
    assert audit["changed_fields"] == ["name"] and audit["user_id"]
    assert audit["auditable_id"] == aha.state.get("feature", "PRJ1-1")["id"]  # type: ignore[index]

    # a server that ignores created_since: the client still keeps only the new audits
    aha.state.audit_time_filters = False
    aha.state.update_record("epic", "PRJ1-E-1", name="Second edit")
    aha.clear_requests()
    second = run(assets, aha, instance=instance)
    cursor = first.metadata("aha/audits")["aha/cursor"]
    assert aha.requests[0].query["created_since"] == cursor
    assert aha.requests[0].query["created_before"] > cursor  # one fixed window per read
    rows = second.rows("aha/audits")
    assert len(aha.state.records("audits")) == 4  # the server sent all four
    assert [r["auditable_type"] for r in rows][-1] == "Epic"
    assert all(r["created_at"] >= cursor for r in rows) and len(rows) <= 2
    assert second.metadata("aha/audits")["aha/sync_mode"] == "incremental"
