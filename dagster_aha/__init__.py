"""Dagster integration for the Aha! product management REST API."""

from dagster_aha.version import __version__

__all__ = ["__version__"]
