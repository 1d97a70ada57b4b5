//! Output lines written byte for byte as the sidecar's Python writes them (`safeguards.jsonlines.dumps`).
//!
//! That function writes with orjson (compact, UTF-8) when the result is ASCII, and otherwise with
//! json's encoder (compact, `ensure_ascii`). The two differ in one more place: orjson leaves DEL
//! (0x7f) as it is, json escapes it. So a line is written the orjson way, and written again the
//! json way when it turned out not to be ASCII.

use crate::pyfmt::float_repr;
use serde_json::Value;

/// How strings are escaped: as orjson does, or as json does with `ensure_ascii`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    Orjson,
    EnsureAscii,
}

/// One JSON object on one line, its fields written in order.
pub struct ObjectLine<'a> {
    out: &'a mut Vec<u8>,
    escape: Escape,
    first: bool,
}

impl ObjectLine<'_> {
    /// Keys are the field names of decisions and alerts: plain ASCII, nothing to escape.
    fn key(&mut self, key: &str) {
        debug_assert!(!needs_escape(key.as_bytes(), Escape::EnsureAscii));
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }

    pub fn str(&mut self, key: &str, value: &str) {
        self.key(key);
        write_str(self.out, value, self.escape);
    }

    /// A value known to need no escape in either style: the engine's own names, or a text the
    /// caller checked once with [`is_plain`].
    pub fn plain_str(&mut self, key: &str, value: &str) {
        debug_assert!(is_plain(value));
        self.key(key);
        self.out.push(b'"');
        self.out.extend_from_slice(value.as_bytes());
        self.out.push(b'"');
    }

    pub fn opt_str(&mut self, key: &str, value: Option<&str>) {
        match value {
            Some(text) => self.str(key, text),
            None => self.raw(key, "null"),
        }
    }

    pub fn int(&mut self, key: &str, value: i64) {
        self.key(key);
        write_int(self.out, value);
    }

    pub fn opt_int(&mut self, key: &str, value: Option<i64>) {
        match value {
            Some(int) => self.int(key, int),
            None => self.raw(key, "null"),
        }
    }

    /// A value's JSON text as it is (digits of a big int, `null`).
    pub fn raw(&mut self, key: &str, text: &str) {
        self.key(key);
        self.out.extend_from_slice(text.as_bytes());
    }
}

/// Write one object line (newline included) as `dumps` would: `fields` is called once, or twice
/// when the first writing was not ASCII.
pub fn object_line(out: &mut Vec<u8>, fields: impl Fn(&mut ObjectLine<'_>)) {
    let start = out.len();
    for escape in [Escape::Orjson, Escape::EnsureAscii] {
        out.truncate(start);
        let mut line = ObjectLine {
            out,
            escape,
            first: true,
        };
        fields(&mut line);
        out.extend_from_slice(if out.len() == start { b"{}\n" } else { b"}\n" });
        if out[start..].is_ascii() {
            return;
        }
    }
}

/// A string's JSON text.
pub fn write_str(out: &mut Vec<u8>, text: &str, escape: Escape) {
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut plain = 0;
    if needs_escape(bytes, escape) {
        for (at, &byte) in bytes.iter().enumerate() {
            if at < plain || !escaped(byte, escape) {
                continue; // a plain byte, or inside a character already written
            }
            out.extend_from_slice(&bytes[plain..at]);
            let short: &[u8] = match byte {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                _ => b"",
            };
            if short.is_empty() {
                plain = at + unicode_escape(out, &text[at..]);
            } else {
                out.extend_from_slice(short);
                plain = at + 1;
            }
        }
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

/// Whether a byte is written escaped: quote, backslash and control characters; with
/// `ensure_ascii`, DEL and every byte of a non-ASCII character too.
fn escaped(byte: u8, escape: Escape) -> bool {
    byte == b'"' || byte == b'\\' || byte < 0x20 || (escape == Escape::EnsureAscii && byte >= 0x7f)
}

/// Whether any byte of `bytes` is [`escaped`], looked at eight at a time (the strings written are
/// short and almost never need escapes).
fn needs_escape(bytes: &[u8], escape: Escape) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Whether a byte of `word` is below `n` (n <= 0x80), or zero: exact as a yes or no.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    let holds = |word: u64, byte: u8| below(word ^ (ONES * u64::from(byte)), 1);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let mut found = below(word, 0x20) | holds(word, b'"') | holds(word, b'\\');
        if escape == Escape::EnsureAscii {
            found |= (word & HIGH) | holds(word, 0x7f);
        }
        if found != 0 {
            return true;
        }
    }
    chunks.remainder().iter().any(|&byte| escaped(byte, escape))
}

/// Whether a text is written as it is in either style (nothing in it to escape).
pub fn is_plain(text: &str) -> bool {
    !needs_escape(text.as_bytes(), Escape::EnsureAscii)
}

/// An integer's digits.
fn write_int(out: &mut Vec<u8>, value: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = value.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if value < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// A JSON value as Python's `json.dumps(value, sort_keys=True, separators=(",", ":"))` writes it
/// (`ensure_ascii`, floats as `repr`): the canonical text a checkpoint is sealed over, written by
/// the core so that saving a large state does not build it in Python first. `Err` names the first
/// value JSON cannot hold (a NaN or an infinity), as `allow_nan=False` refuses it.
pub fn write_canonical(out: &mut Vec<u8>, value: &Value) -> Result<(), String> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(flag) => out.extend_from_slice(if *flag { b"true" } else { b"false" }),
        Value::Number(number) => {
            if let Some(int) = number.as_i64() {
                write_int(out, int);
            } else if let Some(int) = number.as_u64() {
                out.extend_from_slice(int.to_string().as_bytes());
            } else {
                let float = number.as_f64().unwrap_or(f64::NAN);
                if !float.is_finite() {
                    return Err(format!("{} is not a JSON number", float_repr(float)));
                }
                out.extend_from_slice(float_repr(float).as_bytes());
            }
        }
        Value::String(text) => write_str(out, text, Escape::EnsureAscii),
        Value::Array(items) => {
            out.push(b'[');
            for (at, item) in items.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                write_canonical(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            // serde_json's map is ordered by key bytes: for UTF-8 that is Python's order of str.
            out.push(b'{');
            for (at, (key, item)) in map.iter().enumerate() {
                if at > 0 {
                    out.push(b',');
                }
                write_str(out, key, Escape::EnsureAscii);
                out.push(b':');
                write_canonical(out, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// `\uXXXX` for the character `rest` starts with (a surrogate pair beyond the BMP); its length.
fn unicode_escape(out: &mut Vec<u8>, rest: &str) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Some(c) = rest.chars().next() else {
        return 1;
    };
    let mut units = [0u16; 2];
    for &mut unit in c.encode_utf16(&mut units) {
        out.extend_from_slice(b"\\u");
        for shift in [12, 8, 4, 0] {
            out.push(HEX[usize::from((unit >> shift) & 0xf)]);
        }
    }
    c.len_utf8()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(value: &str) -> String {
        let mut out = Vec::new();
        object_line(&mut out, |line| {
            line.str("a", value);
            line.opt_int("n", None);
            line.int("i", -5);
            line.int("min", i64::MIN);
            line.int("zero", 0);
        });
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn ascii_as_orjson_writes_it() {
        assert_eq!(
            line("x\"\\\n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f}/"),
            "{\"a\":\"x\\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\u{7f}/\",\"n\":null,\"i\":-5,\"min\":-9223372036854775808,\"zero\":0}\n"
        );
    }

    #[test]
    fn an_escape_is_found_wherever_it_is() {
        for byte in [0u8, 0x1f, b'"', b'\\', 0x7f, 0x80, 0xc3, b' ', b'~', b'a'] {
            for length in 1..40 {
                for at in 0..length {
                    let mut bytes = vec![b'x'; length];
                    bytes[at] = byte;
                    for escape in [Escape::Orjson, Escape::EnsureAscii] {
                        let expected = bytes.iter().any(|&b| escaped(b, escape));
                        assert_eq!(
                            needs_escape(&bytes, escape),
                            expected,
                            "{byte:#x} at {at} of {length}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn anything_else_as_json_writes_it_with_ensure_ascii() {
        assert_eq!(
            line("é\u{7f}\u{1f600}\u{ffff}"),
            "{\"a\":\"\\u00e9\\u007f\\ud83d\\ude00\\uffff\",\"n\":null,\"i\":-5,\"min\":-9223372036854775808,\"zero\":0}\n"
        );
    }

    #[test]
    fn a_value_as_python_json_dumps_it_with_sorted_keys() {
        let value = serde_json::json!({
            "b": [1, -2, 18446744073709551615u64, 0.1, 1e22, 1e-7, 100.0, null, true, false],
            "a": {"z": "é\u{7f}\n", "é": 1, "Z": {}},
            "": [],
        });
        let mut out = Vec::new();
        write_canonical(&mut out, &value).expect("finite");
        assert_eq!(
            String::from_utf8(out).expect("ascii"),
            "{\"\":[],\"a\":{\"Z\":{},\"z\":\"\\u00e9\\u007f\\n\",\"\\u00e9\":1},\
             \"b\":[1,-2,18446744073709551615,0.1,1e+22,1e-07,100.0,null,true,false]}"
        );
    }
}
