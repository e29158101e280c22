"""Pydantic v2 models for Aha! records.

Every model allows extra fields (Aha! responses vary with ``fields=``) and every id is a
``str``: real ids have 19 digits and exceed float precision, and some payloads send numbers.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

__all__ = [
    "AhaId",
    "AhaModel",
    "CustomTableRecord",
    "Epic",
    "Feature",
    "Goal",
    "Idea",
    "Initiative",
    "Pagination",
    "Product",
    "Release",
    "Team",
    "User",
]


def _coerce_id(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("an id cannot be a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"an id must be integral, got {value!r}")
        return str(int(value))
    return value


#: A record id: always a ``str``; ints are coerced exactly.
AhaId = Annotated[str, BeforeValidator(_coerce_id)]


class AhaModel(BaseModel):
    """Base: unknown fields are kept (``model_extra``)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Pagination(AhaModel):
    total_records: int | None = None
    total_pages: int | None = None
    current_page: int | None = None


class _Record(AhaModel):
    id: AhaId
    name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    url: str | None = None
    resource: str | None = None


class Product(_Record):
    reference_prefix: str | None = None
    product_line: bool | None = None
    workspace_type: str | None = None
    parent_id: AhaId | None = None


class Release(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    start_date: str | None = None
    release_date: str | None = None
    end_date: str | None = None
    released: bool | None = None
    parking_lot: bool | None = None


class Feature(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    release_reference_num: str | None = None
    epic_reference_num: str | None = None
    workflow_status: dict[str, Any] | None = None
    custom_fields: list[dict[str, Any]] | None = None


class Epic(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    workflow_status: dict[str, Any] | None = None
    custom_fields: list[dict[str, Any]] | None = None


class Idea(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    votes: int | None = None
    workflow_status: dict[str, Any] | None = None


class Goal(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    effort: float | None = None
    value: float | None = None


class Initiative(_Record):
    reference_num: str | None = None
    product_id: AhaId | None = None
    status: str | None = None
    effort: float | None = None
    value: float | None = None
    presented: bool | None = None


class Team(_Record):
    product_id: AhaId | None = None
    team_members_count: int | None = None
    # decimal strings on GET ("205.0"), numbers or null right after a POST
    capacity: str | float | None = None
    hourly_rate: str | float | None = None


class CustomTableRecord(_Record):
    product_id: AhaId | None = None
    key: str | None = None
    custom_fields: list[dict[str, Any]] | None = None


class User(_Record):
    email: str | None = None
