"""Per-record write outcomes (the "response webhook" as data) and the run report."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "DEAD_LETTER_MARKER",
    "OUTCOME_STATUSES",
    "OutcomeStatus",
    "WriteOutcome",
    "WriteReport",
    "excerpt",
    "json_excerpt",
]

#: Column marking a row as a dead-letter row (only such rows are unwrapped on replay).
DEAD_LETTER_MARKER = "dagster_aha_dead_letter"
#: The most one record's error or detail carries (an excerpt with the full size after it).
MAX_MESSAGE_CHARS = 2000


def excerpt(text: str, limit: int) -> str:
    """``text`` itself, or its first ``limit`` characters and its size."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} chars)"


def json_excerpt(value: Any, limit: int) -> Any:
    """``value`` itself when its JSON is at most ``limit`` characters, else an excerpt of the
    JSON text with its size (a string)."""
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
        return excerpt(text, limit)
    return value if len(text) <= limit else excerpt(text, limit)


OutcomeStatus = Literal[
    "created",
    "updated",
    "deleted",
    "unchanged",
    "skipped",
    "removed_upstream",
    "failed",
    "ambiguous",
    "dry_run",
]
OUTCOME_STATUSES: tuple[str, ...] = (
    "created",
    "updated",
    "deleted",
    "unchanged",
    "skipped",
    "removed_upstream",
    "failed",
    "ambiguous",
    "dry_run",
)
_BAD_STATUSES = ("failed", "ambiguous")


class WriteOutcome(BaseModel):
    """What happened to one input record.

    ``request`` is the request sent (or that would be sent): ``{"method", "path", "params",
    "body"}``; ``path`` is relative to ``/api/v1/``. ``retryable`` says whether replaying the
    record is safe and may succeed (transient errors; ``ambiguous`` only with ``match_on``).
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    index: int
    status: OutcomeStatus
    http_status: int | None = None
    aha_id: str | None = None
    reference_num: str | None = None
    url: str | None = None
    error: str | None = None
    retryable: bool = False
    match_key: str | None = None
    request: dict[str, Any] | None = None
    detail: str | None = None
    """Why a record was skipped or how it was resolved (e.g. found in the write ledger)."""
    retry: bool = False
    """The record failed in an earlier run (write ledger) and this run sent it again."""
    record_key: str | None = None
    """The record's key in the write ledger (set on mirror removals, which have no input)."""
    changes: list[dict[str, Any]] | None = None
    """Field-level diff of an update: ``[{"field", "before", "after"}]`` (when known)."""

    @field_validator("error", "detail")
    @classmethod
    def _cap(cls, value: str | None) -> str | None:
        return excerpt(value, MAX_MESSAGE_CHARS) if value is not None else None

    def to_row(self) -> dict[str, Any]:
        req = self.request or {}
        return {
            "index": self.index,
            "status": self.status,
            "http_status": self.http_status,
            "aha_id": self.aha_id,
            "reference_num": self.reference_num,
            "url": self.url,
            "error": self.error,
            "retryable": self.retryable,
            "match_key": self.match_key,
            "detail": self.detail,
            "retry": self.retry,
            "method": req.get("method"),
            "path": req.get("path"),
            "body": json.dumps(req.get("body"), sort_keys=True)
            if req.get("body") is not None
            else None,
        }


ROW_COLUMNS: tuple[tuple[str, str], ...] = (
    ("index", "int"),
    ("status", "string"),
    ("http_status", "int"),
    ("aha_id", "string"),
    ("reference_num", "string"),
    ("url", "string"),
    ("error", "string"),
    ("retryable", "bool"),
    ("match_key", "string"),
    ("detail", "string"),
    ("retry", "bool"),
    ("method", "string"),
    ("path", "string"),
    ("body", "string (JSON)"),
)


class WriteReport(BaseModel):
    """The result of one write run: exactly one outcome per input record, in input order."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    destination: str
    outcomes: list[WriteOutcome]
    records: list[Any] = Field(default_factory=list, repr=False)
    """The original input records (same order as ``outcomes``), for replays."""
    requests: int = 0
    """HTTP calls issued by the engine (writes and look-ups; client retries not included)."""
    http_attempts: int | None = None
    """HTTP attempts seen by the client during the run, retries included (when available)."""
    rate_limited: int | None = None
    """429 responses seen by the client during the run (when available)."""
    duration_seconds: float = 0.0
    dry_run: bool = False
    errors: list[str] = Field(default_factory=list)
    """Guardrails that stopped part of the run (e.g. mirror deletes above ``max_deletes``):
    the report is then not ``ok`` and a Dagster step fails after finishing."""
    plan: Any = Field(default=None, repr=False)
    """The :class:`~dagster_aha.destinations.plan.WritePlan` of a dry run (with look-ups)."""

    @property
    def counts(self) -> dict[str, int]:
        """``{status: n}`` for every status (zeros included), in a fixed order."""
        c = Counter(o.status for o in self.outcomes)
        return {s: c.get(s, 0) for s in OUTCOME_STATUSES}

    @property
    def ok(self) -> bool:
        """True when no record failed, none is ambiguous and no guardrail stopped the run."""
        return not self.errors and not any(o.status in _BAD_STATUSES for o in self.outcomes)

    @property
    def created_ids(self) -> list[str]:
        return [o.aha_id for o in self.outcomes if o.status == "created" and o.aha_id]

    def failed_outcomes(self) -> list[WriteOutcome]:
        return [o for o in self.outcomes if o.status in _BAD_STATUSES]

    def failed_records(self) -> list[Any]:
        """Input records whose outcome is ``failed`` or ``ambiguous`` (everything not done)."""
        return [
            self.records[o.index] for o in self.failed_outcomes() if o.index < len(self.records)
        ]

    def retryable_records(self) -> list[Any]:
        """Input records that are safe to replay and may succeed (transient errors; ambiguous
        creates only when the destination has ``match_on``)."""
        return [
            self.records[o.index]
            for o in self.failed_outcomes()
            if o.retryable and o.index < len(self.records)
        ]

    def to_rows(self) -> list[dict[str, Any]]:
        """JSON-native rows (one per record) for a table / the outcome asset."""
        return [o.to_row() for o in self.outcomes]

    def dead_letter_rows(self) -> list[dict[str, Any]]:
        """Failed and ambiguous records with their reasons, replayable (``record`` is the input)."""
        rows: list[dict[str, Any]] = []
        for o in self.failed_outcomes():
            rows.append(
                {
                    DEAD_LETTER_MARKER: 1,
                    "index": o.index,
                    "status": o.status,
                    "http_status": o.http_status,
                    "error": o.error,
                    "retryable": o.retryable,
                    "record": self.records[o.index] if o.index < len(self.records) else None,
                }
            )
        return rows

    def summary(self) -> str:
        parts = [f"{s}={n}" for s, n in self.counts.items() if n]
        text = (
            f"{self.destination}: {len(self.outcomes)} record(s) "
            f"[{', '.join(parts) or 'none'}] in {self.duration_seconds:.2f}s, "
            f"{self.requests} request(s)"
        )
        return text + "".join(f"; {e}" for e in self.errors)

    def markdown_preview(self, limit: int = 20) -> str:
        """A Markdown table of the first ``limit`` outcomes (failed/ambiguous first)."""
        ordered = self.failed_outcomes() + [
            o for o in self.outcomes if o.status not in _BAD_STATUSES
        ]
        lines = [
            "| # | status | http | aha id | reference | error |",
            "|---|---|---|---|---|---|",
        ]
        for o in ordered[:limit]:
            err = excerpt((o.error or "").replace("|", "\\|").replace("\n", " "), 120)
            ref = f"[{o.reference_num}]({o.url})" if o.reference_num and o.url else o.reference_num
            lines.append(
                f"| {o.index} | {o.status} | {o.http_status or ''} | {o.aha_id or ''} | "
                f"{ref or ''} | {err} |"
            )
        if len(ordered) > limit:
            lines.append(f"\n… {len(ordered) - limit} more")
        return "\n".join(lines)
