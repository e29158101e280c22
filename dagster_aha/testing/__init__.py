"""dagster_aha.testing"""
