//! Event times as normalize.envelope.parse_time computes them, for the forms where the result
//! is certain; anything else is `Slow` (left to the reference).

pub enum Time {
    Us(i64),
    Unreadable,
    Slow,
}

const EXACT: i64 = 1 << 53; // past this, i64 → f64 rounds and Python's int/int would not

fn num(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|±HH:MM]` (the bulk query's _ISO form): datetime.fromisoformat
/// then `int(dt.timestamp() * 1_000_000)`, naive times read as UTC.
pub fn iso(s: &[u8]) -> Time {
    let two = |i: usize| num(s.get(i..i + 2)?);
    let form = (|| {
        if s.len() < 19 || !(b'1'..=b'9').contains(&s[0]) || s[4] != b'-' || s[7] != b'-' || s[10] != b'T'
            || s[13] != b':' || s[16] != b':' {
            return None;
        }
        let (y, mo, d) = (num(&s[0..4])?, two(5)?, two(8)?);
        let (h, mi, sec) = (two(11)?, two(14)?, two(17)?);
        if h > 23 || mi > 59 || sec > 59 {
            return None;
        }
        let mut i = 19;
        let mut frac = 0i64;
        if s.get(i) == Some(&b'.') {
            let n = s[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
            if !(1..=6).contains(&n) {
                return None;
            }
            frac = num(&s[i + 1..i + 1 + n])? * 10i64.pow(6 - n as u32);
            i += 1 + n;
        }
        let mut off = 0i64;
        match s.get(i) {
            None => {}
            Some(b'Z') if i + 1 == s.len() => {}
            Some(&sign @ (b'+' | b'-')) if s.len() == i + 6 && s[i + 3] == b':' => {
                let (oh, om) = (two(i + 1)?, two(i + 4)?);
                if oh > 23 || om > 59 {
                    return None;
                }
                off = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
            }
            _ => return None,
        }
        Some((y, mo, d, h * 3600 + mi * 60 + sec - off, frac))
    })();
    let Some((y, mo, d, secs, frac)) = form else { return Time::Slow };
    if s.starts_with(b"9999") {
        return Time::Slow; // year 9999 with an offset can pass 9999-12-31 in UTC
    }
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Time::Unreadable; // fromisoformat refuses the date
    }
    let us = (days_from_civil(y, mo, d) * 86_400 + secs) * 1_000_000 + frac;
    if us.abs() >= EXACT {
        return Time::Slow;
    }
    Time::Us(((us as f64 / 1e6) * 1e6).trunc() as i64)
}

/// A JSON number as epoch seconds, ms, µs or ns (parse_time's rule), when 0 <= v < 1e18.
pub fn epoch(text: &[u8]) -> Time {
    let Some(v) = std::str::from_utf8(text).ok().and_then(|t| t.parse::<f64>().ok()) else { return Time::Slow };
    if !(0.0..1e18).contains(&v) {
        return Time::Slow;
    }
    let us = if v > 1e17 {
        v / 1000.0
    } else if v > 1e14 {
        v
    } else if v > 1e11 {
        v * 1000.0
    } else {
        v * 1_000_000.0
    };
    Time::Us(us.trunc() as i64)
}
