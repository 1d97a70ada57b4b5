//! The columnar entry point (`columnar::decide_columns`) against the per-event path of the same core.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, BooleanArray, DictionaryArray, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray,
};
use safeguards_core::columnar::{Decided, decide_columns};
use safeguards_core::decision::Alert;
use safeguards_core::engine::Engine;
use safeguards_core::event::{Field, Kind};
use safeguards_core::policy::Tables;
use safeguards_core::screen::{Raw, screen};
use safeguards_core::session::{SessionKey, Traits};
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_771_684_200 * S;

fn engine() -> Engine {
    Engine::new(
        Tables::from_json(include_str!("fixtures/multileg_options.json"))
            .expect("the reference policy's tables"),
    )
}

/// Events as the store's reader gives them: a column per canonical field (numbers double, closed sets
/// dictionary-encoded), `extra` and `ingest_id`. Each row: (log, event, extra JSON).
fn batch(rows: &[(i32, Value, Option<&str>)]) -> RecordBatch {
    let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
    for &field in Field::ALL {
        let values = rows
            .iter()
            .map(|(_, event, _)| event.get(field.name()).filter(|v| !v.is_null()));
        let column: ArrayRef = match field.kind() {
            Kind::Str => {
                let texts: Vec<Option<&str>> = values.map(|v| v.and_then(Value::as_str)).collect();
                if matches!(
                    field,
                    Field::Source | Field::Type | Field::Side | Field::Role
                ) {
                    Arc::new(texts.into_iter().collect::<DictionaryArray<Int32Type>>())
                } else {
                    Arc::new(StringArray::from(texts))
                }
            }
            Kind::Int | Kind::Timestamp => Arc::new(Int64Array::from(
                values
                    .map(|v| v.and_then(Value::as_i64))
                    .collect::<Vec<_>>(),
            )),
            Kind::Number => Arc::new(Float64Array::from(
                values
                    .map(|v| v.and_then(Value::as_f64))
                    .collect::<Vec<_>>(),
            )),
            Kind::Bool => Arc::new(BooleanArray::from(
                values
                    .map(|v| v.and_then(Value::as_bool))
                    .collect::<Vec<_>>(),
            )),
        };
        columns.push((field.name(), column));
    }
    columns.push((
        "extra",
        Arc::new(StringArray::from(
            rows.iter().map(|(_, _, extra)| *extra).collect::<Vec<_>>(),
        )),
    ));
    columns.push((
        "ingest_id",
        Arc::new(Int32Array::from(
            rows.iter().map(|(log, _, _)| *log).collect::<Vec<_>>(),
        )),
    ));
    RecordBatch::try_from_iter(columns).expect("a batch")
}

/// The row's dict as the reader makes it: numbers as floats (the store's doubles), then `extra`'s fields.
fn items(event: &Value, extra: Option<&str>) -> Vec<(Field, Raw<'static>)> {
    let raw = |field: Field, value: &Value| match value {
        Value::Null => Raw::None,
        Value::Bool(flag) => Raw::Bool(*flag),
        Value::Number(n) if field.kind() == Kind::Number => Raw::Float(n.as_f64().unwrap()),
        Value::Number(n) => Raw::Int(n.as_i64().unwrap()),
        Value::String(text) => Raw::Str(text.clone().into()),
        _ => Raw::Other("list".into()),
    };
    let mut found: Vec<(Field, Raw<'static>)> = Field::ALL
        .iter()
        .filter_map(|&field| event.get(field.name()).map(|v| (field, raw(field, v))))
        .filter(|(_, raw)| *raw != Raw::None)
        .collect();
    if let Some(extra) = extra {
        let extra: Value = serde_json::from_str(extra).unwrap();
        for (name, value) in extra.as_object().unwrap() {
            if let Some(field) = Field::from_name(name)
                && !found.iter().any(|(present, _)| *present == field)
            {
                let value = match value {
                    Value::Number(n) => Raw::Int(n.as_i64().unwrap()),
                    other => raw(field, other),
                };
                found.push((field, value));
            }
        }
    }
    found
}

/// (seq, group, verdict, guard, rule, reason) per row and the alerts with their logs: one event at a time.
type Rows = Vec<(i64, Option<String>, String, String, Option<String>, String)>;

fn one_at_a_time(rows: &[(i32, Value, Option<&str>)]) -> (Rows, Vec<(Alert, i32)>) {
    let mut engine = engine();
    let mut decided = Vec::new();
    let mut alerts = Vec::new();
    let mut last: Option<i32> = None;
    for (log, event, extra) in rows {
        if last != Some(*log) {
            if let Some(previous) = last {
                alerts.extend(engine.pop_alerts().into_iter().map(|a| (a, previous)));
            }
            engine.use_session(&SessionKey::Int(i64::from(*log)), Traits::default());
            last = Some(*log);
        }
        let items = items(event, *extra);
        let seq = items.iter().find_map(|(f, r)| match (f, r) {
            (Field::Seq, Raw::Int(seq)) => Some(*seq),
            _ => None,
        });
        let one = match screen(&items) {
            Ok(valid) => engine.decide(&valid),
            Err(why) => {
                let mut bad = engine.unprocessable(seq, why);
                bad.group_id = None;
                bad
            }
        };
        let outcome = one.outcome;
        decided.push((
            one.seq,
            one.group_id,
            outcome.verdict.name().to_owned(),
            outcome.guard.name().to_owned(),
            outcome.rule.map(|rule| rule.as_str().to_owned()),
            outcome.reason.to_string(),
        ));
    }
    if let Some(previous) = last {
        alerts.extend(engine.pop_alerts().into_iter().map(|a| (a, previous)));
    }
    (decided, alerts)
}

fn text(column: &dyn Array, row: usize) -> Option<String> {
    if column.is_null(row) {
        return None;
    }
    Some(match column.as_any_dictionary_opt() {
        Some(dictionary) => {
            let key = dictionary.normalized_keys()[row];
            dictionary.values().as_string::<i32>().value(key).to_owned()
        }
        None => column.as_string::<i32>().value(row).to_owned(),
    })
}

fn rows_of(decided: &Decided) -> Rows {
    let d = &decided.decisions;
    let seq = d
        .column_by_name("seq")
        .unwrap()
        .as_primitive::<arrow_array::types::Int64Type>();
    let col = |name: &str| d.column_by_name(name).unwrap().as_ref();
    (0..d.num_rows())
        .map(|row| {
            (
                seq.value(row),
                text(col("group_id"), row),
                text(col("verdict"), row).unwrap(),
                text(col("guard"), row).unwrap(),
                text(col("rule"), row),
                text(col("reason"), row).unwrap(),
            )
        })
        .collect()
}

fn intent(order: &str, at: i64) -> Value {
    json!({"seq": at, "source": "local", "type": "intent", "event_id": format!("I-{order}"), "order_id": order,
           "group_id": "G", "role": "leg", "symbol": "SPX", "side": "buy", "qty": 10, "recv_ts": T0 + at * S})
}

fn local(kind: &str, order: &str, at: i64) -> Value {
    json!({"seq": at, "source": "local", "type": kind, "event_id": format!("{kind}-{order}"), "order_id": order,
           "recv_ts": T0 + at * S})
}

fn broker(kind: &str, id: &str, order: &str, cum: i64, leaves: i64, at: i64) -> Value {
    let mut value = json!({"seq": at, "source": "broker", "type": kind, "event_id": id, "order_id": order,
                           "cum_qty": cum, "leaves_qty": leaves, "broker_ts": T0 + at * S, "recv_ts": T0 + at * S});
    if kind == "partial_fill" || kind == "fill" {
        value["last_qty"] = json!(cum);
        value["last_px"] = json!(1.25);
    }
    value
}

fn stream() -> Vec<(i32, Value, Option<&'static str>)> {
    let mut rows = vec![
        (1, intent("A", 1), None),
        (1, local("submit", "A", 2), None),
        (1, broker("new", "A-new", "A", 0, 10, 3), None),
        (1, broker("partial_fill", "A-f1", "A", 4, 6, 4), None),
        (1, broker("partial_fill", "A-f1", "A", 4, 6, 4), None), // delivered twice
        (
            1,
            broker("fill", "A-f2", "A", 10, 0, 6),
            Some(r#"{"venue": "X"}"#),
        ),
        (1, local("submit", "B", 7), None), // no intent: blocked, alerted
        (2, intent("C", 1), None),          // another log: its own session, seq restarts
        (2, local("submit", "C", 2), None),
        (2, broker("new", "C-new", "C", 0, 10, 3), None),
        (2, broker("canceled", "C-x", "C", 0, 0, 4), None),
        (1, broker("new", "A-late", "A", 10, 0, 8), None), // back to the first log: a late ack
    ];
    let mut bad = intent("D", 9);
    bad["qty"] = json!(-5); // the screen refuses it
    rows.push((1, bad, None));
    let mut moved = local("cancel_request", "C", 5);
    moved["order_id"] = Value::Null; // the id kept in extra
    rows.push((2, moved, Some(r#"{"order_id": "C", "note": [1, 2]}"#)));
    rows
}

#[test]
fn each_row_is_decided_as_the_per_event_path_decides_it() {
    let rows = stream();
    let decided = decide_columns(&mut engine(), &batch(&rows), &HashMap::new()).expect("decided");
    let (want, want_alerts) = one_at_a_time(&rows);
    assert_eq!(rows_of(&decided), want);
    let verdicts: Vec<&str> = want.iter().map(|row| row.2.as_str()).collect();
    assert!(
        verdicts.contains(&"duplicate")
            && verdicts.contains(&"block")
            && verdicts.contains(&"invalid")
    );
    assert_eq!(
        want[12].5,
        "could not process this event: field 'qty': negative quantity -5.0"
    );
    let alerts = &decided.alerts;
    assert_eq!(alerts.num_rows(), want_alerts.len());
    assert!(!want_alerts.is_empty());
    let kinds = alerts.column_by_name("kind").unwrap();
    let logs = alerts
        .column_by_name("ingest_id")
        .unwrap()
        .as_primitive::<Int32Type>();
    for (row, (alert, log)) in want_alerts.iter().enumerate() {
        assert_eq!(
            text(kinds.as_ref(), row).as_deref(),
            Some(alert.kind.name())
        );
        assert_eq!(logs.value(row), *log);
        let seq = alerts
            .column_by_name("seq")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        assert_eq!((!seq.is_null(row)).then(|| seq.value(row)), alert.seq);
    }
}

#[test]
fn ids_kept_in_extra_are_the_decisions_ids() {
    let rows = stream();
    let decided = decide_columns(&mut engine(), &batch(&rows), &HashMap::new()).expect("decided");
    let order_ids = decided.decisions.column_by_name("order_id").unwrap();
    assert_eq!(
        text(order_ids.as_ref(), rows.len() - 1).as_deref(),
        Some("C")
    );
    assert_eq!(text(order_ids.as_ref(), 0).as_deref(), Some("A"));
}

#[test]
fn outcomes_are_dictionary_encoded_each_text_once() {
    let rows = stream();
    let decided = decide_columns(&mut engine(), &batch(&rows), &HashMap::new()).expect("decided");
    for name in ["verdict", "guard", "rule", "reason"] {
        let column = decided.decisions.column_by_name(name).unwrap();
        let dictionary = column.as_any_dictionary_opt().expect("dictionary-encoded");
        let values = dictionary.values().as_string::<i32>();
        let mut texts: Vec<&str> = (0..values.len()).map(|i| values.value(i)).collect();
        let all = texts.len();
        texts.sort_unstable();
        texts.dedup();
        assert_eq!(
            texts.len(),
            all,
            "{name}: a text repeated in the dictionary"
        );
        assert!(all < rows.len());
    }
}

#[test]
fn a_batch_in_two_calls_decides_as_one() {
    let rows = stream();
    let whole = decide_columns(&mut engine(), &batch(&rows), &HashMap::new()).expect("decided");
    let mut split = engine();
    let first = decide_columns(&mut split, &batch(&rows[..5]), &HashMap::new()).expect("first");
    let second = decide_columns(&mut split, &batch(&rows[5..]), &HashMap::new()).expect("second");
    let mut parts = rows_of(&first);
    parts.extend(rows_of(&second));
    assert_eq!(parts, rows_of(&whole));
    assert_eq!(
        first.alerts.num_rows() + second.alerts.num_rows(),
        whole.alerts.num_rows()
    );
}

#[test]
fn a_column_of_another_type_is_an_error_naming_it() {
    let rows = stream();
    let good = batch(&rows);
    let mut columns: Vec<(String, ArrayRef)> = good
        .schema()
        .fields()
        .iter()
        .zip(good.columns())
        .map(|(field, column)| (field.name().clone(), column.clone()))
        .collect();
    let at = columns.iter().position(|(name, _)| name == "qty").unwrap();
    columns[at].1 = Arc::new(arrow_array::Float32Array::from(vec![1.0f32; rows.len()]));
    let odd = RecordBatch::try_from_iter(columns).unwrap();
    let error = decide_columns(&mut engine(), &odd, &HashMap::new()).expect_err("refused");
    assert!(
        error.0.starts_with("column 'qty': Arrow type Float32"),
        "{error}"
    );
}
