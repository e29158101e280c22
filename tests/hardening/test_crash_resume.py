"""Crash and resume: a write run killed half-way, re-run with ``match_on``, ends exactly once."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest

from dagster_aha.destinations import AhaDestination, write_records
from dagster_aha.destinations import engine as engine_module
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import FAST_CLIENT, FAST_SANDBOX, FIGURES, record_faults

SANDBOX_DATA: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 2}
RELEASE = "PRJ1-R-1"


class Crash(BaseException):
    """The simulated kill of the write process (a BaseException, like SystemExit: the engine's
    per-record ``except Exception`` must not turn it into an outcome)."""


def ext_counts(aha: AhaSandbox) -> Counter[str]:
    """External ids of the features stored in the sandbox (duplicates show as counts > 1)."""
    return aha.state.custom_field_counts("features", "external_id")


def upsert_dest() -> AhaDestination:
    return AhaDestination(
        template="create_feature",
        path_params={"release_id": RELEASE},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id",
    )


def crash_after(monkeypatch: pytest.MonkeyPatch, k: int, *, after_send: bool) -> list[int]:
    """Make the engine raise once ``k`` records were handled (before or after a POST landed)."""
    handled: list[int] = []
    lock = threading.Lock()
    real_upsert = engine_module._Writer.upsert_one
    real_send = engine_module._Writer.send

    def upsert_one(self: Any, index: int, req: Any) -> Any:
        with lock:
            if len(handled) >= k and not after_send:
                raise Crash(f"killed before record {index}")
            handled.append(index)
        return real_upsert(self, index, req)

    def send(self: Any, method: str, path: str, body: Any) -> Any:
        response = real_send(self, method, path, body)
        with lock:
            if after_send and method == "POST" and len(handled) > k:
                # the create landed, the process dies before recording the outcome
                raise Crash("killed after a POST was applied")
        return response

    monkeypatch.setattr(engine_module._Writer, "upsert_one", upsert_one)
    monkeypatch.setattr(engine_module._Writer, "send", send)
    return handled


@pytest.mark.faults
@pytest.mark.parametrize("after_send", [False, True], ids=["before-send", "after-send"])
@pytest.mark.parametrize("workers", [1, 4])
def test_killed_half_way_then_rerun_with_match_on_is_exactly_once(
    monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, after_send: bool, workers: int
) -> None:
    records = [{"name": f"Crash {i}", "ext": f"c-{i}"} for i in range(40)]
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA) as aha:
        aha.set_faults(
            [
                Fault("reset_after", method="POST", probability=0.1),
                Fault("503", probability=0.1),
            ]
        )
        with monkeypatch.context() as m:
            handled = crash_after(m, 20, after_send=after_send)
            with aha.client(**FAST_CLIENT) as client, pytest.raises(Crash):
                write_records(client, upsert_dest(), records, max_concurrency=workers)
        assert 20 <= len(handled) < len(records)
        half = ext_counts(aha)
        assert 0 < sum(half.values()) < len(records)  # really killed half-way
        assert max(half.values()) == 1

        # resume: the whole batch again, same faults, the engine no longer crashes
        with aha.client(**FAST_CLIENT) as client:
            report = write_records(client, upsert_dest(), records, max_concurrency=workers)
        record_faults(request, aha)
        counts = ext_counts(aha)
        assert max(counts.values()) == 1, "a record was created twice"
        FIGURES.add("records_checked", len(records))
        # whatever the faults left unsettled is retryable and settles on one more run
        assert all(o.retryable for o in report.failed_outcomes())
        aha.set_faults([])
        present = {r["ext"] for r in records if counts[r["ext"]]}
        with aha.client(**FAST_CLIENT) as client:
            final = write_records(client, upsert_dest(), records)
        assert final.ok
        counts = ext_counts(aha)
        assert all(counts[r["ext"]] == 1 for r in records), counts
        # the last run creates exactly the records still missing; the rest already hold the
        # values sent (diffing: unchanged, no request) or are updated
        assert final.counts["created"] == len(records) - len(present)
        assert final.counts["updated"] + final.counts["unchanged"] == len(present)
