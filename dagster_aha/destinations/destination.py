"""`AhaDestination`: where and how upstream records are written to Aha!.

A destination is either one of the 11 endpoint templates (:data:`TEMPLATE_NAMES`) or a manual
configuration (``method`` + ``path`` template + ``wrap_key`` + extra ``headers``). Rendering a
record (:meth:`AhaDestination.render`) is pure: it never touches the network, so the exact same
code produces dry runs, sample payloads and the real requests.

How one record is rendered, step by step: :mod:`dagster_aha.destinations.render_record`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from dagster_aha.client.headers import check_headers
from dagster_aha.client.urls import check_api_path, quote_segment
from dagster_aha.destinations.json_values import RecordError, to_json_native
from dagster_aha.destinations.render_record import (
    FromField,
    RenderedRequest,
    check_segment_value,
    render_record,
)
from dagster_aha.destinations.sync import SyncOptions
from dagster_aha.destinations.templates import (
    TEMPLATE_NAMES,
    TEMPLATES,
    EndpointTemplate,
    HttpMethod,
    TemplateName,
    WriteKind,
    path_placeholders,
)

__all__ = [
    "AhaDestination",
    "AhaDestinationError",
    "FromField",
    "RecordError",
    "RenderedRequest",
    "to_json_native",
]


class AhaDestinationError(ValueError):
    """A destination configuration that cannot be used (raised before any request)."""


#: Default cap on one request body (see ``AhaDestination.max_body_bytes``).
DEFAULT_MAX_BODY_BYTES = 512 * 1024


PathParamValue = str | int | FromField


class AhaDestination(SyncOptions):
    """Where and how records are written to Aha!.

    Give either ``template`` (one of :data:`TEMPLATE_NAMES`) or ``method`` + ``path`` (+
    ``wrap_key``) for a manual configuration. Every placeholder of the path must have an entry
    in ``path_params``: a fixed value, or ``{"from_field": "<record field>"}``.

    Examples::

        AhaDestination(template="create_feature", path_params={"release_id": "PRJ1-R-1"},
                       field_mapping={"title": "name"}, custom_fields={"ext_id": "external_id"},
                       match_on="custom_fields.external_id")
        AhaDestination(template="update_epic", path_params={"epic_id": {"from_field": "ref"}})
        AhaDestination(method="POST", path="products/{product_id}/releases", wrap_key="release",
                       path_params={"product_id": "PRJ1"})
    """

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="forbid", validate_assignment=True
    )

    template: TemplateName | None = None
    method: Literal["POST", "PUT", "DELETE"] | None = None
    path: str | None = None
    wrap_key: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    path_params: dict[str, PathParamValue] = Field(default_factory=dict)
    exclude_attributes: list[str] = Field(default_factory=list)
    field_mapping: dict[str, str] = Field(default_factory=dict)
    custom_fields: dict[str, str] = Field(default_factory=dict)
    """Upstream column -> Aha! custom field key; sent as ``{"custom_fields": {key: value}}``."""
    transform: Callable[[dict[str, Any]], Mapping[str, Any]] | None = Field(
        default=None, exclude=True
    )
    batch_size: int | None = Field(default=None, ge=1)
    batch_property: str | None = None
    batch_extra: dict[str, Any] = Field(default_factory=dict)
    """Other top-level properties of a batched request body (Nexla's "Other Props")."""
    disable_mailers: bool = True
    dry_run: bool = False
    allow_delete: bool = False
    match_on: str | None = None
    on_match: Literal["update", "skip"] = "update"
    record_key: str | list[str] | None = None
    """Upstream field(s) that identify a record in the write ledger. Default: the ``match_on``
    value; without either, the content hash of the rendered request (two identical rows are
    then one record)."""
    max_concurrency: int | None = Field(default=None, ge=1)
    """Worker threads; defaults to the client's ``max_concurrency``."""
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    """A record whose JSON body is larger than this is refused (a ``failed`` outcome, nothing
    sent). Aha! documents no size limit; 512 KiB is far above any real record (a long HTML
    description is a few dozen KiB) and keeps runaway upstream values (a 1 MB "name") out."""

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        """Names normalised (case, spaces) before the check; auth/host/framing/method-override
        headers refused (:func:`dagster_aha.client.headers.check_headers`)."""
        try:
            return check_headers(value)
        except ValueError as exc:
            raise AhaDestinationError(f"{exc} (on a destination)") from None

    @model_validator(mode="after")
    def _check(self) -> AhaDestination:
        tmpl = self._template_or_none()
        if tmpl is None:
            if self.method is None or self.path is None:
                raise AhaDestinationError(
                    "give either template= (one of "
                    + ", ".join(TEMPLATE_NAMES)
                    + ") or method= and path= for a manual destination"
                )
            self._check_manual_path(self.path)
            if self.method in ("POST", "PUT") and not self.wrap_key and not self.batch_property:
                raise AhaDestinationError(
                    "manual POST/PUT destinations need wrap_key= (e.g. 'release'): Aha! "
                    "silently ignores unwrapped bodies"
                )
        elif self.method is not None or self.path is not None:
            raise AhaDestinationError("give either template= or method=/path=, not both")
        method = self.http_method
        if method == "DELETE" and not self.allow_delete:
            what = f"template {self.template!r}" if self.template else "a manual DELETE"
            raise AhaDestinationError(
                f"{what} deletes records permanently: set allow_delete=True to enable it "
                "(nothing was sent)"
            )
        placeholders = self.path_param_names
        missing = [p for p in placeholders if p not in self.path_params]
        if missing:
            raise AhaDestinationError(
                f"path parameter(s) {', '.join(missing)} required by {self.path_template!r}: "
                "give a fixed value or {'from_field': '<record field>'} in path_params"
            )
        extra = [p for p in self.path_params if p not in placeholders]
        if extra:
            raise AhaDestinationError(
                f"unknown path parameter(s) {', '.join(extra)} for {self.path_template!r} "
                f"(expected: {', '.join(placeholders) or 'none'})"
            )
        for name, value in self.path_params.items():
            if not isinstance(value, FromField):
                try:
                    check_segment_value(name, value, "fixed value")
                except RecordError as exc:
                    raise AhaDestinationError(str(exc)) from None
        if self.batch_size is not None and self.batch_size > 1 and not self.batch_property:
            raise AhaDestinationError(
                "batch_size > 1 needs batch_property= (the JSON property holding the records)"
            )
        if self.batch_property and not self.batching:
            raise AhaDestinationError("batch_property= needs batch_size= (> 1)")
        if self.batching and self.match_on:
            raise AhaDestinationError("match_on cannot be combined with batching")
        if self.match_on is not None:
            self._check_match_on(tmpl)
        sync_errors = self.sync_errors(self.kind, tmpl is not None)
        if sync_errors:
            raise AhaDestinationError("; ".join(sync_errors))
        return self

    @staticmethod
    def _check_manual_path(path: str) -> None:
        if "://" in path:
            raise AhaDestinationError(
                f"path {path!r}: give the path relative to /api/v1/ (e.g. "
                "'releases/{release_id}/features'), not a URL: the account comes from the resource"
            )
        try:
            placeholders = path_placeholders(path)
            check_api_path(path.format(**{p: "x" for p in placeholders}))
        except (ValueError, KeyError, IndexError) as exc:
            raise AhaDestinationError(f"invalid manual path: {exc}") from None

    def _check_match_on(self, tmpl: EndpointTemplate | None) -> None:
        key = self.match_on or ""
        if tmpl is None or tmpl.kind != "create":
            raise AhaDestinationError(
                "match_on (upsert) is supported on the create templates only "
                "(create_feature, create_epic, ..., create_team)"
            )
        if key.startswith("custom_fields."):
            if not key[len("custom_fields.") :]:
                raise AhaDestinationError("match_on='custom_fields.<key>' needs a key")
        elif not key or "." in key:
            raise AhaDestinationError(
                f"match_on={key!r}: give a body field name (e.g. 'name') or 'custom_fields.<key>'"
            )

    # -- derived properties -------------------------------------------------------------

    def _template_or_none(self) -> EndpointTemplate | None:
        return TEMPLATES[self.template] if self.template is not None else None

    @property
    def endpoint(self) -> EndpointTemplate | None:
        """The endpoint template, or ``None`` for a manual destination."""
        return self._template_or_none()

    @property
    def http_method(self) -> HttpMethod:
        tmpl = self._template_or_none()
        if tmpl is not None:
            return tmpl.method
        assert self.method is not None
        return self.method

    @property
    def path_template(self) -> str:
        tmpl = self._template_or_none()
        if tmpl is not None:
            return tmpl.path
        assert self.path is not None
        path = self.path
        if path.startswith("/api/v1/"):
            path = path[len("/api/v1/") :]
        return path.lstrip("/")

    @property
    def path_param_names(self) -> tuple[str, ...]:
        return path_placeholders(self.path_template)

    @property
    def effective_wrap_key(self) -> str | None:
        tmpl = self._template_or_none()
        return tmpl.wrap_key if tmpl is not None else (self.wrap_key or None)

    @property
    def kind(self) -> WriteKind:
        tmpl = self._template_or_none()
        if tmpl is not None:
            return tmpl.kind
        return {"POST": "create", "PUT": "update", "DELETE": "delete"}[self.http_method]  # type: ignore[return-value]

    @property
    def batching(self) -> bool:
        return self.batch_size is not None and self.batch_size > 1

    @property
    def name_required(self) -> bool:
        tmpl = self._template_or_none()
        return tmpl.name_required if tmpl is not None else False

    @property
    def label(self) -> str:
        """Short description, e.g. ``create_feature (POST releases/{release_id}/features)``."""
        head = self.template or "manual"
        return f"{head} ({self.http_method} {self.path_template})"

    # -- rendering -----------------------------------------------------------------------

    def render(self, record: object) -> RenderedRequest:
        """Render one upstream record into the request to send (pure: no HTTP).

        Raises :class:`RecordError` (the record becomes a ``failed`` outcome) for a non-mapping
        record, a missing/invalid path parameter, a non-JSON value, a create without ``name``,
        an update without any field, or a failing ``transform``. The steps:
        :mod:`dagster_aha.destinations.render_record`.
        """
        return render_record(self, record)

    def identity(self, account: str) -> str:
        """The destination's identity in the write ledger: account, method and path (fixed
        path parameters filled in, per-record ones left as ``{name}``). Mapping and body
        options are not part of it, so changing them keeps every record's ledger row."""
        fixed = {
            k: quote_segment(str(v)) if not isinstance(v, FromField) else "{" + k + "}"
            for k, v in self.path_params.items()
        }
        return f"{account.rstrip('/')} {self.http_method} {self.path_template.format(**fixed)}"
