"""Aha! timestamps (``2019-01-01T00:00:00.000Z``): parsing what the API sends, formatting what
it is sent (the cursor format)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = ["format_ts", "max_updated_at", "parse_ts"]

_FRACTION_RE = re.compile(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)")


def parse_ts(value: Any) -> datetime | None:
    """Parse an Aha! timestamp; ``None`` when not parseable. Always UTC-aware."""
    if isinstance(value, datetime):
        parsed = value
    else:
        if not isinstance(value, str) or not value:
            return None
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        # Python 3.10's fromisoformat wants 0, 3 or 6 fractional digits.
        match = _FRACTION_RE.fullmatch(text)
        if match:
            head, frac, tail = match.groups()
            if frac:
                frac = "." + (frac[1:] + "000000")[:6]
            text = head + (frac or "") + tail
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_ts(value: datetime) -> str:
    """``2019-01-01T00:00:00.000Z`` (UTC, milliseconds): the form Aha! writes and
    ``updated_since`` accepts."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def max_updated_at(rows: Iterable[Mapping[str, Any]], field: str = "updated_at") -> datetime | None:
    """The latest parseable ``field`` of ``rows`` (``None`` when there is none)."""
    best: datetime | None = None
    for row in rows:
        ts = parse_ts(row.get(field))
        if ts is not None and (best is None or ts > best):
            best = ts
    return best
