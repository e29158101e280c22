"""What every resource kind module declares: :class:`Kind`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dagster_aha.testing.state.core import SandboxState

Record = dict[str, Any]
#: ``create(state, name, body, parent, table_key, ts)``: a new record (not stored yet) from a
#: POST body; ``body`` holds the keys other than ``name`` and may be consumed (``pop``) here;
#: what is left is applied by the write rules afterwards.
Create = Callable[["SandboxState", str, dict[str, Any], "Record | None", "str | None", str], Record]
#: ``write(state, rec, key, value, ts) -> handled``: the kind's own rule for one key of a
#: write body, applied to the private copy ``rec``; False leaves the key to the common rules
#: (``state/writes.py``).
Write = Callable[["SandboxState", Record, str, Any, str], bool]
#: ``filter(records, params)``: the kind's own list query parameters (``email`` for users).
Filter = Callable[[list[Record], dict[str, str]], list[Record]]


@dataclass(frozen=True)
class Kind:
    """One resource kind of the sandbox (``features``, ``goals``, ...).

    ``name`` is the plural collection name used in URLs and list responses, ``singular`` the
    wrapper key of one record (``{"feature": {...}}``). ``compact_keys`` are the keys of the
    thin list representation (no ``fields=``; None: lists carry full records). ``statuses``
    are the workflow statuses ``(name, colour, complete)``; ``searchable`` / ``taggable``:
    the ``q`` / ``tag`` list filters (``taggable`` also enables ``tags`` writes).
    ``ref_key`` is the key looked up by reference (``PRJ1-12``) besides the numeric id.
    """

    name: str
    singular: str
    compact_keys: tuple[str, ...] | None = None
    statuses: tuple[tuple[str, str, bool], ...] = ()
    searchable: bool = False
    taggable: bool = False
    ref_key: str = "reference_num"
    create: Create | None = None
    write: Write | None = None
    filter: Filter | None = None
