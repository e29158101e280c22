"""Where Aha! records land: a dlt destination, dataset and pipeline, from plain settings.

The default is an embedded DuckDB file, ``<pipeline_name>_landing.duckdb`` (that is
``aha_landing.duckdb``) in the working directory, or the file named by ``credentials``. Do not
name the file after the dataset: DuckDB would then read ``aha.features`` as ambiguous. Any dlt
destination works by name (``postgres``, ``snowflake``, ``bigquery``, ``filesystem``, ...); its
credentials come from ``credentials`` (a value or a ``dg.EnvVar``, read only when a run builds
the pipeline) or from dlt's own configuration (``DESTINATION__POSTGRES__CREDENTIALS``,
``.dlt/secrets.toml``), never from code.

Memory: a landing holds one page of records and one write buffer per table, not the account.
:meth:`AhaLanding.settings` runs a load with ``data_writer.buffer_max_items`` (rows dlt keeps
in memory per table before writing them to a file, in extract and in normalize) at
:data:`DEFAULT_BUFFER_MAX_ITEMS` unless dlt's configuration sets it; DuckDB loads with a
``memory_limit`` (:data:`DEFAULT_DUCKDB_MEMORY_LIMIT`; beyond it DuckDB spills to disk) and one
load job at a time (parallel jobs would each take their read buffers from that one limit).
:meth:`AhaLanding.run` does both for a plain dlt run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dlt
from dagster import EnvVar
from dlt.common.destination import Destination

__all__ = ["DEFAULT_BUFFER_MAX_ITEMS", "DEFAULT_DUCKDB_MEMORY_LIMIT", "AhaLanding"]

#: rows dlt buffers per table before writing them out (dlt's own default is 5,000: with Aha!'s
#: wide records that is ~100 MB in extract and again in normalize)
DEFAULT_BUFFER_MAX_ITEMS = 1000
#: DuckDB's memory_limit while loading (DuckDB's own default is 80% of the machine's memory,
#: which a merge of a whole account then fills); beyond it DuckDB spills to disk
DEFAULT_DUCKDB_MEMORY_LIMIT = "128MB"


def _value(value: str | EnvVar | None) -> str | None:
    if isinstance(value, EnvVar):
        return value.get_value()
    return value


@dataclass(frozen=True)
class AhaLanding:
    """A dlt destination + dataset for Aha! tables.

    Args:
        destination: a dlt destination name (``"duckdb"``, ``"postgres"``, ...).
        dataset: the dataset (schema) the tables land in.
        pipeline_name: the dlt pipeline name (its state and, for DuckDB, the default file name).
        credentials: the destination's credentials (DuckDB: a file path; Postgres: a URL), a
            value or a ``dg.EnvVar``; ``None`` lets dlt read its configuration.
        pipelines_dir: where dlt keeps its local working files (default ``~/.dlt/pipelines``);
            the state that matters (cursors) is also stored in the destination.
        options: more keyword arguments of the dlt destination factory.
        buffer_max_items: rows dlt keeps in memory per table before writing them to a file
            (``data_writer.buffer_max_items`` while a run of this landing extracts and
            normalizes, unless dlt's configuration sets it); ``None``: dlt's default.
        duckdb_memory_limit: DuckDB only: the database's ``memory_limit`` (``"128MB"``,
            ``"1GB"``); ``None``: DuckDB's default (80% of the machine's memory). With a limit,
            load jobs run one at a time (``options={"max_parallel_load_jobs": n}`` overrides).
    """

    destination: str = "duckdb"
    dataset: str = "aha"
    pipeline_name: str = "aha"
    credentials: str | EnvVar | None = None
    pipelines_dir: str | EnvVar | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    buffer_max_items: int | None = DEFAULT_BUFFER_MAX_ITEMS
    duckdb_memory_limit: str | None = DEFAULT_DUCKDB_MEMORY_LIMIT

    @property
    def loader_file_format(self) -> str | None:
        """``"jsonl"`` for DuckDB (read by DuckDB itself; dlt's default for it builds INSERT
        statements in Python), else ``None`` (the destination's preferred format)."""
        return "jsonl" if self.destination == "duckdb" else None

    def destination_factory(self, *, resolve: bool = True) -> Any:
        credentials: Any = _value(self.credentials) if resolve else None
        options = dict(self.options)
        if self.destination == "duckdb":
            if credentials is None:
                # not "<dataset>.duckdb": DuckDB names the catalog after the file, and a catalog
                # named like the dataset (schema) makes every "aha.features" ambiguous
                credentials = f"{self.pipeline_name}_landing.duckdb"
            if self.duckdb_memory_limit is not None and isinstance(credentials, str):
                from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

                credentials = DuckDbCredentials(
                    credentials, global_config={"memory_limit": self.duckdb_memory_limit}
                )
                options.setdefault("max_parallel_load_jobs", 1)
        return Destination.from_reference(self.destination, credentials=credentials, **options)

    @contextmanager
    def settings(self) -> Iterator[None]:
        """dlt settings of a run of this landing (``buffer_max_items``), for the duration of
        the context; a value dlt's configuration (env, ``.dlt/*.toml``) sets is kept."""
        values: dict[str, Any] = {}
        key = "data_writer.buffer_max_items"
        if self.buffer_max_items is not None and dlt.config.get(key, int) is None:
            values[key] = self.buffer_max_items
        if not values:
            yield
            return
        with dlt.config.values(values):
            yield

    def run(self, source: Any, *, pipeline: dlt.Pipeline | None = None, **kwargs: Any) -> Any:
        """``pipeline.run(source)`` (default: :meth:`pipeline`) with this landing's settings
        and file format; returns dlt's ``LoadInfo``."""
        pipeline = pipeline or self.pipeline()
        if self.loader_file_format is not None:
            kwargs.setdefault("loader_file_format", self.loader_file_format)
        with self.settings():
            return pipeline.run(source, **kwargs)

    def pipeline(self) -> dlt.Pipeline:
        """The pipeline of a run (credentials read now)."""
        return dlt.pipeline(
            pipeline_name=self.pipeline_name,
            pipelines_dir=_value(self.pipelines_dir),  # type: ignore[arg-type]  # None: dlt's
            destination=self.destination_factory(),
            dataset_name=self.dataset,
        )

    def spec_pipeline(self) -> dlt.Pipeline:
        """A pipeline for asset specs only (definitions load): reads no credential, writes
        nothing but an empty working directory under the system's temp directory."""
        return dlt.pipeline(
            pipeline_name=self.pipeline_name,
            pipelines_dir=os.path.join(tempfile.gettempdir(), "dagster_aha_dlt_specs"),
            destination=self.destination_factory(resolve=False),
            dataset_name=self.dataset,
        )
