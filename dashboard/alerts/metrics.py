"""The Prometheus endpoint of `collect` and `up`: `/metrics`, read from the store and the components at scrape time.

One custom collector (prometheus_client's Collector interface) builds every family when
Prometheus scrapes, so no gauge is ever stale or left behind by a group that went away: lag
and Burrow status from the newest offset snapshot of each partition in the window
(dashboard.analyses.burrow and .lag), end-to-end p95 per group and topic over the window,
open findings from the findings watch's last run, and collector health from each component's
status (collectors.status).

Names: where a number means what Kafka Lag Exporter's does, it keeps that name and its
labels (cluster_name, group, topic, partition), so its Grafana dashboards and alert rules
work; the rest is `seamwatch_*`. Labels are bounded: clusters, groups, topics, partitions,
rules, severities, components; never a record, trace or offset id. The README maps each one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from collectors.errors import ConfigError
from collectors.outage import Outage
from collectors.status import (
    DeriveStatus,
    FindingsWatchStatus,
    LagStatus,
    MetricsStatus,
    NotifyStatus,
    OtlpStatus,
    Status,
    TapStatus,
)
from collectors.store import Store, faults
from dashboard.analyses import burrow, lag
from dashboard.analyses.window import Window
from dashboard.findings import registry
from dashboard.findings.model import SEVERITIES, severity_rank

log = logging.getLogger(__name__)

DEFAULT_PORT = 9464  # the port OpenTelemetry's Prometheus exporters default to
PARTITION = ["cluster_name", "group", "topic", "partition"]
PARTITION_STATUSES = ("OK", "WARN", "STOP", "STALL", "REWIND")  # per partition, as Burrow judges them
GROUP_STATUSES = ("OK", "WARN", "ERR")  # a group is its worst partition, STOP/STALL/REWIND read as ERR


# the states of the tap and the lag poller: each is served, 0 or 1, so an alert on "retrying" never
# meets "no data" while the component runs
COMPONENT_STATES = ("starting", "running", "retrying", "standby", "stopped")


def parse_metrics_address(text: str) -> tuple[str, int]:
    """'HOST:PORT', ':PORT' or 'PORT' (both loopback) → (host, port)."""
    raw = text.strip()
    if raw.isdigit():
        raw = ":" + raw
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"--metrics must look like HOST:PORT, :PORT or PORT (for example 127.0.0.1:{DEFAULT_PORT}), "
                          f"not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SeamwatchCollector(Collector):
    """Every family, built at scrape time. A part the store cannot answer is logged and left out;
    the others are still served."""

    def __init__(self, store: Store, *, statuses: Callable[[], Mapping[str, Status]],
                 findings: Callable[[], Any] | None = None, window: timedelta = timedelta(minutes=15),
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.store = store
        self.statuses = statuses
        self.findings = findings or (lambda: None)
        self.window = window
        self.clock = clock
        self.scrapes = 0
        self.read_errors = 0
        self.last_scrape_at: float | None = None
        self.last_error: str | None = None
        self._lock = threading.Lock()
        # a store away fails every scrape (Prometheus asks every 15 s): said once per outage and part
        self._outages: dict[str, Outage] = {}

    def describe(self) -> list[Metric]:
        return []  # built at scrape time: nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one scrape at a time reads the store
            self.scrapes += 1
            self.last_scrape_at = time.time()
            end = self.clock()
            window = Window(end - self.window, end)
            out: list[Metric] = []
            for part in (self._lag, self._end_to_end, self._findings, self._health):
                name = part.__name__.strip("_")
                outage = self._outages.setdefault(name, Outage(log, f"metrics: {name}"))
                try:
                    out.extend(part(window))
                except Exception as exc:  # a read that fails costs its families, never the scrape
                    self.read_errors += 1
                    fault = faults.fault(exc, self.store.path)
                    self.last_error = fault.reason
                    outage.failed(fault.kind or fault.reason, f"metrics: {name} failed: {fault.reason}")
                else:
                    outage.worked()
            yield from out

    # -- consumer lag --------------------------------------------------------------------------
    def _lag(self, window: Window) -> list[Metric]:
        cur = self.store.cursor()
        try:
            parts = burrow.partition_status(cur, window)
            times = lag.time_lag_latest(cur, window)
            ends = lag.partition_ends_latest(cur, window)
            kept = {(r.cluster, r.topic): float(r.retention_s) for r in lag.retention(cur).itertuples(index=False)}
        finally:
            cur.close()
        offset = GaugeMetricFamily("kafka_consumergroup_group_offset",
                                   "The committed offset of the group on this partition (newest snapshot).",
                                   labels=PARTITION)
        lag_msgs = GaugeMetricFamily("kafka_consumergroup_group_lag",
                                     "Messages the group has not committed on this partition: end offset - committed.",
                                     labels=PARTITION)
        lag_s = GaugeMetricFamily("kafka_consumergroup_group_lag_seconds",
                                  "How far behind the group is on this partition, in seconds (time lag).",
                                  labels=PARTITION)
        max_lag = GaugeMetricFamily("kafka_consumergroup_group_max_lag", "The group's largest partition lag.",
                                    labels=["cluster_name", "group"])
        max_lag_s = GaugeMetricFamily("kafka_consumergroup_group_max_lag_seconds",
                                      "The group's largest partition time lag, in seconds.",
                                      labels=["cluster_name", "group"])
        sum_lag = GaugeMetricFamily("kafka_consumergroup_group_sum_lag", "The group's lag over all its partitions.",
                                    labels=["cluster_name", "group"])
        topic_sum = GaugeMetricFamily("kafka_consumergroup_group_topic_sum_lag",
                                      "The group's lag over the partitions of one topic.",
                                      labels=["cluster_name", "group", "topic"])
        latest = GaugeMetricFamily("kafka_partition_latest_offset", "The partition's end offset (high watermark).",
                                   labels=["cluster_name", "topic", "partition"])
        earliest = GaugeMetricFamily("kafka_partition_earliest_offset", "The partition's first offset (low watermark).",
                                     labels=["cluster_name", "topic", "partition"])
        p_status = GaugeMetricFamily("seamwatch_consumergroup_partition_status",
                                     "Burrow's status of the partition (1 for the current status, 0 for the others), "
                                     "stricter where Burrow stays silent about a dead consumer.",
                                     labels=[*PARTITION, "status"])
        g_status = GaugeMetricFamily("seamwatch_consumergroup_status",
                                     "Burrow's status of the group, its worst partition (1 for the current one).",
                                     labels=["cluster_name", "group", "status"])
        g_code = GaugeMetricFamily("seamwatch_consumergroup_status_code",
                                   "Burrow's status of the group as Burrow numbers it: 1 OK, 2 WARN, 3 ERR.",
                                   labels=["cluster_name", "group"])
        retention = GaugeMetricFamily("seamwatch_topic_retention_seconds",
                                      "After how long the topic's retention deletes its records (retention.ms, for a "
                                      "topic whose cleanup.policy deletes; topics kept forever are left out).",
                                      labels=["cluster_name", "topic"])
        headroom = GaugeMetricFamily("seamwatch_consumergroup_retention_headroom_seconds",
                                     "How long the oldest record the group has not read on this partition is still "
                                     "kept: the topic's retention less the time lag (0: likely deleted unread).",
                                     labels=PARTITION)
        for (cluster, topic), kept_s in sorted(kept.items()):
            retention.add_metric([cluster, topic], kept_s)
        seconds = {(r.cluster, r.group_id, r.topic, int(r.partition)): r.time_lag_s
                   for r in times.itertuples(index=False)}
        for r in parts.itertuples(index=False):
            key = (r.cluster, r.group_id, r.topic, int(r.partition))
            labels = [r.cluster, r.group_id, r.topic, str(int(r.partition))]
            if not pd.isna(r.committed_offset):
                offset.add_metric(labels, float(r.committed_offset))
            if not pd.isna(r.current_lag):
                lag_msgs.add_metric(labels, float(r.current_lag))
            if seconds.get(key) is not None and not pd.isna(seconds[key]):
                lag_s.add_metric(labels, float(seconds[key]))
                if (r.cluster, r.topic) in kept:
                    headroom.add_metric(labels, float(lag.kept_for(kept[(r.cluster, r.topic)], float(seconds[key]))))
            for s in PARTITION_STATUSES:
                p_status.add_metric([*labels, s], 1.0 if r.status == s else 0.0)
        for (cluster, group), g in parts.groupby(["cluster", "group_id"], sort=True):
            lags = g["current_lag"].dropna()
            group_secs = [seconds.get((cluster, group, t, int(p))) for t, p in zip(g["topic"], g["partition"], strict=True)]
            group_secs = [s for s in group_secs if s is not None and not pd.isna(s)]
            if len(lags):
                max_lag.add_metric([cluster, group], float(lags.max()))
                sum_lag.add_metric([cluster, group], float(lags.sum()))
            if group_secs:
                max_lag_s.add_metric([cluster, group], float(max(group_secs)))
            for topic, t in g.groupby("topic", sort=True):
                if t["current_lag"].notna().any():
                    topic_sum.add_metric([cluster, group, topic], float(t["current_lag"].dropna().sum()))
            status = burrow.group_status(list(g["status"]))
            for s in GROUP_STATUSES:
                g_status.add_metric([cluster, group, s], 1.0 if status == s else 0.0)
            g_code.add_metric([cluster, group], float(GROUP_STATUSES.index(status) + 1))
        for r in ends.itertuples(index=False):
            labels = [r.cluster, r.topic, str(int(r.partition))]
            if not pd.isna(r.high_watermark):
                latest.add_metric(labels, float(r.high_watermark))
            if not pd.isna(r.low_watermark):
                earliest.add_metric(labels, float(r.low_watermark))
        return [offset, lag_msgs, lag_s, max_lag, max_lag_s, sum_lag, topic_sum, latest, earliest,
                p_status, g_status, g_code, retention, headroom]

    # -- end-to-end lag ------------------------------------------------------------------------
    def _end_to_end(self, window: Window) -> list[Metric]:
        cur = self.store.cursor()
        try:
            summary = lag.trace_lag_summary(cur, window)
        finally:
            cur.close()
        p95 = GaugeMetricFamily("seamwatch_consumergroup_e2e_lag_p95_seconds",
                                "95th percentile of processing start - producer start over the window, from traces.",
                                labels=["group", "topic"])
        paired = GaugeMetricFamily("seamwatch_consumergroup_e2e_messages",
                                   "Processings in the window paired with their producer span (the p95's sample).",
                                   labels=["group", "topic"])
        for r in summary.itertuples(index=False):
            if r.consumer_group is None or r.topic is None or pd.isna(r.p95_ms):
                continue
            p95.add_metric([r.consumer_group, r.topic], float(r.p95_ms) / 1000)
            paired.add_metric([r.consumer_group, r.topic], float(r.paired))
        return [p95, paired]

    # -- findings ------------------------------------------------------------------------------
    def _findings(self, window: Window) -> list[Metric]:
        report = self.findings()
        if report is None:
            return []
        counts: dict[tuple[str, str], int] = {}
        for f in report.findings:
            counts[(f.rule, f.severity)] = counts.get((f.rule, f.severity), 0) + 1
        open_ = GaugeMetricFamily("seamwatch_findings_open",
                                  "Findings the rules see in the window, by rule and severity.",
                                  labels=["rule", "severity"])
        # every severity a rule can take is exported, 0 when quiet: an alert on it never meets "no data"
        for rule in registry.rules():
            for sev in SEVERITIES[: severity_rank(rule.severity) + 1]:
                open_.add_metric([rule.id, sev], float(counts.pop((rule.id, sev), 0)))
        for (rule_id, sev), n in sorted(counts.items()):
            open_.add_metric([rule_id, sev], float(n))
        failed = GaugeMetricFamily("seamwatch_findings_rule_failed",
                                   "1 when the rule failed in the last run (its findings are missing).",
                                   labels=["rule"])
        for rule_id in sorted(report.errors):
            failed.add_metric([rule_id], 1.0)
        return [open_, failed]

    # -- collector health ----------------------------------------------------------------------
    def _health(self, window: Window) -> list[Metric]:
        now = time.time()
        fam: dict[str, Metric] = {}

        def gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
            return fam.setdefault(name, GaugeMetricFamily(name, doc, labels=labels or []))  # type: ignore[return-value]

        def counter(name: str, doc: str, labels: list[str] | None = None) -> CounterMetricFamily:
            return fam.setdefault(name, CounterMetricFamily(name, doc, labels=labels or []))  # type: ignore[return-value]

        def commit_age(component: str, at: float | None) -> None:
            g = gauge("seamwatch_last_commit_age_seconds",
                      "Seconds since the component last committed a batch to the store.", ["component"])
            if at is not None:
                g.add_metric([component], max(0.0, now - at))

        def state(component: str, current: str) -> None:
            g = gauge("seamwatch_component_state", "1 for the state the component is in (retrying: its broker "
                      "or store is away), 0 for the others.", ["component", "state"])
            for name in (*COMPONENT_STATES, *({current} - set(COMPONENT_STATES))):
                g.add_metric([component, name], 1.0 if name == current else 0.0)

        for s in self.statuses().values():
            if isinstance(s, TapStatus):
                state("tap", s.state)
                counter("seamwatch_records_ingested", "Kafka records the tap stored.").add_metric([], s.records)
                counter("seamwatch_records_rejected", "Kafka records the tap could not read (ingest errors)."
                        ).add_metric([], s.errors)
                counter("seamwatch_records_deleted_unread", "Offsets deleted from a topic (retention) before the "
                        "tap read them, found where a session resumed.").add_metric([], s.records_deleted_unread)
                gauge("seamwatch_tap_path_info", "Where the tap's per-record work runs: native, bulk or reference.",
                      ["path"]).add_metric([s.path], 1.0)
                gauge("seamwatch_tap_partitions", "Partitions the tap reads.").add_metric([], s.partitions)
                commit_age("tap", s.last_flush_at)
            elif isinstance(s, OtlpStatus):
                counter("seamwatch_spans_ingested", "Spans the OTLP receiver accepted (acknowledged to exporters)."
                        ).add_metric([], s.spans_accepted)
                counter("seamwatch_spans_rejected", "Spans the OTLP receiver rejected (decoding, caps).").add_metric(
                    [], s.spans_rejected)
                counter("seamwatch_spans_written", "Spans written to the store.").add_metric([], s.spans_written)
                gauge("seamwatch_queue_rows", "Rows held in a writer's queue, not yet committed.",
                      ["component"]).add_metric(["otlp"], s.queued_rows)
                gauge("seamwatch_queue_bytes", "Bytes held in a writer's queue, not yet committed.",
                      ["component"]).add_metric(["otlp"], s.queued_bytes)
                commit_age("otlp", s.last_flush_at)
            elif isinstance(s, LagStatus):
                state("lag", s.state)
                counter("seamwatch_lag_polls", "Consumer-lag polls of the cluster.").add_metric([], s.polls)
                counter("seamwatch_lag_poll_failures", "Consumer-lag polls that failed.").add_metric([], s.failures)
                commit_age("lag", s.last_poll_at)
            elif isinstance(s, DeriveStatus):
                gauge("seamwatch_derive_backlog_traces", "Traces waiting to be derived (not quiet yet).").add_metric(
                    [], s.pending)
                counter("seamwatch_derive_failures", "Derive runs that failed.").add_metric([], s.errors)
            elif isinstance(s, FindingsWatchStatus):
                gauge("seamwatch_findings_last_run_age_seconds", "Seconds since the rules last ran.").add_metric(
                    [], max(0.0, now - s.last_run_at) if s.last_run_at is not None else float("nan"))
            elif isinstance(s, NotifyStatus):
                counter("seamwatch_notifications_sent", "Notifications delivered.").add_metric([], s.sent)
                if s.pending is not None:
                    gauge("seamwatch_notifications_pending", "Notifications recorded and not delivered yet."
                          ).add_metric([], s.pending)
                counter("seamwatch_notification_failures", "Failed delivery attempts (each retried).").add_metric(
                    [], s.failures)
            elif isinstance(s, MetricsStatus):
                pass  # this endpoint itself: Prometheus records scrape_duration_seconds and up
        return list(fam.values())


class MetricsServer:
    """The `/metrics` endpoint as a runtime Component: prometheus_client's HTTP server on its own thread."""

    name = "metrics"

    def __init__(self, address: tuple[str, int], collector: SeamwatchCollector) -> None:
        self.address = address
        self.collector = collector
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def bound(self) -> str:
        host, port = self.address
        if self._server is not None:
            port = self._server.server_address[1]
        return f"{host}:{port}"

    def start(self) -> None:
        if self._server is not None:
            return
        host, port = self.address
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}); "
                              "choose another address with --metrics") from None
        log.info("Prometheus metrics on http://%s/metrics", self.bound)

    def stop(self, timeout: float = 10.0) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def status(self) -> MetricsStatus:
        c = self.collector
        return MetricsStatus(address=self.bound, scrapes=c.scrapes, read_errors=c.read_errors,
                             last_scrape_at=c.last_scrape_at, last_error=c.last_error)
