//! The protobuf wire format as OTLP uses it, and OTLP's AnyValue as Python's decoder sees it
//! (collectors.normalize.otlp_proto.any_value), with its JSON text as collectors.normalize.spans.dumps
//! writes it.
//!
//! Every reader returns `Err(Fallback)` for anything it cannot take exactly as Python's protobuf
//! does (malformed wire, invalid UTF-8, a message field given twice, which protobuf merges,
//! repeated keys, which a dict folds, nesting past MAX_DEPTH): the whole request then goes to
//! the Python decoder, which is the reference.

use crate::text::{base64_into, json_str_into};

#[derive(Debug)]
pub struct Fallback;

pub type R<T> = Result<T, Fallback>;

pub const MAX_DEPTH: usize = 32;

pub enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// The fields of one message, in wire order.
pub struct Fields<'a> {
    b: &'a [u8],
    i: usize,
}

pub fn fields(b: &[u8]) -> Fields<'_> {
    Fields { b, i: 0 }
}

impl<'a> Fields<'a> {
    #[inline]
    fn varint(&mut self) -> R<u64> {
        let mut out = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or(Fallback)?;
            self.i += 1;
            if shift == 63 && byte > 1 {
                return Err(Fallback);
            }
            out |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(out);
            }
        }
        Err(Fallback)
    }

    fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.i.checked_add(n).ok_or(Fallback)?;
        let s = self.b.get(self.i..end).ok_or(Fallback)?;
        self.i = end;
        Ok(s)
    }

    /// The next (field number, value), or None at the end.
    #[inline]
    pub fn next_field(&mut self) -> R<Option<(u64, Wire<'a>)>> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 || number > 536_870_911 {
            return Err(Fallback);
        }
        let value = match key & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => Wire::Fixed64(u64::from_le_bytes(self.take(8)?.try_into().map_err(|_| Fallback)?)),
            2 => {
                let n = usize::try_from(self.varint()?).map_err(|_| Fallback)?;
                Wire::Bytes(self.take(n)?)
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().map_err(|_| Fallback)?)),
            _ => return Err(Fallback), // groups: left to protobuf
        };
        Ok(Some((number, value)))
    }
}

pub fn utf8(b: &[u8]) -> R<&str> {
    std::str::from_utf8(b).map_err(|_| Fallback)
}

/// A decoded AnyValue: what otlp_proto.any_value returns (bytes stay raw until written).
pub enum Val<'a> {
    Null,
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(&'a [u8]),
    Array(Vec<Val<'a>>),
    Kv(Vec<(&'a str, Val<'a>)>),
}

impl Val<'_> {
    /// Python's truth value of the decoded value.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Str(s) => !s.is_empty(),
            Val::Bool(b) => *b,
            Val::Int(i) => *i != 0,
            Val::Double(f) => *f != 0.0, // NaN is true, as in Python
            Val::Bytes(_) => true, // "base64:..."
            Val::Array(a) => !a.is_empty(),
            Val::Kv(k) => !k.is_empty(),
        }
    }
}

fn set<'a>(slot: &mut Option<Val<'a>>, v: Val<'a>) -> R<()> {
    if slot.is_some() {
        return Err(Fallback); // a oneof given twice: protobuf keeps the last or merges; rare, left to it
    }
    *slot = Some(v);
    Ok(())
}

pub fn any_value(b: &[u8], depth: usize) -> R<Val<'_>> {
    if depth > MAX_DEPTH {
        return Err(Fallback);
    }
    let mut v = None;
    let mut f = fields(b);
    while let Some((n, w)) = f.next_field()? {
        match (n, w) {
            (1, Wire::Bytes(s)) => set(&mut v, Val::Str(utf8(s)?))?,
            (2, Wire::Varint(x)) => set(&mut v, Val::Bool(x != 0))?,
            (3, Wire::Varint(x)) => set(&mut v, Val::Int(x as i64))?,
            (4, Wire::Fixed64(x)) => set(&mut v, Val::Double(f64::from_bits(x)))?,
            (5, Wire::Bytes(s)) => {
                let mut items = Vec::new();
                let mut g = fields(s);
                while let Some((m, w)) = g.next_field()? {
                    match (m, w) {
                        (1, Wire::Bytes(x)) => items.push(any_value(x, depth + 1)?),
                        (1, _) => return Err(Fallback),
                        _ => {}
                    }
                }
                set(&mut v, Val::Array(items))?
            }
            (6, Wire::Bytes(s)) => {
                let mut kvs = Vec::new();
                let mut g = fields(s);
                while let Some((m, w)) = g.next_field()? {
                    match (m, w) {
                        (1, Wire::Bytes(x)) => kvs.push(key_value(x, depth + 1)?),
                        (1, _) => return Err(Fallback),
                        _ => {}
                    }
                }
                check_unique(&kvs)?;
                set(&mut v, Val::Kv(kvs))?
            }
            (7, Wire::Bytes(s)) => set(&mut v, Val::Bytes(s))?,
            (1..=7, _) => return Err(Fallback),
            _ => {}
        }
    }
    Ok(v.unwrap_or(Val::Null))
}

pub fn key_value(b: &[u8], depth: usize) -> R<(&str, Val<'_>)> {
    let (mut key, mut value) = (None, None);
    let mut f = fields(b);
    while let Some((n, w)) = f.next_field()? {
        match (n, w) {
            (1, Wire::Bytes(s)) if key.is_none() => key = Some(utf8(s)?),
            (2, Wire::Bytes(s)) if value.is_none() => value = Some(any_value(s, depth)?),
            (1 | 2, _) => return Err(Fallback),
            _ => {}
        }
    }
    Ok((key.unwrap_or(""), value.unwrap_or(Val::Null)))
}

/// A dict keeps the first position and the last value of a repeated key: left to Python.
pub fn check_unique(kvs: &[(&str, Val<'_>)]) -> R<()> {
    if kvs.len() < 24 {
        for (i, (k, _)) in kvs.iter().enumerate() {
            if kvs[..i].iter().any(|(j, _)| j == k) {
                return Err(Fallback);
            }
        }
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(kvs.len());
    if kvs.iter().all(|(k, _)| seen.insert(*k)) { Ok(()) } else { Err(Fallback) }
}

/// The attributes of a message: its repeated KeyValue field `number`, gathered by the caller.
pub fn attributes<'a>(raw: &[&'a [u8]], depth: usize) -> R<Vec<(&'a str, Val<'a>)>> {
    // sized once (collecting through Result cannot know the length, and grew 4 → 8 on most spans)
    let mut kvs = Vec::with_capacity(raw.len());
    for b in raw {
        kvs.push(key_value(b, depth)?);
    }
    check_unique(&kvs)?;
    Ok(kvs)
}

// -- JSON, as spans.dumps writes it ------------------------------------------------------------

pub fn json_object(out: &mut Vec<u8>, kvs: &[(&str, Val<'_>)]) {
    out.push(b'{');
    for (i, (k, v)) in kvs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_str_into(out, k.as_bytes());
        out.push(b':');
        json_value(out, v);
    }
    out.push(b'}');
}

pub fn json_value(out: &mut Vec<u8>, v: &Val<'_>) {
    match v {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Str(s) => json_str_into(out, s.as_bytes()),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::Int(i) => int_into(out, *i),
        Val::Double(f) => {
            if f.is_nan() {
                out.extend_from_slice(b"NaN");
            } else if f.is_infinite() {
                out.extend_from_slice(if *f > 0.0 { b"Infinity" } else { b"-Infinity" });
            } else {
                py_float_into(out, *f);
            }
        }
        Val::Bytes(b) => {
            out.push(b'"');
            base64_b(out, b);
            out.push(b'"');
        }
        Val::Array(items) => {
            out.push(b'[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(out, x);
            }
            out.push(b']');
        }
        Val::Kv(kvs) => json_object(out, kvs),
    }
}

/// "base64:<...>", as any_value writes a bytes value (base64 needs no JSON escaping).
pub fn base64_b(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(b"base64:");
    base64_into(out, b);
}

pub fn int_into(out: &mut Vec<u8>, i: i64) {
    let mut buf = itoa_buf();
    out.extend_from_slice(fmt_u(&mut buf, i.unsigned_abs(), i < 0));
}

pub fn uint_into(out: &mut Vec<u8>, u: u64) {
    let mut buf = itoa_buf();
    out.extend_from_slice(fmt_u(&mut buf, u, false));
}

fn itoa_buf() -> [u8; 24] {
    [0; 24]
}

fn fmt_u(buf: &mut [u8; 24], mut u: u64, neg: bool) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    if neg {
        i -= 1;
        buf[i] = b'-';
    }
    &buf[i..]
}

/// repr() of a finite float: the shortest digits that read back the same (Rust's `{:e}` gives
/// them, as Python's repr does), laid out as Python does: positional for exponents -4..16,
/// else d.ddde±XX.
pub fn py_float_into(out: &mut Vec<u8>, f: f64) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(|c| *c != b'.').collect();
    if f.is_sign_negative() {
        out.push(b'-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let whole = exp as usize + 1;
            if digits.len() <= whole {
                out.extend_from_slice(&digits);
                out.resize(out.len() + whole - digits.len(), b'0');
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..whole]);
                out.push(b'.');
                out.extend_from_slice(&digits[whole..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.resize(out.len() + (-exp - 1) as usize, b'0');
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.extend_from_slice(format!("e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs()).as_bytes());
    }
}
