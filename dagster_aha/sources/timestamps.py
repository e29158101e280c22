"""Aha! timestamps: parsing what the API sends, formatting what it is sent."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

__all__ = ["format_ts", "parse_ts"]

_FRACTION_RE = re.compile(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)")


def parse_ts(value: Any) -> datetime | None:
    """Parse an Aha! timestamp (``2019-01-01T00:00:00.000Z``); ``None`` when not parseable."""
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
            digits = (frac[1:] + "000000")[:6]
            frac = "." + digits
        text = head + (frac or "") + tail
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def format_ts(value: datetime) -> str:
    """``2019-01-01T00:00:00.000Z`` (UTC, milliseconds), as Aha! writes timestamps."""
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
