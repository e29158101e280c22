"""Timestamps of the sandbox: the stored format, parsing ``updated_since``, the seed epoch."""

from __future__ import annotations

import datetime as dt

from dagster_aha.testing.errors import SandboxError

#: the seeded data starts here (one tick per seeded record)
BASE_MS = int(dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
HOUR_MS = 3600 * 1000


def fmt_ts(ms: int) -> str:
    """Epoch milliseconds -> ``2019-01-01T00:00:00.000Z``."""
    d = dt.datetime.fromtimestamp(ms / 1000.0, tz=dt.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_ts(value: str) -> str:
    """Parse an ISO 8601 timestamp (``updated_since``) to the stored, sortable format."""
    v = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    try:
        d = dt.datetime.fromisoformat(v)
    except ValueError:
        try:
            d = dt.datetime.combine(dt.date.fromisoformat(v), dt.time())
        except ValueError as e:
            raise SandboxError(400, f"Invalid updated_since: {value[:40]!r}") from e
    if d.tzinfo is None:
        d = d.replace(tzinfo=dt.timezone.utc)
    try:
        return fmt_ts(round(d.timestamp() * 1000))
    except (OverflowError, OSError, ValueError) as e:  # years before 1 / after 9999 in UTC
        raise SandboxError(400, f"Invalid updated_since: {value[:40]!r}") from e
