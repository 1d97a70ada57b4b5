//! Broker sessions: which numbering, clocks and contents a stretch of events comes with.

use serde_json::Value;

use crate::fastmap::FastMap;

/// Which broker session events belong to: a log's ingest id, a venue's name, or none (one live session).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum SessionKey {
    #[default]
    None,
    Int(i64),
    Str(String),
    /// Any other key, by its text (`repr`): equal texts are the same session.
    Other(String),
}

impl SessionKey {
    pub fn to_json(&self) -> Value {
        match self {
            SessionKey::None => Value::Null,
            SessionKey::Int(value) => Value::from(*value),
            SessionKey::Str(text) | SessionKey::Other(text) => Value::from(text.as_str()),
        }
    }
}

/// What a per-session map holds for `key`, entered (as the default) the first time. The guards
/// call this for every event, and an entry takes its key by value: a key of text is looked up
/// first (one lookup more), so that it is not copied each time; another is copied for free.
pub fn session_entry<'a, V: Default>(
    map: &'a mut FastMap<SessionKey, V>,
    key: &SessionKey,
) -> &'a mut V {
    match key {
        SessionKey::Str(_) | SessionKey::Other(_) if map.contains_key(key) => {
            map.get_mut(key).expect("held")
        }
        _ => map.entry(key.clone()).or_default(),
    }
}

/// One session's clocks and contents; the defaults are a live stream's (`safeguards.session.SessionTraits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// `recv_ts` is our own clock, independent of the broker's: skew can be measured.
    pub own_clock: bool,
    /// How coarsely `recv_ts` is stamped (ns): widens the skew tolerance.
    pub clock_resolution_ns: i64,
    /// The stream carries our local events: an order the broker reports without one is an orphan.
    pub records_intents: bool,
}

impl Default for Traits {
    fn default() -> Self {
        Traits {
            own_clock: true,
            clock_resolution_ns: 0,
            records_intents: true,
        }
    }
}
