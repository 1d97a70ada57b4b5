//! Text exactly as Python writes it: `repr` of a float and of a string, and the `g` and `.3f` formats.
//!
//! Decisions and alerts are compared word for word with the Python engine's, and their texts
//! embed quantities and ids the way f-strings render them; this is that rendering, once.

use crate::unprintable::UNPRINTABLE;
use std::fmt::Write;

/// The shortest digits that read back as `value`, and the decimal exponent of the first one.
fn shortest_digits(value: f64) -> (String, i32) {
    let text = format!("{:e}", value.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exponent.parse().unwrap_or(0))
}

/// `repr(value)` of a Python float: shortest round-trip digits, exponent form outside 1e-4..1e16.
pub fn float_repr(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0.0");
    }
    let (digits, exponent) = shortest_digits(value);
    let point = exponent + 1; // digits before the decimal point
    let mut out = String::from(sign);
    if point > 16 || point <= -4 {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    } else if point <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-point) as usize));
        out.push_str(&digits);
    } else {
        let point = point as usize;
        if digits.len() <= point {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// `format(value, 'g')`: six significant digits, trailing zeros dropped, exponent form outside 1e-4..1e6.
pub fn format_g(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let sign = if value.is_sign_negative() { "-" } else { "" };
    if value == 0.0 {
        return format!("{sign}0");
    }
    let text = format!("{:.5e}", value.abs());
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::from(sign);
    if (-4..6).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        } else {
            let point = exponent as usize + 1;
            if digits.len() <= point {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
            } else {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            }
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    }
    out
}

/// `format(value, '.3f')`.
pub fn format_fixed3(value: f64) -> String {
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    format!("{value:.3}")
}

/// Whether Python's `str.isprintable` holds for a character: the ASCII rules, then the table of
/// every code point CPython refuses (generated from its Unicode database: `tools/unprintable.py`).
fn printable(c: char) -> bool {
    let code = c as u32;
    if code < 0x80 {
        return (0x20..0x7f).contains(&code);
    }
    let after = UNPRINTABLE.partition_point(|&(start, _)| start <= code);
    after == 0 || UNPRINTABLE[after - 1].1 < code
}

/// `repr(text)` of a Python string: quoted, with Python's escapes.
pub fn str_repr(text: &str) -> String {
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if printable(c) => out.push(c),
            c => {
                let code = c as u32;
                let _ = if code < 0x100 {
                    write!(out, "\\x{code:02x}")
                } else if code < 0x10000 {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
    out
}

/// `repr()` of an optional string: `None` when absent.
pub fn opt_repr(text: Option<&str>) -> String {
    text.map_or_else(|| "None".into(), str_repr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_reprs() {
        let cases = [
            (1.5, "1.5"),
            (5.0, "5.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (15.200000000000001, "15.200000000000001"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (-0.0, "-0.0"),
            (123456789.125, "123456789.125"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for (value, text) in cases {
            assert_eq!(float_repr(value), text, "{value:e}");
        }
    }

    #[test]
    fn g_formats() {
        let cases = [
            (5.0, "5"),
            (0.5, "0.5"),
            (2.0, "2"),
            (120.0, "120"),
            (1234567.0, "1.23457e+06"),
            (10_000_000.0, "1e+07"),
            (0.00012, "0.00012"),
            (0.000012, "1.2e-05"),
            (7.5, "7.5"),
            (123456.0, "123456"),
            (999999.5, "1e+06"),
            (-0.0, "-0"),
            (0.3333333333, "0.333333"),
        ];
        for (value, text) in cases {
            assert_eq!(format_g(value), text, "{value:e}");
        }
    }

    #[test]
    fn fixed3_rounds_as_python() {
        assert_eq!(format_fixed3(0.0625), "0.062");
        assert_eq!(format_fixed3(1.0005), "1.000"); // 1.000499999... in binary
        assert_eq!(format_fixed3(2000.0), "2000.000");
        assert_eq!(format_fixed3(-0.0), "-0.000");
    }

    #[test]
    fn string_reprs() {
        assert_eq!(str_repr("G1-L0"), "'G1-L0'");
        assert_eq!(str_repr("it's"), "\"it's\"");
        assert_eq!(str_repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(str_repr("tab\there\n"), "'tab\\there\\n'");
        assert_eq!(str_repr("\u{7f}\u{1}é\u{a0}"), "'\\x7f\\x01é\\xa0'");
        // Unassigned in Unicode 14 (Python 3.11), beside an assigned Khitan character; a private-use one.
        assert_eq!(str_repr("\u{18cd5}\u{18cd6}"), "'\u{18cd5}\\U00018cd6'");
        assert_eq!(str_repr("\u{e000}\u{10ffff}"), "'\\ue000\\U0010ffff'");
        assert_eq!(opt_repr(None), "None");
    }
}
