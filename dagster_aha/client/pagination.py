"""Reading Aha!'s pagination envelope in all the shapes it comes in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dagster_aha.client.errors import AhaResponseError
from dagster_aha.client.models import Pagination

__all__ = ["PAGINATION_KEYS", "PageInfo", "find_record_key", "parse_pagination"]

#: The correct spelling first; ``pagingation`` appears in the older custom pivot docs.
PAGINATION_KEYS = ("pagination", "pagingation")


@dataclass(frozen=True)
class PageInfo:
    """Passed to ``iter_records(on_page=...)`` after each page has been yielded."""

    page: int
    total_pages: int | None
    records_so_far: int


def _int_or_none(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_pagination(body: dict[str, Any]) -> Pagination | None:
    """The pagination of a list response, or ``None`` if there is none (one page only).

    Accepts an object, a one-element list, and the ``pagingation`` spelling.
    """
    for key in PAGINATION_KEYS:
        if key not in body:
            continue
        value = body[key]
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        return Pagination(
            total_records=_int_or_none(value.get("total_records")),
            total_pages=_int_or_none(value.get("total_pages")),
            current_page=_int_or_none(value.get("current_page")),
        )
    return None


def find_record_key(body: dict[str, Any], record_key: str | None = None) -> str:
    """The key holding the records: ``record_key`` or the one list-valued non-pagination key."""
    if record_key is not None:
        if not isinstance(body.get(record_key), list):
            raise AhaResponseError(
                message=f"expected a list under {record_key!r}; keys present: {sorted(body)[:20]}"
            )
        return record_key
    candidates = [k for k, v in body.items() if isinstance(v, list) and k not in PAGINATION_KEYS]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise AhaResponseError(
            message=f"expected a list of records in the response; keys present: "
            f"{sorted(body)[:20]} (pass record_key=)"
        )
    raise AhaResponseError(
        message=f"ambiguous list response: several list-valued keys {sorted(candidates)} "
        "(pass record_key=)"
    )
