"""Seamwatch collectors: ingest Kafka records, group offsets and OTLP traces into DuckDB."""

__version__ = "0.1.0"
