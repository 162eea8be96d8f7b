//! A strict RFC 8259 reader that keeps, for the root object's names of interest, where each
//! one's first value lies. It builds nothing: one pass over the bytes.
//!
//! Strict on purpose: Python's json module reads a superset (NaN, Infinity), so whatever
//! this reader rejects is left to normalize's record_row, the reference. It also reports
//! documents Python reads differently from the bytes (escaped names, which may decode to a
//! name of interest; integers past Python's digit limit; nesting deep enough for Python's
//! recursion limit) as `odd`.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Str,
    Int,
    Num,
    Bool,
    Null,
    Other,
}

/// A value's bytes (a string's without its quotes) and how it reads.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub start: usize,
    pub end: usize,
    pub kind: Kind,
    pub escaped: bool,
}

pub struct Doc {
    pub is_object: bool,
    pub odd: bool,
}

const MAX_DEPTH: usize = 200;
const MAX_INT_DIGITS: usize = 4000; // Python refuses int text past 4300 digits

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    odd: bool,
}

type R<T> = Result<T, ()>;

impl<'a> Reader<'a> {
    #[inline]
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    #[inline]
    fn peek(&self) -> R<u8> {
        self.b.get(self.i).copied().ok_or(())
    }

    /// A string at '"'; returns (start, end, escaped) of its content.
    fn string(&mut self) -> R<(usize, usize, bool)> {
        self.i += 1;
        let start = self.i;
        let mut escaped = false;
        loop {
            let c = self.peek()?;
            match c {
                b'"' => {
                    let end = self.i;
                    self.i += 1;
                    return Ok((start, end, escaped));
                }
                b'\\' => {
                    escaped = true;
                    let e = *self.b.get(self.i + 1).ok_or(())?;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let hex = self.b.get(self.i + 2..self.i + 6).ok_or(())?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(());
                            }
                            self.i += 6;
                        }
                        _ => return Err(()),
                    }
                }
                0..=0x1f => return Err(()),
                _ => self.i += 1,
            }
        }
    }

    fn digits(&mut self) -> usize {
        let s = self.i;
        while self.i < self.b.len() && self.b[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - s
    }

    fn number(&mut self) -> R<Kind> {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        let first = self.peek()?;
        let int_digits = if first == b'0' {
            self.i += 1;
            1
        } else if first.is_ascii_digit() {
            self.digits()
        } else {
            return Err(());
        };
        let mut kind = Kind::Int;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(());
            }
            kind = Kind::Num;
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(());
            }
            kind = Kind::Num;
        }
        if kind == Kind::Int && int_digits > MAX_INT_DIGITS {
            self.odd = true;
        }
        Ok(kind)
    }

    fn literal(&mut self, word: &[u8], kind: Kind) -> R<Kind> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(kind)
        } else {
            Err(())
        }
    }

    /// Any value; at depth 0 the root object's names are matched against `names`.
    fn value(&mut self, depth: usize, names: &[&[u8]], found: &mut [Option<Field>]) -> R<Field> {
        if depth > MAX_DEPTH {
            self.odd = true;
            return Err(());
        }
        let start = self.i;
        let kind = match self.peek()? {
            b'{' => {
                self.object(depth, names, found)?;
                Kind::Other
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.peek()? == b']' {
                    self.i += 1;
                } else {
                    loop {
                        self.value(depth + 1, names, &mut [])?;
                        self.ws();
                        match self.peek()? {
                            b',' => {
                                self.i += 1;
                                self.ws();
                            }
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err(()),
                        }
                    }
                }
                Kind::Other
            }
            b'"' => {
                let (s, e, escaped) = self.string()?;
                return Ok(Field { start: s, end: e, kind: Kind::Str, escaped });
            }
            b't' => self.literal(b"true", Kind::Bool)?,
            b'f' => self.literal(b"false", Kind::Bool)?,
            b'n' => self.literal(b"null", Kind::Null)?,
            _ => self.number()?,
        };
        Ok(Field { start, end: self.i, kind, escaped: false })
    }

    fn object(&mut self, depth: usize, names: &[&[u8]], found: &mut [Option<Field>]) -> R<()> {
        self.i += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return Err(());
            }
            let (ks, ke, kesc) = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return Err(());
            }
            self.i += 1;
            self.ws();
            let v = self.value(depth + 1, names, &mut [])?;
            if depth == 0 && !found.is_empty() {
                if kesc {
                    self.odd = true; // "\u0069d" is "id" to Python
                } else if let Some(k) = names.iter().position(|n| *n == &self.b[ks..ke]) {
                    if found[k].is_none() {
                        found[k] = Some(v); // a repeated name keeps its first value, as in normalize
                    }
                }
            }
            self.ws();
            match self.peek()? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(()),
            }
        }
    }
}

/// Read a whole document. Err: not strict JSON (Python may still read it).
pub fn scan(b: &[u8], names: &[&[u8]], found: &mut [Option<Field>]) -> Result<Doc, ()> {
    let mut r = Reader { b, i: 0, odd: false };
    r.ws();
    let is_object = r.peek()? == b'{';
    r.value(0, names, found)?;
    r.ws();
    if r.i != b.len() {
        return Err(());
    }
    Ok(Doc { is_object, odd: r.odd })
}
