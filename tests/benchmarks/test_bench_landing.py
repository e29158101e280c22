"""benchmarks/landing.py on a tiny input: every feature extracted, and landed exactly once."""

from __future__ import annotations

from benchmarks import landing


def test_landing_benchmark_lands_every_feature_once() -> None:
    payload = landing.run(records=400, products=2, verbose=False, in_process=True)
    by_variant = {r["variant"]: r for r in payload["results"]}
    assert set(by_variant) == {"extract", "land"}
    for row in by_variant.values():
        assert row["records"] == 400 and row["correct"] is True
        assert row["peak_rss_mib"] > 0
    assert by_variant["land"]["normalize_load_records_per_s"] is not None
    assert by_variant["extract"]["normalize_load_s"] is None


def test_reland_merges_a_full_refresh_over_the_landed_table_once_per_feature() -> None:
    payload = landing.run(
        records=400, products=2, selected=["reland"], verbose=False, in_process=True
    )
    [row] = payload["results"]
    assert row["variant"] == "reland" and row["records"] == 400 and row["correct"] is True
    assert row["normalize_load_records_per_s"] is not None
