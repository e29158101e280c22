"""Landing with dlt: merged tables equal the sandbox's truth after changes, deletes, adds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import dlt
import pytest

from dagster_aha.client import AhaIncompleteReadError
from dagster_aha.dlt import LandingStats, aha_dlt_source
from dagster_aha.testing import AhaSandbox, Fault
from dagster_aha.testing.faults import FUTURE_TIMESTAMP

from .conftest import change_3_delete_2_add_1, duckdb_pipeline, query, table, truth


def _landed(pipeline: dlt.Pipeline) -> dict[str, str]:
    rows = query(pipeline, f"SELECT id, name FROM {table(pipeline, 'features')}")
    assert len(rows) == len({r[0] for r in rows}), "duplicate ids in the landed table"
    return {str(r[0]): r[1] for r in rows}


def _assert_equals_truth(pipeline: dlt.Pipeline, aha: AhaSandbox) -> None:
    assert _landed(pipeline) == truth(aha)


@pytest.mark.parametrize(
    ("deletions_feed", "reconcile_every"),
    [(True, None), (False, timedelta(0))],
    ids=["recycle-bin", "id-reconciliation"],
)
def test_full_then_incremental_load_equals_the_truth_duckdb(
    sandbox: AhaSandbox, tmp_path: Path, deletions_feed: bool, reconcile_every: timedelta | None
) -> None:
    pipeline = duckdb_pipeline(tmp_path)

    def load() -> LandingStats:
        stats = LandingStats()
        source = aha_dlt_source(
            sandbox.client(),
            streams=["features"],
            deletions_feed=deletions_feed,
            reconcile_every=reconcile_every,
            stats=stats,
        )
        pipeline.run(source)
        return stats

    first = load().tables["features"]
    assert first.sync_mode == "full" and first.rows_loaded == sandbox.state.count("features")
    _assert_equals_truth(pipeline, sandbox)
    change_3_delete_2_add_1(sandbox)
    sandbox.clear_requests()
    second = load().tables["features"]
    assert second.sync_mode == "incremental"
    assert second.deletes_applied == 2
    _assert_equals_truth(pipeline, sandbox)
    [read] = [r for r in sandbox.requests if r.path == "features" and "updated_since" in r.query]
    assert read.query["updated_since"] < first.cursor  # the cursor minus the lookback
    # 3 changed + 1 added, and what the lookback reads again
    since = read.query["updated_since"]
    again = sum(1 for f in sandbox.state.records("features") if f["updated_at"] >= since)
    assert second.rows_loaded == again >= 4
    if not deletions_feed:
        listing = [r for r in sandbox.requests if r.query.get("fields") == "id"]
        assert listing and all(r.query["per_page"] == "200" for r in listing)
        assert not [r for r in sandbox.requests if r.path == "deletions"]


def test_postgres_destination_equals_the_truth(
    sandbox: AhaSandbox, tmp_path: Path, postgres_url: str
) -> None:
    # dlt wants a password; the test cluster trusts loopback connections and ignores it
    user, rest = postgres_url.split("://", 1)[1].split("@", 1)
    credentials = f"postgresql://{user.split(':')[0]}:unused@{rest}"
    pipeline = dlt.pipeline(
        pipeline_name="aha_pg",
        pipelines_dir=str(tmp_path / "dlt"),
        destination=dlt.destinations.postgres(credentials),
        dataset_name="aha",
    )
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features", "releases"]))
    _assert_equals_truth(pipeline, sandbox)
    change_3_delete_2_add_1(sandbox)
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features", "releases"]))
    _assert_equals_truth(pipeline, sandbox)
    changed = query(
        pipeline, f"SELECT count(*) FROM {table(pipeline, 'features')} WHERE name LIKE 'changed %%'"
    )
    assert changed == [(3,)]
    [(releases,)] = query(pipeline, f"SELECT count(*) FROM {table(pipeline, 'releases')}")
    assert releases == sandbox.state.count("releases")


def test_soft_deletes_keep_the_row_with_deleted_at(sandbox: AhaSandbox, tmp_path: Path) -> None:
    pipeline = duckdb_pipeline(tmp_path)
    source = lambda: aha_dlt_source(sandbox.client(), streams=["features"], deletes="soft")  # noqa: E731
    pipeline.run(source())
    before = sandbox.state.count("features")
    change_3_delete_2_add_1(sandbox)
    pipeline.run(source())
    rows = query(
        pipeline,
        f"SELECT id, _aha_deleted_at FROM {table(pipeline, 'features')}",
    )
    deleted = {r[0] for r in rows if r[1] is not None}
    assert len(rows) == before + 1  # nothing removed, one added
    assert len(deleted) == 2 and not deleted & set(truth(sandbox))
    assert {r[0] for r in rows if r[1] is None} == set(truth(sandbox))


def test_custom_fields_are_typed_columns(sandbox: AhaSandbox, tmp_path: Path) -> None:
    feature = sandbox.state.records("features")[0]
    sandbox.state.update_record(
        "features",
        feature["id"],
        custom_fields={"external_id": "EXT-1", "customer_count": 42},
    )
    pipeline = duckdb_pipeline(tmp_path)
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features"]))
    columns = pipeline.default_schema.tables["features"]["columns"]
    assert columns["custom_fields__external_id"]["data_type"] == "text"
    assert "workflow_status__name" in columns and "custom_fields" not in columns
    rows = query(
        pipeline,
        f"SELECT custom_fields__external_id FROM {table(pipeline, 'features')} WHERE id = %s",
        feature["id"],
    )
    assert rows == [("EXT-1",)]


def test_a_future_dated_record_is_landed_but_does_not_move_the_cursor(
    sandbox: AhaSandbox, tmp_path: Path
) -> None:
    pipeline = duckdb_pipeline(tmp_path)
    sandbox.set_faults([Fault("future_timestamp", path="features", times=1)])
    stats = LandingStats()
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features"], stats=stats))
    run = stats.tables["features"]
    assert run.future_records == 1
    assert run.cursor is not None and run.cursor < FUTURE_TIMESTAMP
    cursor = datetime.fromisoformat(run.cursor.replace("Z", "+00:00"))
    assert cursor <= datetime.now(timezone.utc) + timedelta(minutes=1)
    assert query(
        pipeline,
        f"SELECT count(*) FROM {table(pipeline, 'features')} WHERE updated_at >= %s",
        datetime(2036, 1, 1, tzinfo=timezone.utc),
    ) == [(1,)]
    # the next run still asks for what changed after now, not after 2036
    sandbox.set_faults([])
    sandbox.clear_requests()
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features"]))
    [read] = [r for r in sandbox.requests if r.path == "features"]
    assert read.query["updated_since"] < "2030"


def test_a_list_ignoring_fields_gives_a_full_read_not_an_empty_delta(
    sandbox: AhaSandbox, tmp_path: Path
) -> None:
    pipeline = duckdb_pipeline(tmp_path)
    sandbox.set_faults([Fault("ignore_fields", path="features")])
    stats = LandingStats()
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features"], stats=stats))
    assert stats.tables["features"].cursor is None
    assert "without updated_at" in stats.tables["features"].warnings[0]
    sandbox.clear_requests()
    pipeline.run(aha_dlt_source(sandbox.client(), streams=["features"]))
    reads = [r for r in sandbox.requests if r.path == "features" and r.query.get("fields") != "id"]
    assert reads and all("updated_since" not in r.query for r in reads)
    assert len(_landed(pipeline)) == sandbox.state.count("features")


def test_an_incomplete_read_fails_the_load_and_keeps_the_cursor(
    sandbox: AhaSandbox, tmp_path: Path
) -> None:
    pipeline = duckdb_pipeline(tmp_path)
    stats = LandingStats()
    pipeline.run(aha_dlt_source(sandbox.client(per_page=5), streams=["features"], stats=stats))
    cursor = stats.tables["features"].cursor
    for f in sandbox.state.records("features")[:12]:
        sandbox.state.update_record("features", f["id"], name="later")
    sandbox.set_faults([Fault("ignore_page", path="features")])
    with pytest.raises(Exception) as info:
        pipeline.run(aha_dlt_source(sandbox.client(per_page=5), streams=["features"]))
    assert isinstance(_root(info.value), AhaIncompleteReadError)
    sandbox.set_faults([])
    sandbox.clear_requests()
    pipeline.run(aha_dlt_source(sandbox.client(per_page=5), streams=["features"]))
    [first] = [r for r in sandbox.requests if r.path == "features"][:1]
    assert first.query["updated_since"] < cursor  # the failed run moved nothing
    _assert_equals_truth(pipeline, sandbox)


def _root(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None or exc.__context__ is not None:
        if isinstance(exc, AhaIncompleteReadError):
            return exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def test_the_page_count_is_kept_with_the_cursor_and_the_next_full_read_speculates(
    sandbox: AhaSandbox, tmp_path: Path
) -> None:
    """A full read keeps each list's page count in dlt state; the next full read (a new
    process: nothing remembered in the client) starts pages 2..k with page 1."""
    from dagster_aha.client import reset_shared_limiters

    pipeline = duckdb_pipeline(tmp_path)
    pipeline.run(aha_dlt_source(sandbox.client(per_page=5), streams=["features"]))
    state = pipeline.state["sources"]["aha"]["resources"]["features"]
    assert state["page_counts"] == {"features": 8}  # 40 features, 5 a page
    reset_shared_limiters()  # as in a new process
    sandbox.latency = 0.3
    sandbox.clear_requests()
    pipeline.run(
        aha_dlt_source(sandbox.client(per_page=5), streams=["features"], full_refresh=True)
    )
    asked = [r for r in sandbox.requests if r.path == "features"]
    first = min(r.time for r in asked if r.query.get("page") == "1")
    second = min(r.time for r in asked if r.query.get("page") == "2")
    assert second - first < 0.25  # page 2 did not wait for page 1's answer (0.3 s)
    _assert_equals_truth(pipeline, sandbox)
