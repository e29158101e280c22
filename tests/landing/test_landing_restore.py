"""A record deleted in Aha!, landed as deleted, then restored from the recycle bin comes back."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from dagster_aha.dlt import LandingStats, TableRun, aha_dlt_source
from dagster_aha.testing import AhaSandbox

from .conftest import duckdb_pipeline, query, table, truth


@pytest.mark.parametrize("deletes", ["hard", "soft"])
def test_a_restored_record_is_landed_again_by_the_id_reconciliation(
    sandbox: AhaSandbox, tmp_path: Path, deletes: str
) -> None:
    pipeline = duckdb_pipeline(tmp_path)

    def load(reconcile_every: timedelta | None) -> TableRun:
        stats = LandingStats()
        source = aha_dlt_source(
            sandbox.client(),
            streams=["features"],
            deletes=deletes,  # type: ignore[arg-type]
            reconcile_every=reconcile_every,
            stats=stats,
        )
        pipeline.run(source)
        return stats.tables["features"]

    def landed() -> dict[str, object]:
        """id -> _aha_deleted_at (None: live); hard deletes leave no row."""
        column = "_aha_deleted_at" if deletes == "soft" else "NULL"
        rows = query(pipeline, f"SELECT id, {column} FROM {table(pipeline, 'features')}")
        assert len(rows) == len({r[0] for r in rows}), "duplicate ids in the landed table"
        return {str(r[0]): r[1] for r in rows}

    load(timedelta(0))  # full read
    # the oldest feature: far behind the cursor, so no incremental read returns it again
    victim = min(sandbox.state.records("features"), key=lambda f: f["updated_at"])
    sandbox.state.delete_record("features", victim["id"])
    assert load(None).deletes_applied == 1  # through the recycle bin
    if deletes == "hard":
        assert victim["id"] not in landed()
    else:
        assert landed()[victim["id"]] is not None

    restored = sandbox.state.restore_record("features", victim["id"])
    assert restored["updated_at"] == victim["updated_at"]  # Aha! keeps the old updated_at
    assert not [d for d in sandbox.state.deletions if d["record"]["id"] == victim["id"]]

    sandbox.clear_requests()
    missed = load(None)  # an incremental read alone does not see it
    assert missed.sync_mode == "incremental" and missed.records_restored == 0
    [read] = [r for r in sandbox.requests if r.path == "features" and "updated_since" in r.query]
    assert victim["updated_at"] < read.query["updated_since"]
    assert landed().get(victim["id"], "gone") is not None  # still missing / still deleted

    back = load(timedelta(0))  # the reconciliation lists the id and lands the record
    assert back.reconciled and back.records_restored == 1 and back.deletes_applied == 0
    rows = landed()
    assert victim["id"] in rows and rows[victim["id"]] is None  # live again
    assert {rid for rid, deleted in rows.items() if deleted is None} == set(truth(sandbox))
    [(name,)] = query(
        pipeline, f"SELECT name FROM {table(pipeline, 'features')} WHERE id = %s", victim["id"]
    )
    assert name == victim["name"]

    again = load(timedelta(0))  # nothing is missing any more
    assert again.records_restored == 0 and landed() == rows
