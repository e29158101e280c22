"""WriteLedger on SQLite and PostgreSQL: schema, atomic claims, takeover, transitions, listing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dagster_aha.destinations import LEDGER_URL_ENV, WriteLedger
from dagster_aha.destinations.ledger import SCHEMA_VERSION

DEST = "https://acme.aha.io POST releases/PRJ1-R-1/features"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "ledger.sqlite")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[WriteLedger]:
    with WriteLedger(ledger_url, heartbeat_timeout=0.5) as led:
        yield led


def test_schema_is_created_on_first_use_and_versioned(ledger_url: str) -> None:
    led = WriteLedger(ledger_url)
    assert led.get(DEST, '"k"') is None  # first use creates the tables
    assert led.schema_version == SCHEMA_VERSION
    engine = sa.create_engine(led.url if "://" in led.url else f"sqlite:///{ledger_url}")
    tables = set(sa.inspect(engine).get_table_names())
    assert {"aha_write_ledger", "aha_write_ledger_meta"} <= tables
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE aha_write_ledger_meta SET value = '99'"))
    engine.dispose()
    led.close()
    with pytest.raises(RuntimeError, match="schema version 99 is newer"):
        WriteLedger(ledger_url).get(DEST, '"k"')


def test_claim_send_resolve_and_listing(ledger: WriteLedger) -> None:
    claim = ledger.claim(DEST, '"a"', owner="w1", run_id="run-1", request_hash="h1")
    assert claim.acquired and claim.previous is None
    entry = ledger.get(DEST, '"a"')
    assert entry is not None and entry.state == "claimed" and entry.owner == "w1"
    assert not ledger.mark_sent(DEST, '"a"', owner="w2", request_hash="h1", request_kind="create")
    assert ledger.mark_sent(DEST, '"a"', owner="w1", request_hash="h1", request_kind="create")
    assert ledger.resolve(
        DEST, '"a"', owner="w1", state="succeeded", aha_id="9", reference_num="F-1", sent_hash="h1"
    )
    entry = ledger.get(DEST, '"a"')
    assert entry is not None
    assert (entry.state, entry.owner, entry.attempts, entry.aha_id) == ("succeeded", None, 1, "9")
    assert (entry.sent_hash, entry.request_kind, entry.run_id) == ("h1", "create", "run-1")
    assert entry.created_at <= entry.updated_at and entry.sent_at is not None

    ledger.claim(DEST, '"b"', owner="w1")
    ledger.resolve(DEST, '"b"', owner="w1", state="failed", error="x" * 5000)
    assert [e.record_key for e in ledger.entries(DEST)] == sorted(
        ['"a"', '"b"'], key=lambda k: __import__("hashlib").sha256(k.encode()).hexdigest()
    )
    assert [e.record_key for e in ledger.entries(DEST, states=["succeeded"])] == ['"a"']
    assert len(ledger.get(DEST, '"b"').error or "") == 2000  # type: ignore[union-attr]
    assert ledger.counts(DEST)["succeeded"] == 1 and ledger.counts(DEST)["failed"] == 1
    assert ledger.destinations() == [DEST]
    assert ledger.forget(DEST, '"b"') and ledger.get(DEST, '"b"') is None


def test_live_claim_blocks_and_dead_claim_is_taken_over_keeping_its_state(
    ledger: WriteLedger,
) -> None:
    assert ledger.claim(DEST, '"k"', owner="w1").acquired
    ledger.mark_sent(DEST, '"k"', owner="w1", request_hash="h", request_kind="create")
    busy = ledger.claim(DEST, '"k"', owner="w2")
    assert not busy.acquired and busy.previous is not None and busy.previous.owner == "w1"
    assert ledger.heartbeat("w1") == 1
    time.sleep(0.6)  # w1 stops heart-beating: after heartbeat_timeout its claim is dead
    taken = ledger.claim(DEST, '"k"', owner="w2", run_id="run-2")
    assert taken.acquired and taken.previous is not None
    assert taken.previous.state == "sent"  # the new owner must resolve "sent", not re-send
    entry = ledger.get(DEST, '"k"')
    assert entry is not None and entry.state == "sent" and entry.owner == "w2"
    # the dead writer cannot record anything any more
    assert not ledger.resolve(DEST, '"k"', owner="w1", state="succeeded")


def test_concurrent_claims_of_one_key_have_one_winner(ledger_url: str) -> None:
    ledger = WriteLedger(ledger_url, heartbeat_timeout=600)  # no claim can look dead here
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def claim(n: int) -> None:
        barrier.wait()
        for key in range(20):
            if ledger.claim(DEST, f'"{key}"', owner=f"w{n}").acquired:
                winners.append(f"{key}:{n}")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(int(w.split(":")[0]) for w in winners) == list(range(20))
    ledger.close()


def test_default_locations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LEDGER_URL_ENV, raising=False)
    assert WriteLedger().url == f"sqlite:///{tmp_path / 'aha_write_ledger.sqlite'}"
    assert WriteLedger(str(tmp_path / "sub" / "l.db")).url.endswith("/sub/l.db")
    with dg.instance_for_test() as instance:
        led = WriteLedger.for_instance(instance)
        assert led.url == f"sqlite:///{Path(instance.storage_directory()) / 'dagster_aha'}/" + (
            "aha_write_ledger.sqlite"
        )
        monkeypatch.setenv(LEDGER_URL_ENV, "sqlite:///" + str(tmp_path / "env.db"))
        assert WriteLedger.for_instance(instance).url.endswith("/env.db")
        assert WriteLedger().url.endswith("/env.db")
    assert "secret" not in repr(WriteLedger("postgresql+psycopg2://u:secret@127.0.0.1:1/db"))
