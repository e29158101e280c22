"""The example's Definitions: the ``defs/`` folder plus the project-wide resources.

``defs/aha_ingest/defs.yaml`` (an ``AhaComponent``) declares the Aha! read assets and pivot
reports; ``defs/intake.py`` the write flow; ``defs/analytics.py`` the DuckDB SQL model and the
daily schedule. Resources are bound here for all of them:

* ``aha``: your account when ``AHA_SUBDOMAIN`` and ``AHA_API_KEY`` are set, else the local
  sandbox (see :mod:`aha_example.aha`);
* ``duckdb``: ``.data/aha_example.duckdb``, where the component's ``landing:`` (dlt) lands the
  Aha! tables (dataset ``aha``), for the SQL model.

Runs use the in-process executor: a run's steps share one process, hence one sandbox and one
DuckDB writer (DuckDB allows a single writing process per file).

Loading these definitions makes no Aha! API call and starts no server.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from aha_example import settings
from aha_example.aha import build_aha_resource


@dg.definitions
def defs() -> dg.Definitions:
    database = str(settings.duckdb_path())
    settings.export_landing_env()
    project = dg.Definitions(
        resources={
            "aha": build_aha_resource(),
            "duckdb": DuckDBResource(database=database),
        },
        executor=dg.in_process_executor,
    )
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent), project
    )
