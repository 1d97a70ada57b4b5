//! The event screen: a canonical event is valid or gets a reason naming the field, worded exactly
//! as `safeguards.events.validate_event` words it. Never panics, whatever it is given.

use std::borrow::Cow;

use crate::event::{Checked, Event, EventType, Field, Kind, Source, TextBuffers};
use crate::num::Num;
use crate::pyfmt::{float_repr, str_repr};
use crate::timestamp::{TimestampError, parse_rfc3339};

/// One field's value as it came in, before any check (the binding's view of a Python value).
/// Texts are borrowed from the input where they can be: the screen copies a valid one once, into
/// the event's buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    /// Absent or null: counts as absent.
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits, as its decimal digits.
    BigInt(Cow<'a, str>),
    Float(f64),
    Str(Cow<'a, str>),
    /// Any other value, by its type's name (a list, a dict, a str subclass...).
    Other(Cow<'a, str>),
}

impl Raw<'_> {
    /// Python's `type(value).__name__`.
    pub fn type_name(&self) -> &str {
        match self {
            Raw::None => "NoneType",
            Raw::Bool(_) => "bool",
            Raw::Int(_) | Raw::BigInt(_) => "int",
            Raw::Float(_) => "float",
            Raw::Str(_) => "str",
            Raw::Other(name) => name,
        }
    }
}

/// Check one event given as its canonical fields in the order they came (unknown fields left out).
pub fn screen(items: &[(Field, Raw<'_>)]) -> Result<Event, String> {
    let mut event = Event::new(EventType::Intent, 0);
    screen_into(items, &mut event, &mut TextBuffers::default())?;
    Ok(event)
}

/// One event screened into again and again (the binding's calls, the sidecar's lines), its texts
/// into buffers it keeps: once they have grown, reading an event allocates nothing.
#[derive(Debug)]
pub struct ReusedEvent {
    event: Event,
    spare: TextBuffers,
}

impl Default for ReusedEvent {
    fn default() -> Self {
        ReusedEvent {
            event: Event::new(EventType::Intent, 0),
            spare: TextBuffers::default(),
        }
    }
}

impl ReusedEvent {
    /// [`screen`] into the reused event: the valid event, or the reason.
    pub fn screen(&mut self, items: &[(Field, Raw<'_>)]) -> Result<&Event, String> {
        screen_into(items, &mut self.event, &mut self.spare)?;
        Ok(&self.event)
    }
}

/// [`screen`] into `event`, its texts into kept buffers (`spare`). On an error the event is left
/// part-filled, not to be decided.
fn screen_into(
    items: &[(Field, Raw<'_>)],
    event: &mut Event,
    spare: &mut TextBuffers,
) -> Result<(), String> {
    let find = |wanted: Field| {
        items
            .iter()
            .find(|(field, value)| *field == wanted && *value != Raw::None)
            .map(|(_, value)| value)
    };
    let Some(source) = find(Field::Source) else {
        return Err("missing field 'source'".into());
    };
    let Some(kind) = find(Field::Type) else {
        return Err("missing field 'type'".into());
    };
    let Raw::Str(source) = source else {
        return Err(format!(
            "field 'source': expected a string, got {}",
            source.type_name()
        ));
    };
    let Raw::Str(kind) = kind else {
        return Err(format!(
            "field 'type': expected a string, got {}",
            kind.type_name()
        ));
    };
    let kind = match (Source::from_name(source), EventType::from_name(kind)) {
        (Some(known), Some(event_type)) if event_type.source() == known => event_type,
        (None, _) => {
            return Err(format!(
                "field 'source': unknown source {} (expected one of: broker, local, market)",
                str_repr(source)
            ));
        }
        (Some(known), _) => {
            let names: Vec<&str> = known.types().iter().map(|t| t.name()).collect();
            return Err(format!(
                "field 'type': unknown type {} for source {} (expected one of: {})",
                str_repr(kind),
                str_repr(source),
                names.join(", ")
            ));
        }
    };
    // Each value checked in the order it came (the first bad one is the reason), set as it passes.
    event.clear_for(kind, spare);
    let mut present = 0u32;
    for (field, value) in items {
        if *value == Raw::None {
            continue;
        }
        event.set(*field, check_value(*field, value)?, spare);
        present |= field.bit();
    }
    let source = kind.source();
    if let Some(missing) = kind
        .required()
        .iter()
        .find(|field| present & field.bit() == 0)
    {
        return Err(format!(
            "missing field {} (required for {} {})",
            str_repr(missing.name()),
            source.name(),
            kind.name()
        ));
    }
    if kind == EventType::Intent
        && event.role == Some(crate::event::Role::Hedge)
        && event.parent_id.is_none()
    {
        return Err("missing field 'parent_id' (required for hedge intents)".into());
    }
    Ok(())
}

/// A field name as Python's `repr` shows it (field names are plain ASCII: quoted as they are).
struct Quoted(&'static str);

impl std::fmt::Display for Quoted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "'{}'", self.0)
    }
}

fn wrong_kind(field: Field, value: &Raw) -> String {
    format!(
        "field {}: expected {}, got {}",
        str_repr(field.name()),
        field.kind().words(),
        value.type_name()
    )
}

fn check_value<'a>(field: Field, value: &'a Raw<'_>) -> Result<Checked<'a>, String> {
    // The quoted field name, only when a reason needs it (rare: never for a valid event).
    let name = Quoted(field.name());
    match (field.kind(), value) {
        (Kind::Str, Raw::Str(text)) => {
            if let Some(choices) = field.choices()
                && !choices.contains(&text.as_ref())
            {
                return Err(format!("field {name}: {} is not one of {}", str_repr(text), choices.join(", ")));
            }
            Ok(Checked::Str(text))
        }
        (Kind::Number, &Raw::Float(number)) => {
            if !number.is_finite() {
                return Err(format!("field {name}: {} is not a finite number", float_repr(number)));
            }
            if number < 0.0 && field.is_quantity() {
                return Err(format!("field {name}: negative quantity {}", float_repr(number)));
            }
            Ok(Checked::Num(Num::Float(number)))
        }
        (Kind::Number, &Raw::Int(number)) => {
            if number < 0 && field.is_quantity() {
                return Err(format!("field {name}: negative quantity {number}"));
            }
            Ok(Checked::Num(Num::Int(number)))
        }
        (Kind::Number, Raw::BigInt(digits)) => {
            if digits.starts_with('-') && field.is_quantity() {
                return Err(format!("field {name}: negative quantity {digits}"));
            }
            // Beyond 64 bits a quantity is held as the nearest float (Python keeps the exact int).
            Ok(Checked::Num(Num::Float(digits.parse().unwrap_or(f64::INFINITY))))
        }
        (Kind::Timestamp | Kind::Int, &Raw::Int(number)) => Ok(Checked::Int(number)),
        (Kind::Timestamp | Kind::Int, Raw::BigInt(digits)) => {
            Err(format!("field {name}: {digits} is outside the 64-bit integer range"))
        }
        (Kind::Timestamp, Raw::Str(text)) => match parse_rfc3339(text) {
            Ok(nanos) => i64::try_from(nanos).map(Checked::Int).map_err(|_| {
                format!(
                    "field {name}: outside the range of nanosecond timestamps (years 1677 to 2262): {}",
                    str_repr(text)
                )
            }),
            Err(error) => Err(format!("field {name}: {}", timestamp_error(&error, text))),
        },
        (Kind::Bool, &Raw::Bool(flag)) => Ok(Checked::Bool(flag)),
        (_, value) => Err(wrong_kind(field, value)),
    }
}

/// The words of `parse_timestamp`'s error for a text that is not a timestamp.
pub fn timestamp_error(error: &TimestampError, text: &str) -> String {
    match error {
        TimestampError::NotRfc3339 => {
            format!(
                "not an RFC 3339 UTC timestamp (e.g. 2026-02-21T14:30:00.123456Z): {}",
                str_repr(text)
            )
        }
        TimestampError::InvalidDateTime(why) => {
            format!("not a valid date and time: {} ({why})", str_repr(text))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Raw<'_> {
        Raw::Str(text.into())
    }

    fn quote() -> Vec<(Field, Raw<'static>)> {
        vec![
            (Field::Source, s("market")),
            (Field::Type, s("quote")),
            (Field::Symbol, s("SPX")),
            (Field::BidPx, Raw::Float(1.2)),
            (Field::BidQty, Raw::Int(10)),
            (Field::AskPx, Raw::Float(1.3)),
            (Field::AskQty, Raw::Int(10)),
            (Field::BrokerTs, s("2026-02-21T14:30:00Z")),
            (Field::RecvTs, Raw::Int(1_771_684_200_000_000_000)),
        ]
    }

    #[test]
    fn an_event_screened_into_a_reused_one_is_the_event_screened_afresh() {
        let intent = vec![
            (Field::Source, s("local")),
            (Field::Type, s("intent")),
            (Field::EventId, s("e-1")),
            (Field::Account, s("desk")),
            (Field::OrderId, s("o-1")),
            (Field::GroupId, s("g-1")),
            (Field::Leg, s("call")),
            (Field::Role, s("hedge")),
            (Field::ParentId, s("o-0")),
            (Field::Symbol, s("SPX 260320C05000000")),
            (Field::Side, s("buy")),
            (Field::Qty, Raw::Int(3)),
            (Field::RecvTs, Raw::Int(5)),
        ];
        let fill = vec![
            (Field::Source, s("broker")),
            (Field::Type, s("fill")),
            (Field::EventId, s("x-much-longer-than-the-last-one")),
            (Field::OrderId, s("o")),
            (Field::LastQty, Raw::Float(1.5)),
            (Field::BrokerTs, Raw::Int(4)),
            (Field::RecvTs, Raw::Int(6)),
        ];
        let bad = vec![(Field::Source, s("broker")), (Field::Type, s("fill"))];
        let mut reused = ReusedEvent::default();
        // Every order of the three, twice over: what an earlier event left must never show.
        for items in [
            &intent,
            &fill,
            &quote(),
            &bad,
            &fill,
            &intent,
            &quote(),
            &intent,
        ] {
            let fresh = screen(items);
            let into = reused.screen(items).map(|event| format!("{event:?}"));
            match (fresh, into) {
                (Ok(fresh), Ok(into)) => assert_eq!(into, format!("{fresh:?}")),
                (Err(fresh), Err(into)) => assert_eq!(into, fresh),
                (fresh, into) => panic!("fresh {fresh:?}, reused {into:?}"),
            }
        }
    }

    #[test]
    fn the_text_buffers_hold_every_free_text_field() {
        let mut event = Event::new(EventType::Intent, 0);
        let held: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|field| event.text_mut(*field).is_some())
            .collect();
        assert_eq!(held, TextBuffers::FIELDS);
    }

    #[test]
    fn a_valid_quote_is_typed() {
        let event = screen(&quote()).expect("valid");
        assert_eq!(event.kind, EventType::Quote);
        assert_eq!(event.broker_ts, Some(1_771_684_200_000_000_000));
        assert_eq!(event.bid_qty, Some(Num::Int(10)));
    }

    #[test]
    fn reasons_name_the_field_as_python_does() {
        let with = |field: Field, value: Raw| {
            let mut items = quote();
            items.retain(|(f, _)| *f != field);
            items.push((field, value));
            screen(&items).expect_err("invalid")
        };
        assert_eq!(
            with(Field::BidQty, Raw::Int(-1)),
            "field 'bid_qty': negative quantity -1"
        );
        assert_eq!(
            with(Field::BidQty, Raw::Float(f64::NAN)),
            "field 'bid_qty': nan is not a finite number"
        );
        assert_eq!(
            with(Field::Symbol, Raw::Int(3)),
            "field 'symbol': expected a string, got int"
        );
        assert_eq!(
            with(Field::RecvTs, Raw::None),
            "missing field 'recv_ts' (required for market quote)"
        );
        assert_eq!(
            with(Field::BrokerTs, s("2026-02-30T10:00:00Z")),
            "field 'broker_ts': not a valid date and time: '2026-02-30T10:00:00Z' (day is out of range for month)"
        );
        assert_eq!(
            with(Field::Source, s("venue")),
            "field 'source': unknown source 'venue' (expected one of: broker, local, market)"
        );
        assert_eq!(
            with(Field::Type, s("teleport")),
            "field 'type': unknown type 'teleport' for source 'market' (expected one of: quote)"
        );
        assert_eq!(
            with(Field::Side, s("short")),
            "field 'side': 'short' is not one of buy, sell"
        );
    }

    #[test]
    fn a_hedge_intent_needs_its_parent() {
        let items = vec![
            (Field::Source, s("local")),
            (Field::Type, s("intent")),
            (Field::OrderId, s("H1")),
            (Field::GroupId, s("G1")),
            (Field::Role, s("hedge")),
            (Field::Symbol, s("SPX")),
            (Field::Side, s("buy")),
            (Field::Qty, Raw::Int(1)),
            (Field::RecvTs, Raw::Int(5)),
        ];
        assert_eq!(
            screen(&items).expect_err("no parent"),
            "missing field 'parent_id' (required for hedge intents)"
        );
    }
}
