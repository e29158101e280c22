"""Guardrails of a write step: ``max_failed`` and the errors a run carries (``max_deletes``).

``max_failed`` is a count (``10``) or a ratio of the input records (``0.05``) of records that
may end ``failed`` or ``ambiguous``. A step writes every record first, emits the outcome and
dead-letter assets, and only then:

* fails (``dagster.Failure`` with the report attached as metadata) when the failures are
  above ``max_failed``, or when the run carries an error (mirror deletes above
  ``max_deletes``: nothing was deleted);
* succeeds with a warning when there are failures at or below ``max_failed``.

``fail_on_error`` is the older shorthand: ``True`` is ``max_failed=0``, ``False`` never fails
the step on failed records. ``max_failed`` wins when both are given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dagster_aha.destinations.report import WriteReport
from dagster_aha.destinations.sync import check_threshold, threshold_exceeded

if TYPE_CHECKING:
    import dagster as dg

__all__ = ["MaxFailed", "enforce_guardrails", "failure_limit", "failures_exceeded"]

MaxFailed = int | float | None


def failure_limit(fail_on_error: bool, max_failed: MaxFailed) -> MaxFailed:
    """The effective ``max_failed`` (``None``: failed records never fail the step)."""
    if max_failed is not None:
        check_threshold("max_failed", max_failed)
        return max_failed
    return 0 if fail_on_error else None


def _input_records(report: WriteReport) -> int:
    # mirror removals are numbered after the input records
    return sum(1 for o in report.outcomes if o.index < len(report.records)) or len(report.outcomes)


def failures_exceeded(report: WriteReport, limit: MaxFailed) -> str | None:
    """Why the failures of ``report`` are above ``limit`` (``None``: they are not)."""
    bad = len(report.failed_outcomes())
    total = _input_records(report)
    if not bad or not threshold_exceeded(bad, total, limit):
        return None
    shown = f"{limit:.0%} of {total}" if isinstance(limit, float) else str(limit)
    return f"{bad} of {total} record(s) failed or are ambiguous, above max_failed={limit} ({shown})"


def enforce_guardrails(
    context: dg.OpExecutionContext,
    report: WriteReport,
    limit: MaxFailed,
    failure: Callable[[WriteReport, str], Any],
) -> None:
    """After the step emitted its outputs: raise ``failure(report, reason)`` above the limits,
    else log a warning for tolerated failures."""
    reasons = list(report.errors)
    exceeded = failures_exceeded(report, limit)
    if exceeded:
        reasons.append(exceeded)
    if reasons:
        raise failure(report, "; ".join(reasons))
    bad = report.failed_outcomes()
    if bad:
        allowed = "no limit" if limit is None else f"max_failed={limit}"
        context.log.warning(
            f"{len(bad)} record(s) failed or are ambiguous, within {allowed}: the step "
            "succeeds; the dead letter holds them"
        )
