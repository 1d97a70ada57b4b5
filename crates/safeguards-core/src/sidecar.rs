//! The sidecar's hot path (`safeguards run`): a block of input lines in, their answer lines out, as
//! the Python loop answers them (`safeguards.sidecar`): each line read as its Python reads it
//! ([`crate::json_line`]), screened ([`crate::screen`]), decided, and its decision then the alerts
//! it raised written as its Python writes them ([`crate::json_out`]).
//!
//! A line this path does not read ([`Read::Python`]) stops it there: the caller answers that line
//! the Python way, on the same engine, and goes on from the next.

use std::fmt::Write as _;

use crate::decision::{Alert, Outcome, Verdict};
use crate::engine::Engine;
use crate::event::Field;
use crate::json_line::{Read, read_line};
use crate::json_out::{ObjectLine, is_plain, object_line};
use crate::screen::{Raw, ReusedEvent};
use crate::timestamp::format_timestamp;

/// Where answering is in a block: the byte offset of the next line and that line's number (from 1,
/// counted over the run, blank lines included).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub offset: usize,
    pub line: u64,
}

/// Why answering stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// Every line of the block is answered.
    Done,
    /// The line at the cursor is the Python path's (the cursor is left on it).
    Python,
}

/// Answer the lines of `data` from `cursor` on, appending to `out`, until the block ends or a
/// line is the Python path's. Lines end with `\n`; a last line without one (input ended) counts.
/// `identity` is the policy's `name@version#hash12`, which every decision names.
pub fn answer_lines(
    engine: &mut Engine,
    identity: &str,
    data: &[u8],
    cursor: &mut Cursor,
    out: &mut Vec<u8>,
) -> Stop {
    let identity = Identity {
        text: identity,
        plain: is_plain(identity),
    };
    let mut scratch = Scratch::default();
    while cursor.offset < data.len() {
        let rest = &data[cursor.offset..];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(end) => (&rest[..end], cursor.offset + end + 1),
            None => (rest, data.len()),
        };
        match read_line(line) {
            Read::Blank => {}
            Read::Event(fields) => {
                answer_event(engine, &identity, fields, cursor.line, out, &mut scratch);
            }
            Read::Python => return Stop::Python,
        }
        cursor.offset = next;
        cursor.line += 1;
    }
    Stop::Done
}

/// One event's decision line, then its alerts' lines.
fn answer_event(
    engine: &mut Engine,
    identity: &Identity<'_>,
    fields: Vec<(Field, Raw<'static>)>,
    line: u64,
    out: &mut Vec<u8>,
    scratch: &mut Scratch,
) {
    let Scratch {
        reason,
        group,
        event,
    } = scratch;
    match event.screen(&fields) {
        Ok(event) => {
            // The group's text into a kept buffer, as the engine finds it: no copy per event.
            let mut grouped = false;
            let (seq, outcome) = engine.decide_seeing_group(event, |found| {
                group.clear();
                if let Some(found) = found {
                    group.push_str(found);
                    grouped = true;
                }
            });
            reason.clear();
            write!(reason, "{}", outcome.reason).expect("a String takes any text");
            let said = Said::of(&outcome, reason);
            write_decision(out, identity, said, line, |json| {
                json.int("seq", seq);
                json.opt_str("event_id", event.event_id.as_deref());
                json.opt_str("order_id", event.order_id.as_deref());
                json.opt_str("group_id", grouped.then_some(group.as_str()));
            });
        }
        Err(reason) => {
            let ids = Ids::of(&fields); // only for a malformed event: a valid one's ids are not copied
            let arrival = engine.record_invalid();
            write_decision(out, identity, Said::malformed(&reason), line, |json| {
                match &ids.seq {
                    Some(Raw::Int(seq)) => json.int("seq", *seq),
                    Some(Raw::BigInt(digits)) => json.raw("seq", digits),
                    _ => json.int("seq", arrival),
                }
                json.opt_str("event_id", ids.event_id.as_deref());
                json.opt_str("order_id", ids.order_id.as_deref());
                json.opt_str("group_id", ids.group_id.as_deref());
            });
        }
    }
    for alert in engine.pop_alerts() {
        write_alert(out, &alert);
    }
}

/// What answering a block reuses from one event to the next: the reason's and the group's text
/// and the event read into (no allocation per event for them).
#[derive(Default)]
struct Scratch {
    reason: String,
    group: String,
    event: ReusedEvent,
}

/// What a malformed event's decision shows of it: its seq if an int, its ids if strings.
struct Ids {
    seq: Option<Raw<'static>>,
    event_id: Option<String>,
    order_id: Option<String>,
    group_id: Option<String>,
}

impl Ids {
    fn of(fields: &[(Field, Raw<'static>)]) -> Ids {
        let get = |wanted: Field| {
            fields
                .iter()
                .find(|(field, _)| *field == wanted)
                .map(|(_, raw)| raw)
        };
        let text = |wanted: Field| match get(wanted) {
            Some(Raw::Str(text)) => Some(text.to_string()),
            _ => None,
        };
        Ids {
            seq: get(Field::Seq)
                .filter(|raw| matches!(raw, Raw::Int(_) | Raw::BigInt(_)))
                .cloned(),
            event_id: text(Field::EventId),
            order_id: text(Field::OrderId),
            group_id: text(Field::GroupId),
        }
    }
}

/// The policy's `name@version#hash12` as every decision names it, and whether it is written as it is.
struct Identity<'a> {
    text: &'a str,
    plain: bool,
}

/// What a decision line says besides the event's part.
struct Said<'a> {
    verdict: Verdict,
    guard: &'a str,
    rule: Option<&'a str>,
    reason: &'a str,
}

impl<'a> Said<'a> {
    fn of(outcome: &'a Outcome, reason: &'a str) -> Said<'a> {
        Said {
            verdict: outcome.verdict,
            guard: outcome.guard.name(),
            rule: outcome.rule.as_ref().map(|rule| rule.as_str()),
            reason,
        }
    }

    /// The screen's `invalid`, as `Engine.invalid` words it.
    fn malformed(reason: &'a str) -> Said<'a> {
        Said {
            verdict: Verdict::Invalid,
            guard: "schema",
            rule: Some("canonical_event"),
            reason,
        }
    }
}

/// A decision line: `type`, the event's part (`ids`), the outcome, the policy; an `invalid` one
/// names its line in its reason and in a last field, as the Python loop adds them.
fn write_decision(
    out: &mut Vec<u8>,
    identity: &Identity<'_>,
    said: Said<'_>,
    line: u64,
    ids: impl Fn(&mut ObjectLine<'_>),
) {
    let invalid = said.verdict == Verdict::Invalid;
    let numbered;
    let reason = if invalid {
        numbered = format!("line {line}: {}", said.reason);
        &numbered
    } else {
        said.reason
    };
    object_line(out, |json| {
        json.plain_str("type", "decision");
        ids(json);
        json.plain_str("verdict", said.verdict.name());
        json.plain_str("guard", said.guard);
        json.opt_str("rule", said.rule);
        json.str("reason", reason);
        if identity.plain {
            json.plain_str("policy", identity.text);
        } else {
            json.str("policy", identity.text);
        }
        if invalid {
            json.int("line", i64::try_from(line).unwrap_or(i64::MAX));
        }
    });
}

/// An alert line, its fields in the order of the engine's alert dicts.
pub fn write_alert(out: &mut Vec<u8>, alert: &Alert) {
    let broker_ts = alert.broker_ts.map(format_timestamp);
    object_line(out, |json| {
        json.plain_str("type", "alert");
        json.plain_str("kind", alert.kind.name());
        json.plain_str("severity", alert.severity.name());
        json.plain_str("guard", alert.guard.name());
        json.opt_int("seq", alert.seq);
        json.opt_str("order_id", alert.order_id.as_deref());
        json.opt_str("group_id", alert.group_id.as_deref());
        json.opt_str("broker_ts", broker_ts.as_deref());
        json.str("detail", &alert.detail);
    });
}

/// A journaled block's records as the journal seals them (`safeguards.journal.records.encode_raw`):
/// each event line kept as received, its closing brace dropped, `,"seq":N` added when it has no
/// `seq` (N its arrival, counted on from `arrival`), then `,"journal_crc":"%08x"}` and a newline,
/// the CRC-32 being that of the text before it. Blank lines are skipped. How many records were
/// sealed, or `None` when a line needs the journal's Python path (a line this reader leaves to
/// Python, one with outer whitespace or a CR, `"seq": null`, or a `source` claiming the journal's
/// own `control`): the caller journals the whole block that way instead, and `out` is left as it was.
pub fn seal_lines(data: &[u8], arrival: u64, out: &mut Vec<u8>) -> Option<u64> {
    let start = out.len();
    let sealed = seal_each(data, arrival, out);
    if sealed.is_none() {
        out.truncate(start);
    }
    sealed
}

fn seal_each(data: &[u8], arrival: u64, out: &mut Vec<u8>) -> Option<u64> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut count = 0;
    for line in body.split(|&byte| byte == b'\n') {
        let fields = match read_line(line) {
            Read::Blank => continue,
            Read::Python => return None,
            Read::Event(fields) => fields,
        };
        let (Some(b'{'), Some(b'}')) = (line.first(), line.last()) else {
            return None;
        };
        if memchr::memchr(b'\r', line).is_some() {
            return None;
        }
        let field = |wanted: Field| {
            fields
                .iter()
                .find(|(field, _)| *field == wanted)
                .map(|(_, raw)| raw)
        };
        if matches!(field(Field::Source), Some(Raw::Str(source)) if source == "control") {
            return None;
        }
        count += 1;
        let record = out.len();
        out.extend_from_slice(&line[..line.len() - 1]);
        match field(Field::Seq) {
            None => {
                write!(Bytes(out), ",\"seq\":{}", arrival + count).expect("a Vec takes any text");
            }
            Some(Raw::None) => return None,
            Some(_) => {}
        }
        let crc = crc32(&out[record..]);
        writeln!(Bytes(out), ",\"journal_crc\":\"{crc:08x}\"}}").expect("a Vec takes any text");
    }
    Some(count)
}

/// `fmt::Write` into bytes.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        self.0.extend_from_slice(text.as_bytes());
        Ok(())
    }
}

/// CRC-32 as zlib computes it (`zlib.crc32`: IEEE, reflected), eight bytes at a time.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let low = crc ^ u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        crc = CRC_TABLES[7][(low & 0xff) as usize]
            ^ CRC_TABLES[6][((low >> 8) & 0xff) as usize]
            ^ CRC_TABLES[5][((low >> 16) & 0xff) as usize]
            ^ CRC_TABLES[4][(low >> 24) as usize]
            ^ CRC_TABLES[3][usize::from(chunk[4])]
            ^ CRC_TABLES[2][usize::from(chunk[5])]
            ^ CRC_TABLES[1][usize::from(chunk[6])]
            ^ CRC_TABLES[0][usize::from(chunk[7])];
    }
    for &byte in chunks.remainder() {
        crc = CRC_TABLES[0][((crc ^ u32::from(byte)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLES: [[u32; 256]; 8] = {
    let mut tables = [[0u32; 256]; 8];
    let mut index = 0;
    while index < 256 {
        let mut crc = index as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        tables[0][index] = crc;
        index += 1;
    }
    let mut table = 1;
    while table < 8 {
        let mut index = 0;
        while index < 256 {
            let previous = tables[table - 1][index];
            tables[table][index] = (previous >> 8) ^ tables[0][(previous & 0xff) as usize];
            index += 1;
        }
        table += 1;
    }
    tables
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn lines_are_sealed_as_the_journal_seals_them() {
        let mut out = b"kept".to_vec();
        let block =
            b"{\"source\":\"local\",\"type\":\"submit\"}\n  \n{\"seq\":7,\"a\":1}\n{\"b\":2}";
        assert_eq!(seal_lines(block, 10, &mut out), Some(3));
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text["kept".len()..].lines().collect();
        let first = "{\"source\":\"local\",\"type\":\"submit\",\"seq\":11";
        assert_eq!(
            lines[0],
            format!(
                "{first},\"journal_crc\":\"{:08x}\"}}",
                crc32(first.as_bytes())
            )
        );
        assert!(lines[1].starts_with("{\"seq\":7,\"a\":1,\"journal_crc\":\""));
        assert!(lines[2].starts_with("{\"b\":2,\"seq\":13,\"journal_crc\":\""));
    }

    #[test]
    fn what_the_journal_reencodes_is_left_to_it() {
        for block in [
            &b"{\"a\":1}\n{\"seq\":null}\n"[..],
            b" {\"a\":1}",
            b"{\"a\":1}\r",
            b"{\"source\":\"control\",\"type\":\"advance\"}",
            b"{\"a\":NaN}",
            b"{}",
        ] {
            let mut out = b"kept".to_vec();
            assert_eq!(seal_lines(block, 0, &mut out), None, "{block:?}");
            assert_eq!(out, b"kept");
        }
    }
}
