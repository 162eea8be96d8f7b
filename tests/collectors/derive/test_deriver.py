"""The derivation as a runtime component: it derives quiet traces in the background and on stop."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

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
    # derive started first, so stopped last; a lake is maintained too
    assert [c.name for c in built] == ["derive", "holder"] + (["lake-maintenance"] if store.lake else [])
    built[0].quiet_for = timedelta(hours=1)  # nothing would be quiet by the clock
    runtime = Runtime(built)
    runtime.start()
    runtime.stop()
    assert store.cursor().execute("SELECT count(*) FROM trace_facts").fetchone() == (1,)
    assert store.cursor().execute("SELECT count(*) FROM derive_pending").fetchone() == (0,)


@pytest.mark.lake
def test_on_a_lake_one_deriver_derives_and_another_takes_over_when_its_lease_runs_out(new_lake):
    """Two collectors on one lake: the derive lease gives every trace to one of them, once."""
    from collectors.store import Store
    from tests.support.builders import Data

    location = new_lake()
    with Store(location) as one, Store(location) as two:
        first, second = Deriver(one, quiet_for=timedelta(0)), Deriver(two, quiet_for=timedelta(0))
        data = Data(one)
        for at in (0, 10):
            t = data.trace_id()
            data.span(t, "web", "server", "POST /checkout", at=at, dur=1)
            data.write(derived=False)
            first.run_once()
            second.run_once()  # stands by: the first holds the lease
        assert (first.status().traces, second.status().traces) == (2, 0)
        first._lease.ttl = 0.5  # the first process dies: it renews no more, its lease runs out
        first.run_once()
        time.sleep(1)
        t = data.trace_id()
        data.span(t, "web", "server", "GET /", at=20)
        data.write(derived=False)
        second.run_once()
        assert (first.status().traces, second.status().traces) == (2, 1)
        assert two.cursor().execute("SELECT count(*), count(DISTINCT trace_id) FROM trace_facts").fetchone() == (3, 3)
