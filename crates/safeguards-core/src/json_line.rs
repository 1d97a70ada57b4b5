//! One input line of the sidecar read as its Python reads it (`safeguards.jsonlines.loads`, json's
//! rules): a flat JSON object becomes its canonical fields in the dict's order, each value typed as
//! Python would hold it, so [`crate::screen::screen`] sees what the binding would have given it.
//!
//! Only what is surely read the same way is read here: strict JSON text in UTF-8 whose top level
//! is a non-empty object. Everything else (bad JSON, whose error message is json's own; NaN and
//! infinities, which the sidecar refuses in its own words; a lone surrogate; a byte order mark;
//! other encodings; an integer too long for Python to print) is [`Read::Python`]: the caller leaves
//! that line to the Python path, so the answer is exactly the one it always was.

use crate::event::Field;
use crate::screen::Raw;

/// What one line (without its newline) is.
#[derive(Debug, Clone, PartialEq)]
pub enum Read {
    /// Only ASCII whitespace (`bytes.strip()` leaves nothing): skipped, no answer, but it is a line.
    Blank,
    /// A non-empty JSON object: its canonical fields in order (a repeated key keeps its first
    /// place and its last value, as a dict does), unknown fields read and left out.
    Event(Vec<(Field, Raw<'static>)>),
    /// Not read here: the Python path answers this line.
    Python,
}

/// Nesting the reader follows before it leaves a line to Python (an event is a flat object).
const MAX_DEPTH: usize = 64;
/// Integer literals longer than this are left to Python (which caps the digits it will convert).
const MAX_INT_DIGITS: usize = 400;

/// The bytes that end a string's plain run: its closing quote, an escape, a control character.
const ENDS_RUN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Read one line (its bytes without the newline).
pub fn read_line(line: &[u8]) -> Read {
    if line.iter().all(|byte| is_python_space(*byte)) {
        return Read::Blank;
    }
    // Checked once: every string's span below then starts and ends at an ASCII byte, a char boundary.
    let Ok(text) = std::str::from_utf8(line) else {
        return Read::Python;
    };
    let mut reader = Reader {
        text,
        bytes: line,
        at: 0,
        scratch: String::new(),
    };
    match reader.event() {
        Some(fields) => Read::Event(fields),
        None => Read::Python,
    }
}

/// `bytes.strip()`'s whitespace.
fn is_python_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Where a string read is: a span of the line (no escapes in it), or decoded in the scratch buffer.
#[derive(Clone, Copy)]
enum Text {
    Span(usize, usize),
    Scratch,
}

/// A value read: what the screen needs of it (nested values only by their type's name).
enum Value {
    Raw(Raw<'static>),
    Str(Text),
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    scratch: String,
}

/// `None` everywhere below: not read here (left to Python).
impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.skip_space();
        (self.peek()? == byte).then(|| self.at += 1)
    }

    fn str_of(&self, text: Text) -> &str {
        match text {
            Text::Span(start, end) => &self.text[start..end],
            Text::Scratch => &self.scratch,
        }
    }

    fn event(&mut self) -> Option<Vec<(Field, Raw<'static>)>> {
        self.expect(b'{')?;
        let mut fields: Vec<(Field, Raw<'static>)> = Vec::with_capacity(16);
        let mut seen = 0u64; // the fields read so far, by bit: a repeat is looked for only when it is one
        self.skip_space();
        if self.peek()? == b'}' {
            return None; // `{}`: not an event, in the Python path's words
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            let field = Field::from_name(self.str_of(key));
            self.expect(b':')?;
            let value = self.value(0)?;
            if let Some(field) = field {
                let value = match value {
                    Value::Raw(raw) => raw,
                    Value::Str(text) => Raw::Str(self.str_of(text).to_owned().into()),
                };
                let bit = 1u64 << (field as u32 % 64);
                let repeat = if seen & bit == 0 {
                    None
                } else {
                    fields.iter_mut().find(|(known, _)| *known == field)
                };
                match repeat {
                    Some(slot) => slot.1 = value,
                    None => fields.push((field, value)),
                }
                seen |= bit;
            }
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    break;
                }
                _ => return None,
            }
        }
        self.skip_space();
        (self.at == self.bytes.len()).then_some(fields)
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        self.skip_space();
        Some(match self.peek()? {
            b'"' => Value::Str(self.string()?),
            b'{' | b'[' => Value::Raw(Raw::Other(self.nested(depth)?.into())),
            b't' => self.literal(b"true", Raw::Bool(true))?,
            b'f' => self.literal(b"false", Raw::Bool(false))?,
            b'n' => self.literal(b"null", Raw::None)?,
            b'-' | b'0'..=b'9' => Value::Raw(self.number()?),
            _ => return None,
        })
    }

    fn literal(&mut self, word: &[u8], raw: Raw<'static>) -> Option<Value> {
        let end = self.at + word.len();
        (self.bytes.get(self.at..end)? == word).then(|| {
            self.at = end;
            Value::Raw(raw)
        })
    }

    /// A nested array or object, checked and skipped: Python's type name for it.
    fn nested(&mut self, depth: usize) -> Option<&'static str> {
        if depth >= MAX_DEPTH {
            return None;
        }
        let (close, name) = match self.peek()? {
            b'{' => (b'}', "dict"),
            _ => (b']', "list"),
        };
        self.at += 1;
        self.skip_space();
        if self.peek()? == close {
            self.at += 1;
            return Some(name);
        }
        loop {
            if close == b'}' {
                self.skip_space();
                self.string()?;
                self.expect(b':')?;
            }
            self.value(depth + 1)?;
            self.skip_space();
            match self.peek()? {
                b',' => self.at += 1,
                byte if byte == close => {
                    self.at += 1;
                    return Some(name);
                }
                _ => return None,
            }
        }
    }

    /// JSON's number grammar; an integer literal is an int (exact, or its digits beyond 64 bits), any
    /// other a float (correctly rounded, as Python's `float` reads it; beyond the range, infinite).
    fn number(&mut self) -> Option<Raw<'static>> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        // The integer part, accumulated negatively so that i64::MIN fits; None once it overflows.
        let mut value: Option<i64> = Some(0);
        match self.peek()? {
            b'0' => self.at += 1,
            b'1'..=b'9' => {
                while let Some(digit @ b'0'..=b'9') = self.peek() {
                    value = value
                        .and_then(|value| value.checked_mul(10))
                        .and_then(|value| value.checked_sub(i64::from(digit - b'0')));
                    self.at += 1;
                }
            }
            _ => return None,
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.required_digits()?;
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.required_digits()?;
            integer = false;
        }
        let literal = &self.text[start..self.at];
        if !integer {
            return literal.parse().ok().map(Raw::Float);
        }
        let exact = if negative {
            value
        } else {
            value.and_then(i64::checked_neg)
        };
        match exact {
            Some(int) => Some(Raw::Int(int)),
            None if literal.len() <= MAX_INT_DIGITS => Some(Raw::BigInt(literal.to_owned().into())),
            None => None,
        }
    }

    fn required_digits(&mut self) -> Option<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
        (self.at > start).then_some(())
    }

    /// A JSON string: its span when it has no escapes, else decoded into `scratch`. A control
    /// character, a bad escape or a surrogate without its pair is not read here.
    fn string(&mut self) -> Option<Text> {
        if self.peek()? != b'"' {
            return None;
        }
        self.at += 1;
        let start = self.at;
        let end = self.plain_run();
        match self.peek()? {
            b'"' => {
                self.at += 1;
                return Some(Text::Span(start, end));
            }
            b'\\' => {}
            _ => return None, // a raw control character: json refuses it (strict)
        }
        self.scratch.clear();
        self.scratch.push_str(&self.text[start..end]);
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(Text::Scratch);
                }
                b'\\' => self.escape()?,
                _ => return None,
            }
            let start = self.at;
            let end = self.plain_run();
            self.scratch.push_str(&self.text[start..end]);
        }
    }

    /// Skip the bytes a string holds as they are; where the run ends.
    fn plain_run(&mut self) -> usize {
        let rest = &self.bytes[self.at..];
        let run = rest
            .iter()
            .position(|&byte| ENDS_RUN[usize::from(byte)])
            .unwrap_or(rest.len());
        self.at += run;
        self.at
    }

    fn escape(&mut self) -> Option<()> {
        self.at += 1;
        let decoded = match self.peek()? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                self.at += 1;
                let unit = self.hex4()?;
                let code = match unit {
                    0xd800..=0xdbff => {
                        if self.bytes.get(self.at..self.at + 2)? != b"\\u" {
                            return None;
                        }
                        self.at += 2;
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return None;
                        }
                        0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    0xdc00..=0xdfff => return None,
                    unit => unit,
                };
                self.scratch.push(char::from_u32(code)?);
                return Some(());
            }
            _ => return None,
        };
        self.at += 1;
        self.scratch.push(decoded);
        Some(())
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.bytes.get(self.at..self.at + 4)?;
        let mut value = 0;
        for &digit in digits {
            value = value * 16 + char::from(digit).to_digit(16)?;
        }
        self.at += 4;
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Vec<(Field, Raw<'static>)> {
        match read_line(line.as_bytes()) {
            Read::Event(fields) => fields,
            other => panic!("{line}: {other:?}"),
        }
    }

    fn python(line: &[u8]) {
        assert_eq!(
            read_line(line),
            Read::Python,
            "{}",
            String::from_utf8_lossy(line)
        );
    }

    #[test]
    fn canonical_fields_in_order_typed_as_python_holds_them() {
        let read = fields(
            r#" {"type":"fill","extra":{"a":[1,{"b":null}]},"source":"broker","qty":5,"cum_qty":5.0,"poss_dup":false,"seq":null}  "#,
        );
        assert_eq!(
            read,
            vec![
                (Field::Type, Raw::Str("fill".into())),
                (Field::Source, Raw::Str("broker".into())),
                (Field::Qty, Raw::Int(5)),
                (Field::CumQty, Raw::Float(5.0)),
                (Field::PossDup, Raw::Bool(false)),
                (Field::Seq, Raw::None),
            ]
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_place_and_its_last_value() {
        let read = fields(r#"{"source":"x","type":"new","source":"broker"}"#);
        assert_eq!(read[0], (Field::Source, Raw::Str("broker".into())));
        assert_eq!(read.len(), 2);
    }

    #[test]
    fn numbers_as_python_reads_them() {
        let value = |text: &str| fields(&format!(r#"{{"qty":{text}}}"#)).remove(0).1;
        assert_eq!(value("-0"), Raw::Int(0));
        assert!(
            matches!(value("-0.0"), Raw::Float(zero) if zero == 0.0 && zero.is_sign_negative())
        );
        assert_eq!(value("1e5"), Raw::Float(100_000.0));
        assert_eq!(value("1E-2"), Raw::Float(0.01));
        assert_eq!(value("1e400"), Raw::Float(f64::INFINITY));
        assert_eq!(value("9223372036854775807"), Raw::Int(i64::MAX));
        assert_eq!(value("-9223372036854775808"), Raw::Int(i64::MIN));
        assert_eq!(
            value("9223372036854775808"),
            Raw::BigInt("9223372036854775808".into())
        );
        assert_eq!(
            value("-9223372036854775809"),
            Raw::BigInt("-9223372036854775809".into())
        );
        assert_eq!(value("[]"), Raw::Other("list".into()));
        assert_eq!(value("{}"), Raw::Other("dict".into()));
    }

    #[test]
    fn escapes_decoded() {
        let read = fields(r#"{"order_id":"a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00é","\u0073ource":1}"#);
        assert_eq!(
            read[0].1,
            Raw::Str("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}é".into())
        );
        assert_eq!(read[1], (Field::Source, Raw::Int(1)));
    }

    #[test]
    fn blank_lines() {
        assert_eq!(read_line(b""), Read::Blank);
        assert_eq!(read_line(b" \t\r\x0b\x0c"), Read::Blank);
    }

    #[test]
    fn everything_else_is_left_to_python() {
        for line in [
            &b"{}"[..],
            b"[1]",
            b"\"x\"",
            b"12",
            b"{not json",
            b"{\"a\":1}x",
            b"{\"a\":1,}",
            b"{\"a\" 1}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":NaN}",
            b"{\"a\":Infinity}",
            b"{\"a\":-Infinity}",
            b"{\"a\":[NaN]}",
            b"{\"a\":\"\\ud800\"}",
            b"{\"a\":\"\\udc00\"}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xff\"}",
            b"\xef\xbb\xbf{\"a\":1}",
            b"\x0c{\"a\":1}",
            b"{\"a\":tru}",
            b"{\"a\":[1 2]}",
            b"{\"a\":{1:2}}",
            b"{\"a\":\"unterminated",
        ] {
            python(line);
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        python(deep.as_bytes());
        let long = format!("{{\"a\":{}}}", "9".repeat(MAX_INT_DIGITS + 1));
        python(long.as_bytes());
    }
}
