"""Fixtures shared by every test area: a private PostgreSQL cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from dagster_aha.testing.postgres import PostgresCluster, find_pg_bin


def _postgres_required() -> bool:
    """CI (``CI=true``, or ``AHA_REQUIRE_POSTGRES=1``) must run the PostgreSQL tests."""
    flags = (os.environ.get("CI", ""), os.environ.get("AHA_REQUIRE_POSTGRES", ""))
    return any(f.lower() in ("1", "true", "yes") for f in flags)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """One private PostgreSQL cluster on 127.0.0.1 for the whole session, stopped at the end.

    Skips (with the reason) only where the server binaries are absent, and fails instead in CI.
    """
    if find_pg_bin() is None:
        reason = "PostgreSQL server binaries (initdb/pg_ctl/postgres) are not installed"
        if _postgres_required():
            pytest.fail(f"{reason}, and CI must run the PostgreSQL tests", pytrace=False)
        pytest.skip(reason)
    with PostgresCluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """A SQLAlchemy URL of a fresh, empty database in the session's cluster."""
    import sqlalchemy as sa

    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = sa.create_engine(postgres_cluster.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = postgres_cluster.url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _count() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()
