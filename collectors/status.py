"""What each collector says about itself: one typed status per kind of component.

`Component.status()` (collectors.runtime) returns one of these. Every time is in seconds, as a
float: instants (`*_at`) are Unix epoch seconds, durations (`*_s`) plain seconds, whatever
unit the component counts in internally. `describe()` is the one line the dashboard's
Overview shows, so no reader has to guess what a number means; `dataclasses.asdict()` of a
status is plain JSON-ready data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol


class Status(Protocol):
    def describe(self, now: float | None = None) -> str: ...


def fmt_age(seconds: float) -> str:
    """'4 s', '12 min', '3 h', '2 d' — a duration in plain words; negative reads as clock skew."""
    s = abs(float(seconds))
    text = (f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min" if s < 5400
            else f"{s / 3600:.0f} h" if s < 172800 else f"{s / 86400:.0f} d")
    return text if seconds >= 0 else f"in {text} (clock skew?)"


def fmt_took(seconds: float) -> str:
    """How long something short took: '12 ms' below a second, else as fmt_age."""
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else fmt_age(seconds)


def _ago(at: float | None, now: float | None, what: str) -> str:
    if at is None:
        return f"no {what} yet"
    return f"last {what} {fmt_age((time.time() if now is None else now) - at)} ago"


def _n(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"


def _line(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)


def _error(text: str | None, label: str = "last error") -> str | None:
    return f"{label}: {text}" if text else None


def fmt_bytes(n: int) -> str:
    """'812 B', '3.4 KiB', '12.0 MiB': a size in plain words."""
    size = float(n)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024 or unit == "MiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MiB"  # pragma: no cover (the loop returns)


def us_to_s(micros: int | None) -> float | None:
    """An instant the Kafka collectors keep in epoch microseconds, in epoch seconds."""
    return None if micros is None else micros / 1e6


@dataclass(frozen=True)
class TapStatus:
    """The Kafka tap (collectors.kafka.tap)."""

    state: str  # starting, running, retrying, stopped
    path: str  # native, bulk or reference: where the per-record work runs
    records: int
    batches: int
    errors: int  # records that became ingest errors
    partitions: int
    consumer: str = "python"  # what reads from Kafka: native (collectors/kafka/native_consumer.py) or python
    records_deleted_unread: int = 0  # offsets a session resumed after were deleted before it read them
    topics: tuple[str, ...] = ()
    slow_path_records: int = 0
    last_flush_at: float | None = None
    last_error: str | None = None
    # schema-registry decoding of wire-format values (collectors.kafka.wire_records); None when
    # the tap runs without a registry and such values are stored as bytes
    schema_registry: dict[str, Any] | None = None  # its settings, secrets redacted
    wire_decoded: int = 0  # wire-format records decoded
    wire_kept_raw: int = 0  # wire-format records stored undecoded (each also an ingest error)
    seconds_by_stage: dict[str, float] = field(default_factory=dict)  # for the bench, not the Overview
    settings: dict[str, Any] = field(default_factory=dict)  # redacted (KafkaSettings.describe)

    def describe(self, now: float | None = None) -> str:
        wire = None
        if self.schema_registry is not None:
            wire = f"schema registry: {self.wire_decoded:,} decoded" + (
                f", {self.wire_kept_raw:,} kept raw" if self.wire_kept_raw else "")
        return _line(self.state, f"{_n(self.records, 'record')} in {_n(self.batches, 'batch', 'batches')}",
                     f"{_n(self.partitions, 'partition')} of {_n(len(self.topics), 'topic')}",
                     f"{self.path} path" + (", native consumer" if self.consumer == "native" else ""), wire,
                     _ago(self.last_flush_at, now, "write"),
                     _n(self.errors, "ingest error") if self.errors else None,
                     f"{_n(self.records_deleted_unread, 'record')} deleted before it read them"
                     if self.records_deleted_unread else None,
                     _n(self.slow_path_records, "record") + " on the slow path" if self.slow_path_records else None,
                     _error(self.last_error))


@dataclass(frozen=True)
class LagStatus:
    """The lag poller (collectors.kafka.lag)."""

    state: str  # starting, running, retrying, standby (another collector polls: a lake), stopped
    interval_s: float
    polls: int
    groups: int
    partitions: int
    failures: int = 0
    last_poll_at: float | None = None
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(self.state, f"{_n(self.polls, 'poll')}, one every {fmt_age(self.interval_s)}",
                     f"{_n(self.groups, 'group')}, {_n(self.partitions, 'partition')}",
                     _ago(self.last_poll_at, now, "poll"),
                     _n(self.failures, "failed poll") if self.failures else None, _error(self.last_error))


@dataclass(frozen=True)
class OtlpStatus:
    """The OTLP receiver (collectors.otlp.receiver): its servers, requests and writer."""

    http: str | None  # host:port listened on
    grpc: str | None
    requests: int
    requests_by_result: dict[str, int]  # per collectors.otlp.ingest.Result value: ok, partial, bad_request, ...
    spans_accepted: int
    spans_rejected: int  # by decoding or by the per-span and per-request caps
    spans_written: int
    batches: int
    queued_rows: int
    queued_bytes: int = 0  # Arrow bytes the writer's queue holds (bounded like the rows)
    write_failing: str | None = None  # why writes fail right now (one sentence); None while they work
    decode_workers: int = 0
    decoder_restarts: int = 0
    duplicates_skipped: int = 0  # spans of retried exports that were stored already
    errors_written: int = 0
    errors_dropped: int = 0
    write_failures: int = 0
    rows_lost: int = 0  # rows of a batch the store refused again and again (never for I/O)
    rows_unwritten: int = 0  # acknowledged rows still queued when stop() gave up
    last_flush_at: float | None = None
    last_flush_s: float = 0.0  # how long the last write took

    def describe(self, now: float | None = None) -> str:
        listening = ", ".join(f"{k} {v}" for k, v in (("HTTP", self.http), ("gRPC", self.grpc)) if v)
        refused = ", ".join(f"{n:,} {r.replace('_', ' ')}" for r, n in self.requests_by_result.items()
                            if n and r not in ("ok", "partial"))
        flush = _ago(self.last_flush_at, now, "write")
        if self.last_flush_at is not None:
            flush += f" (took {fmt_took(self.last_flush_s)})"
        return _line(listening or "not listening",
                     f"{_n(self.requests, 'request')}, {_n(self.spans_accepted, 'span')} accepted"
                     + (f", {self.spans_rejected:,} rejected" if self.spans_rejected else ""),
                     f"refused: {refused}" if refused else None,
                     f"{self.spans_written:,} written in {_n(self.batches, 'batch', 'batches')}",
                     f"{self.queued_rows:,} queued ({fmt_bytes(self.queued_bytes)})" if self.queued_rows else None,
                     flush, _error(self.write_failing, "writes failing"),
                     _n(self.write_failures, "failed write") if self.write_failures else None,
                     f"{self.duplicates_skipped:,} duplicate spans skipped" if self.duplicates_skipped else None,
                     f"{self.rows_lost:,} rows lost" if self.rows_lost else None,
                     f"{self.rows_unwritten:,} rows unwritten at stop" if self.rows_unwritten else None,
                     f"{self.errors_dropped:,} error rows dropped" if self.errors_dropped else None,
                     _n(self.decoder_restarts, "decoder restart") if self.decoder_restarts else None)


@dataclass(frozen=True)
class DeriveStatus:
    """The deriver (collectors.derive.component): per-trace and per-message facts, as data goes quiet."""

    traces: int
    segments: int
    messages: int
    snapshots: int
    pending: int  # traces not derived yet: not quiet for quiet_for_s, or beyond a run's bound
    quiet_for_s: float = 30.0  # a trace is derived once it had no new span this long (at stop: all of them)
    errors: int = 0
    last_run_at: float | None = None
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(f"{_n(self.traces, 'trace')}, {_n(self.segments, 'segment')}, {_n(self.messages, 'message')}, "
                     f"{_n(self.snapshots, 'snapshot')} derived",
                     f"{_n(self.pending, 'trace')} waiting to be quiet for {fmt_age(self.quiet_for_s)}"
                     if self.pending else None,
                     _ago(self.last_run_at, now, "run"), _n(self.errors, "failed run") if self.errors else None,
                     _error(self.last_error))


@dataclass(frozen=True)
class RetentionStatus:
    """Retention (collectors.store.retention): deletes what is older than retain_s."""

    retain_s: float
    runs: int
    deleted: int  # rows, all tables
    last_run_at: float | None = None
    error: str | None = None  # the last run's, cleared by a run that succeeds

    def describe(self, now: float | None = None) -> str:
        return _line(f"keeps {fmt_age(self.retain_s)}", _n(self.runs, "run"), f"{_n(self.deleted, 'row')} deleted",
                     _ago(self.last_run_at, now, "run"), _error(self.error, "error"))


@dataclass(frozen=True)
class FindingsWatchStatus:
    """The findings watch (dashboard.alerts.watch): the rules run every few seconds for metrics and notifications."""

    window_s: float  # findings are judged over the last window_s seconds
    runs: int
    open: int  # findings in the last run
    failed_rules: int = 0  # rules that failed in the last run
    errors: int = 0  # runs that failed as a whole
    last_run_at: float | None = None
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(f"{_n(self.open, 'open finding')} over the last {fmt_age(self.window_s)}",
                     _n(self.runs, "run"), _ago(self.last_run_at, now, "run"),
                     _n(self.failed_rules, "rule") + " failed" if self.failed_rules else None,
                     _n(self.errors, "failed run") if self.errors else None, _error(self.last_error))


@dataclass(frozen=True)
class MetricsStatus:
    """The Prometheus endpoint (dashboard.alerts.metrics)."""

    address: str  # host:port serving /metrics
    scrapes: int
    read_errors: int = 0  # parts of a scrape the store could not answer (the rest was served)
    last_scrape_at: float | None = None
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(f"/metrics on {self.address}", _n(self.scrapes, "scrape"), _ago(self.last_scrape_at, now, "scrape"),
                     _n(self.read_errors, "failed read") if self.read_errors else None, _error(self.last_error))


@dataclass(frozen=True)
class NotifyStatus:
    """Finding notifications (dashboard.alerts.notify): one sender per receiver."""

    receivers: int
    sent: int
    pending: int | None  # notifications recorded in the store and not delivered yet (all receivers); None: unknown
    failures: int = 0  # failed attempts, each retried with backoff
    refused: int = 0  # notifications a receiver refused for good (4xx other than 408/429), not retried
    last_sent_at: float | None = None
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(f"{_n(self.receivers, 'receiver')}", f"{self.sent:,} sent",
                     "pending unknown" if self.pending is None else f"{self.pending:,} pending",
                     _ago(self.last_sent_at, now, "delivery"),
                     _n(self.failures, "failed attempt") if self.failures else None,
                     f"{self.refused:,} refused" if self.refused else None, _error(self.last_error))


@dataclass(frozen=True)
class ImportStatus:
    """The file import (collectors.import_source): the files it was given, read to their end."""

    state: str  # ready, importing, done, stopped (asked to stop before its last file), failed
    files: int
    files_done: int  # imported, skipped as imported before, or refused
    bytes_read: int
    rows: int
    rejected: int  # lines (or rows) that became ingest errors
    refused: int = 0  # files that could not be used at all
    last_error: str | None = None

    def describe(self, now: float | None = None) -> str:
        return _line(self.state, f"{self.files_done:,} of {_n(self.files, 'file')}", f"{fmt_bytes(self.bytes_read)} read",
                     _n(self.rows, "row"), f"{self.rejected:,} rejected" if self.rejected else None,
                     _n(self.refused, "file") + " refused" if self.refused else None, _error(self.last_error))


@dataclass(frozen=True)
class LakeMaintenanceStatus:
    """Lake maintenance (collectors.store.lake_maintenance): merges small files, expires snapshots."""

    runs: int
    merged_files: int  # Parquet files merged into bigger ones, all runs
    expired_snapshots: int
    removed_files: int  # files deleted from the data path
    rewritten_files: int = 0  # files rewritten without the rows retention deleted from them
    standby: bool = False  # another collector holds the maintenance lease
    last_run_at: float | None = None
    error: str | None = None

    def describe(self, now: float | None = None) -> str:
        if self.standby:
            return "standby: another collector maintains the lake"
        return _line(_n(self.runs, "run"), f"{_n(self.merged_files, 'file')} merged",
                     f"{_n(self.rewritten_files, 'file')} rewritten", f"{_n(self.expired_snapshots, 'snapshot')} expired", f"{_n(self.removed_files, 'file')} removed",
                     _ago(self.last_run_at, now, "run"), _error(self.error, "error"))


@dataclass(frozen=True)
class Unreported:
    """What a reader shows when the collectors' status could not be read."""

    error: str

    def describe(self, now: float | None = None) -> str:
        return f"status unavailable: {self.error}"
