//! The backtest's columnar path: stored events in as Arrow columns, decisions and alerts out as Arrow columns.
//!
//! A batch is laid out as the store's reader selects it: one column per canonical field (timestamps as
//! int64 ns, closed sets as dictionaries), then `extra` (JSON text of the fields ingest kept beside the
//! canonical ones) and `ingest_id` (the event's log). Each row is decided exactly as the per-event path
//! decides the dict the reader would make of it (`screen`, then [`Engine::decide`], or
//! [`Engine::unprocessable`] when the screen refuses it): same phases, same decision, same alerts. A row
//! that plainly passes the screen (the store screened it on ingest) is typed straight from the columns,
//! reusing one event's buffers; any other row (a canonical field kept in `extra`, a value the screen
//! refuses, a column of another type than the store's) goes through the screen itself, so its words are
//! the screen's.
//!
//! Each run of rows from one log is one broker session ([`Engine::use_session`] with that log's traits),
//! and its alerts are that log's. Decisions come back as columns: `seq`, `event_id`, `order_id`,
//! `group_id`, then `verdict`, `guard`, `rule` and `reason` dictionary-encoded, each distinct reason
//! rendered once per batch. Alerts come back as columns too.

use std::collections::HashMap;

use crate::fastmap::FastMap;
use std::sync::Arc;

use arrow_array::builder::{Int32Builder, Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    LargeStringArray, RecordBatch, StringArray, StringViewArray,
};
use arrow_buffer::NullBuffer;
use arrow_schema::{ArrowError, DataType, Field as ArrowField, Schema, SchemaRef};
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

use crate::decision::{Alert, Outcome, ReasonKey, RuleKey};
use crate::engine::Engine;
use crate::event::{Event, EventType, Field, Kind, Role, Side, Source, TextBuffers};
use crate::num::Num;
use crate::pyfmt::{float_repr, str_repr};
use crate::screen::{Raw, screen};
use crate::session::{SessionKey, Traits};
use crate::timestamp::format_timestamp;

/// A batch the columnar path cannot read: which column or row, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnError(pub String);

impl std::fmt::Display for ColumnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ColumnError {}

impl From<ArrowError> for ColumnError {
    fn from(error: ArrowError) -> Self {
        ColumnError(format!("cannot build the decision columns: {error}"))
    }
}

/// One batch's decisions (a row per event, in order) and the alerts raised while deciding it.
#[derive(Debug, Clone)]
pub struct Decided {
    pub decisions: RecordBatch,
    pub alerts: RecordBatch,
}

/// Decide every row of `events`; `logs` gives each log's traits (a log not listed is a live stream's).
pub fn decide_columns(
    engine: &mut Engine,
    events: &RecordBatch,
    logs: &HashMap<i64, Traits>,
) -> Result<Decided, ColumnError> {
    let columns = Columns::read(events)?;
    let rows = events.num_rows();
    let mut out = Out::new(rows, columns.extra.is_some());
    let mut alerts = Alerts::default();
    let mut event = Event::new(EventType::Quote, 0);
    let mut spare = TextBuffers::default();
    let mut start = 0;
    while start < rows {
        let log = columns.log(start);
        let mut stop = start + 1;
        while stop < rows && columns.log(stop) == log {
            stop += 1;
        }
        if let Some(log) = log {
            let traits = logs.get(&log).copied().unwrap_or_default();
            engine.use_session(&SessionKey::Int(log), traits);
        }
        for row in start..stop {
            columns.decide_row(engine, row, &mut event, &mut spare, &mut out)?;
        }
        alerts.extend(engine.pop_alerts(), log);
        start = stop;
    }
    Ok(Decided {
        decisions: out.finish(events)?,
        alerts: alerts.finish()?,
    })
}

// --- reading -------------------------------------------------------------------------

/// A text column in any of Arrow's string layouts, dictionary-encoded or not.
struct Texts<'a> {
    values: TextValues<'a>,
    /// A dictionary's keys, per row.
    keys: Option<Vec<usize>>,
    nulls: Option<NullBuffer>,
}

enum TextValues<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> TextValues<'a> {
    fn of(array: &'a dyn Array) -> Option<TextValues<'a>> {
        match array.data_type() {
            DataType::Utf8 => Some(TextValues::Utf8(array.as_string::<i32>())),
            DataType::LargeUtf8 => Some(TextValues::Large(array.as_string::<i64>())),
            DataType::Utf8View => Some(TextValues::View(array.as_string_view())),
            _ => None,
        }
    }

    fn get(&self, index: usize) -> &'a str {
        match self {
            TextValues::Utf8(array) => array.value(index),
            TextValues::Large(array) => array.value(index),
            TextValues::View(array) => array.value(index),
        }
    }

    fn len(&self) -> usize {
        match self {
            TextValues::Utf8(array) => array.len(),
            TextValues::Large(array) => array.len(),
            TextValues::View(array) => array.len(),
        }
    }

    fn is_null(&self, index: usize) -> bool {
        match self {
            TextValues::Utf8(array) => array.is_null(index),
            TextValues::Large(array) => array.is_null(index),
            TextValues::View(array) => array.is_null(index),
        }
    }
}

impl<'a> Texts<'a> {
    fn of(array: &'a dyn Array) -> Option<Texts<'a>> {
        if let Some(values) = TextValues::of(array) {
            return Some(Texts {
                values,
                keys: None,
                nulls: array.logical_nulls(),
            });
        }
        let dictionary = array.as_any_dictionary_opt()?;
        let values = TextValues::of(dictionary.values().as_ref())?;
        let keys = dictionary.normalized_keys();
        // A key pointing at a null value is a null row, as pyarrow reads it.
        let mut nulls = array.logical_nulls();
        if (0..values.len()).any(|index| values.is_null(index)) {
            let valid: Vec<bool> = (0..keys.len())
                .map(|row| {
                    nulls.as_ref().is_none_or(|n| n.is_valid(row)) && !values.is_null(keys[row])
                })
                .collect();
            nulls = Some(NullBuffer::from(valid));
        }
        Some(Texts {
            values,
            keys: Some(keys),
            nulls,
        })
    }

    fn is_null(&self, row: usize) -> bool {
        self.nulls.as_ref().is_some_and(|nulls| nulls.is_null(row))
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        (!self.is_null(row)).then(|| self.value(row))
    }

    /// The row's text, the row known to hold one.
    #[inline]
    fn value(&self, row: usize) -> &'a str {
        match &self.keys {
            Some(keys) => self.values.get(keys[row]),
            None => self.values.get(row),
        }
    }
}

/// One canonical field's column, by the Arrow type it came as.
enum Column<'a> {
    /// Not in the batch, or Arrow's null type: every row null.
    Absent,
    Int(&'a Int64Array),
    Int32(&'a Int32Array),
    Float(&'a Float64Array),
    Bool(&'a BooleanArray),
    Text(Texts<'a>),
}

/// One value, by its column's type.
enum Cell<'a> {
    Absent,
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(&'a str),
}

impl<'a> Column<'a> {
    fn of(name: &str, array: &'a dyn Array) -> Result<Column<'a>, ColumnError> {
        if array.null_count() == array.len() && array.data_type() != &DataType::Null {
            // Every row null (most of a batch's columns belong to a few event types): read no further.
            Texts::of(array)
                .map(|_| ())
                .or_else(|| {
                    matches!(
                        array.data_type(),
                        DataType::Int64 | DataType::Int32 | DataType::Float64 | DataType::Boolean
                    )
                    .then_some(())
                })
                .ok_or_else(|| unreadable(name, array.data_type()))?;
            return Ok(Column::Absent);
        }
        Ok(match array.data_type() {
            DataType::Int64 => Column::Int(array.as_primitive::<Int64Type>()),
            DataType::Int32 => Column::Int32(array.as_primitive::<Int32Type>()),
            DataType::Float64 => Column::Float(array.as_primitive::<Float64Type>()),
            DataType::Boolean => Column::Bool(array.as_boolean()),
            DataType::Null => Column::Absent,
            other => match Texts::of(array) {
                Some(texts) => Column::Text(texts),
                None => return Err(unreadable(name, other)),
            },
        })
    }

    #[inline]
    fn cell(&self, row: usize) -> Cell<'a> {
        match self {
            Column::Absent => Cell::Absent,
            Column::Int(array) if array.is_valid(row) => Cell::Int(array.value(row)),
            Column::Int32(array) if array.is_valid(row) => Cell::Int(i64::from(array.value(row))),
            Column::Float(array) if array.is_valid(row) => Cell::Float(array.value(row)),
            Column::Bool(array) if array.is_valid(row) => Cell::Bool(array.value(row)),
            Column::Text(texts) => texts.get(row).map_or(Cell::Absent, Cell::Text),
            _ => Cell::Absent,
        }
    }

    /// The value as the event's dict holds it (the reader's Python value).
    fn raw(&self, row: usize) -> Raw<'_> {
        match self.cell(row) {
            Cell::Absent => Raw::None,
            Cell::Int(value) => Raw::Int(value),
            Cell::Float(value) => Raw::Float(value),
            Cell::Bool(value) => Raw::Bool(value),
            Cell::Text(text) => Raw::Str(text.into()),
        }
    }

    /// Whether the typed path reads this column as `field`'s values (an absent column holds none to read).
    fn fits(&self, field: Field) -> bool {
        matches!(
            (field.kind(), self),
            (_, Column::Absent)
                | (
                    Kind::Int | Kind::Timestamp,
                    Column::Int(_) | Column::Int32(_)
                )
                | (
                    Kind::Number,
                    Column::Int(_) | Column::Int32(_) | Column::Float(_)
                )
                | (Kind::Str, Column::Text(_))
                | (Kind::Bool, Column::Bool(_))
        )
    }

    /// The validity of the column's rows (None: every row holds a value, or none does when absent).
    fn nulls(&self) -> Option<&NullBuffer> {
        match self {
            Column::Absent => None,
            Column::Int(array) => array.nulls(),
            Column::Int32(array) => array.nulls(),
            Column::Float(array) => array.nulls(),
            Column::Bool(array) => array.nulls(),
            Column::Text(texts) => texts.nulls.as_ref(),
        }
    }

    // The typed path's readers: the row holds a value and the column fits its field (see `fits`).

    #[inline]
    fn int(&self, row: usize) -> i64 {
        match self {
            Column::Int(array) => array.value(row),
            Column::Int32(array) => i64::from(array.value(row)),
            _ => 0,
        }
    }

    #[inline]
    fn num(&self, row: usize) -> Num {
        match self {
            Column::Float(array) => Num::Float(array.value(row)),
            Column::Int(array) => Num::Int(array.value(row)),
            Column::Int32(array) => Num::Int(i64::from(array.value(row))),
            _ => Num::Int(0),
        }
    }

    #[inline]
    fn text(&self, row: usize) -> &'a str {
        match self {
            Column::Text(texts) => texts.value(row),
            _ => "",
        }
    }

    #[inline]
    fn flag(&self, row: usize) -> bool {
        match self {
            Column::Bool(array) => array.value(row),
            _ => false,
        }
    }
}

fn unreadable(name: &str, kind: &DataType) -> ColumnError {
    ColumnError(format!(
        "column {}: Arrow type {kind} is not one the event store gives \
         (int64, int32, double, boolean, or text, plain or dictionary-encoded)",
        str_repr(name)
    ))
}

/// A closed-set text column (`source`, `type`): dictionary entries parsed once per batch, not per row.
struct Closed<T> {
    memo: Option<Vec<Option<T>>>,
    parse: fn(&str) -> Option<T>,
}

impl<T: Copy> Closed<T> {
    fn new(column: &Column<'_>, parse: fn(&str) -> Option<T>) -> Closed<T> {
        let memo = match column {
            Column::Text(Texts {
                values,
                keys: Some(_),
                ..
            }) => Some(
                (0..values.len())
                    .map(|index| {
                        if values.is_null(index) {
                            None
                        } else {
                            parse(values.get(index))
                        }
                    })
                    .collect(),
            ),
            _ => None,
        };
        Closed { memo, parse }
    }

    fn get(&self, column: &Column<'_>, row: usize) -> Option<T> {
        match (&self.memo, column) {
            (Some(memo), Column::Text(texts)) if !texts.is_null(row) => {
                memo[texts.keys.as_ref()?[row]]
            }
            (Some(_), _) => None,
            (None, column) => match column.cell(row) {
                Cell::Text(text) => (self.parse)(text),
                _ => None,
            },
        }
    }
}

struct Columns<'a> {
    /// In [`Field::ALL`] order.
    fields: Vec<Column<'a>>,
    extra: Option<Texts<'a>>,
    ingest: Column<'a>,
    sources: Closed<Source>,
    types: Closed<EventType>,
    /// Per event type (by index), the mask of the fields it requires.
    required: [u32; EventType::COUNT],
    /// Per row, the mask of the canonical fields it holds a value for (read column by column, once).
    present: Vec<u32>,
    /// The mask of the fields whose columns the typed path reads; a row holding any other goes to the screen.
    fits: u32,
}

impl<'a> Columns<'a> {
    fn read(batch: &'a RecordBatch) -> Result<Columns<'a>, ColumnError> {
        let schema = batch.schema_ref();
        let find = |name: &str| schema.index_of(name).ok().map(|i| batch.column(i).as_ref());
        let mut fields = Vec::with_capacity(Field::ALL.len());
        for field in Field::ALL {
            fields.push(match find(field.name()) {
                Some(array) => Column::of(field.name(), array)?,
                None => Column::Absent,
            });
        }
        let extra = match find("extra") {
            Some(array) if array.null_count() < array.len() => {
                Some(Texts::of(array).ok_or_else(|| {
                    ColumnError(format!(
                        "column 'extra': Arrow type {} is not text (JSON)",
                        array.data_type()
                    ))
                })?)
            }
            _ => None,
        };
        let ingest = match find("ingest_id") {
            None => Column::Absent,
            Some(array) => match Column::of("ingest_id", array)? {
                column @ (Column::Int(_) | Column::Int32(_) | Column::Absent) => column,
                _ => {
                    return Err(ColumnError(format!(
                        "column 'ingest_id': Arrow type {} is not an integer",
                        array.data_type()
                    )));
                }
            },
        };
        let mut required = [0u32; EventType::COUNT];
        for source in Source::ALL {
            for &kind in source.types() {
                required[kind as usize] = Field::mask(kind.required());
            }
        }
        let mut present = vec![0u32; batch.num_rows()];
        let mut fits = 0u32;
        for (&field, column) in Field::ALL.iter().zip(&fields) {
            let bit = field.bit();
            if column.fits(field) {
                fits |= bit;
            }
            match (column, column.nulls()) {
                (Column::Absent, _) => {}
                (_, None) => present.iter_mut().for_each(|row| *row |= bit),
                // Most columns hold values in a few rows (their event types'): visit only those.
                (_, Some(nulls)) => nulls.valid_indices().for_each(|row| present[row] |= bit),
            }
        }
        Ok(Columns {
            present,
            fits,
            sources: Closed::new(&fields[Field::Source as usize], Source::from_name),
            types: Closed::new(&fields[Field::Type as usize], EventType::from_name),
            fields,
            extra,
            ingest,
            required,
        })
    }

    fn log(&self, row: usize) -> Option<i64> {
        match self.ingest.cell(row) {
            Cell::Int(log) => Some(log),
            _ => None,
        }
    }

    /// The row's event type, when its source and type are known and agree.
    fn kind(&self, row: usize) -> Option<EventType> {
        let source = self
            .sources
            .get(&self.fields[Field::Source as usize], row)?;
        let kind = self.types.get(&self.fields[Field::Type as usize], row)?;
        (kind.source() == source).then_some(kind)
    }

    fn decide_row(
        &self,
        engine: &mut Engine,
        row: usize,
        event: &mut Event,
        spare: &mut TextBuffers,
        out: &mut Out,
    ) -> Result<(), ColumnError> {
        let extras = match self.extra.as_ref().and_then(|texts| texts.get(row)) {
            Some(text) => canonical_extras(text).map_err(|error| {
                ColumnError(format!(
                    "row {row} of the batch: column 'extra' is not a JSON object ({error})"
                ))
            })?,
            None => Vec::new(),
        };
        if extras.is_empty() && self.typed(row, event, spare) {
            out.push_ids(event.event_id.as_deref(), event.order_id.as_deref());
            let (seq, outcome) = engine.decide_seeing_group(event, |group| out.push_group(group));
            out.push(seq, &outcome);
            return Ok(());
        }
        // The event's dict as the reader makes it: the canonical fields present, in canonical
        // order, then those kept in `extra` where the column has none.
        let mut items: Vec<(Field, Raw<'_>)> = Vec::new();
        let mut shown: Vec<(Field, String)> = Vec::new();
        for &field in Field::ALL {
            let raw = self.fields[field as usize].raw(row);
            if raw != Raw::None {
                items.push((field, raw));
            }
        }
        for extra in extras {
            if !items.iter().any(|(present, _)| *present == extra.field) {
                if let Some(text) = extra.shown {
                    shown.push((extra.field, text));
                }
                items.push((extra.field, extra.raw));
            }
        }
        let value = |wanted: Field| {
            items
                .iter()
                .find(|(field, _)| *field == wanted)
                .map(|(_, raw)| raw)
        };
        let id = |wanted: Field| match shown.iter().find(|(field, _)| *field == wanted) {
            Some((_, text)) => Some(text.clone()),
            None => value(wanted).and_then(py_text),
        };
        let (event_id, order_id) = (id(Field::EventId), id(Field::OrderId));
        out.push_ids(event_id.as_deref(), order_id.as_deref());
        let seq = match value(Field::Seq) {
            Some(Raw::Int(seq)) => Some(*seq),
            _ => None,
        };
        match screen(&items) {
            Ok(valid) => {
                let (seq, outcome) =
                    engine.decide_seeing_group(&valid, |group| out.push_group(group));
                out.push(seq, &outcome);
            }
            Err(why) => {
                let decided = engine.unprocessable(seq, why);
                out.push_group(None);
                out.push(decided.seq, &decided.outcome);
            }
        }
        Ok(())
    }

    /// Type the row straight into `event` when it plainly passes the screen; false sends it to the screen.
    fn typed(&self, row: usize, event: &mut Event, spare: &mut TextBuffers) -> bool {
        let present = self.present[row];
        if present & !self.fits != 0 {
            return false;
        }
        let Some(kind) = self.kind(row) else {
            return false;
        };
        let required = self.required[kind as usize];
        if present & required != required {
            return false;
        }
        let has = |field: Field| present & field.bit() != 0;
        let column = |field: Field| &self.fields[field as usize];
        let int = |field: Field| has(field).then(|| column(field).int(row));
        event.seq = int(Field::Seq);
        event.broker_ts = int(Field::BrokerTs);
        event.recv_ts = int(Field::RecvTs).unwrap_or(0);
        event.broker_seq = int(Field::BrokerSeq);
        let mut ok = true;
        let mut num = |field: Field| {
            if !has(field) {
                return None;
            }
            let value = column(field).num(row);
            let number = value.as_f64();
            if !number.is_finite() || (number < 0.0 && field.is_quantity()) {
                ok = false;
            }
            Some(value)
        };
        event.qty = num(Field::Qty);
        event.limit_px = num(Field::LimitPx);
        event.last_qty = num(Field::LastQty);
        event.last_px = num(Field::LastPx);
        event.cum_qty = num(Field::CumQty);
        event.leaves_qty = num(Field::LeavesQty);
        event.bid_px = num(Field::BidPx);
        event.bid_qty = num(Field::BidQty);
        event.ask_px = num(Field::AskPx);
        event.ask_qty = num(Field::AskQty);
        // A text the row lacks keeps its buffer for the next row that holds one (no allocation per row).
        let mut text = |field: Field, slot: &mut Option<String>| {
            spare.put(field, slot, has(field).then(|| column(field).text(row)));
        };
        text(Field::EventId, &mut event.event_id);
        text(Field::Account, &mut event.account);
        text(Field::OrderId, &mut event.order_id);
        text(Field::BrokerOrderId, &mut event.broker_order_id);
        text(Field::GroupId, &mut event.group_id);
        text(Field::Leg, &mut event.leg);
        text(Field::ParentId, &mut event.parent_id);
        text(Field::Symbol, &mut event.symbol);
        event.role = None;
        if has(Field::Role) {
            event.role = Role::from_name(column(Field::Role).text(row));
            ok &= event.role.is_some();
        }
        event.side = None;
        if has(Field::Side) {
            event.side = Side::from_name(column(Field::Side).text(row));
            ok &= event.side.is_some();
        }
        event.poss_dup = has(Field::PossDup).then(|| column(Field::PossDup).flag(row));
        event.kind = kind;
        ok && !(kind == EventType::Intent
            && event.role == Some(Role::Hedge)
            && event.parent_id.is_none())
    }
}

/// A canonical field an `extra` object holds: its value as the reader's `json.loads` types it, and
/// (a list or an object) Python's `str()` of it.
struct Extra {
    field: Field,
    raw: Raw<'static>,
    shown: Option<String>,
}

/// The canonical fields an `extra` object holds, in its order (a repeated key: its last value, in its first place).
fn canonical_extras(text: &str) -> Result<Vec<Extra>, serde_json::Error> {
    struct Entries;
    impl<'de> Visitor<'de> for Entries {
        type Value = Vec<Extra>;

        fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found: Vec<Extra> = Vec::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                let Some(field) = Field::from_name(&key) else {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                };
                let value = map.next_value::<Value>()?;
                let extra = Extra {
                    field,
                    raw: json_raw(&value),
                    shown: matches!(value, Value::Array(_) | Value::Object(_))
                        .then(|| py_str(&value)),
                };
                match found.iter_mut().find(|known| known.field == field) {
                    Some(known) => *known = extra,
                    None => found.push(extra),
                }
            }
            Ok(found)
        }
    }
    let mut reader = serde_json::Deserializer::from_str(text);
    let found = (&mut reader).deserialize_map(Entries)?;
    reader.end()?;
    Ok(found)
}

/// A JSON value as Python's `json.loads` types it.
fn json_raw(value: &Value) -> Raw<'static> {
    match value {
        Value::Null => Raw::None,
        Value::Bool(flag) => Raw::Bool(*flag),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(int), _) => Raw::Int(int),
            (None, Some(uint)) => Raw::BigInt(uint.to_string().into()),
            _ => Raw::Float(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Raw::Str(text.clone().into()),
        Value::Array(_) => Raw::Other("list".into()),
        Value::Object(_) => Raw::Other("dict".into()),
    }
}

/// Python's `str()` of a list or dict `json.loads` made (an id that is not a string).
fn py_str(value: &Value) -> String {
    fn repr(value: &Value) -> String {
        match value {
            Value::String(text) => str_repr(text),
            other => py_str(other),
        }
    }
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(int), _) => int.to_string(),
            (None, Some(uint)) => uint.to_string(),
            _ => float_repr(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => text.clone(),
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().map(repr).collect();
            format!("[{}]", shown.join(", "))
        }
        Value::Object(map) => {
            let shown: Vec<String> = map
                .iter()
                .map(|(key, item)| format!("{}: {}", str_repr(key), repr(item)))
                .collect();
            format!("{{{}}}", shown.join(", "))
        }
    }
}

/// An id as the decisions' text column holds it: a string as it is, a number or flag as Python's `str()`.
fn py_text(raw: &Raw) -> Option<String> {
    Some(match raw {
        Raw::None => return None,
        Raw::Str(text) => text.to_string(),
        Raw::Int(int) => int.to_string(),
        Raw::BigInt(digits) => digits.to_string(),
        Raw::Float(float) => float_repr(*float),
        Raw::Bool(true) => "True".into(),
        Raw::Bool(false) => "False".into(),
        Raw::Other(name) => name.to_string(),
    })
}

// --- writing -------------------------------------------------------------------------

/// A dictionary-encoded text column: each distinct value once, a key per row.
struct Dictionary<K> {
    codes: FastMap<K, i32>,
    values: StringBuilder,
    keys: Int32Builder,
}

impl<K: std::hash::Hash + Eq> Dictionary<K> {
    fn new(rows: usize) -> Self {
        Dictionary {
            codes: FastMap::default(),
            values: StringBuilder::new(),
            keys: Int32Builder::with_capacity(rows),
        }
    }

    /// The row's value, by its key; `text` renders it the first time the key is seen.
    fn push(&mut self, key: K, text: impl FnOnce() -> String) {
        let next = self.codes.len() as i32;
        let values = &mut self.values;
        let code = *self.codes.entry(key).or_insert_with(|| {
            values.append_value(text());
            next
        });
        self.keys.append_value(code);
    }

    fn push_null(&mut self) {
        self.keys.append_null();
    }

    fn finish(mut self) -> Result<ArrayRef, ArrowError> {
        let values: ArrayRef = Arc::new(self.values.finish());
        Ok(Arc::new(DictionaryArray::<Int32Type>::try_new(
            self.keys.finish(),
            values,
        )?))
    }
}

/// The decision columns, row by row.
struct Out {
    seq: Int64Builder,
    /// `event_id` and `order_id` row by row, when some row's may come from `extra`; else the batch's own.
    ids: Option<(StringBuilder, StringBuilder)>,
    group: StringBuilder,
    verdict: Dictionary<u8>,
    guard: Dictionary<u8>,
    rule: Dictionary<RuleKey>,
    reason: Dictionary<ReasonKey>,
}

fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

impl Out {
    fn new(rows: usize, ids: bool) -> Out {
        Out {
            seq: Int64Builder::with_capacity(rows),
            ids: ids.then(|| {
                (
                    StringBuilder::with_capacity(rows, rows * 8),
                    StringBuilder::with_capacity(rows, rows * 8),
                )
            }),
            group: StringBuilder::with_capacity(rows, rows * 8),
            verdict: Dictionary::new(rows),
            guard: Dictionary::new(rows),
            rule: Dictionary::new(rows),
            reason: Dictionary::new(rows),
        }
    }

    fn push_ids(&mut self, event_id: Option<&str>, order_id: Option<&str>) {
        if let Some((event_ids, order_ids)) = &mut self.ids {
            event_ids.append_option(event_id);
            order_ids.append_option(order_id);
        }
    }

    /// A row's group: pushed as the engine finds it ([`Engine::decide_seeing_group`]), before its
    /// [`Out::push`].
    fn push_group(&mut self, group: Option<&str>) {
        self.group.append_option(group);
    }

    fn push(&mut self, seq: i64, outcome: &Outcome) {
        self.seq.append_value(seq);
        let verdict = outcome.verdict;
        self.verdict
            .push(verdict as u8, || verdict.name().to_owned());
        let guard = outcome.guard;
        self.guard.push(guard as u8, || guard.name().to_owned());
        match &outcome.rule {
            None => self.rule.push_null(),
            Some(rule) => {
                self.rule.push(rule.key(), || rule.as_str().to_owned());
            }
        }
        let reason = &outcome.reason;
        self.reason.push(reason.key(), || reason.to_string());
    }

    fn finish(mut self, events: &RecordBatch) -> Result<RecordBatch, ColumnError> {
        let (event_id, order_id): (ArrayRef, ArrayRef) = match self.ids.take() {
            Some((mut event_ids, mut order_ids)) => {
                (Arc::new(event_ids.finish()), Arc::new(order_ids.finish()))
            }
            None => {
                let own = |name: &str| -> ArrayRef {
                    match events.schema_ref().index_of(name) {
                        Ok(index) => events.column(index).clone(),
                        Err(_) => Arc::new(StringArray::new_null(events.num_rows())),
                    }
                };
                (own("event_id"), own("order_id"))
            }
        };
        let schema = Arc::new(Schema::new(vec![
            ArrowField::new("seq", DataType::Int64, false),
            ArrowField::new("event_id", event_id.data_type().clone(), true),
            ArrowField::new("order_id", order_id.data_type().clone(), true),
            ArrowField::new("group_id", DataType::Utf8, true),
            ArrowField::new("verdict", dictionary_type(), false),
            ArrowField::new("guard", dictionary_type(), false),
            ArrowField::new("rule", dictionary_type(), true),
            ArrowField::new("reason", dictionary_type(), false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.seq.finish()),
            event_id,
            order_id,
            Arc::new(self.group.finish()),
            self.verdict.finish()?,
            self.guard.finish()?,
            self.rule.finish()?,
            self.reason.finish()?,
        ];
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The alert columns: `broker_ts` as RFC 3339 text, `ingest_id` the log the alert was raised in.
pub fn alert_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("kind", DataType::Utf8, false),
        ArrowField::new("severity", DataType::Utf8, false),
        ArrowField::new("guard", DataType::Utf8, false),
        ArrowField::new("seq", DataType::Int64, true),
        ArrowField::new("order_id", DataType::Utf8, true),
        ArrowField::new("group_id", DataType::Utf8, true),
        ArrowField::new("broker_ts", DataType::Utf8, true),
        ArrowField::new("detail", DataType::Utf8, false),
        ArrowField::new("ingest_id", DataType::Int32, true),
    ]))
}

/// The alerts of a batch, each with its log.
#[derive(Default)]
struct Alerts {
    raised: Vec<(Alert, Option<i64>)>,
}

impl Alerts {
    fn extend(&mut self, alerts: Vec<Alert>, log: Option<i64>) {
        self.raised
            .extend(alerts.into_iter().map(|alert| (alert, log)));
    }

    fn finish(self) -> Result<RecordBatch, ColumnError> {
        let raised = &self.raised;
        let text = |pick: fn(&Alert) -> Option<String>| -> ArrayRef {
            Arc::new(
                raised
                    .iter()
                    .map(|(alert, _)| pick(alert))
                    .collect::<StringArray>(),
            )
        };
        let columns: Vec<ArrayRef> = vec![
            text(|alert| Some(alert.kind.name().into())),
            text(|alert| Some(alert.severity.name().into())),
            text(|alert| Some(alert.guard.name().into())),
            Arc::new(
                raised
                    .iter()
                    .map(|(alert, _)| alert.seq)
                    .collect::<Int64Array>(),
            ),
            text(|alert| alert.order_id.clone()),
            text(|alert| alert.group_id.clone()),
            text(|alert| alert.broker_ts.map(format_timestamp)),
            text(|alert| Some(alert.detail.clone())),
            Arc::new(
                raised
                    .iter()
                    .map(|(_, log)| log.and_then(|log| i32::try_from(log).ok()))
                    .collect::<Int32Array>(),
            ),
        ];
        Ok(RecordBatch::try_new(alert_schema(), columns)?)
    }
}
