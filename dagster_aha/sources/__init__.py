"""dagster_aha.sources"""
