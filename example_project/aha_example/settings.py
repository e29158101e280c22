"""Where the example keeps its files, and whether it talks to a real Aha! account.

Everything the example writes lives in one data directory, ``example_project/.data/`` by default
(override with ``AHA_EXAMPLE_DATA_DIR``, which the tests do):

* ``aha_example.duckdb``: the warehouse the Aha! tables land in (dlt, dataset ``aha``);
* ``dlt_pipelines/``: dlt's working files (the cursors are also kept in the DuckDB file);
* ``sandbox_state.json``: the local Aha! sandbox's records, so later runs see earlier writes;
* ``sandbox.lock``: taken by the process that currently runs the sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent
FEATURE_REQUESTS_CSV = PACKAGE_DIR / "data" / "feature_requests.csv"

SUBDOMAIN_ENV = "AHA_SUBDOMAIN"
API_KEY_ENV = "AHA_API_KEY"
DATA_DIR_ENV = "AHA_EXAMPLE_DATA_DIR"

# The releases the sandbox seeds are named PRJ1-R-1, PRJ1-R-2, ... (reference numbers); the
# write flow creates its features in this release unless AHA_EXAMPLE_RELEASE_ID says otherwise.
RELEASE_ENV = "AHA_EXAMPLE_RELEASE_ID"
DEFAULT_SANDBOX_RELEASE = "PRJ1-R-1"


def data_dir() -> Path:
    """The directory holding the DuckDB file and the sandbox state (created on demand)."""
    raw = os.environ.get(DATA_DIR_ENV)
    path = Path(raw).expanduser().resolve() if raw else PROJECT_ROOT / ".data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def duckdb_path() -> Path:
    return data_dir() / "aha_example.duckdb"


def dlt_pipelines_dir() -> Path:
    return data_dir() / "dlt_pipelines"


#: read by ``defs/aha_ingest/defs.yaml`` (``landing:``) when a run starts
DUCKDB_ENV = "AHA_EXAMPLE_DUCKDB"
DLT_DIR_ENV = "AHA_EXAMPLE_DLT_DIR"


def export_landing_env() -> None:
    """Point the component's ``landing:`` at this data directory (set on every load)."""
    os.environ[DUCKDB_ENV] = str(duckdb_path())
    os.environ[DLT_DIR_ENV] = str(dlt_pipelines_dir())


def sandbox_state_path() -> Path:
    return data_dir() / "sandbox_state.json"


def sandbox_lock_path() -> Path:
    return data_dir() / "sandbox.lock"


def uses_real_account() -> bool:
    """True when both ``AHA_SUBDOMAIN`` and ``AHA_API_KEY`` are set (non-empty)."""
    return bool(os.environ.get(SUBDOMAIN_ENV)) and bool(os.environ.get(API_KEY_ENV))


def target_release() -> str:
    """The release the write flow creates features in (id or reference number)."""
    return os.environ.get(RELEASE_ENV) or DEFAULT_SANDBOX_RELEASE


def writes_are_dry_run() -> bool:
    """Against a real account the example only writes into a release you named explicitly
    (``AHA_EXAMPLE_RELEASE_ID``); otherwise its writes are dry runs (rendered, not sent)."""
    return uses_real_account() and not os.environ.get(RELEASE_ENV)
