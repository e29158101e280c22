"""dagster_aha.client"""
