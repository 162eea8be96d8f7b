"""Alerts and actions: what `collect` and `up` tell the outside world while they run.

- `watch`: runs the finding rules over the last few minutes on a background thread;
- `metrics`: the Prometheus `/metrics` endpoint, read from the store and the components at scrape time;
- `notify`: posts new, worse and resolved findings to webhooks, recorded in the store so a
  restart never sends one twice.

See docs/architecture.md#alerts-and-notifications.
"""
