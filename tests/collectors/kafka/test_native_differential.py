"""The native tap path against normalize's record_row on thousands of generated records: odd
JSON, times, numbers, escapes, headers and bytes, mixed the way real topics mix them."""

from __future__ import annotations

import json
import os
import random

import pytest
from confluent_kafka import Message

from collectors.kafka import bulk_sql, fastpath, normalizers
from collectors.kafka.batch import _check_row, slow_table
from collectors.normalize import envelope
from collectors.normalize.records import record_row

if not fastpath.available():
    if os.environ.get("CI") == "true":
        pytest.fail("the native tap path was not built (needs a Rust toolchain at install)", pytrace=False)
    pytest.skip("the native tap path was not built (no Rust toolchain at install)", allow_module_level=True)

TAPPED = 1_790_000_000_000_000
NAMES = [n for ns in envelope.DEFAULT_FIELDS.values() for n in ns] + [*envelope.CONTAINERS, "payload", "nested", "amount"]
HEADERS = list(bulk_sql.RELEVANT_HEADERS) + ["x-other", "content-type"]
TIMES = ["2026-03-01T10:15:30Z", "2026-03-01T10:15:30.5", "2026-03-01T10:15:30.123456+05:30",
         "2026-03-01T10:15:30-00:00", "2026-13-01T10:15:30Z", "2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z",
         "1969-12-31T23:59:59.999999Z", "1600-01-01T00:00:00Z", "2400-01-01T00:00:00Z", "9999-01-01T00:00:00Z",
         "2026-03-01 10:15:30", "2026-03-01T10:15:30.1234567Z", "2026-03-01T24:00:00Z", " 2026-03-01T10:15:30Z",
         "2026-03-01", "20260301T101530Z", "2026-03-01T10:15:30+0530", "2026-03-01T10:15:30Z "]
NUMBERS = ["0", "-0", "7", "-12", "1780000000", "1780000000.25", "1780000000123", "1780000000123456",
           "1780000000123456789", "1e3", "1E+20", "-5.5", "12345678901234567890", "0.000001", "99999999999.9999",
           "100000000000", "1e17", "1.0000000000000001e17", "3.14e-5"]
STRINGS = ["e1", "OrderCreated", "", "é", "日本", "a\"b", "a\\b", "tab\there", "\u2028", "\U0001f600", "x" * 200]


def _string(rng: random.Random) -> str:
    if rng.random() < 0.02:
        return '"\\ud800 lone"'  # an escape only Python decodes (to a lone surrogate)
    s = rng.choice(STRINGS + TIMES)
    return json.dumps(s, ensure_ascii=rng.random() < 0.3)


def _value_text(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if r < 0.35:
        return _string(rng)
    if r < 0.6:
        return rng.choice(NUMBERS)
    if r < 0.7:
        return rng.choice(["true", "false", "null"])
    if depth < 2 and r < 0.85:
        return "[" + ", ".join(_value_text(rng, depth + 1) for _ in range(rng.randrange(3))) + "]"
    if depth < 2:
        return _object(rng, depth + 1)
    return "null"


def _object(rng: random.Random, depth: int = 0) -> str:
    ws = lambda: rng.choice(["", "", " ", "\n", "\t", "\r\n  "])  # noqa: E731
    members = [f"{ws()}{json.dumps(rng.choice(NAMES))}{ws()}:{ws()}{_value_text(rng, depth)}{ws()}"
               for _ in range(rng.randrange(6))]
    if members and rng.random() < 0.2:  # a repeated name with another value: the first wins everywhere
        name = members[rng.randrange(len(members))].split(":")[0]
        members.insert(rng.randrange(len(members) + 1), f"{name}:{_value_text(rng, depth)}")
    return "{" + ",".join(members) + "}"


def _value(rng: random.Random) -> bytes | None:
    r = rng.random()
    if r < 0.05:
        return None
    if r < 0.1:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
    if r < 0.15:
        return rng.choice([b"plain text", b"", b"[1, 2]", b' "just a string"', b"\n 42", b"{", b"{}"])
    doc = rng.choice(["", " ", "\n", "\t"]) + _object(rng) + rng.choice(["", " ", "\n"])
    if rng.random() < 0.1:  # corrupt it the ways real producers do
        doc = rng.choice([doc[:-1], doc.replace("}", ",}", 1), doc.replace("null", "NaN", 1),
                          doc + "x", doc.replace('"', "'", 1), doc.replace(": ", ":\x01", 1)])
    raw = doc.encode()
    if rng.random() < 0.03:
        raw = raw.replace(b"\xc3\xa9", b"\xe9")  # latin-1 inside
    return raw


def _header_value(rng: random.Random, name: str) -> bytes | None:
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.2:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    if name == "traceparent":
        tp = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
        return rng.choice([tp, tp.upper(), " " + tp, tp[:-1], "00-" + "0" * 32 + tp[35:], ""]).encode()
    if name == "content-type":
        return rng.choice([b"application/json", b"Application/CloudEvents+json", b"text/plain"])
    return rng.choice([b"h1", b"", "café\n\"q\"".encode(), b"\x00\x01"])


def _messages(seed: int, n: int) -> list[Message]:
    rng = random.Random(seed)
    msgs = []
    for i in range(n):
        headers = None if rng.random() < 0.2 else [
            (name, _header_value(rng, name)) for name in rng.sample(HEADERS, rng.randrange(4))]
        if headers is not None and rng.random() < 0.7:
            headers = [h for h in headers if h[0] not in bulk_sql.SLOW_HEADERS]  # mostly the ordinary kind
        key = rng.choice([None, b"k", b"\xff\x00", "ключ".encode()])
        ts = rng.choice([(1, 1_780_000_000_000 + i), (2, 5), (0, -1), (1, 9_000_000_000_000_000)])
        msgs.append(Message(topic=rng.choice(["orders", "orders.DLT"]), partition=i % 4, offset=i, key=key,
                            value=_value(rng), headers=headers, timestamp=ts))
    return msgs


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_native_rows_equal_record_row(seed: int) -> None:
    msgs = _messages(seed, 1500)
    normalizer = normalizers.choose("native", cluster="c1", source="kafka")
    table, errors = normalizer.convert(normalizer.capture(msgs), tapped_at_us=TAPPED)
    conv = normalizer.rows
    rows, want_errors = [], 0
    for m in msgs:
        t = m.timestamp()
        try:
            row = record_row(cluster="c1", topic=m.topic(), partition=m.partition(), offset=m.offset(), key=m.key(),
                             value=m.value(), headers=m.headers(), timestamp_ms=t[1], timestamp_type=t[0],
                             tapped_at_us=TAPPED, source="kafka")
            _check_row(row)  # the tap's own bound: years 1 to 9999
            rows.append(row)
        except ValueError:  # the tap keeps such records through its error path
            want_errors += 1
    got = {r["offset"]: r for r in table.to_pylist()}
    assert len(got) == len(msgs)  # every record is kept, once
    assert len(errors) == want_errors
    mismatched = []
    for want in slow_table(rows).to_pylist():
        if got[want["offset"]] != want:
            diff = {k: (got[want["offset"]][k], v) for k, v in want.items() if got[want["offset"]][k] != v}
            mismatched.append((want["offset"], msgs[want["offset"]].value(), diff))
    assert not mismatched, mismatched[:3]
    # the records are mostly odd on purpose; still, a good share must be the native path's own
    assert conv.slow_rows < len(msgs) * 0.8
