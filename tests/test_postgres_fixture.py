"""The private PostgreSQL cluster the ledger, landing and budget tests run against."""

from __future__ import annotations

import sqlalchemy as sa


def test_postgres_fixture_gives_a_fresh_database_on_loopback(postgres_url: str) -> None:
    assert "@127.0.0.1:" in postgres_url
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id text primary key)"))
        conn.execute(sa.text("INSERT INTO t VALUES ('a'), ('b')"))
        assert conn.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 2
        version = conn.execute(sa.text("SHOW server_version")).scalar_one()
    engine.dispose()
    assert version.split(".")[0].isdigit()


def test_each_test_gets_its_own_database(postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    with engine.connect() as conn:
        tables = sa.inspect(conn).get_table_names()
    engine.dispose()
    assert tables == []
