"""Re-execution from failure and run retries of a Dagster write job: the default (instance)
ledger sends nothing again that succeeded; every record ends exactly once."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest

from dagster_aha.destinations import AhaDestination, build_aha_write_job
from dagster_aha.resource import AhaResource
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import FAST_SANDBOX, FIGURES

pytestmark = pytest.mark.faults

N = 40


def records(prefix: str) -> list[dict[str, Any]]:
    return [{"name": f"Re {i}", "ext": f"{prefix}-{i}"} for i in range(N)]


def _job(match_on: bool) -> dg.JobDefinition:
    dest = AhaDestination(
        template="create_feature",
        path_params={"release_id": "PRJ1-R-1"},
        custom_fields={"ext": "external_id"},
        match_on="custom_fields.external_id" if match_on else None,
    )
    job = build_aha_write_job(dest, name="push", pool=None)
    resource = AhaResource(
        base_url=os.environ["AHA_REEXEC_URL"],
        api_key="sandbox-key",
        max_retries=1,
        backoff_base=0.001,
        backoff_max=0.002,
    )
    defs = dg.Definitions(jobs=[job], resources={"aha": resource}, executor=dg.in_process_executor)
    return defs.get_job_def("push")


def job_with_match_on() -> dg.JobDefinition:
    """Module level, so Dagster can reconstruct it for a re-execution."""
    return _job(True)


def job_without_match_on() -> dg.JobDefinition:
    return _job(False)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[AhaSandbox]:
    with AhaSandbox(
        **FAST_SANDBOX, products=1, releases_per_product=1, features_per_release=2
    ) as aha:
        old = os.environ.get("AHA_REEXEC_URL")
        os.environ["AHA_REEXEC_URL"] = aha.url
        try:
            yield aha
        finally:
            if old is None:
                os.environ.pop("AHA_REEXEC_URL", None)
            else:
                os.environ["AHA_REEXEC_URL"] = old


@pytest.mark.parametrize("match_on", [True, False], ids=["match_on", "no-match_on"])
def test_reexecute_from_failure_and_retry_write_each_record_once(
    sandbox: AhaSandbox, match_on: bool
) -> None:
    prefix = "re-m" if match_on else "re-p"
    recs = records(prefix)
    job = dg.reconstructable(job_with_match_on if match_on else job_without_match_on)
    config: dict[str, Any] = {"ops": {"push_records": {"config": {"records": recs}}}}

    def counts() -> Counter[str]:
        found = sandbox.state.custom_field_counts("features", "external_id")
        return Counter({k: n for k, n in found.items() if k.startswith(f"{prefix}-")})

    # the first run: 20 creates land, then Aha! refuses the rest (429 until retries run out)
    sandbox.set_faults([Fault("429", method="POST", after=20)])
    with dg.instance_for_test() as instance:
        with dg.execute_job(
            job, instance=instance, run_config=config, raise_on_error=False
        ) as first:
            assert not first.success
        assert sum(counts().values()) == 20

        sandbox.set_faults([])
        sandbox.clear_requests()
        with dg.execute_job(
            job,
            instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(first.run_id, instance),
            raise_on_error=False,
        ) as retry:
            assert retry.success
            report = retry.output_for_node("push_write")
        assert [o.index for o in report.outcomes] == list(range(N))
        assert report.counts["unchanged"] == 20 and report.counts["created"] == 20
        assert sum(1 for r in sandbox.requests if r.method == "POST") == 20

        # a run retry re-executing every step: nothing is sent at all
        sandbox.clear_requests()
        with dg.execute_job(
            job,
            instance=instance,
            reexecution_options=dg.ReexecutionOptions(parent_run_id=retry.run_id),
            raise_on_error=False,
        ) as again:
            assert again.success
            assert again.output_for_node("push_write").counts["unchanged"] == N
        assert [r for r in sandbox.requests if r.method == "POST"] == []
    final = counts()
    assert all(final[r["ext"]] == 1 for r in recs) and sum(final.values()) == N
    FIGURES.add("records_checked", N)
