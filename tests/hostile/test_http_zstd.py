"""Zstd bodies (the OpenTelemetry Collector's otlphttp exporter, ``compression: zstd``), compressed by
the reference libzstd: every frame is decoded, and a body cut short, followed by bytes that are not
zstd, or inflating past the cap is refused with the reason."""

from __future__ import annotations

import zstandard
from google.rpc.status_pb2 import Status

from tests.collectors.otlp.conftest import post, wait_for
from tests.collectors.otlp.requests import request
from tests.support.otlp_http import http_receiver

SPANS = "SELECT count(*) FROM spans"
ERRORS = "SELECT count(*) FROM ingest_errors"


def _zstd(data: bytes, **kw) -> bytes:
    return zstandard.ZstdCompressor(**kw).compress(data)


def test_every_zstd_frame_is_decoded_even_one_that_starts_inside_a_span(store):
    raw = request(5).SerializeToString()
    cut = len(raw) // 2 + 3
    # a frame without its content size (as streaming encoders write them), then one with it
    streamed = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    body = streamed.compress(raw[:cut]) + streamed.flush() + _zstd(raw[cut:])
    with http_receiver(store) as receiver:
        assert post(receiver.http_address, body, encoding="zstd")[0] == 200
        assert wait_for(store, SPANS, lambda n: n >= 5) == 5
        assert store.cursor().execute(ERRORS).fetchone()[0] == 0


def _refused(store, body: bytes, status: int, reason: str, **kw) -> None:
    with http_receiver(store, **kw) as receiver:
        got, _, answer = post(receiver.http_address, body, encoding="zstd")
        assert got == status
        assert reason in Status.FromString(answer).message
        assert wait_for(store, ERRORS, lambda n: n >= 1) == 1
        assert store.cursor().execute(SPANS).fetchone()[0] == 0  # nothing of a refused request is kept
        assert post(receiver.http_address, _zstd(request(2).SerializeToString()), encoding="zstd")[0] == 200
        assert wait_for(store, SPANS, lambda n: n >= 2) == 2


def test_a_zstd_body_cut_short_is_a_bad_request(store):
    _refused(store, _zstd(request(40).SerializeToString())[:-9], 400, "not valid zstd: truncated stream")


def test_bytes_after_the_last_frame_that_are_not_zstd_are_a_bad_request(store):
    _refused(store, _zstd(request(3).SerializeToString()) + b"garbage that is not zstd", 400, "not valid zstd")


def test_a_dense_zstd_frame_cannot_inflate_past_the_body_cap(store):
    # 64 MB of zeros in a few kB: the decompressor takes no output cap, so its input is fed in pieces
    bomb = _zstd(b"\x00" * (64 << 20), level=19)
    assert len(bomb) < 10_000
    _refused(store, bomb, 413, "larger than 1048576 bytes once decompressed", max_body_bytes=1 << 20)


BOMB_IN_A_FRESH_PROCESS = """
import resource, sys, zstandard
from collectors.otlp.ingest import BodyTooLarge, unzstd
c = zstandard.ZstdCompressor(level=3).compressobj()
zeros = bytes(16 << 20)
bomb = b"".join(c.compress(zeros) for _ in range(256)) + c.flush()  # 4 GiB of zeros
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    unzstd(bomb, 1 << 20)
except BodyTooLarge as exc:
    print(len(bomb), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024, exc)
"""


def test_a_zstd_bomb_is_stopped_before_its_output_is_made():
    """4 GiB of zeros in one frame: fed whole, the decompressor would make it all before the cap
    was checked; fed in pieces sized to the room left, the process grows by a few MiB."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", BOMB_IN_A_FRESH_PROCESS], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split(maxsplit=2)
    size, grew_mib, said = int(out[0]), int(out[1]), out[2]
    assert size < 1 << 20 and "larger than 1048576 bytes once decompressed" in said
    assert grew_mib < 64, f"decompressing grew the process by {grew_mib} MiB"
