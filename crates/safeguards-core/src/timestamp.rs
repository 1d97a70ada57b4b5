//! Timestamps: RFC 3339 text or integer nanoseconds, read and written exactly as
//! `safeguards.events.parse_timestamp` and `format_timestamp` do.

use std::fmt::Write;

/// Nanoseconds in a second.
pub const SECOND: i64 = 1_000_000_000;

/// Why a text is not a timestamp: the words of `safeguards.events.parse_timestamp`'s errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimestampError {
    /// The text does not have the RFC 3339 shape (date, time, optional fraction, zone).
    NotRfc3339,
    /// The shape is right but the date or time is not a real one; the text says which part.
    InvalidDateTime(&'static str),
}

/// Read an RFC 3339 timestamp with an explicit zone; nanoseconds since the epoch (UTC).
///
/// Wide (`i128`) because a valid text may lie outside the 64-bit range: the event screen words that
/// separately. Accepts what Python's `re` pattern accepts, including one trailing newline (`$`).
pub fn parse_rfc3339(text: &str) -> Result<i128, TimestampError> {
    let text = text.strip_suffix('\n').unwrap_or(text);
    let b = text.as_bytes();
    // YYYY-MM-DD[Tt ]HH:MM:SS
    if b.len() < 20 {
        return Err(TimestampError::NotRfc3339);
    }
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let mut value = 0i64;
        for &c in &b[range] {
            if !c.is_ascii_digit() {
                return None;
            }
            value = value * 10 + i64::from(c - b'0');
        }
        Some(value)
    };
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't' | b' ')
        && b[13] == b':'
        && b[16] == b':';
    let fields = (
        digits(0..4),
        digits(5..7),
        digits(8..10),
        digits(11..13),
        digits(14..16),
        digits(17..19),
    );
    let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second)) = fields
    else {
        return Err(TimestampError::NotRfc3339);
    };
    if !shape {
        return Err(TimestampError::NotRfc3339);
    }
    let mut at = 19;
    let mut nanos = 0i64;
    if b[at] == b'.' {
        let start = at + 1;
        let mut end = start;
        while end < b.len() && b[end].is_ascii_digit() {
            end += 1;
        }
        let count = end - start;
        if count == 0 || count > 9 {
            return Err(TimestampError::NotRfc3339);
        }
        nanos = digits(start..end).unwrap_or(0) * 10i64.pow((9 - count) as u32);
        at = end;
    }
    let zone = &b[at..];
    let offset_seconds = match zone {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()) =>
        {
            let hours = i64::from((h1 - b'0') * 10 + (h2 - b'0'));
            let minutes = i64::from((m1 - b'0') * 10 + (m2 - b'0'));
            let magnitude = hours * 3600 + minutes * 60;
            if *sign == b'+' { magnitude } else { -magnitude }
        }
        _ => return Err(TimestampError::NotRfc3339),
    };
    // The checks and their order are those of Python's datetime constructor.
    if year < 1 {
        return Err(TimestampError::InvalidDateTime("year 0 is out of range"));
    }
    if !(1..=12).contains(&month) {
        return Err(TimestampError::InvalidDateTime("month must be in 1..12"));
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(TimestampError::InvalidDateTime(
            "day is out of range for month",
        ));
    }
    if hour > 23 {
        return Err(TimestampError::InvalidDateTime("hour must be in 0..23"));
    }
    if minute > 59 {
        return Err(TimestampError::InvalidDateTime("minute must be in 0..59"));
    }
    if second > 59 {
        return Err(TimestampError::InvalidDateTime("second must be in 0..59"));
    }
    let seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_seconds;
    Ok(i128::from(seconds) * i128::from(SECOND) + i128::from(nanos))
}

/// Nanoseconds since the epoch as the canonical text: UTC, nine fraction digits, `Z`.
pub fn format_timestamp(nanos: i64) -> String {
    let seconds = nanos.div_euclid(SECOND);
    let fraction = nanos.rem_euclid(SECOND);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(30);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:09}Z",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    );
    out
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_spellings_python_reads() {
        assert_eq!(
            parse_rfc3339("2026-02-01T00:00:00Z"),
            Ok(1_769_904_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-01T00:00:00Z\n"),
            Ok(1_769_904_000_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-01t00:00:00.5z"),
            Ok(1_769_904_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2026-02-01 01:00:00.000000001+01:00"),
            Ok(1_769_904_000_000_000_001)
        );
        assert_eq!(
            parse_rfc3339("2026-02-01T00:00:00+99:99"),
            Ok(1_769_541_660_000_000_000)
        );
        assert_eq!(
            parse_rfc3339("9999-12-31T23:59:59Z"),
            Ok(253_402_300_799_000_000_000)
        );
    }

    #[test]
    fn refuses_in_pythons_words() {
        assert_eq!(
            parse_rfc3339("2026-02-21 14:30:00"),
            Err(TimestampError::NotRfc3339)
        );
        assert_eq!(
            parse_rfc3339("2026-02-01T00:00:00.1234567890Z"),
            Err(TimestampError::NotRfc3339)
        );
        let invalid = |text| match parse_rfc3339(text) {
            Err(TimestampError::InvalidDateTime(why)) => why,
            other => panic!("{other:?}"),
        };
        assert_eq!(invalid("0000-01-01T00:00:00Z"), "year 0 is out of range");
        assert_eq!(invalid("2026-13-01T00:00:00Z"), "month must be in 1..12");
        assert_eq!(
            invalid("2026-02-30T00:00:00Z"),
            "day is out of range for month"
        );
        assert_eq!(
            invalid("2024-02-30T00:00:00Z"),
            "day is out of range for month"
        );
        assert_eq!(invalid("2026-02-01T24:00:00Z"), "hour must be in 0..23");
        assert_eq!(invalid("2026-02-01T23:60:00Z"), "minute must be in 0..59");
        assert_eq!(invalid("2026-02-01T23:00:60Z"), "second must be in 0..59");
    }

    #[test]
    fn formats_as_python_does() {
        assert_eq!(
            format_timestamp(1_771_684_200_123_456_789),
            "2026-02-21T14:30:00.123456789Z"
        );
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999999Z");
        assert_eq!(format_timestamp(i64::MAX), "2262-04-11T23:47:16.854775807Z");
        assert_eq!(format_timestamp(i64::MIN), "1677-09-21T00:12:43.145224192Z");
    }

    #[test]
    fn round_trips() {
        for nanos in [
            0,
            1,
            -1,
            1_771_684_200_000_000_001,
            -5_000_000_000_123,
            i64::MAX,
            i64::MIN,
        ] {
            assert_eq!(
                parse_rfc3339(&format_timestamp(nanos)),
                Ok(i128::from(nanos))
            );
        }
    }
}
