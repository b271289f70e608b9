//! Writing JSON without allocating: a fixed buffer and an object writer over any
//! `fmt::Write`. The exit summary and the report's final records are written from a
//! destructor that may run after a signal interrupted `malloc`, so they must not
//! allocate; the same writer serves every record so there is one way to write JSON.

use std::fmt::{self, Write};

/// A fixed-size buffer that never allocates. Writing past its end sets `overflowed`
/// and keeps what fit.
pub struct FixedBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
    overflowed: bool,
}

impl<const N: usize> Default for FixedBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> FixedBuf<N> {
    pub const fn new() -> Self {
        FixedBuf { buf: [0; N], len: 0, overflowed: false }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only whole `str`s are ever copied in (see write_str).
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    pub fn overflowed(&self) -> bool {
        self.overflowed
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.overflowed = false;
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.overflowed || self.len + s.len() > N {
            self.overflowed = true;
            return Err(fmt::Error);
        }
        self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
        self.len += s.len();
        Ok(())
    }
}

/// Writes `s` as a JSON string (with its quotes).
pub fn string<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    w.write_char('"')?;
    escape_into(w, s)?;
    w.write_char('"')
}

/// Writes `s` escaped for the inside of a JSON string.
fn escape_into<W: Write>(w: &mut W, s: &str) -> fmt::Result {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if (c as u32) < 0x20 || c == '\u{7f}' => "",
            _ => continue,
        };
        w.write_str(&s[start..i])?;
        if esc.is_empty() {
            write!(w, "\\u{:04x}", c as u32)?;
        } else {
            w.write_str(esc)?;
        }
        start = i + c.len_utf8();
    }
    w.write_str(&s[start..])
}

/// Writes raw bytes (a path, an argument) as a JSON string: valid UTF-8 as text,
/// each invalid sequence as U+FFFD. No allocation.
pub fn bytes<W: Write>(w: &mut W, b: &[u8]) -> fmt::Result {
    w.write_char('"')?;
    for chunk in b.utf8_chunks() {
        escape_into(w, chunk.valid())?;
        if !chunk.invalid().is_empty() {
            w.write_str("\\ufffd")?;
        }
    }
    w.write_char('"')
}

/// A JSON object being written: `{"a":1,"b":"x"}`.
pub struct Object<'w, W: Write> {
    w: &'w mut W,
    first: bool,
    result: fmt::Result,
}

impl<'w, W: Write> Object<'w, W> {
    pub fn begin(w: &'w mut W) -> Self {
        let result = w.write_char('{');
        Object { w, first: true, result }
    }

    fn key(&mut self, k: &str) {
        if self.result.is_err() {
            return;
        }
        if !self.first {
            self.result = self.w.write_char(',');
        }
        self.first = false;
        self.result = self.result.and_then(|_| string(self.w, k)).and_then(|_| self.w.write_char(':'));
    }

    pub fn str(&mut self, k: &str, v: &str) -> &mut Self {
        self.key(k);
        if self.result.is_ok() {
            self.result = string(self.w, v);
        }
        self
    }

    pub fn opt_str(&mut self, k: &str, v: Option<&str>) -> &mut Self {
        match v {
            Some(v) => self.str(k, v),
            None => self.raw(k, "null"),
        }
    }

    /// A number, or `null`.
    pub fn opt_num(&mut self, k: &str, v: Option<impl fmt::Display>) -> &mut Self {
        match v {
            Some(v) => self.num(k, v),
            None => self.raw(k, "null"),
        }
    }

    pub fn num(&mut self, k: &str, v: impl fmt::Display) -> &mut Self {
        self.key(k);
        if self.result.is_ok() {
            self.result = write!(self.w, "{v}");
        }
        self
    }

    /// A number written as a hexadecimal string (`"0x7f..."`): addresses exceed what
    /// JSON readers hold exactly as numbers.
    pub fn hex(&mut self, k: &str, v: usize) -> &mut Self {
        self.key(k);
        if self.result.is_ok() {
            self.result = write!(self.w, "\"{v:#x}\"");
        }
        self
    }

    pub fn bool(&mut self, k: &str, v: bool) -> &mut Self {
        self.raw(k, if v { "true" } else { "false" })
    }

    /// Already-rendered JSON.
    pub fn raw(&mut self, k: &str, json: &str) -> &mut Self {
        self.key(k);
        if self.result.is_ok() {
            self.result = self.w.write_str(json);
        }
        self
    }

    /// Writes a value with a closure (a nested object or array).
    pub fn with(&mut self, k: &str, f: impl FnOnce(&mut W) -> fmt::Result) -> &mut Self {
        self.key(k);
        if self.result.is_ok() {
            self.result = f(self.w);
        }
        self
    }

    pub fn end(&mut self) -> fmt::Result {
        self.result.and_then(|_| self.w.write_char('}'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_escape_and_nest_without_allocating() {
        let mut b = FixedBuf::<256>::new();
        Object::begin(&mut b)
            .str("s", "a\"b\\c\nd\u{1}")
            .num("n", 42u64)
            .hex("h", 0x7f00)
            .bool("t", true)
            .opt_str("o", None)
            .with("x", |w| Object::begin(w).num("k", 1).end())
            .end()
            .unwrap();
        assert_eq!(b.as_str(), r#"{"s":"a\"b\\c\nd\u0001","n":42,"h":"0x7f00","t":true,"o":null,"x":{"k":1}}"#);
    }

    #[test]
    fn a_full_buffer_says_so_and_keeps_what_fit() {
        let mut b = FixedBuf::<8>::new();
        assert!(Object::begin(&mut b).str("key", "long value").end().is_err());
        assert!(b.overflowed());
        assert!(b.len() <= 8);
    }
}
