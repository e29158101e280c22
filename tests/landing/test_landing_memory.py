"""AhaLanding's bounded-memory defaults: dlt write buffers, DuckDB memory_limit, one load job."""

from __future__ import annotations

from pathlib import Path

import dlt
import pytest
from dlt.common.configuration import resolve_configuration
from dlt.common.data_writers.buffered import BufferedDataWriter

from dagster_aha.dlt import AhaLanding, aha_dlt_source
from dagster_aha.dlt.landing import DEFAULT_BUFFER_MAX_ITEMS
from dagster_aha.testing import AhaSandbox

from .conftest import query, table, truth

_WRITER = BufferedDataWriter.BufferedDataWriterConfiguration


def _buffer(sections: tuple[str, ...]) -> int:
    return resolve_configuration(_WRITER(), sections=sections).buffer_max_items


def test_settings_bound_the_write_buffers_unless_dlt_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    landing = AhaLanding()
    extract, normalize = ("sources", "aha", "aha"), ("normalize",)
    assert _buffer(normalize) == 5000  # dlt's own default, outside a landing
    with landing.settings():
        assert _buffer(extract) == _buffer(normalize) == DEFAULT_BUFFER_MAX_ITEMS == 1000
    assert _buffer(normalize) == 5000  # nothing left behind
    with AhaLanding(buffer_max_items=None).settings():
        assert _buffer(normalize) == 5000
    monkeypatch.setenv("DATA_WRITER__BUFFER_MAX_ITEMS", "77")
    with landing.settings():
        assert _buffer(extract) == 77  # the user's configuration wins


def test_duckdb_loads_with_a_memory_limit_one_job_at_a_time(
    sandbox: AhaSandbox, tmp_path: Path
) -> None:
    landing = AhaLanding(credentials=str(tmp_path / "landed.duckdb"), pipelines_dir=str(tmp_path))
    assert landing.destination_factory().caps_params == {"max_parallel_load_jobs": 1}
    pipeline = landing.pipeline()
    landing.run(aha_dlt_source(sandbox.client(), streams=["features", "releases"]))
    [(limit,)] = query(pipeline, "SELECT current_setting('memory_limit')")
    number, unit = str(limit).split()
    assert unit == "MiB" and float(number) <= 128  # DuckDB reports 128MB as 122.0 MiB
    rows = query(pipeline, f"SELECT id, name FROM {table(pipeline, 'features')}")
    assert dict(rows) == truth(sandbox)
    [(releases,)] = query(pipeline, f"SELECT count(*) FROM {table(pipeline, 'releases')}")
    assert releases == sandbox.state.count("releases")
    # jsonl load files (DuckDB reads them itself)
    [package] = pipeline.list_completed_load_packages()
    jobs = pipeline.get_load_package_info(package).jobs["completed_jobs"]
    files = {(j.job_file_info.table_name, j.job_file_info.file_format) for j in jobs}
    assert {("features", "jsonl"), ("releases", "jsonl")} <= files  # (and the merges' sql)


def test_no_memory_limit_keeps_duckdb_defaults(tmp_path: Path) -> None:
    landing = AhaLanding(credentials=str(tmp_path / "x.duckdb"), duckdb_memory_limit=None)
    factory = landing.destination_factory()
    assert factory.caps_params == {}
    assert factory.config_params["credentials"] == str(tmp_path / "x.duckdb")
    assert AhaLanding(destination="postgres").loader_file_format is None
    assert isinstance(landing.pipeline(), dlt.Pipeline)
