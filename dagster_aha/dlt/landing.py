"""Where Aha! records land: a dlt destination, dataset and pipeline, from plain settings.

The default is an embedded DuckDB file, ``<pipeline_name>_landing.duckdb`` (that is
``aha_landing.duckdb``) in the working directory, or the file named by ``credentials``. Do not
name the file after the dataset: DuckDB would then read ``aha.features`` as ambiguous. Any dlt
destination works by name (``postgres``, ``snowflake``, ``bigquery``, ``filesystem``, ...); its
credentials come from ``credentials`` (a value or a ``dg.EnvVar``, read only when a run builds
the pipeline) or from dlt's own configuration (``DESTINATION__POSTGRES__CREDENTIALS``,
``.dlt/secrets.toml``), never from code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dlt
from dagster import EnvVar
from dlt.common.destination import Destination

__all__ = ["AhaLanding"]


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
    """

    destination: str = "duckdb"
    dataset: str = "aha"
    pipeline_name: str = "aha"
    credentials: str | EnvVar | None = None
    pipelines_dir: str | EnvVar | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def destination_factory(self, *, resolve: bool = True) -> Any:
        credentials = _value(self.credentials) if resolve else None
        if self.destination == "duckdb" and credentials is None:
            # not "<dataset>.duckdb": DuckDB names the catalog after the file, and a catalog
            # named like the dataset (schema) makes every "aha.features" ambiguous
            credentials = f"{self.pipeline_name}_landing.duckdb"
        return Destination.from_reference(
            self.destination, credentials=credentials, **dict(self.options)
        )

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
