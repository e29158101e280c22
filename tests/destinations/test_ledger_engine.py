"""write_records with a WriteLedger against the sandbox: re-runs, dead writers, settling."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dagster_aha.client import AhaResponseError
from dagster_aha.destinations import (
    AhaDestination,
    WriteLedger,
    destination_identity,
    write_records,
)
from dagster_aha.testing import AhaSandbox, Fault

RELEASE = "PRJ1-R-1"


def dest(match: bool = True, **kw: Any) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id" if match else None,
        **kw,
    )


def ext_counts(aha: AhaSandbox) -> Counter[str]:
    return aha.state.custom_field_counts("features", "external_id")


def posts(aha: AhaSandbox) -> int:
    return sum(1 for r in aha.requests if r.method == "POST")


def write(aha: AhaSandbox, d: AhaDestination, records: list[Any], ledger: WriteLedger) -> Any:
    with aha.client() as client:
        return write_records(client, d, records, ledger=ledger, run_id="r", max_concurrency=4)


@pytest.fixture
def ledger(tmp_path: Path) -> WriteLedger:
    return WriteLedger(
        str(tmp_path / "l.sqlite"), heartbeat_timeout=0.3, settle_seconds=0.0, wait_seconds=1.0
    )


@pytest.mark.parametrize("match", [True, False], ids=["match_on", "no-key"])
def test_a_rerun_sends_nothing_that_succeeded(
    aha_sandbox: AhaSandbox, ledger: WriteLedger, match: bool
) -> None:
    records = [{"name": f"L{i}", "ext": f"l{i}"} for i in range(10)]
    first = write(aha_sandbox, dest(match), records, ledger)
    assert first.counts["created"] == 10
    aha_sandbox.clear_requests()
    again = write(aha_sandbox, dest(match), records, ledger)
    assert again.counts["unchanged"] == 10 and again.ok
    assert [o.aha_id for o in again.outcomes] == [o.aha_id for o in first.outcomes]
    assert "already written" in (again.outcomes[0].detail or "")
    assert aha_sandbox.requests == []  # no listing, no write
    assert max(ext_counts(aha_sandbox).values()) == 1


def test_record_key_change_updates_the_created_record(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    d = dest(False, record_key="ext")
    (o,) = write(aha_sandbox, d, [{"name": "v1", "ext": "rk"}], ledger).outcomes
    (u,) = write(aha_sandbox, d, [{"name": "v2", "ext": "rk"}], ledger).outcomes
    assert o.status == "created" and u.status == "updated" and u.aha_id == o.aha_id
    assert aha_sandbox.state.get("features", o.aha_id)["name"] == "v2"  # type: ignore[arg-type,index]
    assert posts(aha_sandbox) == 1


def _leave_sent(aha: AhaSandbox, ledger: WriteLedger, d: AhaDestination, rec: Any) -> str:
    """A dead writer's row: claimed, marked sent, never resolved."""
    req = d.render(rec)
    with aha.client() as client:
        ident = destination_identity(client, d)
    ledger.claim(ident, req.record_key, owner="dead", run_id="killed-run")
    ledger.mark_sent(
        ident, req.record_key, owner="dead", request_hash=req.request_hash, request_kind="create"
    )
    time.sleep(0.35)  # past heartbeat_timeout: the writer is dead
    return ident


def test_sent_without_result_and_no_match_on_is_ambiguous_never_resent(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    rec = {"name": "maybe", "ext": "m1"}
    ident = _leave_sent(aha_sandbox, ledger, dest(False), rec)
    (o,) = write(aha_sandbox, dest(False), [rec], ledger).outcomes
    assert o.status == "ambiguous" and not o.retryable
    assert "killed-run" in (o.error or "") and "not re-sent" in (o.error or "")
    assert posts(aha_sandbox) == 0
    assert ledger.counts(ident)["ambiguous"] == 1


def test_sent_without_result_with_match_on_is_resolved_by_look_up(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    applied = {"name": "applied", "ext": "a1"}
    lost = {"name": "lost", "ext": "a2"}
    _leave_sent(aha_sandbox, ledger, dest(), applied)
    _leave_sent(aha_sandbox, ledger, dest(), lost)
    with aha_sandbox.client() as client:  # the dead run's first create reached Aha!
        write_records(client, dest(), [applied])
    aha_sandbox.clear_requests()
    report = write(aha_sandbox, dest(), [applied, lost], ledger)
    assert [o.status for o in report.outcomes] == ["created", "created"]
    assert "found by look-up" in (report.outcomes[0].detail or "")
    assert posts(aha_sandbox) == 1  # only the verifiably absent one, long after it was sent
    assert ext_counts(aha_sandbox) == Counter({"a1": 1, "a2": 1})


def test_absent_but_not_settled_stays_ambiguous(aha_sandbox: AhaSandbox, tmp_path: Path) -> None:
    ledger = WriteLedger(str(tmp_path / "s.db"), heartbeat_timeout=0.3, settle_seconds=3600)
    rec = {"name": "young", "ext": "y1"}
    _leave_sent(aha_sandbox, ledger, dest(), rec)
    (o,) = write(aha_sandbox, dest(), [rec], ledger).outcomes
    assert o.status == "ambiguous" and o.retryable and "settle_seconds" in (o.error or "")
    assert posts(aha_sandbox) == 0


def test_a_record_held_by_a_live_writer_is_not_sent(
    aha_sandbox: AhaSandbox, ledger: WriteLedger
) -> None:
    rec = {"name": "held", "ext": "h1"}
    req = dest().render(rec)
    with aha_sandbox.client() as client:
        ident = destination_identity(client, dest())
    ledger.claim(ident, req.record_key, owner="live", run_id="other-run")
    stop = time.monotonic() + 1.5

    def beat() -> None:  # the holder stays alive while the writer waits (wait_seconds=1)
        while time.monotonic() < stop:
            ledger.heartbeat("live")
            time.sleep(0.05)

    t = threading.Thread(target=beat)
    t.start()
    (o,) = write(aha_sandbox, dest(), [rec], ledger).outcomes
    t.join()
    assert o.status == "failed" and o.retryable and "other-run" in (o.error or "")
    assert posts(aha_sandbox) == 0


@pytest.mark.parametrize("kind", ["commit_late", "commit_late_reset"])
def test_late_commit_is_ambiguous_then_the_next_run_finds_it(
    aha_sandbox: AhaSandbox, ledger: WriteLedger, kind: str
) -> None:
    aha_sandbox.set_faults([Fault(kind, method="POST", times=1, delay=0.3)])
    rec = {"name": "late", "ext": "late-1"}
    (o,) = write(aha_sandbox, dest(), [rec], ledger).outcomes
    assert o.status == "ambiguous" and o.retryable  # the look-up right after found nothing
    assert posts(aha_sandbox) == 1
    time.sleep(0.5)  # the backend commits
    (again,) = write(aha_sandbox, dest(), [rec], ledger).outcomes
    assert again.status == "created" and again.aha_id is not None
    assert posts(aha_sandbox) == 1 and ext_counts(aha_sandbox)["late-1"] == 1


@pytest.mark.parametrize("kind", ["deep_json", "bad_encoding"])
def test_unparseable_2xx_is_ambiguous_on_writes_and_an_error_on_reads(
    aha_sandbox: AhaSandbox, kind: str
) -> None:
    aha_sandbox.set_faults([Fault(kind, method="POST", times=1)])
    with aha_sandbox.client() as client:
        (o,) = write_records(client, dest(False), [{"name": "applied"}]).outcomes
    assert o.status == "ambiguous" and o.http_status == 200
    assert sum(1 for f in aha_sandbox.state.records("features") if f["name"] == "applied") == 1
    aha_sandbox.set_faults([Fault(kind, method="GET")])
    with aha_sandbox.client(max_retries=1) as client, pytest.raises(AhaResponseError) as err:
        client.request("GET", "features/PRJ1-1")
    assert err.value.status == 200
    with aha_sandbox.client(max_retries=1) as client, pytest.raises(AhaResponseError):
        list(client.iter_records("features", record_key="features"))
