"""Sync modes and their guardrails: the ``mode=`` family of :class:`AhaDestination` options.

* ``create``: send a create for every new or changed record (today's plain create). With
  ``match_on`` a record that already exists in Aha! is ``skipped`` (create-if-absent).
* ``upsert``: ``match_on`` look-up, update what exists, create the rest (``on_match="update"``).
* ``update_only``: never create; a record that is not found is ``skipped`` with the reason.
* ``mirror``: upsert, and the keys the write ledger says this destination wrote that have left
  the upstream are deleted (``allow_delete=True``) or reported ``removed_upstream``
  (``on_removed="keep"``); ``max_deletes`` (a count, or a ratio of the destination's records in
  the ledger) stops every delete of a run above it. Mirror only deletes records this
  destination created (``origin="created"`` in the ledger) unless ``mirror_matched=True``.

``mode=None`` keeps the behaviour of the other options (``match_on`` + ``on_match``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

__all__ = ["SYNC_MODES", "SyncMode", "SyncOptions", "threshold_exceeded"]

SyncMode = Literal["create", "upsert", "update_only", "mirror"]
SYNC_MODES: tuple[str, ...] = ("create", "upsert", "update_only", "mirror")


def threshold_exceeded(count: int, total: int, limit: int | float | None) -> bool:
    """``count`` is above ``limit``: an ``int`` is a count, a ``float`` a ratio of ``total``."""
    if limit is None:
        return False
    if isinstance(limit, bool):
        raise TypeError("a threshold is a count (int) or a ratio (float), not a bool")
    if isinstance(limit, int):
        return count > limit
    return count > limit * max(total, 0)


def check_threshold(name: str, value: int | float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        raise ValueError(f"{name}: give a count (int) or a ratio (float between 0 and 1)")
    if isinstance(value, int) and value < 0:
        raise ValueError(f"{name}={value}: a count must be >= 0")
    if isinstance(value, float) and not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value}: a ratio must be between 0.0 and 1.0")


class SyncOptions(BaseModel):
    """The sync-mode options of a destination (mixed into :class:`AhaDestination`)."""

    mode: SyncMode | None = None
    """``create``, ``upsert``, ``update_only`` or ``mirror`` (see the module doc); ``None``:
    decided by ``match_on``/``on_match`` as before."""
    on_removed: Literal["delete", "keep"] | None = None
    """Mirror: what happens to a record that left the upstream. ``delete`` needs
    ``allow_delete=True``; ``None``: ``delete`` when ``allow_delete`` else ``keep``."""
    max_deletes: int | float | None = None
    """Mirror: the most deletes one run may make, a count (``50``) or a ratio of the
    destination's records in the ledger (``0.1``); above it nothing is deleted and the run
    reports an error (a Dagster step fails after finishing)."""
    max_failed: int | float | None = None
    """Dagster steps (op, job, asset) fail after finishing above this many failed/ambiguous
    records, a count or a ratio of the input (a builder's ``max_failed=`` wins)."""
    mirror_matched: bool = Field(default=False)
    """Mirror: also delete records this destination did not create but matched (``match_on``)
    and updated. Off by default: mirror never touches a record the ledger did not create."""

    @property
    def effective_mode(self) -> SyncMode:
        if self.mode is not None:
            return self.mode
        match_on = getattr(self, "match_on", None)
        on_match = getattr(self, "on_match", "update")
        return "upsert" if match_on is not None and on_match == "update" else "create"

    @property
    def updates_matches(self) -> bool:
        """A matched record is updated (else ``skipped``)."""
        if self.mode == "create":
            return False
        if self.mode in ("upsert", "mirror", "update_only"):
            return True
        return getattr(self, "on_match", "update") == "update"

    @property
    def deletes_removed(self) -> bool:
        """Mirror deletes keys that left the upstream (else reports ``removed_upstream``)."""
        if self.mode != "mirror":
            return False
        if self.on_removed is not None:
            return self.on_removed == "delete"
        return bool(getattr(self, "allow_delete", False))

    def sync_errors(self, kind: str, template: bool) -> list[str]:
        """Inconsistent sync options (the destination raises them before any request)."""
        errors: list[str] = []
        match_on = getattr(self, "match_on", None)
        record_key = getattr(self, "record_key", None)
        mode = self.mode
        if mode in ("create", "upsert", "mirror") and kind != "create":
            errors.append(f"mode={mode!r} needs a create template (this destination {kind}s)")
        if mode == "upsert" and match_on is None:
            errors.append("mode='upsert' needs match_on= (the field that finds the record)")
        if mode in ("upsert", "mirror") and getattr(self, "on_match", "update") == "skip":
            errors.append(
                f"mode={mode!r} updates matched records: drop on_match='skip' (use "
                "mode='create' with match_on to create only what does not exist)"
            )
        if mode == "update_only" and kind == "create" and match_on is None:
            errors.append(
                "mode='update_only' on a create template needs match_on= to find the records "
                "(or use an update template such as update_epic)"
            )
        if mode == "update_only" and kind == "delete":
            errors.append("mode='update_only' cannot be used with a delete destination")
        if mode == "mirror":
            if not template:
                errors.append("mode='mirror' needs a template (its delete path is known)")
            if match_on is None and record_key is None:
                errors.append(
                    "mode='mirror' needs record_key= or match_on= (a stable key per record: "
                    "without one every changed row would look removed)"
                )
            if self.on_removed == "delete" and not getattr(self, "allow_delete", False):
                errors.append(
                    "on_removed='delete' deletes Aha! records permanently: set "
                    "allow_delete=True (or on_removed='keep')"
                )
        elif self.on_removed is not None or self.max_deletes is not None or self.mirror_matched:
            errors.append("on_removed, max_deletes and mirror_matched apply to mode='mirror' only")
        for name in ("max_deletes", "max_failed"):
            try:
                check_threshold(name, getattr(self, name))
            except ValueError as exc:
                errors.append(str(exc))
        return errors
