"""End-to-end demo: Aha! (the local sandbox by default) -> DuckDB, and intake records -> Aha!.

Run from ``example_project/``::

    python -m aha_example.demo            # or, from the repository root: make demo
    python -m aha_example.demo --reset    # forget earlier runs (sandbox state, DuckDB, history)

Two runs of the example's Definitions, in a persistent Dagster instance under the data
directory (so the second demo run reads incrementally):

0. the state refresh of the Aha! component (what ``dg utils refresh-defs-state`` does):
   products, custom tables, custom fields and report columns, so the definitions that follow
   hold one asset per custom table and typed columns;
1. the write flow: ``intake/feature_requests`` (the CSV) -> ``aha/intake_features`` (create the
   features, or update them when they already exist) + its dead letter;
2. the read flow (``aha_read_job``): products, releases, features, epics (landed by dlt:
   incremental, merged by id, deletes applied), two custom pivot reports (list and pivot view,
   replaced) -> DuckDB, then the SQL model
   ``analytics.feature_status_by_release``.

It then prints the counts, the write outcomes, where the DuckDB file is and the one-line query.
Set ``AHA_SUBDOMAIN`` and ``AHA_API_KEY`` to run it against your account instead; the write
flow then creates real features only in the release named by ``AHA_EXAMPLE_RELEASE_ID`` (without
it, the writes are dry runs).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from aha_example import settings
from aha_example.state import forget_state, refresh_state

WRITE_SELECTION = [dg.AssetKey(["intake", "feature_requests"])]
WRITE_OUTCOME_KEY = dg.AssetKey(["aha", "intake_features"])
DEAD_LETTER_KEY = dg.AssetKey(["aha", "intake_features_dead_letter"])
READ_JOB = "aha_read_job"
STATUS_QUERY = "SELECT * FROM analytics.feature_status_by_release"
# Runs log warnings and errors only; every run's full log is in the Dagster instance.
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SAMPLE_ROWS = 12
#: The intake CSV's row without a title: refused on purpose, to show the dead letter.
DELIBERATE_FAILURE = (
    "deliberate: the intake CSV's row FR-1010 has no title, so Aha! refuses it and it lands "
    "in aha/intake_features_dead_letter with the reason"
)
_ACCOUNT_URL_RE = re.compile(r"^(?:https?://)?([a-z0-9][a-z0-9-]{0,62})\.aha\.io/?$")


class SettingsError(Exception):
    """The demo's environment settings cannot work (one line, said before anything runs)."""


def check_settings(env: Any = None) -> str | None:
    """Validate ``AHA_SUBDOMAIN`` / ``AHA_API_KEY`` once, up front.

    Neither set: the local sandbox (returns ``None``). Both set: your account; a URL such as
    ``https://acme.aha.io`` is read as the account name ``acme`` (``env`` is updated and a note
    returned). Only one of them set, or a subdomain that is not an account name: raises
    :class:`SettingsError` with one line saying what to set.
    """
    env = os.environ if env is None else env
    raw_sub = (env.get(settings.SUBDOMAIN_ENV) or "").strip()
    key = env.get(settings.API_KEY_ENV) or ""
    if not raw_sub and not key.strip():
        return None
    if raw_sub and not key.strip():
        raise SettingsError(
            f"{settings.SUBDOMAIN_ENV} is set ({raw_sub!r}) but {settings.API_KEY_ENV} is "
            f"empty: set {settings.API_KEY_ENV} to your Aha! API key, or unset "
            f"{settings.SUBDOMAIN_ENV} to run on the local sandbox"
        )
    if not raw_sub:
        raise SettingsError(
            f"{settings.API_KEY_ENV} is set but {settings.SUBDOMAIN_ENV} is not: set "
            f"{settings.SUBDOMAIN_ENV} to your account name (acme for https://acme.aha.io), or "
            f"unset {settings.API_KEY_ENV} to run on the local sandbox"
        )
    if key != key.strip():
        raise SettingsError(
            f"{settings.API_KEY_ENV} starts or ends with whitespace: set the key exactly"
        )
    from dagster_aha.client import validate_subdomain

    note = None
    sub = raw_sub
    match = _ACCOUNT_URL_RE.match(raw_sub.lower())
    if match:
        sub = match.group(1)
        note = f"{settings.SUBDOMAIN_ENV}={raw_sub} read as the account name {sub!r}"
        env[settings.SUBDOMAIN_ENV] = sub
    try:
        validate_subdomain(sub)
    except ValueError:
        raise SettingsError(
            f"{settings.SUBDOMAIN_ENV}={raw_sub!r} is not an Aha! account name: set the name "
            f"only, e.g. {settings.SUBDOMAIN_ENV}=acme for https://acme.aha.io"
        ) from None
    return note


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def _materializations(result: dg.ExecuteInProcessResult) -> dict[dg.AssetKey, dict[str, Any]]:
    out: dict[dg.AssetKey, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        out[mat.asset_key] = {k: _value(v) for k, v in mat.metadata.items()}
    return out


def _intake_counts(conn: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """(features carrying an external_id, distinct external_ids) in ``aha.features``."""
    row = conn.execute(
        """
        SELECT count(custom_fields__external_id), count(DISTINCT custom_fields__external_id)
        FROM aha.features
        """
    ).fetchone()
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _query_command(database: Path) -> str:
    code = (
        f"import duckdb; print(duckdb.connect('{database}', read_only=True).sql('{STATUS_QUERY}'))"
    )
    return f'{sys.executable} -c "{code}"'


def run_demo(*, reset: bool = False, out: Any = None) -> dict[str, Any]:
    """Run the demo; returns a summary (used by the tests).

    Raises :class:`SettingsError` before anything runs when the account settings cannot work.
    """
    out = out or sys.stdout
    note = check_settings()
    data_dir = settings.data_dir()
    home = data_dir / "dagster_home"
    if reset:
        for path in (
            settings.duckdb_path(),
            settings.duckdb_path().with_suffix(".duckdb.wal"),
            settings.sandbox_state_path(),
        ):
            path.unlink(missing_ok=True)
        shutil.rmtree(home, ignore_errors=True)
        forget_state()
        shutil.rmtree(settings.dlt_pipelines_dir(), ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = home / "dagster.yaml"
    if not instance_yaml.exists():
        instance_yaml.write_text("# Dagster instance of the dagster-aha demo (default settings).\n")
    os.environ["DAGSTER_HOME"] = str(home)
    warnings.filterwarnings("ignore", category=dg.BetaWarning)

    # Imported here so DAGSTER_HOME / AHA_EXAMPLE_DATA_DIR are settled first.
    from aha_example.definitions import defs as load_defs

    target = (
        f"Aha! account https://{os.environ.get(settings.SUBDOMAIN_ENV)}.aha.io"
        if settings.uses_real_account()
        else f"the local Aha! sandbox (state: {settings.sandbox_state_path()})"
    )
    if note:
        print(f"== note: {note}", file=out)
    print(f"== dagster-aha demo against {target}", file=out)
    print("-- 0/2 refresh the Aha! component's state (dg utils refresh-defs-state)", file=out)
    keys = refresh_state()
    print(f"   refreshed: {', '.join(keys)}", file=out)
    defs = load_defs()

    summary: dict[str, Any] = {"target": target}
    with dg.DagsterInstance.get() as instance:
        write_job = dg.define_asset_job(
            "demo_intake_job", selection=dg.AssetSelection.assets(*WRITE_SELECTION).downstream()
        )
        defs_with_job = dg.Definitions.merge(defs, dg.Definitions(jobs=[write_job]))
        print("-- 1/2 write: intake/feature_requests -> Aha! features", file=out)
        write = defs_with_job.resolve_job_def("demo_intake_job").execute_in_process(
            instance=instance, run_config=QUIET
        )
        written = _materializations(write)
        outcome = written.get(WRITE_OUTCOME_KEY, {})
        statuses = {
            s: int(outcome.get(f"count_{s}", 0) or 0)
            for s in (
                "created",
                "updated",
                "unchanged",
                "skipped",
                "failed",
                "ambiguous",
                "dry_run",
            )
        }
        dead = int(written.get(DEAD_LETTER_KEY, {}).get("records", 0) or 0)
        print(
            "   write outcomes: "
            + ", ".join(f"{k} {v}" for k, v in statuses.items())
            + f"; dead letter: {dead} record(s)",
            file=out,
        )
        if dead and not settings.uses_real_account():
            print(f"   ({DELIBERATE_FAILURE})", file=out)
        summary["write"] = {**statuses, "dead_letter": dead, "success": write.success}

        print("-- 2/2 read: Aha! -> DuckDB, then analytics.feature_status_by_release", file=out)
        read = defs.resolve_job_def(READ_JOB).execute_in_process(
            instance=instance, run_config=QUIET
        )
        reads: dict[str, dict[str, Any]] = {}
        for key, meta in sorted(
            _materializations(read).items(), key=lambda kv: kv[0].to_user_string()
        ):
            landed = "aha/rows_loaded" in meta
            rows = meta.get("aha/rows_loaded") if landed else meta.get("dagster/row_count")
            mode = meta.get("aha/sync_mode")
            table_rows = meta.get("dagster/row_count") if landed else None
            reads[key.to_user_string()] = {
                "rows": rows,
                "sync_mode": mode,
                "table_rows": table_rows,
            }
            detail = f"{rows} row(s)"
            if mode:
                detail += f" read ({mode})"
            if table_rows is not None:
                detail += f", {table_rows} in DuckDB"
                deleted = meta.get("aha/deletes_applied")
                if deleted:
                    detail += f", {deleted} deleted"
            print(f"   {key.to_user_string():<40} {detail}", file=out)
        summary["read"] = reads
        summary["read_success"] = read.success

    database = settings.duckdb_path()
    with duckdb.connect(str(database), read_only=True) as conn:
        with_ext, distinct_ext = _intake_counts(conn)
        status_rows = conn.execute(STATUS_QUERY).fetchall()
        table = conn.sql(STATUS_QUERY + f" LIMIT {SAMPLE_ROWS}")
        print(f"\nDuckDB file: {database}", file=out)
        print(
            f"Intake features in aha.features: {with_ext} (distinct external ids: "
            f"{distinct_ext}{', no duplicates' if with_ext == distinct_ext else ', DUPLICATES'})",
            file=out,
        )
        print(f"Query it:    {_query_command(database)}", file=out)
        shown = min(SAMPLE_ROWS, len(status_rows))
        print(
            f"analytics.feature_status_by_release: a sample of {shown} of its "
            f"{len(status_rows)} rows",
            file=out,
        )
        print(table, file=out)
    summary.update(
        duckdb=str(database),
        intake_features=with_ext,
        intake_distinct=distinct_ext,
        status_rows=len(status_rows),
    )
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aha_example.demo", description=__doc__)
    parser.add_argument(
        "--reset",
        action="store_true",
        help="forget earlier runs: sandbox state, DuckDB, history, component state",
    )
    parser.add_argument(
        "--data-dir",
        help=f"where to keep the files (default: example_project/.data; env "
        f"{settings.DATA_DIR_ENV})",
    )
    args = parser.parse_args(argv)
    if args.data_dir:
        os.environ[settings.DATA_DIR_ENV] = str(Path(args.data_dir).resolve())
    try:
        summary = run_demo(reset=args.reset)
    except SettingsError as exc:
        print(f"dagster-aha demo: {exc}", file=sys.stderr)
        return 2
    ok = (
        summary["write"]["success"]
        and summary["read_success"]
        and summary["intake_features"] == summary["intake_distinct"]  # no duplicates
        and summary["status_rows"] > 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
