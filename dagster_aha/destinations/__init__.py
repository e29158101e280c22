"""dagster_aha.destinations"""
