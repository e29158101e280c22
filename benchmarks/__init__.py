"""Reproducible benchmarks of dagster_aha: ``python -m benchmarks.<name>`` (see README.md)."""
