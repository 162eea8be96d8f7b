"""The derivation as a runtime component: it derives quiet traces in the background and on stop."""

from __future__ import annotations

import time
from datetime import timedelta

from collectors.derive.component import Deriver
from collectors.runtime import Runtime


def test_deriver_derives_in_the_background_and_on_stop(data, store):
    t = data.trace_id()
    root = data.span(t, "web", "server", "POST /checkout", at=0, dur=1)
    data.call(t, "web", "orders", "/orders", at=0.1, parent=root)
    data.write(derived=False)
    deriver = Deriver(store, every=0.05, quiet_for=timedelta(0))
    runtime = Runtime([deriver])
    runtime.start()
    try:
        deadline = time.monotonic() + 10
        while deriver.status().traces < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert deriver.status().traces == 1
        # spans arriving now are derived at the latest when the runtime stops
        t2 = data.trace_id()
        data.span(t2, "web", "server", "GET /", at=5)
        data.write(derived=False)
    finally:
        runtime.stop()
    status = deriver.status()
    assert (status.traces, status.errors, status.pending) == (2, 0, 0)
    assert store.cursor().execute("SELECT count(*) FROM trace_facts").fetchone() == (2,)


def test_on_stop_traces_that_are_not_quiet_are_derived_after_the_collectors_flushed(data, store):
    from collectors import sources

    class Collector:  # stands for the OTLP receiver: it hands over what it holds when stopped
        name = "holder"

        def start(self) -> None: ...

        def status(self) -> dict:
            return {}

        def stop(self, timeout: float = 10.0) -> None:
            t = data.trace_id()
            data.span(t, "web", "server", "POST /checkout", at=0, dur=1)
            data.write(derived=False)

    class Holder:  # a stream source turned on by --hold
        name, kind, switch = "holder", "stream", "--hold"
        options = (sources.Option("--hold", "hold", kind="flag"),)

        def build(self, store, settings):
            return [Collector()] if settings["hold"] else []

    source = sources.register(Holder())
    try:
        built = sources.collectors(store, {"hold": True})
    finally:
        sources.unregister(source)
    assert [c.name for c in built] == ["derive", "holder"]  # started first, so stopped last
    built[0].quiet_for = timedelta(hours=1)  # nothing would be quiet by the clock
    runtime = Runtime(built)
    runtime.start()
    runtime.stop()
    assert store.cursor().execute("SELECT count(*) FROM trace_facts").fetchone() == (1,)
    assert store.cursor().execute("SELECT count(*) FROM derive_pending").fetchone() == (0,)
