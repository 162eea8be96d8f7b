"""Case 9 of the hostile-input issue: an exporter retrying a request must not store its spans twice."""

from __future__ import annotations

import random

import grpc
import pyarrow as pa

from collectors.otlp import writer
from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def _count(store) -> int:
    return store.cursor().execute("SELECT count(*) FROM spans").fetchone()[0]


def test_a_retried_request_stores_its_spans_once(receiver, store):
    body = request(5).SerializeToString()
    assert post(receiver.http_address, body)[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 5) == 5
    assert post(receiver.http_address, body)[0] == 200  # the exporter did not see the first answer
    with grpc.insecure_channel("{}:{}".format(*receiver.grpc_address)) as channel:
        channel.unary_unary(EXPORT)(body, timeout=10)  # and over gRPC too
    other = request(5).SerializeToString()
    assert post(receiver.http_address, other)[0] == 200
    assert wait_for(store, "SELECT count(*) FROM spans", lambda n: n >= 10) == 10
    receiver.stop()
    assert _count(store) == 10
    assert receiver.status().duplicates_skipped == 10


def test_retries_inside_one_batch_store_once(receiver_factory, store):
    receiver = receiver_factory(flush_interval=5.0)  # both copies wait in the same batch
    body = request(5).SerializeToString()
    assert post(receiver.http_address, body)[0] == 200
    assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    assert _count(store) == 5


def test_same_ids_at_another_time_are_another_span(receiver, store):
    """Only a true copy is skipped: a span id reused with another start time is still stored."""
    req = request(1)
    first = req.SerializeToString()
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano += 1_000_000_000
    assert post(receiver.http_address, first)[0] == 200
    assert post(receiver.http_address, req.SerializeToString())[0] == 200
    receiver.stop()
    assert _count(store) == 2


def test_same_ids_at_another_time_inside_one_batch_are_two_spans(receiver_factory, store):
    """A batch with a repeated (trace id, span id) is grouped by its whole key: both spans are kept,
    and a true copy beside them is still skipped."""
    receiver = receiver_factory(flush_interval=5.0)  # all three wait in the same batch
    req = request(1)
    first = req.SerializeToString()
    req.resource_spans[0].scope_spans[0].spans[0].start_time_unix_nano += 1_000_000_000
    for body in (first, req.SerializeToString(), first):
        assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    assert _count(store) == 2
    assert receiver.status().duplicates_skipped == 1


def test_the_quick_check_for_copies_agrees_with_grouping():
    """The writer tells a batch without copies from a hash of each id pair (writer._pairs_distinct);
    whatever the ids (copies, nulls, ids of other lengths, batches in several chunks) the first row
    of each key is what grouping the whole key finds."""
    rnd = random.Random(17)
    pools = ([rnd.randbytes(16).hex() for _ in range(6)] + ["a" * 31, "", None],
             [rnd.randbytes(8).hex() for _ in range(4)] + ["b" * 17])
    for trial in range(300):
        n = rnd.randrange(1, 40)
        fresh = trial % 3 == 0  # a batch of fresh random ids, the usual one
        trace = [rnd.randbytes(16).hex() if fresh else rnd.choice(pools[0]) for _ in range(n)]
        span = [rnd.randbytes(8).hex() if fresh else rnd.choice(pools[1]) for _ in range(n)]
        start = [rnd.choice([1, 2]) for _ in range(n)]
        keys = pa.table({"trace_id": pa.array(trace, pa.string()), "span_id": pa.array(span, pa.string()),
                         "start_time": pa.array(start, pa.timestamp("us")), "i": pa.array(range(n), pa.int64())})
        cut = rnd.randrange(n + 1)
        keys = pa.concat_tables([keys.slice(0, cut), keys.slice(cut)])  # one chunk or two, maybe sliced
        first: dict[tuple, int] = {}
        for i, key in enumerate(zip(trace, span, start, strict=True)):
            first.setdefault(key, i)
        assert sorted(writer._first_of_each_key(keys).to_pylist()) == sorted(first.values())
        if fresh:
            assert writer._pairs_distinct(keys)


def test_a_retried_late_span_is_skipped_in_its_own_window(receiver_factory, store):
    """A batch with spans an hour apart is looked up window by window: copies are found in each."""
    receiver = receiver_factory(flush_interval=5.0)
    now, late = request(3), request(2)
    for sp in late.resource_spans[0].scope_spans[0].spans:
        sp.start_time_unix_nano -= 3600 * 10**9
        sp.end_time_unix_nano -= 3600 * 10**9
    for body in (now.SerializeToString(), late.SerializeToString()):
        assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    receiver = receiver_factory(flush_interval=5.0)  # the exporters retry both after a restart
    for body in (late.SerializeToString(), now.SerializeToString()):
        assert post(receiver.http_address, body)[0] == 200
    receiver.stop()
    assert _count(store) == 5
    assert receiver.status().duplicates_skipped == 5


def test_windows_split_at_the_widest_gaps():
    minute = 60 * 10**6
    # 17 stretches: the closest two (0–10 µs and 3 min later) share a window
    at = [0, 10, 20 * minute, 20 * minute + 5, 3 * minute + 1] + [100 * minute * k for k in range(2, 16)]
    windows = writer._windows(pa.chunked_array([pa.array(at, pa.int64()).cast(pa.timestamp("us"))]))
    assert len(windows) == writer.MAX_WINDOWS
    micros = [(int(a.timestamp() * 10**6), int(b.timestamp() * 10**6)) for a, b in windows]
    covered = [t for t in at if any(a <= t <= b for a, b in micros)]
    assert sorted(covered) == sorted(at)  # every start time lies in a window
    assert (0, 3 * minute + 1) in micros and (20 * minute, 20 * minute + 5) in micros
    assert writer._windows(pa.chunked_array([pa.array([], pa.timestamp("us"))])) == []
