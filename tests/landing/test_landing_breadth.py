"""The change-capture and breadth streams land through dlt like the default ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagster_aha.dlt import LandingStats, aha_dlt_source
from dagster_aha.testing import AhaSandbox
from dagster_aha.testing.kinds.workflows import WORKFLOWS

from .conftest import duckdb_pipeline, query, table

# stream -> the sandbox kind whose records it lands (one row each)
BREADTH = {
    "audits": "audits",
    "tasks": "tasks",
    "release_phases": "release_phases",
    "idea_endorsements": "idea_endorsements",
    "workflows": None,  # one workflow per record type, the same in every product
    "custom_field_definitions": None,  # a dimension derived from the seeded fields
    "features__workflow_status_times": None,  # one open interval per feature
    "requirements": "requirements",
}


@pytest.mark.parametrize("stream", sorted(BREADTH))
def test_breadth_stream_lands_one_row_per_record(
    sandbox: AhaSandbox, tmp_path: Path, stream: str
) -> None:
    if stream == "audits":  # the feed holds what the sandbox did: do something first
        client = sandbox.client()
        client.request("POST", "releases/PRJ1-R-1/features", json={"feature": {"name": "new"}})
    stats = LandingStats()
    pipeline = duckdb_pipeline(tmp_path, name=f"aha_{stream}")
    pipeline.run(aha_dlt_source(sandbox.client(), streams=[stream], stats=stats))
    rows = query(pipeline, f"SELECT id FROM {table(pipeline, stream)}")
    ids = [str(r[0]) for r in rows]
    assert ids and len(ids) == len(set(ids)), "landed rows must be unique by id"
    kind = BREADTH[stream]
    if kind is not None:
        assert sorted(ids) == sorted(str(r["id"]) for r in sandbox.state.records(kind))
    elif stream == "workflows":
        assert len(ids) == len(WORKFLOWS)
    elif stream == "features__workflow_status_times":
        assert len(ids) == sandbox.state.count("features")
    # a workflow shared by every product is read once per product and merged into one row
    per_product = sandbox.state.count("products") if stream == "workflows" else 1
    assert stats.tables[stream].rows_loaded == len(ids) * per_product
