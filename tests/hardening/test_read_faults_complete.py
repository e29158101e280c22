"""Read faults that make a list wrong without an error status: never a silently short read.

Each default stream under each sandbox read fault (an empty page once, the page parameter
ignored, totals that do not add up, a future timestamp): the read returns exactly the sandbox's
records (0 lost, 0 twice) once the fault passes, or raises ``AhaIncompleteReadError`` while it
persists. Landing under a seeded mix of them ends equal to the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dlt
import pytest

from dagster_aha.client import AhaClient, AhaIncompleteReadError
from dagster_aha.dlt import aha_dlt_source
from dagster_aha.sources.streams import DEFAULT_STREAMS, STREAMS, resolve_fields
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import FAST_CLIENT, FAST_SANDBOX, FIGURES

pytestmark = pytest.mark.faults

DATA: dict[str, Any] = {"products": 2, "releases_per_product": 2, "features_per_release": 6}
PER_PAGE = 3
ONCE = ["empty_page", "inconsistent_totals", "future_timestamp", "ignore_page"]


def _paths(client: AhaClient, name: str) -> list[str]:
    stream = STREAMS[name]
    if stream.account_path is not None:
        return [stream.account_path]
    return [stream.product_path(str(p["id"])) for p in client.iter_records("products")]


def _ids(client: AhaClient, name: str) -> list[str]:
    stream = STREAMS[name]
    fields = list(resolve_fields(stream, None))
    return [
        str(r["id"])
        for path in _paths(client, name)
        for r in client.iter_records(
            path, fields=fields, per_page=PER_PAGE, record_key=stream.record_key
        )
    ]


@pytest.fixture(scope="module")
def aha() -> Any:
    with AhaSandbox(**FAST_SANDBOX, **DATA) as sandbox:
        yield sandbox


@pytest.mark.parametrize("kind", ONCE)
@pytest.mark.parametrize("name", DEFAULT_STREAMS)
def test_a_passing_read_fault_loses_nothing(aha: AhaSandbox, name: str, kind: str) -> None:
    stream = STREAMS[name]
    truth = sorted(r["id"] for r in aha.state.records(name))
    # the second page of each list goes wrong once
    aha.set_faults([Fault(kind, method="GET", path=rf".*{stream.record_key}", after=1, times=1)])
    with aha.client(**FAST_CLIENT) as client:
        got = _ids(client, name)
    assert sorted(got) == truth and len(got) == len(set(got))
    FIGURES.add("records_checked", len(got))


@pytest.mark.parametrize("kind", ["ignore_page", "inconsistent_totals"])
def test_a_persistent_read_fault_raises_never_a_short_read(aha: AhaSandbox, kind: str) -> None:
    aha.set_faults([Fault(kind, method="GET", path="features")])
    with aha.client(**FAST_CLIENT) as client, pytest.raises(AhaIncompleteReadError) as info:
        _ids(client, "features")
    assert info.value.path == "features"


def test_landing_under_read_faults_equals_the_truth(tmp_path: Path) -> None:
    with AhaSandbox(**FAST_SANDBOX, **DATA, seed=3) as aha:
        pipeline = dlt.pipeline(
            pipeline_name="faults",
            pipelines_dir=str(tmp_path / "dlt"),
            destination=dlt.destinations.duckdb(str(tmp_path / "f.duckdb")),
            dataset_name="aha",
        )
        faults = [
            Fault(k, method="GET", path="features", probability=0.15)
            for k in ("empty_page", "inconsistent_totals", "500")
        ]
        aha.set_faults(faults)
        source = aha_dlt_source(aha.client(**FAST_CLIENT, per_page=PER_PAGE), streams=["features"])
        pipeline.run(source)
        aha.set_faults([])
        with pipeline.sql_client() as sql:
            rows = sql.execute_sql(f"SELECT id FROM {sql.make_qualified_table_name('features')}")
        landed = sorted(str(r[0]) for r in rows or [])
        assert landed == sorted(r["id"] for r in aha.state.records("features"))
        assert aha.stats.faults_injected  # faults did fire
        FIGURES.add("records_checked", len(landed))
