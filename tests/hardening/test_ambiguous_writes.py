"""A create answered by a reset, a timeout, 500, 502, 503 or 504 (committed or not, now or
later) is ``ambiguous``, never re-sent within the run; the next run resolves it by look-up
(``match_on``) after the backend has had time to commit: one record in every case."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, WriteLedger, write_records
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import CLIENT_TIMEOUT, FAST_CLIENT, FAST_SANDBOX, FIGURES, record_faults

pytestmark = pytest.mark.faults

RELEASE = "PRJ1-R-1"
SANDBOX_DATA: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 2}
#: fault kind -> whether the sandbox applies the create (sooner or later)
KINDS = {
    "reset_before": False,
    "reset_after": True,
    "commit_late_reset": True,
    "slow": True,  # answered after the client's read timeout
    "500": False,
    "502": False,
    "503": False,
    "504": False,
    "commit_then_500": True,
    "commit_then_502": True,
    "commit_late": True,  # 504 at once, committed 0.3 s later
}


def dest(match_on: bool) -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id" if match_on else None,
    )


def fault(kind: str) -> Fault:
    if kind == "slow":
        return Fault("slow", method="POST", times=1, delay=CLIENT_TIMEOUT + 0.15)
    if kind.startswith("commit_late"):
        return Fault(kind, method="POST", times=1, delay=0.3)
    return Fault(kind, method="POST", times=1)


def posts(aha: AhaSandbox, ext: str) -> int:
    return sum(
        1
        for r in aha.requests
        if r.method == "POST"
        and isinstance(r.json, dict)
        and r.json.get("feature", {}).get("custom_fields", {}).get("external_id") == ext
    )


@pytest.mark.parametrize("kind", list(KINDS))
def test_unknown_create_is_ambiguous_then_resolved_once(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA) as aha:
        # without match_on: ambiguous, never re-sent, never called failed
        aha.set_faults([fault(kind)])
        with aha.client(**FAST_CLIENT) as client:
            (plain,) = write_records(client, dest(False), [{"name": "p", "ext": "p"}]).outcomes
        assert plain.status == "ambiguous" and not plain.retryable, plain
        if kind == "slow":
            time.sleep(0.25)  # the sandbox logs the request once it has answered it
        assert posts(aha, "p") == 1

        # with match_on and a ledger: this run never re-sends; the next one looks it up
        ledger = WriteLedger(str(tmp_path / "l.db"), settle_seconds=0.5)
        aha.set_faults([fault(kind)])
        rec = {"name": "m", "ext": "m"}
        with aha.client(**FAST_CLIENT) as client:
            (first,) = write_records(client, dest(True), [rec], ledger=ledger).outcomes
        assert first.status in ("ambiguous", "created"), first
        if first.status == "ambiguous":
            assert first.retryable
        if kind == "slow":
            time.sleep(0.25)
        assert posts(aha, "m") == 1  # never re-sent within the run
        record_faults(request, aha)
        time.sleep(0.6)  # the backend commits; the lost attempt settles
        aha.set_faults([])
        with aha.client(**FAST_CLIENT) as client:
            (second,) = write_records(client, dest(True), [rec], ledger=ledger).outcomes
        assert second.status in ("created", "unchanged"), second
        assert second.aha_id is not None
        counts: Counter[str] = aha.state.custom_field_counts("features", "external_id")
        assert counts["m"] == 1, counts  # one record, whatever the fault
        assert counts["p"] == (1 if KINDS[kind] else 0)
        assert posts(aha, "m") == (1 if KINDS[kind] else 2)  # re-sent only when never applied
        FIGURES.add("records_checked", 2)
