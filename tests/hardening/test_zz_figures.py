"""Session-level figures of the hardening suite (runs last: files are collected in order)."""

from __future__ import annotations

import pytest

from .conftest import FIGURES

MIN_FAULTS = 1_000


@pytest.mark.faults
def test_fault_matrix_injected_at_least_1000_faults() -> None:
    matrix = FIGURES.collected
    if not matrix or not matrix <= FIGURES.fault_tests:
        pytest.skip("only part of the fault matrix ran in this session")
    print(f"\nfaults injected by the matrix: {FIGURES.counts['faults_injected']}")
    assert FIGURES.counts["faults_injected"] >= MIN_FAULTS, dict(FIGURES.faults_by_kind)
    assert FIGURES.counts["duplicates_found"] == 0
    assert FIGURES.counts["leaks"] == 0
