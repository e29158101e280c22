"""Syncing only what changed, against the sandbox: diffing, retries, modes, mirror, the plan.

Every test asserts the requests the sandbox received (``AhaSandbox.requests``).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dagster_aha.destinations import (
    AhaDestination,
    WriteLedger,
    plan_writes,
    write_records,
)
from dagster_aha.testing import AhaSandbox, Fault

RELEASE = "PRJ1-R-1"


@pytest.fixture
def ledger(tmp_path: Path) -> WriteLedger:
    with WriteLedger(str(tmp_path / "ledger.sqlite")) as led:
        yield led  # type: ignore[misc]


def keyed(**kw: Any) -> AhaDestination:
    """Features keyed by the upstream ``ext`` column (ledger identity, no look-ups)."""
    return AhaDestination(
        template="create_feature", path_params={"release_id": RELEASE}, record_key="ext", **kw
    )


def matched(**kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id",
        **kw,
    )


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {"name": f"S{i}", "ext": f"s{i}", "description": f"<p>about {i}</p>"}
        for i in range(start, start + n)
    ]


def write(aha: AhaSandbox, dest: AhaDestination, records: list[Any], ledger: Any = None, **kw: Any):
    aha.clear_requests()
    with aha.client(**kw) as client:
        return write_records(client, dest, records, ledger=ledger, run_id="t")


def writes(aha: AhaSandbox) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in aha.requests if r.method != "GET"]


def test_a_second_run_sends_nothing_and_a_change_sends_one_update(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    records = rows(10)
    first = write(aha_sandbox, keyed(), records, ledger)
    assert first.counts["created"] == 10 and len(writes(aha_sandbox)) == 10

    again = write(aha_sandbox, keyed(), records, ledger)
    assert again.counts["unchanged"] == 10 and again.ok
    assert aha_sandbox.requests == [] and again.requests == 0

    records[3] = {**records[3], "name": "S3 renamed"}
    third = write(aha_sandbox, keyed(), records, ledger)
    feature_id = first.outcomes[3].aha_id
    assert writes(aha_sandbox) == [("PUT", f"features/{feature_id}")]
    assert [r.json for r in aha_sandbox.requests] == [
        {"feature": {"name": "S3 renamed", "ext": "s3", "description": "<p>about 3</p>"}}
    ]
    assert third.counts["updated"] == 1 and third.counts["unchanged"] == 9
    assert third.outcomes[3].changes == [{"field": "name", "before": "S3", "after": "S3 renamed"}]
    assert aha_sandbox.state.get("features", feature_id)["name"] == "S3 renamed"


def test_a_matched_record_that_holds_the_values_is_unchanged(aha_sandbox: AhaSandbox) -> None:
    records = rows(4)
    write(aha_sandbox, matched(), records)  # no ledger: the diff is against Aha! itself
    again = write(aha_sandbox, matched(), records)
    assert again.counts["unchanged"] == 4 and writes(aha_sandbox) == []
    (listing,) = aha_sandbox.requests
    # the look-up asks for the fields sent, to compare them as Aha! returns them
    assert set(listing.query["fields"].split(",")) >= {"name", "description", "custom_fields"}

    # someone edits one feature in Aha!: only that one is updated, only the changed field shown
    target = again.outcomes[2].aha_id
    aha_sandbox.state.update_record("features", target, description="<p>edited in Aha!</p>")
    third = write(aha_sandbox, matched(), records)
    assert writes(aha_sandbox) == [("PUT", f"features/{target}")]
    assert third.outcomes[2].status == "updated"
    assert third.outcomes[2].changes == [
        {"field": "description", "before": "<p>edited in Aha!</p>", "after": "<p>about 2</p>"}
    ]


def test_a_retryable_failure_is_retried_on_the_next_run_and_says_so(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    aha_sandbox.set_faults([Fault("429", method="POST", times=1)])
    first = write(aha_sandbox, keyed(max_concurrency=1), rows(3), ledger, max_retries=0)
    assert [o.status for o in first.outcomes] == ["failed", "created", "created"]
    assert first.outcomes[0].retryable
    aha_sandbox.set_faults([])
    second = write(aha_sandbox, keyed(), rows(3), ledger)  # the upstream did not change
    assert [o.status for o in second.outcomes] == ["created", "unchanged", "unchanged"]
    assert second.outcomes[0].retry and "retry: failed in run t" in (
        second.outcomes[0].detail or ""
    )
    assert writes(aha_sandbox) == [("POST", f"releases/{RELEASE}/features")]


def test_update_only_never_creates(aha_sandbox: AhaSandbox) -> None:
    write(aha_sandbox, matched(), rows(1))
    report = write(
        aha_sandbox,
        matched(mode="update_only"),
        [{"name": "S0 new name", "ext": "s0"}, {"name": "Nope", "ext": "missing"}],
    )
    assert [o.status for o in report.outcomes] == ["updated", "skipped"]
    assert "mode='update_only' never creates" in (report.outcomes[1].detail or "")
    assert [m for m, _ in writes(aha_sandbox)] == ["PUT"]

    # an update template: a record that is not there is skipped (404), nothing else sent
    epics = AhaDestination(
        template="update_epic", path_params={"epic_id": {"from_field": "ref"}}, mode="update_only"
    )
    report = write(aha_sandbox, epics, [{"ref": "PRJ1-E-999", "name": "x"}])
    assert report.outcomes[0].status == "skipped" and report.outcomes[0].http_status == 404
    assert writes(aha_sandbox) == [("PUT", "epics/PRJ1-E-999")]


def test_create_mode_with_match_on_only_creates_what_is_missing(aha_sandbox: AhaSandbox) -> None:
    write(aha_sandbox, matched(), rows(1))
    report = write(
        aha_sandbox, matched(mode="create"), [{"name": "changed", "ext": "s0"}, *rows(1, 1)]
    )
    assert [o.status for o in report.outcomes] == ["skipped", "created"]
    assert [m for m, _ in writes(aha_sandbox)] == ["POST"]


def test_upsert_mode_updates_and_creates(aha_sandbox: AhaSandbox) -> None:
    write(aha_sandbox, matched(), rows(1))
    report = write(
        aha_sandbox, matched(mode="upsert"), [{"name": "changed", "ext": "s0"}, *rows(1, 1)]
    )
    assert [o.status for o in report.outcomes] == ["updated", "created"]
    assert sorted(m for m, _ in writes(aha_sandbox)) == ["POST", "PUT"]


def test_mirror_deletes_exactly_the_keys_that_left_the_upstream(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    dest = keyed(mode="mirror", allow_delete=True)
    first = write(aha_sandbox, dest, rows(5), ledger)
    gone = {o.aha_id for o in first.outcomes[3:]}
    report = write(aha_sandbox, dest, rows(3), ledger)
    assert sorted(writes(aha_sandbox)) == sorted(("DELETE", f"features/{i}") for i in gone)
    assert report.counts["deleted"] == 2 and report.counts["unchanged"] == 3 and report.ok
    assert {o.record_key for o in report.outcomes[3:]} == {'"s3"', '"s4"'}
    assert all(aha_sandbox.state.find("features", i) is None for i in gone)
    # deleted keys are forgotten: the next run sends nothing
    write(aha_sandbox, dest, rows(3), ledger)
    assert aha_sandbox.requests == []


def test_mirror_keep_and_the_max_deletes_guard(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    write(aha_sandbox, keyed(mode="mirror"), rows(5), ledger)
    kept = write(aha_sandbox, keyed(mode="mirror", on_removed="keep"), rows(3), ledger)
    assert kept.counts["removed_upstream"] == 2 and writes(aha_sandbox) == [] and kept.ok

    guarded = keyed(mode="mirror", allow_delete=True, max_deletes=1)
    blocked = write(aha_sandbox, guarded, rows(3), ledger)
    assert writes(aha_sandbox) == [] and not blocked.ok
    assert blocked.counts["removed_upstream"] == 2
    assert "above max_deletes=1" in blocked.errors[0]

    ratio = keyed(mode="mirror", allow_delete=True, max_deletes=0.4)  # 2 of 5 is allowed
    done = write(aha_sandbox, ratio, rows(3), ledger)
    assert [m for m, _ in writes(aha_sandbox)] == ["DELETE", "DELETE"] and done.ok


def test_mirror_never_deletes_a_record_it_did_not_create(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    write(aha_sandbox, matched(), rows(2))  # created outside the ledger
    dest = matched(mode="mirror", allow_delete=True)
    write(aha_sandbox, dest, rows(2), ledger)  # matched, recorded as "matched"
    report = write(aha_sandbox, dest, rows(1), ledger)
    assert writes(aha_sandbox) == [] and report.counts["removed_upstream"] == 1
    assert "did not create" in (report.outcomes[1].detail or "")
    told = write(
        aha_sandbox, matched(mode="mirror", allow_delete=True, mirror_matched=True), rows(1), ledger
    )
    assert [m for m, _ in writes(aha_sandbox)] == ["DELETE"] and told.counts["deleted"] == 1


def test_mirror_deletes_nothing_on_an_empty_or_unrenderable_input(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    dest = keyed(mode="mirror", allow_delete=True)
    write(aha_sandbox, dest, rows(3), ledger)
    assert write(aha_sandbox, dest, [], ledger).outcomes == []
    bad = write(aha_sandbox, dest, [*rows(1), {"ext": "no-name"}], ledger)
    assert writes(aha_sandbox) == [] and bad.counts["removed_upstream"] == 2


def test_sync_options_are_checked_before_anything_is_sent() -> None:
    with pytest.raises(ValueError, match="needs match_on"):
        keyed(mode="upsert")
    with pytest.raises(ValueError, match="allow_delete"):
        keyed(mode="mirror", on_removed="delete")
    with pytest.raises(ValueError, match="mirror"):
        AhaDestination(
            template="create_feature", path_params={"release_id": RELEASE}, mode="mirror"
        )
    with pytest.raises(ValueError, match="ratio"):
        keyed(mode="mirror", max_deletes=1.5)
    with pytest.raises(ValueError, match="mode='mirror' only"):
        keyed(max_deletes=3)


def test_plan_reads_only_and_predicts_the_run(aha_sandbox: AhaSandbox, ledger: WriteLedger) -> None:
    dest = matched(mode="mirror", allow_delete=True)
    write(aha_sandbox, dest, rows(4), ledger)
    records = [
        {**rows(1)[0], "name": "S0 renamed"},  # update (field diff)
        *rows(2, 1),  # unchanged (ledger)
        *rows(1, 10),  # create
        {"name": "twin", "ext": "s20"},  # fail: duplicate key in input
        {"name": "twin 2", "ext": "s20"},
    ]  # s3 left: delete
    aha_sandbox.clear_requests()
    with aha_sandbox.client() as client:
        plan = plan_writes(client, dest, records, ledger=ledger)
    assert {r.method for r in aha_sandbox.requests} == {"GET"}
    assert plan.reads == len(aha_sandbox.requests) == 1
    assert [i.action for i in plan.items] == [
        "update", "unchanged", "unchanged", "create", "fail", "fail", "delete",
    ]  # fmt: skip
    assert plan.items[0].changes == [{"field": "name", "before": "S0", "after": "S0 renamed"}]
    assert "duplicate key" in (plan.items[4].reason or "")
    assert plan.totals == {
        "create": 1, "update": 1, "unchanged": 2, "delete": 1, "skip": 0, "fail": 2,
    }  # fmt: skip
    assert plan.writes == 3
    table = plan.markdown()
    assert table.splitlines()[0] == "| # | action | key | changes / reason |"
    assert "| 0 | update | s0 | name: S0 → S0 renamed |" in table

    report = write(aha_sandbox, dest, records, ledger)
    assert len(writes(aha_sandbox)) == plan.writes
    assert [o.status for o in report.outcomes] == [
        "updated", "unchanged", "unchanged", "created", "failed", "failed", "deleted",
    ]  # fmt: skip


def test_a_dry_run_shows_upserts_as_updates_not_creates(aha_sandbox: AhaSandbox) -> None:
    write(aha_sandbox, matched(), rows(1))
    aha_sandbox.clear_requests()
    with aha_sandbox.client() as client:
        report = write_records(
            client, matched(), [{"name": "new name", "ext": "s0"}, *rows(1, 5)], dry_run=True
        )
    assert writes(aha_sandbox) == []
    assert report.plan is not None and [i.action for i in report.plan.items] == ["update", "create"]
    assert report.outcomes[0].status == "dry_run" and report.outcomes[0].detail == "plan: update"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_a_version_1_ledger_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    columns = (
        "destination_hash VARCHAR(64), key_hash VARCHAR(64), destination TEXT NOT NULL, "
        "record_key TEXT NOT NULL, state VARCHAR(16) NOT NULL, request_hash VARCHAR(64), "
        "request_kind VARCHAR(16), sent_hash VARCHAR(64), aha_id VARCHAR(64), "
        "reference_num VARCHAR(255), url TEXT, attempts INTEGER NOT NULL, run_id VARCHAR(255), "
        "owner VARCHAR(64), heartbeat_at FLOAT, sent_at FLOAT, created_at FLOAT NOT NULL, "
        "updated_at FLOAT NOT NULL, error TEXT, version INTEGER NOT NULL, "
        "PRIMARY KEY (destination_hash, key_hash)"
    )
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE aha_write_ledger ({columns})"))
        conn.execute(
            sa.text("CREATE TABLE aha_write_ledger_meta (name VARCHAR(64) PRIMARY KEY, value TEXT)")
        )
        conn.execute(sa.text("INSERT INTO aha_write_ledger_meta VALUES ('schema_version', '1')"))
        conn.execute(
            sa.text(
                "INSERT INTO aha_write_ledger VALUES (:d, :k, 'dest', 'a', 'succeeded', "
                "'h', 'create', 'h', '42', 'P-1', NULL, 1, 'r', NULL, NULL, NULL, 1, 1, NULL, 1)"
            ),
            {"d": _sha("dest"), "k": _sha("a")},
        )
    engine.dispose()
    with WriteLedger(str(path)) as led:
        assert led.schema_version == 2
        (entry,) = list(led.entries("dest"))
        assert entry.aha_id == "42" and entry.state == "succeeded" and entry.origin is None
        got = led.claim("dest2", "x", owner="o")
        assert got.acquired
        assert led.resolve("dest2", "x", owner="o", state="succeeded", origin="created")
        assert led.get("dest2", "x").origin == "created"  # type: ignore[union-attr]
