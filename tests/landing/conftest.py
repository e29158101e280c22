"""Helpers of the landing tests: a sandbox, a dlt pipeline per test, the sandbox's truth."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dlt
import pytest

from dagster_aha.testing import AhaSandbox

SMALL = {"products": 2, "releases_per_product": 2, "features_per_release": 10}


@pytest.fixture
def sandbox() -> Iterator[AhaSandbox]:
    with AhaSandbox(enforce_rate_limits=False, **SMALL) as aha:
        yield aha


def duckdb_pipeline(tmp_path: Path, name: str = "aha_test") -> dlt.Pipeline:
    return dlt.pipeline(
        pipeline_name=name,
        pipelines_dir=str(tmp_path / "dlt"),
        destination=dlt.destinations.duckdb(str(tmp_path / "landed.duckdb")),
        dataset_name="aha",
    )


def query(pipeline: dlt.Pipeline, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with pipeline.sql_client() as client:
        return [tuple(r) for r in client.execute_sql(sql, *args) or []]


def table(pipeline: dlt.Pipeline, name: str) -> str:
    with pipeline.sql_client() as client:
        return client.make_qualified_table_name(name)


def change_3_delete_2_add_1(aha: AhaSandbox) -> None:
    """The scenario of the issue, "behind the client's back" and over HTTP."""
    features = sorted(aha.state.records("features"), key=lambda f: f["id"])
    for f in features[:3]:
        aha.state.update_record("features", f["id"], name=f"changed {f['reference_num']}")
    client = aha.client()
    client.request("DELETE", f"features/{features[3]['id']}")  # a DELETE over HTTP
    aha.state.delete_record("features", features[4]["id"])  # and one behind its back
    client.request("POST", "releases/PRJ1-R-1/features", json={"feature": {"name": "added"}})


def truth(aha: AhaSandbox) -> dict[str, str]:
    return {f["id"]: f["name"] for f in aha.state.records("features")}
