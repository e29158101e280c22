"""Data-quality checks shipped with every Aha! record asset."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import AssetCheckResult, AssetCheckSpec, AssetKey, MetadataValue

__all__ = [
    "IDS_UNIQUE",
    "REQUIRED_KEYS_PRESENT",
    "evaluate_checks",
    "record_check_specs",
]

IDS_UNIQUE = "aha_ids_unique"
REQUIRED_KEYS_PRESENT = "aha_required_keys_present"

_SAMPLE = 10


def record_check_specs(key: AssetKey, required_keys: Sequence[str]) -> list[AssetCheckSpec]:
    """The check specs of one record asset."""
    return [
        AssetCheckSpec(
            IDS_UNIQUE,
            asset=key,
            description="Every row has a distinct Aha! id.",
        ),
        AssetCheckSpec(
            REQUIRED_KEYS_PRESENT,
            asset=key,
            description=(
                f"No row lacks {', '.join(required_keys)} (null or empty counts as missing)."
            ),
            metadata={"aha/required_keys": ",".join(required_keys)},
        ),
    ]


def _missing(value: Any) -> bool:
    return value is None or value == ""


def check_ids_unique(key: AssetKey, rows: Sequence[Mapping[str, Any]]) -> AssetCheckResult:
    counts = Counter(str(r.get("id")) for r in rows if not _missing(r.get("id")))
    duplicates = sorted(i for i, n in counts.items() if n > 1)
    return AssetCheckResult(
        asset_key=key,
        check_name=IDS_UNIQUE,
        passed=not duplicates,
        description=None if not duplicates else f"{len(duplicates)} id(s) appear more than once",
        metadata={
            "duplicate_ids": len(duplicates),
            "sample": MetadataValue.json(duplicates[:_SAMPLE]),
        },
    )


def check_required_keys(
    key: AssetKey, rows: Sequence[Mapping[str, Any]], required_keys: Sequence[str]
) -> AssetCheckResult:
    missing: dict[str, int] = {k: 0 for k in required_keys}
    sample: list[dict[str, Any]] = []
    rows_lacking = 0
    for index, row in enumerate(rows):
        lacking = [k for k in required_keys if _missing(row.get(k))]
        for k in lacking:
            missing[k] += 1
        rows_lacking += bool(lacking)
        if lacking and len(sample) < _SAMPLE:
            sample.append({"row": index, "id": row.get("id"), "missing": lacking})
    return AssetCheckResult(
        asset_key=key,
        check_name=REQUIRED_KEYS_PRESENT,
        passed=rows_lacking == 0,
        description=None if not rows_lacking else f"{rows_lacking} row(s) lack required keys",
        metadata={
            **{f"missing_{k}": n for k, n in missing.items()},
            "sample": MetadataValue.json(sample),
        },
    )


def evaluate_checks(
    key: AssetKey,
    rows: Sequence[Mapping[str, Any]],
    required_keys: Sequence[str],
    selected: set[str],
) -> list[AssetCheckResult]:
    """Results of the selected checks (names) on ``rows``."""
    out = []
    if IDS_UNIQUE in selected:
        out.append(check_ids_unique(key, rows))
    if REQUIRED_KEYS_PRESENT in selected:
        out.append(check_required_keys(key, rows, required_keys))
    return out
