"""Example Dagster project for dagster-aha: Aha! -> DuckDB, and intake records back into Aha!.

Run it end to end with ``make demo`` (or ``python -m aha_example.demo`` from ``example_project/``),
or serve it with ``dg dev`` from ``example_project/``.
"""
