"""Benchmarks that need the dashboard side (analyses); targets live here, never in tests."""
