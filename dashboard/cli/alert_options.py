"""Alert options of `seamwatch collect` (and `up`): the Prometheus endpoint and finding notifications.

`build_alerts` is the one hook collect/up call: it turns the options into components (the
findings watch, the notifier, the metrics server) beside the collectors already built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import click

from collectors.runtime import Component
from collectors.store import Store
from collectors.store.retention import parse_duration

_OPTIONS = [
    click.option("--metrics", "metrics", metavar="HOST:PORT", envvar="SEAMWATCH_METRICS", show_envvar=True,
                 help="Serve Prometheus metrics on http://HOST:PORT/metrics (':9464' or '9464': loopback)."),
    click.option("--notify", "notify", metavar="URL", multiple=True, envvar="SEAMWATCH_NOTIFY", show_envvar=True,
                 help="Post new, worse and resolved findings as JSON with a Slack-compatible 'text' to this "
                 "webhook (repeatable); 'URL#severity=error' sets this receiver's minimum severity."),
    click.option("--notify-min-severity", "notify_min_severity", default="warning", show_default=True,
                 type=click.Choice(["info", "warning", "error", "critical"]), envvar="SEAMWATCH_NOTIFY_MIN_SEVERITY",
                 show_envvar=True, help="Least severe finding posted to a --notify URL that sets none."),
    click.option("--alert-window", "alert_window", metavar="DURATION", default="15m", show_default=True,
                 envvar="SEAMWATCH_ALERT_WINDOW", show_envvar=True,
                 help="A finding is open while the rules see it in this last stretch of time (also the "
                 "window of the end-to-end p95 and of the lag metrics)."),
    click.option("--alert-interval", "alert_interval", metavar="SECONDS", type=click.FloatRange(0.2, 3600),
                 default=30.0, show_default=True, envvar="SEAMWATCH_ALERT_INTERVAL", show_envvar=True,
                 help="Seconds between two runs of the rules for metrics and notifications."),
]


def alert_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def build_alerts(store: Store, options: dict[str, Any], components: Sequence[Component]) -> list[Component]:
    """The findings watch, the notifier and the metrics server the options ask for; nothing without
    --metrics or --notify. ``components`` are the collectors whose status the metrics report."""
    from dashboard.alerts.notify import parse_receiver

    metrics = options.get("metrics")
    default_severity = str(options.get("notify_min_severity") or "warning")
    receivers = [parse_receiver(u, default_severity=default_severity) for u in options.get("notify") or ()]
    if not metrics and not receivers:
        return []
    from dashboard.alerts.watch import FindingsWatch

    window = parse_duration(str(options.get("alert_window") or "15m"), what="--alert-window")
    watch = FindingsWatch(store, window=window, every=float(options.get("alert_interval") or 30.0))
    built: list[Component] = [watch]
    if receivers:
        from dashboard.alerts.notify import Notifier

        notifier = Notifier(store, receivers)
        watch.subscribe(notifier.on_report)
        built.append(notifier)
    if metrics:
        from dashboard.alerts.metrics import MetricsServer, SeamwatchCollector, parse_metrics_address

        address = parse_metrics_address(str(metrics))
        observed = [*components, *built]
        collector = SeamwatchCollector(store, statuses=lambda: {c.name: c.status() for c in observed},
                                       findings=lambda: watch.latest, window=window)
        built.append(MetricsServer(address, collector))
    return built
