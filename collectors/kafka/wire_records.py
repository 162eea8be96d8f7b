"""The tap's step for schema-registry values: wire-format records decoded after the fast paths.

The native and bulk paths see a wire-format value as opaque bytes (it starts with NUL, so it
is never a JSON candidate) and give it a row without an envelope. When a schema registry is
configured, the consumer thread also keeps those records' raw fields (:meth:`pick`: one
byte compared per message, nothing for JSON); after the batch is converted, :meth:`apply`
decodes them and puts record_row's rows, with the decoded envelope, in place of the fast
path's. JSON records keep the fast paths untouched.

A record that cannot be decoded (registry down, unknown schema id, a value that does not
match its schema) keeps the fast path's raw row; the reason is counted in ingest_errors,
one row per batch, topic and reason, with how many records it covers. The decoder asks the
registry again after an interval, so decoding resumes by itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from collectors.kafka.headers import UNREAD, message_headers, without_headers
from collectors.model import error_row
from collectors.normalize import deadletter
from collectors.normalize.records import decoded_columns
from collectors.normalize.wire_format import Decoded, WireDecoder, is_wire_format

_TS_MIN, _TS_MAX = -62_135_596_800_000_000, 253_402_300_799_999_999  # years 1..9999 in µs: what Arrow holds


_PATCHED = frozenset(("envelope", "event_id", "event_type", "event_version", "event_time", "event_source",
                      "causation_id", "correlation_id", "value_excerpt"))


class WireRecords:
    def __init__(self, decoder: WireDecoder, *, cluster: str, source: str,
                 dlt_patterns: Sequence[str] = deadletter.DEFAULT_PATTERNS) -> None:
        self.decoder = decoder
        self.common = {"cluster": cluster, "source": source, "dlt_patterns": tuple(dlt_patterns)}
        self.kept_raw = 0  # records stored undecoded (status)

    def describe(self) -> dict[str, Any]:
        """Where schemas come from, for the tap's status (a registry's secrets redacted)."""
        source = self.decoder.source
        settings = getattr(source, "settings", None)
        if settings is not None:
            return {"schema_registry": settings.describe()}
        folder = getattr(source, "folder", None)
        return {"schemas": str(folder)} if folder is not None else {"schemas": type(source).__name__}

    @staticmethod
    def pick(msgs: list[Any]) -> list[dict[str, Any]]:
        """record_row's raw fields of the wire-format messages (on the consumer thread). A message
        whose headers cannot be read is replaced in ``msgs`` by a copy without them: the capture
        after this must not ask confluent-kafka for them again (headers.message_headers)."""
        out = []
        for i, m in enumerate(msgs):
            v = m.value()
            if is_wire_format(v):
                ts_type, ts = m.timestamp()
                headers = message_headers(m, unreadable=UNREAD)
                if headers is UNREAD:
                    headers, msgs[i] = None, without_headers(m)
                out.append({"topic": m.topic(), "partition": m.partition(), "offset": m.offset(), "key": m.key(),
                            "value": v, "headers": headers, "timestamp_ms": ts, "timestamp_type": ts_type})
        return out

    def rows(self, picked: Sequence[dict[str, Any]], tapped_at_us: int
             ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Per decoded record, its position and the columns its decoded value sets (as
        record_row sets them: every other column does not depend on the value's content);
        and ingest-error rows counting the records kept raw."""
        rows: list[dict[str, Any]] = []
        failed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for fields in picked:
            got = self.decoder.decode(fields["value"]) if is_wire_format(fields["value"]) else "not wire format"
            if isinstance(got, Decoded):
                try:
                    last = {name: raw for name, raw in fields["headers"] or ()}  # the last of a repeated name
                    row = {"topic": fields["topic"], "partition": fields["partition"], "offset": fields["offset"],
                           **decoded_columns(last, got)}
                    t = row["event_time"]
                    if t is not None and not _TS_MIN <= t <= _TS_MAX:
                        raise ValueError("event time out of range")
                    rows.append(row)
                    continue
                except Exception as exc:  # noqa: BLE001
                    got = f"decoded value not understood: {exc}"
            failed.setdefault((fields["topic"], got), []).append(fields)
        errors = []
        for (topic, reason), recs in failed.items():
            self.kept_raw += len(recs)
            first = recs[0]
            errors.append(error_row(self.common["source"], f"{topic}/{first['partition']}/{first['offset']}",
                                    f"{len(recs)} wire-format record(s) stored undecoded: {reason}",
                                    first["value"], tapped_at_us))
        return rows, errors

    def apply(self, table: pa.Table, errors: list[dict[str, Any]], picked: Sequence[dict[str, Any]],
              tapped_at_us: int) -> tuple[pa.Table, list[dict[str, Any]]]:
        """The converted batch with the decoded columns of its wire-format rows patched in
        (column-wise: each row is found by its position, whatever order the paths left)."""
        rows, more = self.rows(picked, tapped_at_us)
        errors = errors + more
        if not rows:
            return table, errors
        done = pa.array([f"{r['topic']}/{r['partition']}/{r['offset']}" for r in rows], pa.string())
        keys = pc.binary_join_element_wise(table.column("topic"), table.column("partition").cast(pa.string()),
                                           table.column("offset").cast(pa.string()), "/")
        idx = pc.index_in(keys, value_set=done)
        hit = pc.is_valid(idx)
        cols = []
        for field in table.schema:
            col = table.column(field.name)
            if field.name in _PATCHED:
                new = pa.array([r[field.name] for r in rows], field.type)
                col = pc.if_else(hit, pc.take(new, idx), col)
            cols.append(col)
        return pa.Table.from_arrays(cols, schema=table.schema), errors
