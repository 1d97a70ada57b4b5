//! `safeguards._core`: the Python face of `safeguards-core`, thin and in one place.
//!
//! Everything here converts between Python objects and the core's types (event dicts to typed
//! events, decisions and alerts back to the dicts the Python API returns); no safeguard semantics
//! live in this crate.

mod columnar;
mod texts;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::{IntoPyObjectExt, intern};
use safeguards_core::decision::Alert;
use safeguards_core::decision::Outcome;
use safeguards_core::engine::Engine as CoreEngine;
use safeguards_core::engine::intents::OpenOrder;
use safeguards_core::event::{Event, Field};
use safeguards_core::json_out;
use safeguards_core::num::Num;
use safeguards_core::policy::Tables;
use safeguards_core::screen::{Raw, ReusedEvent, timestamp_error};
use safeguards_core::session::{SessionKey, Traits};
use safeguards_core::sidecar;
use safeguards_core::timestamp;
use serde_json::Value;
use texts::DecisionTexts;

/// Nanoseconds since the epoch as canonical RFC 3339 UTC text (nine fraction digits).
#[pyfunction]
fn format_timestamp(nanos: i64) -> String {
    timestamp::format_timestamp(nanos)
}

/// RFC 3339 text to nanoseconds since the epoch; ValueError if it is not one.
#[pyfunction]
fn parse_rfc3339(text: &str) -> PyResult<i128> {
    timestamp::parse_rfc3339(text)
        .map_err(|error| PyValueError::new_err(timestamp_error(&error, text)))
}

/// A journaled block's records, sealed as `journal.records.encode_raw` seals them (the first
/// arrival after `arrival`), and how many; None if a line needs the journal's Python path.
#[pyfunction]
fn seal_lines<'py>(
    py: Python<'py>,
    data: &[u8],
    arrival: u64,
) -> Option<(Bound<'py, PyBytes>, u64)> {
    let mut out = Vec::with_capacity(data.len() + data.len() / 4);
    let count = py.detach(|| sidecar::seal_lines(data, arrival, &mut out))?;
    Some((PyBytes::new(py, &out), count))
}

const LONE_SURROGATE: &str = "text with an unpaired surrogate (half of a character)";

/// A Python value as the screen sees it: by its exact type (a str's text borrowed from it).
fn raw<'v>(value: &'v Bound<'_, PyAny>) -> PyResult<Raw<'v>> {
    if value.is_none() {
        Ok(Raw::None)
    } else if value.is_exact_instance_of::<PyString>() {
        // A str holding a lone surrogate is not text Rust can hold: the screen refuses it by that name.
        Ok(match value.cast::<PyString>()?.to_str() {
            Ok(text) => Raw::Str(text.into()),
            Err(_) => Raw::Other(LONE_SURROGATE.into()),
        })
    } else if value.is_exact_instance_of::<PyBool>() {
        Ok(Raw::Bool(value.is_truthy()?))
    } else if value.is_exact_instance_of::<PyInt>() {
        Ok(value
            .extract::<i64>()
            .map_or_else(|_| Raw::BigInt(value.to_string().into()), Raw::Int))
    } else if value.is_exact_instance_of::<PyFloat>() {
        Ok(Raw::Float(value.extract::<f64>()?))
    } else {
        Ok(Raw::Other(value.get_type().name()?.to_string().into()))
    }
}

/// The input dict's own `event_id` and `order_id` str objects: a decision shares them instead of
/// making new strings of the same text (a valid event's ids are exactly these strs).
#[derive(Default)]
struct Ids<'py> {
    event_id: Option<Bound<'py, PyAny>>,
    order_id: Option<Bound<'py, PyAny>>,
}

/// A decision's value of an id: the input's own str when it gave one, else the screened text.
fn shared_id<'py>(
    py: Python<'py>,
    given: &Option<Bound<'py, PyAny>>,
    screened: &Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    match (given, screened) {
        (Some(given), Some(_)) => Ok(given.clone()),
        _ => screened.into_bound_py_any(py),
    }
}

/// The canonical fields of an event dict and their values, in its order (other keys are the
/// event's own business).
fn items<'py>(
    event: &Bound<'py, PyDict>,
    ids: &mut Ids<'py>,
) -> PyResult<Vec<(Field, Bound<'py, PyAny>)>> {
    let mut found = Vec::with_capacity(event.len());
    for (key, value) in event.iter() {
        if !key.is_exact_instance_of::<PyString>() {
            continue;
        }
        let Ok(name) = key.cast::<PyString>()?.to_str() else {
            continue; // a key with a lone surrogate names no canonical field
        };
        if let Some(field) = Field::from_name(name) {
            if value.is_exact_instance_of::<PyString>() {
                match field {
                    Field::EventId => ids.event_id = Some(value.clone()),
                    Field::OrderId => ids.order_id = Some(value.clone()),
                    _ => {}
                }
            }
            found.push((field, value));
        }
    }
    Ok(found)
}

/// Screen an event dict into the reused event; the reason if it is malformed.
fn screen_dict<'e, 'py>(
    reused: &'e mut ReusedEvent,
    event: &Bound<'py, PyDict>,
    ids: &mut Ids<'py>,
) -> PyResult<Result<&'e Event, String>> {
    let items = items(event, ids)?;
    let mut raws = Vec::with_capacity(items.len());
    for (field, value) in &items {
        raws.push((*field, raw(value)?));
    }
    Ok(reused.screen(&raws))
}

/// [`screen_dict`] for any value (an event must be a dict).
fn screen_any<'e, 'py>(
    reused: &'e mut ReusedEvent,
    event: &Bound<'py, PyAny>,
    ids: &mut Ids<'py>,
) -> PyResult<Result<&'e Event, String>> {
    if !event.is_exact_instance_of::<PyDict>() {
        return Ok(Err(format!(
            "an event must be a JSON object, got {}",
            event.get_type().name()?
        )));
    }
    screen_dict(reused, event.cast::<PyDict>()?, ids)
}

fn json_py(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(flag) => flag.into_py_any(py)?,
        Value::Number(number) => match (number.as_i64(), number.as_u64()) {
            (Some(int), _) => int.into_py_any(py)?,
            (None, Some(uint)) => uint.into_py_any(py)?,
            _ => number.as_f64().unwrap_or(f64::NAN).into_py_any(py)?,
        },
        Value::String(text) => text.into_py_any(py)?,
        Value::Array(items) => PyList::new(
            py,
            items
                .iter()
                .map(|item| json_py(py, item))
                .collect::<PyResult<Vec<_>>>()?,
        )?
        .into_any()
        .unbind(),
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, json_py(py, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

fn alert_py<'py>(py: Python<'py>, alert: &Alert) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item(intern!(py, "kind"), alert.kind.name())?;
    dict.set_item(intern!(py, "severity"), alert.severity.name())?;
    dict.set_item(intern!(py, "guard"), alert.guard.name())?;
    dict.set_item(intern!(py, "seq"), alert.seq)?;
    dict.set_item(intern!(py, "order_id"), &alert.order_id)?;
    dict.set_item(intern!(py, "group_id"), &alert.group_id)?;
    dict.set_item(
        intern!(py, "broker_ts"),
        alert.broker_ts.map(timestamp::format_timestamp),
    )?;
    dict.set_item(intern!(py, "detail"), &alert.detail)?;
    Ok(dict)
}

fn alerts_py<'py>(py: Python<'py>, alerts: &[Alert]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(
        py,
        alerts
            .iter()
            .map(|alert| alert_py(py, alert))
            .collect::<PyResult<Vec<_>>>()?,
    )
}

fn session_key(key: &Bound<'_, PyAny>) -> PyResult<SessionKey> {
    if key.is_none() {
        return Ok(SessionKey::None);
    }
    if key.is_instance_of::<PyInt>()
        && let Ok(int) = key.extract::<i64>()
    {
        return Ok(SessionKey::Int(int));
    }
    if key.is_exact_instance_of::<PyString>() {
        return Ok(SessionKey::Str(key.extract()?));
    }
    Ok(SessionKey::Other(key.repr()?.to_string()))
}

/// A `safeguards.session.SessionTraits` (None: a live stream's).
fn traits_of(traits: Option<&Bound<'_, PyAny>>) -> PyResult<Traits> {
    Ok(match traits {
        None => Traits::default(),
        Some(traits) if traits.is_none() => Traits::default(),
        Some(traits) => Traits {
            own_clock: traits.getattr("own_clock")?.is_truthy()?,
            clock_resolution_ns: traits.getattr("clock_resolution_ns")?.extract()?,
            records_intents: traits.getattr("records_intents")?.is_truthy()?,
        },
    })
}

fn engine_error(py: Python<'_>, message: String) -> PyErr {
    match py
        .import("safeguards.errors")
        .and_then(|errors| errors.getattr("EngineError"))
    {
        Ok(class) => PyErr::from_value(
            class
                .call1((message,))
                .unwrap_or_else(|error| error.into_value(py).into_bound(py).into_any()),
        ),
        Err(error) => error,
    }
}

/// The engine, compiled: `safeguards.Engine`'s API over `safeguards-core`.
#[pyclass(module = "safeguards._core", name = "Engine", subclass)]
struct Engine {
    core: CoreEngine,
    #[pyo3(get)]
    identity: String,
    #[pyo3(get)]
    policy: Py<PyAny>,
    /// The Python objects of decisions, made once and shared (see `texts`).
    texts: DecisionTexts,
    /// The sidecar's answer lines of the block being answered: kept between blocks, so that its
    /// memory is not mapped afresh for every block.
    answers: Vec<u8>,
    /// The event each call reads its input into.
    reused: ReusedEvent,
}

/// Decide a valid event: its seq, outcome and group (a Python str made from the group's text as
/// the engine finds it, with no Rust copy between).
fn decide_here<'py>(
    py: Python<'py>,
    core: &mut CoreEngine,
    event: &Event,
) -> (i64, Outcome, Option<Bound<'py, PyString>>) {
    let mut group_id = None;
    let (seq, outcome) = core.decide_seeing_group(event, |group| {
        group_id = group.map(|group| PyString::new(py, group));
    });
    (seq, outcome, group_id)
}

/// Decide a valid event; its decision dict.
fn decision<'py>(
    core: &mut CoreEngine,
    texts: &mut DecisionTexts,
    py: Python<'py>,
    event: &Event,
    ids: &Ids<'py>,
) -> PyResult<Bound<'py, PyDict>> {
    let (seq, outcome, group_id) = decide_here(py, core, event);
    let dict = texts.blank(py)?;
    dict.set_item(intern!(py, "seq"), seq)?;
    dict.set_item(
        intern!(py, "event_id"),
        shared_id(py, &ids.event_id, &event.event_id)?,
    )?;
    dict.set_item(
        intern!(py, "order_id"),
        shared_id(py, &ids.order_id, &event.order_id)?,
    )?;
    dict.set_item(intern!(py, "group_id"), group_id)?;
    texts.outcome_items(py, &dict, &outcome)?;
    Ok(dict)
}

impl Engine {
    /// A malformed input's decision: the ids it has as strings, its own seq if an int.
    fn invalid<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        reason: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        let arrivals = self.core.record_invalid();
        let fields = event.cast::<PyDict>().ok();
        let get = |name: &str| -> PyResult<Option<Bound<'py, PyAny>>> {
            match fields {
                Some(dict) => dict.get_item(name),
                None => Ok(None),
            }
        };
        let text = |name: &str| -> PyResult<Py<PyAny>> {
            Ok(match get(name)? {
                Some(value) if value.is_instance_of::<PyString>() => value.unbind(),
                _ => py.None(),
            })
        };
        let dict = PyDict::new(py);
        let seq = match get("seq")? {
            Some(seq) if seq.is_exact_instance_of::<PyInt>() => seq.unbind(),
            _ => arrivals.into_py_any(py)?,
        };
        dict.set_item(intern!(py, "seq"), seq)?;
        dict.set_item(intern!(py, "event_id"), text("event_id")?)?;
        dict.set_item(intern!(py, "order_id"), text("order_id")?)?;
        dict.set_item(intern!(py, "group_id"), text("group_id")?)?;
        dict.set_item(intern!(py, "verdict"), "invalid")?;
        dict.set_item(intern!(py, "guard"), "schema")?;
        dict.set_item(intern!(py, "rule"), "canonical_event")?;
        dict.set_item(intern!(py, "reason"), reason)?;
        dict.set_item(intern!(py, "policy"), &self.identity)?;
        Ok(dict)
    }

    /// The core's state with the policy's hash: what `state()` and `state_text()` hand out.
    fn state_value(&self, py: Python<'_>) -> PyResult<Value> {
        let mut state = self
            .core
            .state()
            .map_err(|error| engine_error(py, error.to_string()))?;
        state["policy_hash"] =
            Value::from(self.policy.bind(py).getattr("hash")?.extract::<String>()?);
        Ok(state)
    }

    fn stamp(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<i64> {
        if value.is_exact_instance_of::<PyInt>() {
            return value.extract::<i64>();
        }
        let words = match raw(value)? {
            Raw::Str(text) => match timestamp::parse_rfc3339(&text) {
                Ok(nanos) => {
                    return i64::try_from(nanos)
                        .map_err(|_| PyValueError::new_err("timestamp out of range"));
                }
                Err(error) => timestamp_error(&error, &text),
            },
            other => format!(
                "expected {}, got {}",
                safeguards_core::event::Kind::Timestamp.words(),
                other.type_name()
            ),
        };
        Err(engine_error(py, format!("{what}: {words}")))
    }
}

#[pymethods]
impl Engine {
    /// `policy`: a CompiledPolicy, compiled tables (a dict), or the path of a YAML or compiled policy.
    #[new]
    fn new(py: Python<'_>, policy: Bound<'_, PyAny>) -> PyResult<Engine> {
        let module = py.import("safeguards.policy")?;
        let compiled = module.getattr("CompiledPolicy")?;
        let policy = if policy.is_instance(&compiled)? {
            policy
        } else if policy.is_instance_of::<PyDict>() {
            compiled.call_method1("from_tables", (policy,))?
        } else {
            module.getattr("load_policy")?.call1((policy,))?
        };
        let tables = py
            .import("json")?
            .call_method1("dumps", (policy.getattr("tables")?,))?;
        let tables = Tables::from_json(tables.extract::<&str>()?)
            .map_err(|error| PyValueError::new_err(error.to_string()))?;
        let identity: String = policy.getattr("identity")?.extract()?;
        let texts = DecisionTexts::new(py, &identity)?;
        Ok(Engine {
            core: CoreEngine::new(tables),
            identity,
            texts,
            answers: Vec::new(),
            reused: ReusedEvent::default(),
            policy: policy.unbind(),
        })
    }

    /// Decide one canonical event (a plain dict); never raises for bad input.
    fn process<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut ids = Ids::default();
        let Engine {
            core,
            texts,
            reused,
            ..
        } = self;
        match screen_any(reused, event, &mut ids)? {
            Ok(valid) => decision(core, texts, py, valid, &ids),
            Err(reason) => self.invalid(py, event, reason),
        }
    }

    /// Decide an event read back from the event store (int ns timestamps; `fields` is not needed here).
    #[pyo3(signature = (event, fields=None))]
    fn process_stored<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyDict>,
        fields: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let _ = fields;
        let mut ids = Ids::default();
        let Engine {
            core,
            texts,
            reused,
            ..
        } = self;
        match screen_dict(reused, event, &mut ids)? {
            Ok(valid) => decision(core, texts, py, valid, &ids),
            Err(why) => {
                let seq = event
                    .get_item("seq")?
                    .and_then(|seq| seq.extract::<i64>().ok());
                let decided = self.core.unprocessable(seq, why);
                let dict = self.texts.blank(py)?;
                dict.set_item("seq", decided.seq)?;
                for name in ["event_id", "order_id", "group_id"] {
                    dict.set_item(name, event.get_item(name)?)?;
                }
                self.texts.outcome_items(py, &dict, &decided.outcome)?;
                Ok(dict)
            }
        }
    }

    /// The backtest's bulk path: each stored event's outcome tuple and its group.
    fn decide_stored<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
        fields: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let _ = fields;
        let outcomes = PyList::empty(py);
        let groups = PyList::empty(py);
        for event in events.try_iter()? {
            let event = event?;
            let screened = screen_dict(
                &mut self.reused,
                event.cast::<PyDict>()?,
                &mut Ids::default(),
            )?;
            let (outcome, group_id) = match screened {
                Ok(valid) => {
                    let (_, outcome, group_id) = decide_here(py, &mut self.core, valid);
                    (outcome, group_id)
                }
                Err(why) => {
                    let seq = event
                        .get_item("seq")
                        .ok()
                        .and_then(|seq| seq.extract::<i64>().ok());
                    let decided = self.core.unprocessable(seq, why);
                    (decided.outcome, None)
                }
            };
            outcomes.append(self.texts.outcome_tuple(py, &outcome)?)?;
            groups.append(group_id)?;
        }
        Ok((outcomes, groups))
    }

    /// The backtest's columnar path: a record batch of stored events (the store reader's columns,
    /// `ingest_id` naming each row's log) in; its decision columns and alert columns out, as
    /// `ArrowBatch`es for `pyarrow.record_batch`. `logs` maps an ingest id to its SessionTraits.
    /// The GIL is released while the core decides.
    fn decide_columns(
        &mut self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        logs: &Bound<'_, PyDict>,
    ) -> PyResult<(columnar::ArrowBatch, columnar::ArrowBatch)> {
        let batch = columnar::import_batch(batch)?;
        let mut traits = std::collections::HashMap::with_capacity(logs.len());
        for (log, value) in logs.iter() {
            traits.insert(log.extract::<i64>()?, traits_of(Some(&value))?);
        }
        let core = &mut self.core;
        let decided = py
            .detach(|| safeguards_core::columnar::decide_columns(core, &batch, &traits))
            .map_err(|error| engine_error(py, error.to_string()))?;
        Ok((
            columnar::ArrowBatch::new(decided.decisions),
            columnar::ArrowBatch::new(decided.alerts),
        ))
    }

    /// The batch entry point from a Python list of event dicts, without a dict per decision.
    ///
    /// Returns each event's seq, its outcome `(verdict, guard, rule, reason)` (tuples shared between
    /// equal outcomes, so a writer can dictionary-encode them) and its group; then the alerts raised.
    /// A malformed event's outcome is `("invalid", "schema", "canonical_event", reason)`.
    #[allow(clippy::type_complexity)]
    fn decide_batch<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<(
        Bound<'py, PyList>,
        Bound<'py, PyList>,
        Bound<'py, PyList>,
        Bound<'py, PyList>,
    )> {
        let seqs = PyList::empty(py);
        let outcomes = PyList::empty(py);
        let groups = PyList::empty(py);
        for event in events.try_iter()? {
            let event = event?;
            match screen_any(&mut self.reused, &event, &mut Ids::default())? {
                Ok(valid) => {
                    let (seq, outcome, group_id) = decide_here(py, &mut self.core, valid);
                    seqs.append(seq)?;
                    outcomes.append(self.texts.outcome_tuple(py, &outcome)?)?;
                    groups.append(group_id)?;
                }
                Err(reason) => {
                    let decision = self.invalid(py, &event, reason)?;
                    seqs.append(decision.get_item("seq")?)?;
                    let outcome = ["verdict", "guard", "rule", "reason"].map(|name| {
                        decision
                            .get_item(name)
                            .ok()
                            .flatten()
                            .map_or_else(|| py.None(), Bound::unbind)
                    });
                    outcomes.append(PyTuple::new(py, outcome)?)?;
                    groups.append(decision.get_item("group_id")?)?;
                }
            }
        }
        Ok((seqs, outcomes, groups, self.pop_alerts(py)?))
    }

    /// The sidecar's hot path: answer the lines of `data` (a block of complete input lines) from
    /// byte `offset` on, the first of them being line number `line` of the run; the GIL is released
    /// meanwhile. Returns the answer lines (ASCII bytes, as the Python loop writes them), the offset
    /// of a line left to the Python path (None once the block is answered) and the number of the
    /// line there (the next line's, once answered).
    fn answer_lines<'py>(
        &mut self,
        py: Python<'py>,
        data: &[u8],
        offset: usize,
        line: u64,
    ) -> PyResult<(Bound<'py, PyBytes>, Option<usize>, u64)> {
        let mut cursor = sidecar::Cursor { offset, line };
        let Engine {
            core,
            identity,
            answers: out,
            ..
        } = self;
        out.clear();
        let stop = py.detach(|| sidecar::answer_lines(core, identity, data, &mut cursor, out));
        let at = match stop {
            sidecar::Stop::Done => None,
            sidecar::Stop::Python => Some(cursor.offset),
        };
        Ok((PyBytes::new(py, out), at, cursor.line))
    }

    /// Decide many events; their decisions (in order) and every alert raised.
    fn process_batch<'py>(
        &mut self,
        py: Python<'py>,
        events: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyList>)> {
        let decisions = PyList::empty(py);
        for event in events.try_iter()? {
            decisions.append(self.process(py, &event?)?)?;
        }
        Ok((decisions, self.pop_alerts(py)?))
    }

    /// The alerts raised since the last call, oldest first.
    fn pop_alerts<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let alerts = self.core.pop_alerts();
        alerts_py(py, &alerts)
    }

    /// Live use: broker time is now `now` (ns or RFC 3339); fire due timeouts, return alerts.
    fn advance<'py>(
        &mut self,
        py: Python<'py>,
        now: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let stamp = Engine::stamp(py, now, "advance")?;
        self.core.advance(stamp);
        self.pop_alerts(py)
    }

    /// Live use: the local clock says `local_now`; corrected by the estimated offset.
    fn advance_local<'py>(
        &mut self,
        py: Python<'py>,
        local_now: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let stamp = Engine::stamp(py, local_now, "advance_local")?;
        self.core.advance_local(stamp);
        self.pop_alerts(py)
    }

    /// Broker time in ns since the epoch, as the engine knows it.
    #[getter]
    fn now(&self) -> i64 {
        self.core.now()
    }

    #[getter]
    fn arrivals(&self) -> i64 {
        self.core.arrivals
    }

    fn next_deadline(&self) -> Option<i64> {
        self.core.next_deadline()
    }

    /// The broker's message numbers start over (a new FIX session or trading day).
    fn new_session(&mut self) {
        self.core.new_session();
    }

    /// Events from here on belong to the broker's session `key`, with these traits (SessionTraits).
    #[pyo3(signature = (key, traits=None))]
    fn use_session(
        &mut self,
        key: &Bound<'_, PyAny>,
        traits: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.core
            .use_session(&session_key(key)?, traits_of(traits)?);
        Ok(())
    }

    /// Compare the broker's open orders (order_id, broker_order_id, status, cum_qty) with ours; the findings.
    fn reconcile<'py>(
        &mut self,
        py: Python<'py>,
        open_orders: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut listed = Vec::new();
        for entry in open_orders.try_iter()? {
            let entry = entry?;
            let entry = entry
                .cast::<PyDict>()
                .map_err(|_| PyTypeError::new_err("an open order is a dict"))?;
            let get = |name: &str| entry.get_item(name);
            let cum_qty = match get("cum_qty")? {
                Some(value) => match raw(&value)? {
                    Raw::Int(int) => Some(Num::Int(int)),
                    Raw::Float(float) => Some(Num::Float(float)),
                    _ => None,
                },
                None => None,
            };
            listed.push(OpenOrder {
                order_id: get("order_id")?
                    .ok_or_else(|| PyValueError::new_err("order_id"))?
                    .str()?
                    .to_string(),
                broker_order_id: match get("broker_order_id")? {
                    Some(value) => value.str()?.to_string(),
                    None => "None".into(),
                },
                status: get("status")?.and_then(|status| status.extract::<String>().ok()),
                cum_qty,
            });
        }
        let alerts = self.core.reconcile(&listed);
        alerts_py(py, &alerts)
    }

    /// What the engine knows about an order (state, cum_qty, ...), or None.
    fn order(&self, py: Python<'_>, order_id: &str) -> PyResult<Py<PyAny>> {
        match self.core.order(order_id) {
            Some(order) => json_py(py, &order.to_json(&self.core.tables)),
            None => Ok(py.None()),
        }
    }

    /// `active`, `reducing` or `halted`: for a group, or for everything if None.
    #[pyo3(signature = (group_id=None))]
    fn trading_state(&self, group_id: Option<&str>) -> &'static str {
        self.core.trading_state(group_id).name()
    }

    #[getter]
    fn counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (verdict, count) in self.core.counts() {
            dict.set_item(verdict.name(), count)?;
        }
        Ok(dict)
    }

    #[getter]
    fn alert_counts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (kind, count) in self.core.alert_counts() {
            dict.set_item(kind.name(), count)?;
        }
        Ok(dict)
    }

    /// A JSON-ready picture of the whole engine (for operators, tests and journals).
    fn snapshot(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_py(py, &self.core.snapshot(&self.identity))
    }

    /// The trading state alone, as `snapshot()["trading"]` holds it (without every order's copy).
    fn trading(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_py(py, &self.core.trading_snapshot())
    }

    /// Record a malformed input (bad JSON, bad field) and return its `invalid` decision.
    #[pyo3(name = "invalid")]
    fn record_invalid<'py>(
        &mut self,
        py: Python<'py>,
        event: &Bound<'py, PyAny>,
        reason: String,
    ) -> PyResult<Bound<'py, PyDict>> {
        self.invalid(py, event, reason)
    }

    /// Everything the engine holds, JSON-ready (format `safeguards-core/1`): `from_state` continues exactly.
    fn state(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        json_py(py, &self.state_value(py)?)
    }

    /// `state()` as `json.dumps(state(), sort_keys=True, separators=(",", ":"))` writes it, written
    /// by the core: a journal checkpoint, without building a large state in Python first.
    fn state_text(&self, py: Python<'_>) -> PyResult<String> {
        let mut out = Vec::new();
        json_out::write_canonical(&mut out, &self.state_value(py)?)
            .map_err(|error| engine_error(py, error))?;
        String::from_utf8(out).map_err(|error| engine_error(py, error.to_string()))
    }

    /// An engine in exactly the state `state()` (or `state_text()`) described, for the same policy, of this class.
    #[classmethod]
    fn from_state<'py>(
        class: &Bound<'py, pyo3::types::PyType>,
        policy: Bound<'py, PyAny>,
        state: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = class.py();
        let made = class.call1((policy,))?;
        {
            let mut engine = made.cast::<Engine>()?.borrow_mut();
            let hash: String = engine.policy.bind(py).getattr("hash")?.extract()?;
            let text: String = match state.extract::<String>() {
                Ok(text) => text,
                Err(_) => py
                    .import("json")?
                    .call_method1("dumps", (state,))?
                    .extract()?,
            };
            let value: Value =
                serde_json::from_str(&text).map_err(|error| engine_error(py, error.to_string()))?;
            let saved = value.get("policy_hash").map(|saved| match saved {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            });
            if saved.as_deref() != Some(hash.as_str()) {
                let shown: String = saved
                    .unwrap_or_else(|| "None".into())
                    .chars()
                    .take(12)
                    .collect();
                let message = format!(
                    "state was saved under policy hash {shown}, not {}; load it with that policy",
                    engine.identity
                );
                return Err(engine_error(py, message));
            }
            let tables = engine.core.tables.clone();
            engine.core = CoreEngine::from_state(tables, &value)
                .map_err(|error| engine_error(py, error.to_string()))?;
        }
        Ok(made)
    }

    /// How many alerts are raised and not yet taken.
    fn pending_alerts(&self) -> usize {
        self.core.pending_alerts()
    }

    /// Orders and dedup keys held (memory bounds, for benchmarks).
    fn held(&self) -> (usize, usize) {
        (self.core.orders_held(), self.core.dedup_keys_held())
    }

    /// Of the orders held, how many are finished and held packed (for benchmarks).
    fn orders_packed(&self) -> usize {
        self.core.orders_packed()
    }
}

#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add_function(wrap_pyfunction!(format_timestamp, module)?)?;
    module.add_function(wrap_pyfunction!(parse_rfc3339, module)?)?;
    module.add_function(wrap_pyfunction!(seal_lines, module)?)?;
    module.add_class::<Engine>()?;
    module.add_class::<columnar::ArrowBatch>()?;
    Ok(())
}
