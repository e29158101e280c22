"""The API key never leaks: logs, Dagster event logs, errors, reprs, reports, snapshots.

Every text the suite produces with a recognisable key (:data:`CANARY_KEY`) is scanned; the key
(and its tail, in case it is partially masked) must appear 0 times.
"""

from __future__ import annotations

import logging
import pickle
import traceback
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._serdes import serialize_value
from pytest_httpserver import HTTPServer

from dagster_aha.client import AhaAmbiguousWriteError, AhaClient, AhaError
from dagster_aha.destinations import (
    AhaDestination,
    build_aha_write_job,
    check_destination,
    sample_requests,
    write_records,
)
from dagster_aha.resource import AhaResource
from dagster_aha.sources import aha_pivot_report_asset, build_aha_assets
from dagster_aha.testing import AhaSandbox, Fault

from .conftest import CANARY_KEY, FAST_CLIENT, FAST_SANDBOX, FIGURES

ENV_VAR = "AHA_HARDENING_CANARY_KEY"
NEEDLES = (CANARY_KEY, CANARY_KEY[-10:], "LEAKCANARY")
SANDBOX_DATA: dict[str, Any] = {"products": 1, "releases_per_product": 1, "features_per_release": 3}


class Texts:
    """Every text collected during a test; checked for the key at the end."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, value: object) -> None:
        self.items.append((where, value if isinstance(value, str) else repr(value)))
        if not isinstance(value, str):
            self.items.append((where + " (str)", str(value)))

    def add_error(self, where: str, exc: BaseException) -> None:
        self.add(where, exc)
        self.add(where + " args", exc.args)
        self.add(where + " traceback", "".join(traceback.format_exception(exc)))
        if isinstance(exc, AhaError):
            self.add(where + " fields", (exc.url, exc.message, exc.body_excerpt))
            self.add(where + " pickled", pickle.dumps(exc).decode("latin-1"))

    def assert_clean(self) -> None:
        FIGURES.add("leak_texts_scanned", len(self.items))
        leaks = [(where, n) for where, text in self.items for n in NEEDLES if n in text]
        FIGURES.add("leaks", len(leaks))
        assert leaks == [], f"the API key leaked in: {[w for w, _ in leaks]}"


@pytest.fixture
def texts(caplog: pytest.LogCaptureFixture) -> Iterator[Texts]:
    """Collects texts; at teardown adds every log record of every logger (DEBUG) and checks."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "dagster", "dagster_aha", "werkzeug"):
        caplog.set_level(logging.DEBUG, logger=name)
    t = Texts()
    yield t
    records = caplog.get_records("setup") + caplog.get_records("call")
    for rec in records:
        t.add(f"log {rec.name}", rec.getMessage())
        t.add(f"log args {rec.name}", rec.args)
        if rec.exc_info and rec.exc_info[1] is not None:
            t.add_error(f"log exc {rec.name}", rec.exc_info[1])
    assert records, "nothing was logged: the capture is not working"
    t.assert_clean()


def expect_error(texts: Texts, where: str, fn: Any, error: type[BaseException]) -> None:
    with pytest.raises(error) as info:
        fn()
    texts.add_error(where, info.value)


def test_key_never_in_client_errors_logs_or_reprs(texts: Texts) -> None:
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, api_key=CANARY_KEY) as aha:
        client = aha.client(**{**FAST_CLIENT, "max_retries": 1})
        texts.add("client repr", client)
        texts.add("client vars", vars(client))
        texts.add("session auth", client._session.auth)
        texts.add("client stats", client.stats)

        expect_error(texts, "404", lambda: client.request("GET", "features/NOPE-1"), AhaError)
        aha.set_faults([Fault("429", path="features")])
        expect_error(texts, "429", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("500", path="features")])
        expect_error(texts, "500", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("html", path="features")])
        expect_error(texts, "html", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("slow", path="features", delay=0.45)])
        expect_error(texts, "timeout", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("reset_before", path="features")])
        expect_error(texts, "reset", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("malformed_json", path="features")])
        expect_error(texts, "malformed", lambda: list(client.iter_records("features")), AhaError)
        aha.set_faults([Fault("reset_after", method="POST")])
        expect_error(
            texts,
            "ambiguous",
            lambda: client.request("POST", "releases/PRJ1-R-1/features", json={"feature": {}}),
            AhaAmbiguousWriteError,
        )
        client.close()
        # 403: the canary key is sent to an account that does not know it
    with (
        AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, api_key="another-key") as other,
        other.client(api_key=CANARY_KEY, **FAST_CLIENT) as wrong,
    ):
        expect_error(texts, "403", wrong.me, AhaError)
        texts.add("403 resource", other.resource(api_key=CANARY_KEY))


def test_key_never_in_401_from_a_server_that_echoes_it(
    texts: Texts, httpserver: HTTPServer
) -> None:
    # a hostile/buggy server echoing the Authorization header back in its error body
    httpserver.expect_request("/api/v1/me").respond_with_json(
        {"error": f"Invalid token Bearer {CANARY_KEY}"}, status=401
    )
    with (
        AhaClient(
            base_url=httpserver.url_for("/").rstrip("/"), api_key=CANARY_KEY, **FAST_CLIENT
        ) as client,
        pytest.raises(AhaError) as info,
    ):
        client.me()
    # the key is in the *server's* text; the error must redact it (or not quote the body)
    texts.add_error("401 echo", info.value)


def test_key_never_in_write_reports_samples_and_checks(texts: Texts) -> None:
    dest = AhaDestination(
        template="create_feature",
        path_params={"release_id": "PRJ1-R-1"},
        custom_fields={"ext": "external_id"},
    )
    first = {"name": "S0", "ext": "s0"}
    records: list[Any] = [first] + [{"name": f"S{i}", "ext": f"s{i}"} for i in range(1, 6)]
    records.append("not a record")
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, api_key=CANARY_KEY) as aha:
        aha.set_faults(
            [
                Fault("reset_after", method="POST", times=1),
                Fault("500", method="POST", times=1),
                Fault("slow", method="POST", times=1, delay=0.45),
            ]
        )
        with aha.client(**FAST_CLIENT) as client:
            report = write_records(client, dest, records, max_concurrency=1)
            check = check_destination(client, dest, first)
        assert {o.status for o in report.outcomes} >= {"ambiguous", "failed", "created"}
        texts.add("report repr", report)
        texts.add("report json", report.model_dump_json())
        texts.add("report rows", report.to_rows())
        texts.add("report summary", report.summary())
        texts.add("report preview", report.markdown_preview())
        texts.add("dead letters", report.dead_letter_rows())
        for o in report.outcomes:
            texts.add("outcome", o)
        texts.add("samples", sample_requests(dest, records, n=10, base_url=aha.url))
        texts.add("check", check)
        texts.add("resource repr", aha.resource(api_key=CANARY_KEY))


def test_key_never_in_dagster_event_logs_run_config_or_snapshots(
    texts: Texts, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_VAR, CANARY_KEY)
    # the resource's client backs off with its defaults: make the retries instant
    monkeypatch.setattr(AhaClient, "_backoff", lambda self, attempt: 0.0)
    with AhaSandbox(**FAST_SANDBOX, **SANDBOX_DATA, api_key=CANARY_KEY) as aha:
        resource = AhaResource(
            base_url=aha.url,
            api_key=dg.EnvVar(ENV_VAR),
            timeout=0.3,
            requests_per_second=2_000_000,
            requests_per_minute=120_000_000,
        )
        texts.add("EnvVar resource repr", resource)
        record_assets = build_aha_assets(streams=["products", "features", "epics"])
        pivot = aha_pivot_report_asset(sorted(aha.state.reports)[0], name="pivot")
        dest = AhaDestination(template="create_feature", path_params={"release_id": "PRJ1-R-1"})
        job = build_aha_write_job(dest, name="push")
        defs = dg.Definitions(
            assets=[*record_assets, pivot], jobs=[job], resources={"aha": resource}
        )
        # retries are logged as warnings: put some in the run
        aha.set_faults(
            [Fault("503", probability=0.2), Fault("reset_after", method="POST", times=1)]
        )
        instance = dg.DagsterInstance.ephemeral()
        mat = dg.materialize(
            [*record_assets, pivot], resources={"aha": resource}, instance=instance
        )
        assert mat.success
        records_op = "push_records"
        write_op = next(n.name for n in job.graph.nodes if n.name != records_op)
        run = job.execute_in_process(
            run_config={
                "ops": {records_op: {"config": {"records": [{"name": "A"}, {"name": "B"}]}}}
            },
            resources={"aha": resource},
            instance=instance,
            raise_on_error=False,
        )
        # the ambiguous create failed the step (after the report was emitted)
        assert not run.success
        assert any("ambiguous" in serialize_value(e) for e in run.all_events)
        # a failing run: a wrong key gives a 403, its error lands in the event log
        monkeypatch.setenv(ENV_VAR, CANARY_KEY + "-wrong")
        failed = dg.materialize(
            record_assets, resources={"aha": resource}, instance=instance, raise_on_error=False
        )
        assert not failed.success
        for result in (mat, run, failed):
            for event in result.all_events:
                texts.add("event", serialize_value(event))
                texts.add("event message", event.message or "")
            for entry in instance.all_logs(result.run_id):
                texts.add("event log entry", serialize_value(entry))
            dagster_run = instance.get_run_by_id(result.run_id)
            assert dagster_run is not None
            texts.add("run config", dagster_run.run_config)
            if dagster_run.job_snapshot_id:
                snap = instance.get_job_snapshot(dagster_run.job_snapshot_id)
                texts.add("job snapshot", serialize_value(snap))
        texts.add("write op output", run.output_for_node(write_op) if run.success else "")
        repo = defs.get_repository_def()
        texts.add("repository snapshot", serialize_value(RepositorySnap.from_def(repo)))
        # the resource is configured from the environment: the snapshot names the variable
        assert ENV_VAR in serialize_value(RepositorySnap.from_def(repo))
