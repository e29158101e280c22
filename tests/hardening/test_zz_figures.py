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


def test_escaped_echoes_hosts_deadlines_and_caps_figures() -> None:
    """The second hardening round's classes: printed in the terminal summary, 0 leaks."""
    c = FIGURES.counts
    if not (c["echo_forms_tried"] and c["hostile_hosts"] and c["deadlines_hit"]):
        pytest.skip("the escaped-echo, hostile-host and deadline tests did not all run")
    print(
        f"\necho forms tried: {c['echo_forms_tried']} in {c['echo_texts_checked']} texts, "
        f"shown: {c['echo_leaks']}; hostile hosts: {c['hostile_hosts']}, accepted: "
        f"{c['hostile_hosts_accepted']}; deadlines hit: {c['deadlines_hit']}; wait budgets hit: "
        f"{c['wait_budgets_hit']}; responses capped: {c['responses_capped']}"
    )
    assert c["echo_leaks"] == 0
    assert c["hostile_hosts_accepted"] == 0
    assert c["longest_attempt_ms"] < 8 * c["deadline_timeout_ms"]
    assert c["bytes_read_when_capped"] < c["bytes_refused"]
