//! The compiled policy's tables, typed: what the engine runs, read once from the compiled JSON.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use crate::decision::{AlertKind, Severity};
use crate::event::{EventType, Field};

/// An order state, as an index into the policy's state names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct State(pub u16);

/// Trading state of a scope: rises until cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    #[default]
    Active,
    Reducing,
    Halted,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Active => "active",
            Level::Reducing => "reducing",
            Level::Halted => "halted",
        }
    }

    pub fn from_name(name: &str) -> Option<Level> {
        [Level::Active, Level::Reducing, Level::Halted]
            .into_iter()
            .find(|level| level.name() == name)
    }

    /// The severity of the alert announcing a move to this level.
    pub fn severity(self) -> Severity {
        match self {
            Level::Active => Severity::Info,
            Level::Reducing => Severity::Warning,
            Level::Halted => Severity::Critical,
        }
    }

    pub fn alert_kind(self) -> AlertKind {
        match self {
            Level::Active => AlertKind::Active,
            Level::Reducing => AlertKind::Reducing,
            Level::Halted => AlertKind::Halted,
        }
    }
}

/// What a broker event type announces: a state, or a return to the state before a pending request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    State(State),
    Revert,
}

/// The word of the policy language for [`Target::Revert`].
pub const REVERT: &str = "revert";

/// Which scope an escalation rule moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    Session,
    Group,
}

#[derive(Debug, Clone)]
pub struct EscalationRule {
    pub id: Arc<str>,
    pub alerts: Vec<AlertKind>,
    pub after_terminal: bool,
    pub min_severity: Option<Severity>,
    pub scope: Scope,
    pub to: Level,
    pub clear_after_ns: Option<i64>,
}

/// A problem with the compiled tables (they come from the compiler, so this means a bug or a hand edit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablesError(pub String);

impl std::fmt::Display for TablesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "compiled policy tables: {}", self.0)
    }
}

impl std::error::Error for TablesError {}

/// Every table the engine runs.
#[derive(Debug, Clone)]
pub struct Tables {
    state_names: Vec<Arc<str>>,
    state_ids: HashMap<Arc<str>, State>,
    // ordering
    pub initial: State,
    pub terminal: Vec<State>,
    /// Each state's stage in the declared progression, by state index (None: not declared).
    stage: Vec<Option<i64>>,
    pub event_state: [Option<Target>; EventType::COUNT],
    /// The rule allowing each transition, by from-state then to-state index: looked up for every
    /// broker event, so a dense table rather than a hashed map.
    transitions: Vec<Vec<Option<Arc<str>>>>,
    pub apply_violations: bool,
    pub violation_severity: Severity,
    pub violation_severity_after_terminal: Severity,
    pub late_fill_after: Vec<State>,
    pub late_fill_severity: Severity,
    pub check_gaps: bool,
    /// States a `revert` returns from: the targets of the `pending_*` types other than the initial state.
    pub pending_states: Vec<State>,
    // idempotency
    pub key_fields: Vec<Field>,
    pub window_ns: i64,
    pub max_keys: usize,
    pub content_fields: Vec<Field>,
    // intents
    pub required_before_submit: bool,
    pub recovery: HashMap<String, String>,
    pub ack_ns: Option<i64>,
    pub cancel_ns: Option<i64>,
    pub replace_ns: Option<i64>,
    pub fill_ns: Option<i64>,
    // hedging
    pub max_depth: i64,
    pub liquidity_fraction: f64,
    pub quote_max_age_ns: i64,
    pub max_attempts: i64,
    pub max_unhedged_ns: i64,
    // clock
    pub max_skew_ns: i64,
    pub offset_window_ns: i64,
    pub future_tolerance_ns: i64,
    /// By alert kind (as index); None: the default.
    severities: Vec<Option<Severity>>,
    pub escalation: Vec<EscalationRule>,
}

fn get<'a>(value: &'a Value, path: &str) -> Result<&'a Value, TablesError> {
    let mut at = value;
    for key in path.split('.') {
        at = at
            .get(key)
            .ok_or_else(|| TablesError(format!("missing {path}")))?;
    }
    Ok(at)
}

fn int(value: &Value, path: &str) -> Result<i64, TablesError> {
    let found = get(value, path)?;
    found
        .as_i64()
        .or_else(|| {
            found
                .as_f64()
                .filter(|f| f.fract() == 0.0)
                .map(|f| f as i64)
        })
        .ok_or_else(|| TablesError(format!("{path} is not an integer")))
}

fn opt_int(value: Option<&Value>) -> Option<i64> {
    value.and_then(Value::as_i64)
}

fn text<'a>(value: &'a Value, path: &str) -> Result<&'a str, TablesError> {
    get(value, path)?
        .as_str()
        .ok_or_else(|| TablesError(format!("{path} is not a string")))
}

fn texts<'a>(value: &'a Value, path: &str) -> Result<Vec<&'a str>, TablesError> {
    get(value, path)?
        .as_array()
        .ok_or_else(|| TablesError(format!("{path} is not a list")))?
        .iter()
        .map(|item| {
            item.as_str()
                .ok_or_else(|| TablesError(format!("{path} holds a non-string")))
        })
        .collect()
}

fn severity(name: &str, path: &str) -> Result<Severity, TablesError> {
    Severity::from_name(name)
        .ok_or_else(|| TablesError(format!("{path}: unknown severity {name:?}")))
}

impl Tables {
    /// The tables of a compiled policy, from its JSON (the whole artifact or its `tables`).
    pub fn from_json(text: &str) -> Result<Tables, TablesError> {
        let value: Value =
            serde_json::from_str(text).map_err(|error| TablesError(error.to_string()))?;
        let tables = value.get("tables").unwrap_or(&value);
        Tables::from_value(tables)
    }

    pub fn from_value(t: &Value) -> Result<Tables, TablesError> {
        let mut tables = Tables {
            state_names: Vec::new(),
            state_ids: HashMap::new(),
            initial: State(0),
            terminal: Vec::new(),
            stage: Vec::new(),
            event_state: [None; EventType::COUNT],
            transitions: Vec::new(),
            apply_violations: text(t, "ordering.on_violation.action")? == "apply",
            violation_severity: severity(
                text(t, "ordering.on_violation.severity")?,
                "on_violation",
            )?,
            violation_severity_after_terminal: Severity::Info,
            late_fill_after: Vec::new(),
            late_fill_severity: Severity::Critical,
            check_gaps: get(t, "ordering.check_sequence_gaps")?
                .as_bool()
                .unwrap_or(false),
            pending_states: Vec::new(),
            key_fields: Vec::new(),
            window_ns: int(t, "idempotency.window_ns")?,
            max_keys: usize::try_from(int(t, "idempotency.max_keys")?).unwrap_or(0),
            content_fields: Vec::new(),
            required_before_submit: t
                .pointer("/intents/required_before_submit")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            recovery: HashMap::new(),
            ack_ns: opt_int(t.pointer("/clock/timeouts_ns/ack")),
            cancel_ns: opt_int(t.pointer("/clock/timeouts_ns/cancel")),
            replace_ns: opt_int(t.pointer("/clock/timeouts_ns/replace")),
            fill_ns: opt_int(t.pointer("/clock/timeouts_ns/fill")),
            max_depth: int(t, "hedging.max_depth")?,
            liquidity_fraction: get(t, "hedging.liquidity_fraction")?
                .as_f64()
                .ok_or_else(|| TablesError("hedging.liquidity_fraction is not a number".into()))?,
            quote_max_age_ns: int(t, "hedging.quote_max_age_ns")?,
            max_attempts: int(t, "hedging.max_attempts_per_group")?,
            max_unhedged_ns: int(t, "hedging.max_unhedged_ns")?,
            max_skew_ns: int(t, "clock.max_skew_ns")?,
            offset_window_ns: int(t, "clock.offset_window_ns")?,
            future_tolerance_ns: int(t, "clock.future_tolerance_ns")?,
            severities: vec![None; AlertKind::ALL.len()],
            escalation: Vec::new(),
        };
        tables.violation_severity_after_terminal =
            match t.pointer("/ordering/on_violation/severity_after_terminal") {
                Some(Value::String(name)) => severity(name, "on_violation")?,
                _ => tables.violation_severity,
            };
        // States: every name the ordering tables mention, interned in a fixed order.
        for name in texts(t, "ordering.states")? {
            tables.intern(name);
        }
        tables.initial = tables.intern(text(t, "ordering.initial")?);
        for name in texts(t, "ordering.terminal")? {
            let state = tables.intern(name);
            tables.terminal.push(state);
        }
        if let Some(stage) = get(t, "ordering.stage")?.as_object() {
            for (name, index) in stage {
                let state = usize::from(tables.intern(name).0);
                if tables.stage.len() <= state {
                    tables.stage.resize(state + 1, None);
                }
                tables.stage[state] = Some(index.as_i64().unwrap_or(0));
            }
        }
        if let Some(events) = get(t, "ordering.event_state")?.as_object() {
            for (event_name, target) in events {
                let Some(event_type) = EventType::from_name(event_name) else {
                    continue;
                };
                let target = target.as_str().unwrap_or_default();
                let target = if target == REVERT {
                    Target::Revert
                } else {
                    Target::State(tables.intern(target))
                };
                tables.event_state[event_type as usize] = Some(target);
                if let Target::State(state) = target
                    && event_name.starts_with("pending_")
                    && state != tables.initial
                    && !tables.pending_states.contains(&state)
                {
                    tables.pending_states.push(state);
                }
            }
        }
        if let Some(transitions) = get(t, "ordering.transitions")?.as_object() {
            for (from, targets) in transitions {
                let from = tables.intern(from);
                for (to, rule) in targets.as_object().into_iter().flatten() {
                    let to = tables.intern(to);
                    tables.allow(from, to, Arc::from(rule.as_str().unwrap_or_default()));
                }
            }
        }
        if let Some(late) = t.pointer("/ordering/late_fills") {
            for name in texts(late, "after")? {
                let state = tables.intern(name);
                tables.late_fill_after.push(state);
            }
            tables.late_fill_severity = severity(text(late, "severity")?, "late_fills")?;
        }
        for name in texts(t, "idempotency.key")? {
            tables.key_fields.push(
                Field::from_name(name).ok_or_else(|| {
                    TablesError(format!("idempotency.key: unknown field {name:?}"))
                })?,
            );
        }
        let ignored: Vec<&str> = match t.pointer("/idempotency/ignore_fields") {
            Some(_) => texts(t, "idempotency.ignore_fields")?,
            None => Vec::new(),
        };
        tables.content_fields = Field::ALL
            .iter()
            .copied()
            .filter(|f| !ignored.contains(&f.name()))
            .collect();
        if let Some(recovery) = t.pointer("/intents/recovery").and_then(Value::as_object) {
            for (key, value) in recovery {
                tables
                    .recovery
                    .insert(key.clone(), value.as_str().unwrap_or_default().to_string());
            }
        }
        if let Some(severities) = get(t, "severities")?.as_object() {
            for (kind, name) in severities {
                if let Some(kind) = AlertKind::from_name(kind) {
                    tables.severities[kind as usize] =
                        Some(severity(name.as_str().unwrap_or_default(), "severities")?);
                }
            }
        }
        for rule in get(t, "escalation")?.as_array().into_iter().flatten() {
            let scope = match text(rule, "scope")? {
                "all" => Scope::All,
                "session" => Scope::Session,
                _ => Scope::Group,
            };
            let to = text(rule, "to")?;
            tables.escalation.push(EscalationRule {
                id: Arc::from(text(rule, "id")?),
                alerts: texts(rule, "alerts")?
                    .into_iter()
                    .filter_map(AlertKind::from_name)
                    .collect(),
                after_terminal: rule
                    .get("after_terminal")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                min_severity: rule
                    .get("min_severity")
                    .and_then(Value::as_str)
                    .and_then(Severity::from_name),
                scope,
                to: Level::from_name(to)
                    .ok_or_else(|| TablesError(format!("escalation: unknown state {to:?}")))?,
                clear_after_ns: opt_int(rule.get("clear_after_ns")),
            });
        }
        Ok(tables)
    }

    /// The state of this name, added to the names if the tables never mentioned it.
    pub fn intern(&mut self, name: &str) -> State {
        if let Some(state) = self.state_ids.get(name) {
            return *state;
        }
        let state = State(u16::try_from(self.state_names.len()).unwrap_or(u16::MAX));
        let name: Arc<str> = Arc::from(name);
        self.state_names.push(name.clone());
        self.state_ids.insert(name, state);
        state
    }

    pub fn state_id(&self, name: &str) -> Option<State> {
        self.state_ids.get(name).copied()
    }

    pub fn state_name(&self, state: State) -> &Arc<str> {
        &self.state_names[usize::from(state.0)]
    }

    pub fn is_terminal(&self, state: State) -> bool {
        self.terminal.contains(&state)
    }

    pub fn is_pending(&self, state: State) -> bool {
        self.pending_states.contains(&state)
    }

    pub fn stage_of(&self, state: State) -> i64 {
        self.declared_stage(state).unwrap_or(0)
    }

    /// The stage the policy declares for a state, None if it declares none.
    pub fn declared_stage(&self, state: State) -> Option<i64> {
        self.stage.get(usize::from(state.0)).copied().flatten()
    }

    /// The rule that allows moving from one state to another, None if the policy does not.
    #[inline]
    pub fn transition(&self, from: State, to: State) -> Option<&Arc<str>> {
        self.transitions
            .get(usize::from(from.0))?
            .get(usize::from(to.0))?
            .as_ref()
    }

    fn allow(&mut self, from: State, to: State, rule: Arc<str>) {
        let (from, to) = (usize::from(from.0), usize::from(to.0));
        if self.transitions.len() <= from {
            self.transitions.resize(from + 1, Vec::new());
        }
        let targets = &mut self.transitions[from];
        if targets.len() <= to {
            targets.resize(to + 1, None);
        }
        targets[to] = Some(rule);
    }

    /// The severity the policy gives an alert kind (the compiler fills in every default).
    pub fn severity(&self, kind: AlertKind) -> Severity {
        self.severities[kind as usize].unwrap_or(Severity::Warning)
    }

    /// The state an intent the broker never saw is marked with: `rejected`, else the first terminal name.
    pub fn failed_state(&self) -> State {
        if let Some(state) = self.state_id("rejected").filter(|s| self.is_terminal(*s)) {
            return state;
        }
        self.terminal
            .iter()
            .copied()
            .min_by(|a, b| self.state_name(*a).cmp(self.state_name(*b)))
            .unwrap_or(self.initial)
    }

    /// How long finished orders stay in the book: the dedup window, but at least the longest timeout.
    pub fn retain_ns(&self) -> i64 {
        [
            Some(self.window_ns),
            self.ack_ns,
            self.cancel_ns,
            self.replace_ns,
            self.fill_ns,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(self.window_ns)
    }
}
