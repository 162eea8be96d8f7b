//! OTLP protobuf (ExportTraceServiceRequest) → the span columns of SPAN_SCHEMA, as Arrow
//! buffers, without the GIL: the twin of collectors.normalize.otlp_proto + spans.span_values +
//! semconv.promote_values, byte for byte.
//!
//! It takes only what it reproduces exactly. Anything else (a span Python would reject, a value
//! whose Python text it does not write, non-ASCII case mapping, wire it does not read as protobuf
//! does) makes the whole request fall back to the Python decoder: `decode` returns None.

use std::borrow::Cow;

use pyo3::prelude::*;

use crate::cdata::{list_node, prim_node, str_node, struct_node, ArrowArray, CArray};
use crate::cols::{Owned, PrimCol, StrCol};
use crate::otlp_wire::{
    attributes, base64_b, fields, int_into, json_object, py_float_into, uint_into, utf8, Fallback, Val,
    Wire, R,
};
use crate::text::{hex_into, json_str_into};

const MAX_NS: u64 = i64::MAX as u64;
const MAX_INT32: u32 = i32::MAX as u32;
/// promoted columns at most (semconv.COLUMNS has 14): promote() keeps one slot each on the stack
const MAX_PROMOTED: usize = 64;

/// How a promoted column reads its winning attribute.
#[derive(Clone, Copy, PartialEq)]
enum Slot {
    Text,
    Int(i128), // the column's bound: -limit <= value < limit
}

#[pyclass(module = "collectors.kafka._native", frozen)]
pub struct SpanDecoder {
    /// per promoted column: its attribute names, newest first
    names: Vec<Vec<String>>,
    /// the same names by length: (name, column, rank among the column's names), so that a span's
    /// attribute is compared with the few names of its length rather than with all of them
    by_len: Vec<Vec<(String, usize, usize)>>,
    slots: Vec<Slot>,
    operation: usize,
    method: usize,
    db_operation: usize,
    client_id: usize,
    operations: Vec<(String, String)>,
    db_text: Vec<String>,
    max_attributes: usize,
}

/// otlp_limits.Limits: a request that passes one of them goes to Python, which screens it.
#[derive(Clone, Copy)]
struct Limits {
    resource_attributes: usize,
    span_attributes: usize,
    span_events: usize,
    span_links: usize,
    item_attributes: usize,
    request_values: usize,
}

struct Span<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    parent: &'a [u8],
    name: &'a str,
    kind: u64,
    flags: u32,
    start: u64,
    end: u64,
    attrs: Vec<&'a [u8]>,
    events: Vec<&'a [u8]>,
    links: Vec<&'a [u8]>,
    status: Option<&'a [u8]>,
}

struct Out {
    trace_id: StrCol,
    span_id: StrCol,
    parent: StrCol,
    service: StrCol,
    instance: StrCol,
    scope: StrCol,
    name: StrCol,
    kind: PrimCol<u8>,
    flags: PrimCol<i32>,
    start: PrimCol<i64>,
    end: PrimCol<i64>,
    duration: PrimCol<i64>,
    status_code: PrimCol<u8>,
    status_message: StrCol,
    attributes: StrCol,
    resource: StrCol,
    events: StrCol,
    link_offsets: Vec<i32>,
    link_trace: StrCol,
    link_span: StrCol,
    link_attrs: StrCol,
    promoted: Vec<Promoted>,
    source: StrCol,
    /// values counted as otlp_limits counts them (AnyValues, nested ones too, events and links)
    values: usize,
}

enum Promoted {
    Text(StrCol),
    I32(PrimCol<i32>),
    I64(PrimCol<i64>),
}

fn s() -> StrCol {
    StrCol::with_capacity(0, 0)
}

fn p<T: Copy + Default>() -> PrimCol<T> {
    PrimCol::with_capacity(0)
}

/// A value as str() writes it, for a text column; None when only Python knows (a list, a dict).
fn py_str_of(out: &mut Vec<u8>, v: &Val<'_>) -> R<()> {
    match v {
        Val::Str(s) => out.extend_from_slice(s.as_bytes()),
        Val::Bool(true) => out.extend_from_slice(b"True"),
        Val::Bool(false) => out.extend_from_slice(b"False"),
        Val::Int(i) => int_into(out, *i),
        Val::Double(f) if f.is_nan() => out.extend_from_slice(b"nan"),
        Val::Double(f) if f.is_infinite() => out.extend_from_slice(if *f > 0.0 { b"inf" } else { b"-inf" }),
        Val::Double(f) => py_float_into(out, *f),
        Val::Bytes(b) => base64_b(out, b),
        Val::Null | Val::Array(_) | Val::Kv(_) => return Err(Fallback),
    }
    Ok(())
}

fn is_py_space(c: char) -> bool {
    matches!(c, '\t'..='\r' | '\x1c'..='\x20' | '\u{85}' | '\u{a0}' | '\u{1680}' | '\u{2000}'..='\u{200a}'
        | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}')
}

/// int(text) for ASCII text (Python's grammar: spaces around, a sign, digits with single
/// underscores between them); Ok(None) where int() raises ValueError; non-ASCII is left to Python.
fn py_int(text: &str) -> R<Option<i128>> {
    if !text.is_ascii() {
        return Err(Fallback);
    }
    // int() strips ASCII whitespace but, unlike str.split(), not \x1c-\x1f
    let t = text.trim_matches(|c| matches!(c, ' ' | '\t'..='\r')).as_bytes();
    let (neg, digits) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits[0].is_ascii_digit() || !digits[digits.len() - 1].is_ascii_digit() {
        return Ok(None);
    }
    let mut n: i128 = 0;
    let mut prev_underscore = false;
    for &c in digits {
        if c == b'_' {
            if prev_underscore {
                return Ok(None);
            }
            prev_underscore = true;
            continue;
        }
        if !c.is_ascii_digit() {
            return Ok(None);
        }
        prev_underscore = false;
        n = n.saturating_mul(10).saturating_add(i128::from(c - b'0'));
    }
    Ok(Some(if neg { -n } else { n }))
}

/// int(value) within the column's bound; None where Python gives None.
fn int_of(v: &Val<'_>, limit: i128) -> R<Option<i64>> {
    let n: Option<i128> = match v {
        Val::Int(i) => Some(i128::from(*i)),
        Val::Bool(b) => Some(i128::from(*b)),
        Val::Double(f) if f.is_nan() => None,
        Val::Double(f) if f.is_infinite() => return Err(Fallback), // OverflowError in Python
        Val::Double(f) => {
            let t = f.trunc();
            if t >= -(limit as f64) && t < limit as f64 { Some(t as i128) } else { None }
        }
        Val::Str(s) => py_int(s)?,
        Val::Bytes(_) | Val::Array(_) | Val::Kv(_) | Val::Null => None, // "base64:..." and containers: no int
    };
    Ok(n.filter(|n| -limit <= *n && *n < limit).map(|n| n as i64))
}

fn ascii_case(text: &mut Cow<'_, [u8]>, upper: bool) -> R<()> {
    if !text.is_ascii() {
        return Err(Fallback); // Python's full Unicode case mapping
    }
    // copied only when a letter changes: most values are in the right case already
    if upper {
        if text.iter().any(u8::is_ascii_lowercase) {
            text.to_mut().make_ascii_uppercase();
        }
    } else if text.iter().any(u8::is_ascii_uppercase) {
        text.to_mut().make_ascii_lowercase();
    }
    Ok(())
}

/// A value as str() writes it, borrowed from the request when it is text already.
fn py_str_cow<'a>(v: &Val<'a>) -> R<Cow<'a, [u8]>> {
    if let Val::Str(s) = v {
        return Ok(Cow::Borrowed(s.as_bytes()));
    }
    let mut b = Vec::new();
    py_str_of(&mut b, v)?;
    Ok(Cow::Owned(b))
}

fn get<'v, 'a>(kvs: &'v [(&'a str, Val<'a>)], name: &str) -> Option<&'v Val<'a>> {
    kvs.iter().find(|(k, _)| *k == name).map(|(_, v)| v)
}

enum Cell<'c> {
    Text(Option<Cow<'c, [u8]>>),
    Int(Option<i64>),
}

impl SpanDecoder {
    /// semconv.promote_values, with client_id filled from the resource's service.instance.id.
    fn promote<'c>(&'c self, attrs: &[(&'c str, Val<'c>)], instance: Option<&'c [u8]>) -> R<Vec<Cell<'c>>> {
        // per column, the newest of its names present (lowest rank) and that attribute's value
        // on the stack: `new` refuses more than MAX_PROMOTED columns
        let mut best: [Option<(usize, &Val<'c>)>; MAX_PROMOTED] = [None; MAX_PROMOTED];
        for (k, v) in attrs {
            for (name, col, rank) in self.by_len.get(k.len()).map_or(&[][..], Vec::as_slice) {
                if name == k && !matches!(best[*col], Some((r, _)) if r <= *rank) {
                    best[*col] = Some((*rank, v));
                }
            }
        }
        let mut out = Vec::with_capacity(self.names.len());
        for (found, slot) in best.into_iter().take(self.names.len()).zip(&self.slots) {
            // the newest name present wins, even when its value is empty (then the column is)
            let value = found.map(|(_, v)| v).filter(|v| !matches!(v, Val::Null));
            out.push(match (slot, value) {
                (Slot::Int(limit), Some(v)) => Cell::Int(int_of(v, *limit)?),
                (Slot::Int(_), None) => Cell::Int(None),
                (Slot::Text, Some(v)) => Cell::Text(Some(py_str_cow(v)?)),
                (Slot::Text, None) => Cell::Text(None),
            });
        }
        if let Cell::Text(Some(op)) = &mut out[self.operation] {
            ascii_case(op, false)?;
            if let Some((_, new)) = self.operations.iter().find(|(old, _)| old.as_bytes() == op.as_ref()) {
                *op = Cow::Borrowed(new.as_bytes());
            }
        }
        if let Cell::Text(Some(m)) = &mut out[self.method] {
            ascii_case(m, true)?;
        }
        match &mut out[self.db_operation] {
            Cell::Text(Some(op)) => ascii_case(op, true)?,
            cell @ Cell::Text(None) if self.db_text.iter().any(|n| get(attrs, n).is_some()) => {
                // attrs.get("db.query.text") or attrs.get("db.statement"), then its first word
                let text = self.db_text.iter().map(|n| get(attrs, n)).find(|v| v.is_some_and(Val::truthy))
                    .flatten();
                // text only (a bytes value is text too: "base64:...")
                if let Some(v @ (Val::Str(_) | Val::Bytes(_))) = text {
                    let b = py_str_cow(v)?;
                    let t = utf8(&b)?;
                    if let Some(word) = t.split(is_py_space).find(|w| !w.is_empty()) {
                        // the word's place in the text: borrowed from the request when the text is
                        let start = word.as_ptr() as usize - t.as_ptr() as usize;
                        let range = start..start + word.len();
                        let mut w = match b {
                            Cow::Borrowed(all) => Cow::Borrowed(&all[range]),
                            Cow::Owned(all) => Cow::Owned(all[range].to_vec()),
                        };
                        ascii_case(&mut w, true)?;
                        *cell = Cell::Text(Some(w));
                    }
                }
            }
            _ => {}
        }
        if let Cell::Text(c @ None) = &mut out[self.client_id] {
            *c = instance.map(Cow::Borrowed);
        }
        Ok(out)
    }

    fn columns(&self, body: &[u8], source: &str, lim: Limits) -> R<Out> {
        let mut o = Out {
            trace_id: s(), span_id: s(), parent: s(), service: s(), instance: s(), scope: s(), name: s(), kind: p(),
            flags: p(), start: p(), end: p(), duration: p(), status_code: p(), status_message: s(), attributes: s(),
            resource: s(), events: s(), link_offsets: vec![0], link_trace: s(), link_span: s(), link_attrs: s(),
            promoted: self.slots.iter().map(|slot| match slot {
                Slot::Text => Promoted::Text(s()),
                Slot::Int(limit) if *limit > 1 << 31 => Promoted::I64(p()),
                Slot::Int(_) => Promoted::I32(p()),
            }).collect(),
            source: s(),
            values: 0,
        };
        let mut f = fields(body);
        while let Some((n, w)) = f.next_field()? {
            match (n, w) {
                (1, Wire::Bytes(b)) => self.resource_spans(b, source, lim, &mut o)?,
                (1, _) => return Err(Fallback),
                _ => {}
            }
        }
        if o.values > lim.request_values {
            return Err(Fallback);
        }
        // Arrow's 32-bit offsets (a big resource repeated on every span could pass them)
        let promoted = o.promoted.iter().filter_map(|c| if let Promoted::Text(c) = c { Some(c) } else { None });
        if [&o.trace_id, &o.span_id, &o.parent, &o.service, &o.instance, &o.scope, &o.name, &o.status_message,
            &o.attributes, &o.resource, &o.events, &o.link_trace, &o.link_span, &o.link_attrs, &o.source]
            .into_iter().chain(promoted).any(|c| c.data.len() > i32::MAX as usize) {
            return Err(Fallback);
        }
        Ok(o)
    }

    fn resource_spans(&self, b: &[u8], source: &str, lim: Limits, o: &mut Out) -> R<()> {
        let (mut resource, mut scopes) = (None, Vec::new());
        let mut f = fields(b);
        while let Some((n, w)) = f.next_field()? {
            match (n, w) {
                (1, Wire::Bytes(x)) if resource.is_none() => resource = Some(x),
                (2, Wire::Bytes(x)) => scopes.push(x),
                (3, Wire::Bytes(x)) => {
                    utf8(x)?;
                }
                (1..=3, _) => return Err(Fallback),
                _ => {}
            }
        }
        let mut raw = Vec::new();
        let mut f = fields(resource.unwrap_or(&[]));
        while let Some((n, w)) = f.next_field()? {
            match (n, w) {
                (1, Wire::Bytes(x)) => raw.push(x),
                (2, Wire::Varint(_)) => {}
                (1 | 2, _) => return Err(Fallback),
                _ => {}
            }
        }
        if raw.len() > lim.resource_attributes {
            return Err(Fallback);
        }
        let res = attributes(&raw, 0)?;
        o.values += count_values(&res);
        let mut res_json = Vec::new();
        json_object(&mut res_json, &res);
        let service: &[u8] = match get(&res, "service.name") {
            Some(Val::Str(s)) if !s.is_empty() => s.as_bytes(),
            Some(v) if v.truthy() => return Err(Fallback), // not text: Arrow refuses it in Python
            _ => b"unknown_service",
        };
        let instance = match get(&res, "service.instance.id") {
            None | Some(Val::Null) => None,
            Some(v) => {
                let mut b = Vec::new();
                py_str_of(&mut b, v)?;
                Some(b)
            }
        };
        for sc in scopes {
            let (mut scope, mut spans) = (None, Vec::new());
            let mut f = fields(sc);
            while let Some((n, w)) = f.next_field()? {
                match (n, w) {
                    (1, Wire::Bytes(x)) if scope.is_none() => scope = Some(x),
                    (2, Wire::Bytes(x)) => spans.push(x),
                    (3, Wire::Bytes(x)) => {
                        utf8(x)?;
                    }
                    (1..=3, _) => return Err(Fallback),
                    _ => {}
                }
            }
            let scope_name = self.scope_name(scope.unwrap_or(&[]))?;
            let ctx = Ctx {
                service,
                instance: instance.as_deref(),
                scope: if scope_name.is_empty() { None } else { Some(scope_name.as_bytes()) },
                resource: &res_json,
                source: source.as_bytes(),
            };
            for sp in spans {
                self.span(sp, &ctx, lim, o)?;
            }
        }
        Ok(())
    }

    fn scope_name<'a>(&self, b: &'a [u8]) -> R<&'a str> {
        let mut name = "";
        let mut f = fields(b);
        while let Some((n, w)) = f.next_field()? {
            match (n, w) {
                (1 | 2, Wire::Bytes(x)) => {
                    let t = utf8(x)?;
                    if n == 1 {
                        name = t;
                    }
                }
                (3, Wire::Bytes(x)) => {
                    attributes(&[x], 0)?;
                }
                (4, Wire::Varint(_)) => {}
                (1..=4, _) => return Err(Fallback),
                _ => {}
            }
        }
        Ok(name)
    }

    /// One span's row; Err(Fallback) wherever Python would reject the span or write it otherwise.
    fn span(&self, b: &[u8], ctx: &Ctx<'_>, lim: Limits, o: &mut Out) -> R<()> {
        let sp = read_span(b)?;
        if sp.attrs.len() > lim.span_attributes || sp.events.len() > lim.span_events
            || sp.links.len() > lim.span_links {
            return Err(Fallback);
        }
        o.values += sp.events.len() + sp.links.len();
        // the checks of otlp_proto._span and spans.span_values: a span they reject goes to Python
        if sp.trace_id.len() != 16 || sp.span_id.len() != 8 || sp.trace_id.iter().all(|&x| x == 0)
            || sp.span_id.iter().all(|&x| x == 0) || !(sp.parent.is_empty() || sp.parent.len() == 8)
            || sp.attrs.len() > self.max_attributes || sp.kind > 5 || sp.start == 0 || sp.start > MAX_NS
            || sp.end > MAX_NS || sp.flags > MAX_INT32 {
            return Err(Fallback);
        }
        let (mut status_message, mut status_code) = ("", 0u64);
        if let Some(st) = sp.status {
            let mut f = fields(st);
            while let Some((n, w)) = f.next_field()? {
                match (n, w) {
                    (2, Wire::Bytes(x)) => status_message = utf8(x)?,
                    (3, Wire::Varint(x)) => status_code = x,
                    (2 | 3, _) => return Err(Fallback),
                    _ => {}
                }
            }
        }
        if status_code > 2 {
            return Err(Fallback);
        }
        let attrs = attributes(&sp.attrs, 0)?;
        o.values += count_values(&attrs);
        let buf = &mut o.trace_id;
        buf.push_with(|d| hex_into(d, sp.trace_id));
        o.span_id.push_with(|d| hex_into(d, sp.span_id));
        if sp.parent.is_empty() || sp.parent.iter().all(|&x| x == 0) {
            o.parent.push(None);
        } else {
            o.parent.push_with(|d| hex_into(d, sp.parent));
        }
        o.service.push(Some(ctx.service));
        o.instance.push(ctx.instance);
        o.scope.push(ctx.scope);
        o.name.push(Some(sp.name.as_bytes()));
        o.kind.push(Some(sp.kind as u8));
        o.flags.push(Some(sp.flags as i32));
        let end = sp.end.max(sp.start);
        o.start.push(Some((sp.start / 1000) as i64));
        o.end.push(Some((end / 1000) as i64));
        o.duration.push(Some(((end - sp.start) / 1000) as i64));
        o.status_code.push(Some(status_code as u8));
        o.status_message.push(if status_message.is_empty() { None } else { Some(status_message.as_bytes()) });
        o.attributes.push_with(|d| json_object(d, &attrs));
        o.resource.push(Some(ctx.resource));
        if sp.events.is_empty() {
            o.events.push(None);
        } else {
            let mut text = vec![b'['];
            for (i, ev) in sp.events.iter().enumerate() {
                let (mut name, mut time, mut raw) = ("", 0u64, Vec::new());
                let mut f = fields(ev);
                while let Some((n, w)) = f.next_field()? {
                    match (n, w) {
                        (1, Wire::Fixed64(x)) => time = x,
                        (2, Wire::Bytes(x)) => name = utf8(x)?,
                        (3, Wire::Bytes(x)) => raw.push(x),
                        (4, Wire::Varint(_)) => {}
                        (1..=4, _) => return Err(Fallback),
                        _ => {}
                    }
                }
                if raw.len() > lim.item_attributes {
                    return Err(Fallback);
                }
                let ev_attrs = attributes(&raw, 0)?;
                o.values += count_values(&ev_attrs);
                if i > 0 {
                    text.push(b',');
                }
                text.extend_from_slice(b"{\"name\":");
                json_str_into(&mut text, name.as_bytes());
                text.extend_from_slice(b",\"time_us\":");
                uint_into(&mut text, time / 1000);
                text.extend_from_slice(b",\"attributes\":");
                json_object(&mut text, &ev_attrs);
                text.push(b'}');
            }
            text.push(b']');
            o.events.push(Some(&text));
        }
        for ln in &sp.links {
            let (mut trace, mut span, mut raw) = (&[][..], &[][..], Vec::new());
            let mut f = fields(ln);
            while let Some((n, w)) = f.next_field()? {
                match (n, w) {
                    (1, Wire::Bytes(x)) => trace = x,
                    (2, Wire::Bytes(x)) => span = x,
                    (3, Wire::Bytes(x)) => {
                        utf8(x)?;
                    }
                    (4, Wire::Bytes(x)) => raw.push(x),
                    (5, Wire::Varint(_)) | (6, Wire::Fixed32(_)) => {}
                    (1..=6, _) => return Err(Fallback),
                    _ => {}
                }
            }
            if trace.len() != 16 || span.len() != 8 || trace.iter().all(|&x| x == 0) || span.iter().all(|&x| x == 0) {
                return Err(Fallback);
            }
            if raw.len() > lim.item_attributes {
                return Err(Fallback);
            }
            let ln_attrs = attributes(&raw, 0)?;
            o.values += count_values(&ln_attrs);
            o.link_trace.push_with(|d| hex_into(d, trace));
            o.link_span.push_with(|d| hex_into(d, span));
            if ln_attrs.is_empty() {
                o.link_attrs.push(None);
            } else {
                o.link_attrs.push_with(|d| json_object(d, &ln_attrs));
            }
        }
        o.link_offsets.push(o.link_trace.len() as i32);
        let cells = self.promote(&attrs, ctx.instance)?;
        for (col, cell) in o.promoted.iter_mut().zip(cells) {
            match (col, cell) {
                (Promoted::Text(c), Cell::Text(v)) => c.push(v.as_deref()),
                (Promoted::I32(c), Cell::Int(v)) => c.push(v.map(|v| v as i32)),
                (Promoted::I64(c), Cell::Int(v)) => c.push(v),
                _ => return Err(Fallback),
            }
        }
        o.source.push(Some(ctx.source));
        Ok(())
    }
}

/// Values under key-values, as otlp_limits._kv_values counts them (one at least per key-value).
fn count_values(kvs: &[(&str, Val<'_>)]) -> usize {
    fn one(v: &Val<'_>) -> usize {
        match v {
            Val::Array(items) => 1 + items.iter().map(one).sum::<usize>(),
            Val::Kv(kvs) => 1 + count_values(kvs),
            _ => 1,
        }
    }
    kvs.iter().map(|(_, v)| one(v)).sum()
}

struct Ctx<'a> {
    service: &'a [u8],
    instance: Option<&'a [u8]>,
    scope: Option<&'a [u8]>,
    resource: &'a [u8],
    source: &'a [u8],
}

fn read_span(b: &[u8]) -> R<Span<'_>> {
    let mut sp = Span {
        trace_id: &[], span_id: &[], parent: &[], name: "", kind: 0, flags: 0, start: 0, end: 0,
        attrs: Vec::with_capacity(8), // one allocation for a usual span's attributes, not two
        events: Vec::new(), links: Vec::new(), status: None,
    };
    let mut f = fields(b);
    while let Some((n, w)) = f.next_field()? {
        match (n, w) {
            (1, Wire::Bytes(x)) => sp.trace_id = x,
            (2, Wire::Bytes(x)) => sp.span_id = x,
            (3, Wire::Bytes(x)) => {
                utf8(x)?;
            }
            (4, Wire::Bytes(x)) => sp.parent = x,
            (5, Wire::Bytes(x)) => sp.name = utf8(x)?,
            (6, Wire::Varint(x)) => sp.kind = x,
            (7, Wire::Fixed64(x)) => sp.start = x,
            (8, Wire::Fixed64(x)) => sp.end = x,
            (9, Wire::Bytes(x)) => sp.attrs.push(x),
            (10 | 12 | 14, Wire::Varint(_)) => {}
            (11, Wire::Bytes(x)) => sp.events.push(x),
            (13, Wire::Bytes(x)) => sp.links.push(x),
            (15, Wire::Bytes(x)) if sp.status.is_none() => sp.status = Some(x),
            (16, Wire::Fixed32(x)) => sp.flags = x,
            (1..=16, _) => return Err(Fallback),
            _ => {}
        }
    }
    Ok(sp)
}

/// The request's columns in SPAN_SCHEMA order, as one struct array of the C data interface.
fn c_columns(o: Out) -> *mut ArrowArray {
    let rows = o.source.len();
    let links = o.link_trace.len();
    let link_struct = struct_node(links, vec![str_node(o.link_trace), str_node(o.link_span), str_node(o.link_attrs)]);
    let mut cols = Vec::with_capacity(40);
    for c in [o.trace_id, o.span_id, o.parent, o.service, o.instance, o.scope, o.name] {
        cols.push(str_node(c));
    }
    cols.push(prim_node(o.kind, Owned::U8));
    cols.push(prim_node(o.flags, Owned::I32));
    cols.push(prim_node(o.start, Owned::I64));
    cols.push(prim_node(o.end, Owned::I64));
    cols.push(prim_node(o.duration, Owned::I64));
    cols.push(prim_node(o.status_code, Owned::U8));
    for c in [o.status_message, o.attributes, o.resource, o.events] {
        cols.push(str_node(c));
    }
    cols.push(list_node(o.link_offsets, link_struct));
    for c in o.promoted {
        cols.push(match c {
            Promoted::Text(c) => str_node(c),
            Promoted::I32(c) => prim_node(c, Owned::I32),
            Promoted::I64(c) => prim_node(c, Owned::I64),
        });
    }
    cols.push(str_node(o.source));
    struct_node(rows, cols)
}

#[pymethods]
impl SpanDecoder {
    /// promoted: per promoted column (semconv.COLUMNS order), its attribute names newest first and
    /// its integer bound (0 for a text column); then the slots of operation_type, http_method,
    /// db_operation and client_id, the old → new operation names, the db text names and the
    /// attribute cap.
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(promoted: Vec<(Vec<String>, u64)>, operation: usize, method: usize, db_operation: usize,
           client_id: usize, operations: Vec<(String, String)>, db_text: Vec<String>, max_attributes: usize)
           -> PyResult<Self> {
        if promoted.len() > MAX_PROMOTED {
            return Err(pyo3::exceptions::PyValueError::new_err("more promoted columns than MAX_PROMOTED"));
        }
        if [operation, method, db_operation, client_id].iter().any(|&i| i >= promoted.len()) {
            return Err(pyo3::exceptions::PyValueError::new_err("a special column is not a promoted column"));
        }
        let slots = promoted.iter().map(|(_, l)| if *l == 0 { Slot::Text } else { Slot::Int(i128::from(*l)) }).collect();
        let names: Vec<Vec<String>> = promoted.into_iter().map(|(n, _)| n).collect();
        let mut by_len: Vec<Vec<(String, usize, usize)>> = Vec::new();
        for (col, column_names) in names.iter().enumerate() {
            for (rank, name) in column_names.iter().enumerate() {
                if by_len.len() <= name.len() {
                    by_len.resize(name.len() + 1, Vec::new());
                }
                by_len[name.len()].push((name.clone(), col, rank));
            }
        }
        Ok(SpanDecoder { names, by_len, slots, operation, method, db_operation, client_id, operations, db_text,
                         max_attributes })
    }

    /// limits: otlp_limits.Limits's caps (resource, span attributes, events, links, item attributes,
    /// request values): a request that passes one goes to Python, which screens it.
    /// The request's span columns in SPAN_SCHEMA order as a struct array of the Arrow C data
    /// interface (a CArray, whose capsule pyarrow imports), or a string saying why
    /// Python must decode this request instead ("fallback", or a panic).
    /// The work runs without the GIL.
    fn decode<'py>(&self, py: Python<'py>, body: &[u8], source: &str, limits: [usize; 6]) -> PyResult<PyObject> {
        let [resource_attributes, span_attributes, span_events, span_links, item_attributes, request_values] = limits;
        let lim = Limits { resource_attributes, span_attributes, span_events, span_links, item_attributes,
                           request_values };
        let result = py.allow_threads(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.columns(body, source, lim)))
        });
        let o = match result {
            Ok(Ok(o)) => o,
            Ok(Err(Fallback)) => return Ok("fallback".into_pyobject(py)?.into_any().unbind()),
            Err(panic) => {
                let why = panic.downcast_ref::<&str>().map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned()).unwrap_or_default();
                return Ok(format!("panic: {why}").into_pyobject(py)?.into_any().unbind());
            }
        };
        // built outside the GIL too; pyarrow takes the buffers without a copy
        let array = py.allow_threads(move || CArray::new(c_columns(o)));
        Ok(Bound::new(py, array)?.into_any().unbind())
    }
}
