//! Byte-exact twins of collectors.normalize.binary (text, excerpt) and of json.dumps's string
//! escaping with ensure_ascii=False.

pub const EXCERPT_BYTES: usize = 1024;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_into(out: &mut Vec<u8>, raw: &[u8]) {
    for c in raw.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63]);
        out.push(B64[(n >> 12) as usize & 63]);
        out.push(if c.len() > 1 { B64[(n >> 6) as usize & 63] } else { b'=' });
        out.push(if c.len() > 2 { B64[n as usize & 63] } else { b'=' });
    }
}

/// binary.text: the bytes when they are UTF-8, else 'base64:<...>'.
pub fn text_into(out: &mut Vec<u8>, raw: &[u8]) {
    if std::str::from_utf8(raw).is_ok() {
        out.extend_from_slice(raw);
    } else {
        out.extend_from_slice(b"base64:");
        base64_into(out, raw);
    }
}

/// binary.value_excerpt: excerpt_into, except that a Kafka Connect JSON value ({"schema": …,
/// "payload": …}) longer than EXCERPT_BYTES keeps its payload, as {"payload":…, not its schema.
pub fn value_excerpt_into(out: &mut Vec<u8>, value: &[u8]) {
    const SCHEMA: &[u8] = b"{\"schema\":";
    const PAYLOAD: &[u8] = b",\"payload\":";
    if value.len() > EXCERPT_BYTES && value.starts_with(SCHEMA) {
        if let Some(at) = value.windows(PAYLOAD.len()).position(|w| w == PAYLOAD) {
            let rest = &value[at + PAYLOAD.len()..];
            // what excerpt_into reads of it: its first EXCERPT_BYTES, and whether there are more
            let mut shown = Vec::with_capacity(EXCERPT_BYTES + 1);
            shown.extend_from_slice(b"{\"payload\":");
            shown.extend_from_slice(&rest[..rest.len().min(EXCERPT_BYTES + 1 - shown.len())]);
            return excerpt_into(out, &shown);
        }
    }
    excerpt_into(out, value)
}

/// binary.excerpt: the first EXCERPT_BYTES as text; a character cut by the bound is dropped;
/// otherwise not UTF-8 means base64 of the first three quarters.
pub fn excerpt_into(out: &mut Vec<u8>, value: &[u8]) {
    let head = &value[..value.len().min(EXCERPT_BYTES)];
    match std::str::from_utf8(head) {
        Ok(_) => out.extend_from_slice(head),
        Err(e) => {
            let start = e.valid_up_to();
            if value.len() > EXCERPT_BYTES && start >= EXCERPT_BYTES - 4 {
                out.extend_from_slice(&head[..start]);
            } else {
                out.extend_from_slice(b"base64:");
                base64_into(out, &head[..head.len().min(EXCERPT_BYTES * 3 / 4)]);
            }
        }
    }
}

/// A JSON string as json.dumps(..., ensure_ascii=False) writes it, quotes included.
pub fn json_str_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    let mut run = 0; // bytes since the last escape, copied in one go
    for (i, &b) in s.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        run = i + 1;
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
        }
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

pub fn hex_into(out: &mut Vec<u8>, raw: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in raw {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}
