"""The ``budget_store`` setting: ``"process"``, ``"host"`` or a database URL, and how it is shown
(never with its password)."""

from __future__ import annotations

import os
import tempfile

__all__ = ["describe_store", "host_store_path", "store_url"]


def host_store_path() -> str:
    """The SQLite file of ``budget_store="host"`` (per user, in the temp directory)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"dagster-aha-budget-{uid}.sqlite3")


def store_url(setting: str) -> str | None:
    """The SQLAlchemy URL of a ``budget_store`` setting, or ``None`` for ``"process"``."""
    s = (setting or "process").strip()
    if s in ("", "process", "memory", "none"):
        return None
    if s == "host":
        return "sqlite:///" + host_store_path()
    low = s.lower()
    if low.startswith("sqlite:") or low.startswith("postgresql"):
        return s
    if low.startswith("postgres://"):
        return "postgresql" + s[len("postgres") :]
    raise ValueError(
        "budget_store must be 'process', 'host', a sqlite:/// URL or a PostgreSQL "
        "SQLAlchemy URL (postgresql+psycopg2://...)"
    )


def describe_store(setting: str | None) -> str:
    """``setting`` with any password removed (for reprs and logs)."""
    url = store_url(setting or "process")
    if url is None:
        return "process"
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
