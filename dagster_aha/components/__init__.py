"""dagster_aha.components"""
