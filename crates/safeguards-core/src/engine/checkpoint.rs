//! The engine's checkpoint: everything it holds as versioned JSON, read back exactly.
//!
//! Format `safeguards-core/1` (documented in docs/ARCHITECTURE.md): one object with a part per
//! piece of state (`time`, `book`, `escalation`, `idempotency`, `clock`, `hedging`, `intents`,
//! `ordering`) plus the counts. Collections are written sorted, so equal engines give equal
//! checkpoints. Dedup keys and fingerprints are xxh3-64 of canonical bytes: the same in every
//! process. Timers are data: `[deadline, count, what...]`.

use serde_json::{Value, json};

use crate::num::Num;
use crate::session::SessionKey;

/// The format written, and the only one read.
pub const FORMAT: &str = "safeguards-core/1";

/// A checkpoint that cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointError(pub String);

impl std::fmt::Display for CheckpointError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "checkpoint: {}", self.0)
    }
}

impl std::error::Error for CheckpointError {}

pub type Read<T> = Result<T, CheckpointError>;

pub fn bad(what: &str) -> CheckpointError {
    CheckpointError(format!("{what} is missing or malformed"))
}

pub fn field<'a>(value: &'a Value, name: &str) -> Read<&'a Value> {
    value.get(name).ok_or_else(|| bad(name))
}

pub fn int(value: &Value, what: &str) -> Read<i64> {
    value.as_i64().ok_or_else(|| bad(what))
}

pub fn uint(value: &Value, what: &str) -> Read<u64> {
    value.as_u64().ok_or_else(|| bad(what))
}

pub fn opt_int(value: &Value, what: &str) -> Read<Option<i64>> {
    if value.is_null() {
        Ok(None)
    } else {
        int(value, what).map(Some)
    }
}

pub fn text(value: &Value, what: &str) -> Read<String> {
    value.as_str().map(str::to_owned).ok_or_else(|| bad(what))
}

pub fn opt_text(value: &Value, what: &str) -> Read<Option<String>> {
    if value.is_null() {
        Ok(None)
    } else {
        text(value, what).map(Some)
    }
}

pub fn flag(value: &Value, what: &str) -> Read<bool> {
    value.as_bool().ok_or_else(|| bad(what))
}

pub fn list<'a>(value: &'a Value, what: &str) -> Read<&'a Vec<Value>> {
    value.as_array().ok_or_else(|| bad(what))
}

pub fn num_json(value: Num) -> Value {
    match value {
        Num::Int(int) => Value::from(int),
        Num::Float(float) => Value::from(float),
    }
}

pub fn num(value: &Value, what: &str) -> Read<Num> {
    if let Some(int) = value.as_i64().filter(|_| !value.is_f64()) {
        return Ok(Num::Int(int));
    }
    value.as_f64().map(Num::Float).ok_or_else(|| bad(what))
}

pub fn opt_num(value: &Value, what: &str) -> Read<Option<Num>> {
    if value.is_null() {
        Ok(None)
    } else {
        num(value, what).map(Some)
    }
}

/// A session key: null, an integer, a string, or `{"repr": text}` for any other Python key.
pub fn key_json(key: &SessionKey) -> Value {
    match key {
        SessionKey::Other(text) => json!({"repr": text}),
        other => other.to_json(),
    }
}

pub fn key(value: &Value) -> Read<SessionKey> {
    Ok(match value {
        Value::Null => SessionKey::None,
        Value::Number(number) => {
            SessionKey::Int(number.as_i64().ok_or_else(|| bad("session key"))?)
        }
        Value::String(text) => SessionKey::Str(text.clone()),
        Value::Object(map) => SessionKey::Other(text(
            map.get("repr").unwrap_or(&Value::Null),
            "session key",
        )?),
        _ => return Err(bad("session key")),
    })
}

/// Sort rows by their JSON text: equal engines write equal checkpoints.
pub fn sorted(mut rows: Vec<Value>) -> Value {
    rows.sort_by_cached_key(|row| row.to_string());
    Value::Array(rows)
}
