//! Quantities and prices as Python holds them: an integer stays an integer, a float a float.
//!
//! The Python engine keeps whatever number an event carried and computes with Python's rules
//! (int + int is an int, anything with a float is a float, `5 == 5.0`), and its texts show the
//! difference (`cum_qty 5` against `cum_qty 5.0`). `Num` keeps that distinction so both engines
//! say the same words.

use std::cmp::Ordering;
use std::fmt;

use crate::pyfmt;

/// A number from an event: an integer or a float, compared and added as Python does.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    pub const ZERO: Num = Num::Int(0);

    pub fn as_f64(self) -> f64 {
        match self {
            Num::Int(value) => value as f64,
            Num::Float(value) => value,
        }
    }

    /// Python truthiness: nonzero.
    pub fn is_truthy(self) -> bool {
        match self {
            Num::Int(value) => value != 0,
            Num::Float(value) => value != 0.0,
        }
    }

    /// `value or 0`: a zero of either kind becomes the integer 0, as Python's `or` gives.
    pub fn or_zero(value: Option<Num>) -> Num {
        match value {
            Some(num) if num.is_truthy() => num,
            _ => Num::ZERO,
        }
    }

    pub fn abs(self) -> Num {
        match self {
            Num::Int(value) => value
                .checked_abs()
                .map_or(Num::Float((value as f64).abs()), Num::Int),
            Num::Float(value) => Num::Float(value.abs()),
        }
    }

    /// `format(value, 'g')`.
    pub fn format_g(self) -> String {
        pyfmt::format_g(self.as_f64())
    }

    /// The value as canonical bytes for hashing: equal numbers (5 and 5.0) give equal bytes.
    pub fn canonical(self) -> (u8, u64) {
        match self {
            Num::Int(value) => (b'i', value as u64),
            Num::Float(value) => {
                const I64_RANGE: std::ops::Range<f64> =
                    -9.223_372_036_854_776e18..9.223_372_036_854_776e18;
                if value.fract() == 0.0 && I64_RANGE.contains(&value) {
                    (b'i', (value as i64) as u64)
                } else {
                    (b'f', value.to_bits())
                }
            }
        }
    }
}

impl From<i64> for Num {
    fn from(value: i64) -> Self {
        Num::Int(value)
    }
}

impl std::ops::Add for Num {
    type Output = Num;
    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a
                .checked_add(b)
                .map_or(Num::Float(a as f64 + b as f64), Num::Int),
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        }
    }
}

impl std::ops::Sub for Num {
    type Output = Num;
    fn sub(self, other: Num) -> Num {
        match (self, other) {
            (Num::Int(a), Num::Int(b)) => a
                .checked_sub(b)
                .map_or(Num::Float(a as f64 - b as f64), Num::Int),
            (a, b) => Num::Float(a.as_f64() - b.as_f64()),
        }
    }
}

impl PartialEq for Num {
    fn eq(&self, other: &Num) -> bool {
        self.partial_cmp(other) == Some(Ordering::Equal)
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<Ordering> {
        match (*self, *other) {
            (Num::Int(a), Num::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }
}

impl PartialEq<f64> for Num {
    fn eq(&self, other: &f64) -> bool {
        self.as_f64() == *other
    }
}

impl PartialOrd<f64> for Num {
    fn partial_cmp(&self, other: &f64) -> Option<Ordering> {
        self.as_f64().partial_cmp(other)
    }
}

/// `str(value)` in Python: digits for an int, `repr` for a float.
impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Num::Int(value) => write!(f, "{value}"),
            Num::Float(value) => f.write_str(&pyfmt::float_repr(*value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_arithmetic_and_words() {
        assert_eq!((Num::Int(2) + Num::Int(3)).to_string(), "5");
        assert_eq!((Num::Int(2) + Num::Float(3.0)).to_string(), "5.0");
        assert_eq!(
            (Num::Float(11.8) + Num::Float(3.4)).to_string(),
            "15.200000000000001"
        );
        assert_eq!(Num::Int(5), Num::Float(5.0));
        assert!(Num::Int(5) < Num::Float(5.5));
        assert_eq!(Num::or_zero(Some(Num::Float(0.0))).to_string(), "0");
        assert_eq!(Num::or_zero(None).to_string(), "0");
        assert_eq!(Num::Int(5).canonical(), Num::Float(5.0).canonical());
        assert_ne!(Num::Int(5).canonical(), Num::Float(5.5).canonical());
        assert_eq!(Num::Float(-0.0).canonical(), Num::Int(0).canonical());
    }
}
