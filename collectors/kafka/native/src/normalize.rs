//! The tap's per-record normalize for the records whose outcome is certain: the same columns
//! collectors.normalize.records.record_row computes, byte for byte, or a `slow` mark that
//! sends the record to record_row itself (CloudEvents, delivery-attempt and dead-letter
//! headers, JSON that only Python reads, escaped strings, odd numbers and times, ...).

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::chunk::Chunk;
use crate::cols::{buffer, Bits, Owned, PrimCol, StrCol};
use crate::json::{self, Field, Kind};
use crate::text::{hex_into, json_str_into, text_into, value_excerpt_into};
use crate::time::{self, Time};

const TS_MAX_US: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999
const STRING_COLUMNS: [&str; 6] = ["event_id", "event_type", "event_version", "event_source", "causation_id",
                                   "correlation_id"];
const TRACEPARENT: usize = 0;
const CONTENT_TYPE: usize = 1;

#[pyclass(module = "collectors.kafka._native", frozen)]
pub struct Normalizer {
    /// value names per string column, then the event-time names
    value_names: Vec<Vec<u8>>,
    string_slots: Vec<Vec<usize>>,
    time_slots: Vec<usize>,
    /// the objects an envelope may nest in (envelope.CONTAINERS), read when the top level names no
    /// event id or type
    nest_slots: Vec<usize>,
    /// header names per string column, as indexes into `relevant`
    header_slots: Vec<Vec<usize>>,
    relevant: Names,
    n_relevant: usize,
    slow_from: usize,
    max_json_bytes: usize,
}

/// Header names normalize reads, found by length then bytes (cheaper than hashing each name).
#[derive(Default)]
struct Names {
    by_len: Vec<Vec<(Vec<u8>, usize)>>,
    count: usize,
}

impl Names {
    #[inline]
    fn get(&self, name: &[u8]) -> Option<usize> {
        self.by_len.get(name.len())?.iter().find(|(n, _)| n == name).map(|&(_, k)| k)
    }

    fn add(&mut self, name: &str) -> usize {
        if let Some(k) = self.get(name.as_bytes()) {
            return k;
        }
        if self.by_len.len() <= name.len() {
            self.by_len.resize(name.len() + 1, Vec::new());
        }
        self.by_len[name.len()].push((name.as_bytes().to_vec(), self.count));
        self.count += 1;
        self.count - 1
    }
}

/// Where a record's value holds the names of interest: at its top level, and in the object that
/// nests its envelope (reused from record to record).
struct Scratch {
    found: Vec<Option<Field>>,
    inner: Vec<Option<Field>>,
}

struct Out {
    key: StrCol,
    timestamp: PrimCol<i64>,
    timestamp_type: StrCol,
    headers: StrCol,
    value_size: PrimCol<i32>,
    value_excerpt: StrCol,
    value_hash: StrCol,
    trace_id: StrCol,
    parent_span_id: StrCol,
    envelope: StrCol,
    strings: Vec<StrCol>,
    event_time: PrimCol<i64>,
    slow: Bits,
    // the chunks' own columns, concatenated
    topic: StrCol,
    partition: PrimCol<i32>,
    offset: PrimCol<i64>,
}

fn canonical_traceparent(t: &[u8]) -> bool {
    t.len() == 55 && t[2] == b'-' && t[35] == b'-' && t[52] == b'-'
        && t.iter().enumerate().all(|(i, c)| matches!(i, 2 | 35 | 52) || c.is_ascii_hexdigit())
}

fn lower_into(out: &mut Vec<u8>, s: &[u8]) {
    out.extend(s.iter().map(u8::to_ascii_lowercase));
}

impl Normalizer {
    fn record<'c>(&self, c: &'c Chunk, i: usize, o: &mut Out, last: &mut [Option<Option<&'c [u8]>>],
                  scratch: &mut Scratch, names: &[&[u8]]) {
        let Scratch { found, inner } = scratch;
        let (found, inner) = (found.as_mut_slice(), inner.as_mut_slice());
        let mut slow = false;
        // headers: the last value of each name normalize reads
        last.iter_mut().for_each(|s| *s = None);
        let mut count = 0;
        for (name, v) in c.headers(i) {
            count += 1;
            if let Some(k) = self.relevant.get(name) {
                last[k] = Some(v);
                slow |= k >= self.slow_from;
            }
        }
        if count > 0 {
            o.headers.push_with(|d| {
                d.push(b'[');
                for (j, (name, v)) in c.headers(i).enumerate() {
                    if j > 0 {
                        d.extend_from_slice(b", ");
                    }
                    d.push(b'[');
                    json_str_into(d, name);
                    d.extend_from_slice(b", ");
                    match v {
                        Some(v) if std::str::from_utf8(v).is_ok() => json_str_into(d, v),
                        Some(v) => {
                            d.push(b'"'); // base64 text needs no escaping
                            text_into(d, v);
                            d.push(b'"');
                        }
                        None => d.extend_from_slice(b"null"),
                    }
                    d.push(b']');
                }
                d.push(b']');
            });
        } else {
            o.headers.push(None);
        }
        if let Some(Some(ct)) = last[CONTENT_TYPE] {
            let p = b"application/cloudevents";
            slow |= ct.len() >= p.len() && ct[..p.len()].eq_ignore_ascii_case(p);
        }
        // trace context: the canonical form only; any other non-empty value is the reference's
        match last[TRACEPARENT] {
            Some(Some(tp)) if canonical_traceparent(tp) => {
                let (t, s) = (&tp[3..35], &tp[36..52]);
                if t.iter().all(|&b| b == b'0') || s.iter().all(|&b| b == b'0') {
                    o.trace_id.push(None);
                    o.parent_span_id.push(None);
                } else {
                    o.trace_id.push_with(|d| lower_into(d, t));
                    o.parent_span_id.push_with(|d| lower_into(d, s));
                }
            }
            Some(Some(tp)) => {
                slow |= !tp.is_empty();
                o.trace_id.push(None);
                o.parent_span_id.push(None);
            }
            _ => {
                o.trace_id.push(None);
                o.parent_span_id.push(None);
            }
        }
        o.key.push_with_opt(c.keys.get(i), text_into);
        let ts = c.ts_ms[i];
        if ts >= 0 {
            match ts.checked_mul(1000).filter(|&us| us <= TS_MAX_US) {
                Some(us) => o.timestamp.push(Some(us)),
                None => {
                    slow = true;
                    o.timestamp.push(None);
                }
            }
        } else {
            o.timestamp.push(None);
        }
        o.timestamp_type.push(Some(match c.ts_type[i] {
            1 => b"create".as_slice(),
            2 => b"log_append",
            _ => b"unknown",
        }));
        // the value: size, excerpt, hash, and the envelope when it is a JSON object
        let value = c.values.get(i);
        o.value_size.push(Some(value.map_or(-1, |v| v.len() as i32)));
        o.value_excerpt.push_with_opt(value, value_excerpt_into);
        o.value_hash.push_with_opt(value, |d, v| {
            hex_into(d, blake2b_simd::Params::new().hash_length(8).hash(v).as_bytes());
        });
        found.iter_mut().for_each(|f| *f = None);
        let mut doc = None;
        if let Some(v) = value {
            let candidate = !v.is_empty() && v.len() <= self.max_json_bytes && matches!(v[0], b'{' | b' ' | b'\n' | b'\t');
            if candidate {
                if std::str::from_utf8(v).is_err() {
                    slow = true; // Python's json may still read it in another encoding
                } else {
                    match json::scan(v, names, found) {
                        Ok(d) if d.odd => slow = true,
                        Ok(d) => doc = d.is_object.then_some(v),
                        Err(()) => slow = true,
                    }
                }
            }
        }
        // a top level that names no event id or type may nest its envelope in an object
        // (envelope.CONTAINERS): the first one that names an id or type is read first
        let mut nest: Option<&[u8]> = None;
        if let Some(v) = doc {
            let named = |fs: &[Option<Field>], slots: &[usize]| {
                slots.iter().any(|&k| fs[k].is_some_and(|f| f.kind != Kind::Null))
            };
            if !named(found, &self.string_slots[0]) && !named(found, &self.string_slots[1]) {
                for &k in &self.nest_slots {
                    let Some(f) = found[k].filter(|f| f.kind == Kind::Other && v[f.start] == b'{') else { continue };
                    let sub = &v[f.start..f.end];
                    inner.iter_mut().for_each(|f| *f = None);
                    match json::scan(sub, names, inner) {
                        Ok(d) if !d.odd => {}
                        _ => {
                            slow = true; // an escaped name inside ("\u0069d"): Python reads it as "id"
                            break;
                        }
                    }
                    if named(inner, &self.string_slots[0]) || named(inner, &self.string_slots[1]) {
                        nest = Some(sub);
                        break;
                    }
                }
            }
        }
        // the field for a list of names, and the bytes its offsets point into: the nested envelope's
        // first, then the top level's (normalize's envelope._fill)
        let first = |slots: &[usize]| {
            let pick = |fs: &[Option<Field>]| slots.iter().find_map(|&k| fs[k].filter(|f| f.kind != Kind::Null));
            nest.and_then(|sub| pick(inner).map(|f| (sub, f))).or_else(|| Some((doc?, pick(found)?)))
        };
        let mut has_id_or_type = false;
        for (col, slots) in self.string_slots.iter().enumerate() {
            let from_value = doc.and_then(|_| {
                let (v, f) = first(slots)?;
                match f.kind {
                    Kind::Str if !f.escaped => Some(&v[f.start..f.end]),
                    Kind::Int if &v[f.start..f.end] != b"-0" => Some(&v[f.start..f.end]),
                    _ => {
                        slow = true; // Python's str() of a float, bool, object; escapes
                        None
                    }
                }
            });
            has_id_or_type |= col < 2 && from_value.is_some();
            match from_value {
                Some(s) => o.strings[col].push(Some(s)),
                None => {
                    let h = self.header_slots[col].iter().find_map(|&k| last[k].flatten());
                    o.strings[col].push_with_opt(h, text_into);
                }
            }
        }
        // a nested time that reads as no time leaves the top level's to be read (envelope._fill)
        let read_time = |v: &[u8], f: Field| match f.kind {
            Kind::Str if !f.escaped => time::iso(&v[f.start..f.end]),
            Kind::Int | Kind::Num => time::epoch(&v[f.start..f.end]),
            Kind::Bool => Time::Unreadable,
            _ => Time::Slow,
        };
        let pick_time = |fs: &[Option<Field>]| self.time_slots.iter().find_map(|&k| fs[k].filter(|f| f.kind != Kind::Null));
        let mut t = nest.and_then(|sub| pick_time(inner).map(|f| read_time(sub, f)));
        if matches!(t, None | Some(Time::Unreadable)) {
            t = doc.and_then(|v| pick_time(found).map(|f| read_time(v, f))).or(t);
        }
        let t = match t {
            Some(Time::Us(us)) => Some(us),
            Some(Time::Slow) => {
                slow = true;
                None
            }
            _ => None,
        };
        o.event_time.push(t);
        o.envelope.push(Some(if doc.is_some() && has_id_or_type { b"json".as_slice() } else { b"none" }));
        o.slow.push(slow);
        o.topic.push(Some(c.topic(i).as_bytes()));
        o.partition.push(Some(c.partition[i]));
        o.offset.push(Some(c.offset[i]));
    }

    fn compute(&self, chunks: &[&Chunk]) -> Out {
        let n: usize = chunks.iter().map(|c| c.len()).sum();
        let vbytes: usize = chunks.iter().map(|c| c.values.data.len()).sum();
        let hbytes: usize = chunks.iter().map(|c| c.hnames.data.len() + c.hvalues.data.len()).sum();
        let s = |b| StrCol::with_capacity(n, b);
        let mut o = Out {
            key: s(n * 16),
            timestamp: PrimCol::with_capacity(n),
            timestamp_type: s(n * 6),
            headers: s(hbytes + n * 16),
            value_size: PrimCol::with_capacity(n),
            value_excerpt: s(vbytes),
            value_hash: s(n * 16),
            trace_id: s(n * 32),
            parent_span_id: s(n * 16),
            envelope: s(n * 4),
            strings: (0..STRING_COLUMNS.len()).map(|_| s(n * 16)).collect(),
            event_time: PrimCol::with_capacity(n),
            slow: Bits::default(),
            topic: s(n * 8),
            partition: PrimCol::with_capacity(n),
            offset: PrimCol::with_capacity(n),
        };
        let names: Vec<&[u8]> = self.value_names.iter().map(Vec::as_slice).collect();
        let mut scratch = Scratch { found: vec![None; names.len()], inner: vec![None; names.len()] };
        let mut last = vec![None; self.n_relevant];
        for c in chunks {
            for i in 0..c.len() {
                self.record(c, i, &mut o, &mut last, &mut scratch, &names);
            }
        }
        o
    }
}

impl StrCol {
    #[inline]
    fn push_with_opt(&mut self, v: Option<&[u8]>, f: impl FnOnce(&mut Vec<u8>, &[u8])) {
        match v {
            Some(v) => self.push_with(|d| f(d, v)),
            None => self.push(None),
        }
    }
}

pub(crate) fn py_bits(py: Python<'_>, b: Bits) -> PyResult<Bound<'_, PyAny>> {
    if b.unset == 0 { Ok(py.None().into_bound(py)) } else { buffer(py, Owned::U8(b.bytes)) }
}

pub(crate) fn py_str(py: Python<'_>, c: StrCol) -> PyResult<Bound<'_, PyAny>> {
    Ok((c.valid.len, c.valid.unset, py_bits(py, c.valid)?, buffer(py, Owned::I32(c.offsets))?,
        buffer(py, Owned::U8(c.data))?).into_pyobject(py)?.into_any())
}

pub(crate) fn py_prim<T: Copy>(py: Python<'_>, c: PrimCol<T>, own: fn(Vec<T>) -> Owned) -> PyResult<Bound<'_, PyAny>> {
    Ok((c.valid.len, c.valid.unset, py_bits(py, c.valid)?, buffer(py, own(c.values))?).into_pyobject(py)?.into_any())
}

#[pymethods]
impl Normalizer {
    /// value_fields: per column of STRING_COLUMNS then event_time, the JSON names tried in
    /// order; header_fields: per column of STRING_COLUMNS, the header names tried in order.
    #[new]
    fn new(value_fields: Vec<Vec<String>>, header_fields: Vec<Vec<String>>, slow_headers: Vec<String>,
           max_json_bytes: usize, nests: Vec<String>) -> PyResult<Self> {
        if value_fields.len() != STRING_COLUMNS.len() + 1 || header_fields.len() != STRING_COLUMNS.len() {
            return Err(pyo3::exceptions::PyValueError::new_err("one list of names per envelope column"));
        }
        let mut value_names: Vec<Vec<u8>> = Vec::new();
        let mut slot = |name: &String| match value_names.iter().position(|n| n == name.as_bytes()) {
            Some(k) => k,
            None => {
                value_names.push(name.as_bytes().to_vec());
                value_names.len() - 1
            }
        };
        let mut all: Vec<Vec<usize>> = value_fields.iter().map(|ns| ns.iter().map(&mut slot).collect()).collect();
        let time_slots = all.pop().unwrap_or_default();
        let nest_slots = nests.iter().map(&mut slot).collect();
        let mut relevant = Names::default();
        relevant.add("traceparent");
        relevant.add("content-type");
        let header_slots = header_fields.iter().map(|ns| ns.iter().map(|n| relevant.add(n)).collect()).collect();
        let slow_from = relevant.count;
        for h in &slow_headers {
            if relevant.get(h.as_bytes()).is_some() {
                return Err(pyo3::exceptions::PyValueError::new_err(format!("header {h} is both read and slow")));
            }
            relevant.add(h);
        }
        let n_relevant = relevant.count;
        Ok(Normalizer { value_names, string_slots: all, time_slots, nest_slots, header_slots, relevant, n_relevant,
                        slow_from, max_json_bytes })
    }

    /// Columns for the chunks' records in order (name → (length, null count, validity or
    /// None, buffers...)), "slow" marking the records left to record_row. The work runs
    /// without the GIL.
    fn run<'py>(&self, py: Python<'py>, chunks: Vec<PyRef<'py, Chunk>>) -> PyResult<Bound<'py, PyDict>> {
        let refs: Vec<&Chunk> = chunks.iter().map(|c| &**c).collect();
        let o = py.allow_threads(|| self.compute(&refs));
        let d = PyDict::new(py);
        for (name, col) in [("topic", o.topic), ("key", o.key), ("timestamp_type", o.timestamp_type), ("headers", o.headers),
                            ("value_excerpt", o.value_excerpt), ("value_hash", o.value_hash),
                            ("trace_id", o.trace_id), ("parent_span_id", o.parent_span_id),
                            ("envelope", o.envelope)] {
            d.set_item(name, py_str(py, col)?)?;
        }
        for (name, col) in STRING_COLUMNS.iter().zip(o.strings) {
            d.set_item(*name, py_str(py, col)?)?;
        }
        d.set_item("timestamp", py_prim(py, o.timestamp, Owned::I64)?)?;
        d.set_item("event_time", py_prim(py, o.event_time, Owned::I64)?)?;
        d.set_item("value_size", py_prim(py, o.value_size, Owned::I32)?)?;
        d.set_item("partition", py_prim(py, o.partition, Owned::I32)?)?;
        d.set_item("offset", py_prim(py, o.offset, Owned::I64)?)?;
        d.set_item("slow", (o.slow.len, 0, py.None(), buffer(py, Owned::U8(o.slow.bytes))?))?;
        Ok(d)
    }
}
