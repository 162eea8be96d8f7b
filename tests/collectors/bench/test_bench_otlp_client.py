"""The OTLP bench's client sends what an exporter sends: spans of their own, timed now."""

from __future__ import annotations

from collectors.bench.otlp import _stamp_plan, _stamped, payloads
from collectors.normalize.otlp_proto import parse_request


def _spans(body: bytes) -> list:
    return [sp for rs in parse_request(body).resource_spans for ss in rs.scope_spans for sp in ss.spans]


def test_every_request_gets_its_own_trace_ids_and_times_moved_to_the_moment_it_is_sent() -> None:
    stamp, shift = (3 << 40) + 17, 86_400 * 10**9
    for body in payloads():
        before, after = _spans(body), _spans(_stamped(body, _stamp_plan(body), stamp, shift))
        assert len(after) == len(before) == 512
        for old, new in zip(before, after, strict=True):
            assert new.trace_id == stamp.to_bytes(8, "big") + old.trace_id[8:]
            assert (new.start_time_unix_nano, new.end_time_unix_nano) == (
                old.start_time_unix_nano + shift, old.end_time_unix_nano + shift)
            old.trace_id, old.start_time_unix_nano, old.end_time_unix_nano = (
                new.trace_id, new.start_time_unix_nano, new.end_time_unix_nano)
            assert new == old  # nothing else moved


def test_the_store_alone_measure_appends_every_span_it_decodes() -> None:
    from collectors.bench.otlp import _store_rate

    rate, stored = _store_rate(payloads(2), native=False, spans=5 * 512)
    assert stored == 5 * 512  # each request stamped with spans of its own: none skipped as a copy
    assert rate > 0
