"""Alert options of `seamwatch collect` (and `up`): the Prometheus endpoint.

`build_alerts` is the one hook collect/up call: it turns the options into components (the
findings watch, the metrics server) beside the collectors already built.
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
    click.option("--alert-window", "alert_window", metavar="DURATION", default="15m", show_default=True,
                 envvar="SEAMWATCH_ALERT_WINDOW", show_envvar=True,
                 help="A finding is open while the rules see it in this last stretch of time (also the "
                 "window of the end-to-end p95 and of the lag metrics)."),
    click.option("--alert-interval", "alert_interval", metavar="SECONDS", type=click.FloatRange(0.2, 3600),
                 default=30.0, show_default=True, envvar="SEAMWATCH_ALERT_INTERVAL", show_envvar=True,
                 help="Seconds between two runs of the rules for the metrics."),
]


def alert_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        f = option(f)
    return f


def build_alerts(store: Store, options: dict[str, Any], components: Sequence[Component]) -> list[Component]:
    """The findings watch and the metrics server the options ask for; nothing without --metrics.
    ``components`` are the collectors whose status the metrics report."""
    metrics = options.get("metrics")
    if not metrics:
        return []
    from dashboard.alerts.watch import FindingsWatch

    window = parse_duration(str(options.get("alert_window") or "15m"), what="--alert-window")
    watch = FindingsWatch(store, window=window, every=float(options.get("alert_interval") or 30.0))
    built: list[Component] = [watch]
    if metrics:
        from dashboard.alerts.metrics import MetricsServer, SeamwatchCollector, parse_metrics_address

        address = parse_metrics_address(str(metrics))
        observed = [*components, *built]
        collector = SeamwatchCollector(store, statuses=lambda: {c.name: c.status() for c in observed},
                                       findings=lambda: watch.latest, window=window)
        built.append(MetricsServer(address, collector))
    return built
