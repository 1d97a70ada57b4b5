//! The Python objects of decisions that recur from one to the next, made once and then shared.
//!
//! A decision's verdict, guard, rule and reason are codes in the core; turning them into Python
//! strings on every event was most of the cost of a decision dict. Each is keyed by its identity
//! (enum, interned rule id, reason parameters) so no text is rendered or hashed to find it.

use std::hash::Hash;

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use safeguards_core::decision::{Guard, Outcome, Reason, ReasonKey, Rule, RuleKey, Verdict};
use safeguards_core::fastmap::FastMap;

/// Past this many entries a cache stops growing (reasons with free text in them are keyed by their
/// words, and a stream could hold any number of them); what it holds stays shared.
const LIMIT: usize = 4096;

/// The identity of an outcome: equal keys, equal `(verdict, guard, rule, reason)`.
type OutcomeKey = (Verdict, Guard, Option<RuleKey>, ReasonKey);

pub struct DecisionTexts {
    verdicts: FastMap<Verdict, Py<PyString>>,
    guards: FastMap<Guard, Py<PyString>>,
    rules: FastMap<RuleKey, Py<PyString>>,
    reasons: FastMap<ReasonKey, Py<PyString>>,
    outcomes: FastMap<OutcomeKey, Py<PyTuple>>,
    /// A decision dict with every key and no values: copied for each decision, so that building
    /// one sets values of keys already in place instead of growing a fresh dict.
    template: Py<PyDict>,
}

fn cached<'py, K: Hash + Eq>(
    py: Python<'py>,
    known: &mut FastMap<K, Py<PyString>>,
    key: K,
    text: impl FnOnce() -> String,
) -> Bound<'py, PyString> {
    if let Some(found) = known.get(&key) {
        return found.bind(py).clone();
    }
    let made = PyString::new(py, &text());
    if known.len() < LIMIT {
        known.insert(key, made.clone().unbind());
    }
    made
}

impl DecisionTexts {
    pub fn new(py: Python<'_>, identity: &str) -> PyResult<DecisionTexts> {
        let template = PyDict::new(py);
        for key in [
            intern!(py, "seq"),
            intern!(py, "event_id"),
            intern!(py, "order_id"),
            intern!(py, "group_id"),
            intern!(py, "verdict"),
            intern!(py, "guard"),
            intern!(py, "rule"),
            intern!(py, "reason"),
        ] {
            template.set_item(key, py.None())?;
        }
        template.set_item(intern!(py, "policy"), PyString::new(py, identity))?;
        Ok(DecisionTexts {
            verdicts: FastMap::default(),
            guards: FastMap::default(),
            rules: FastMap::default(),
            reasons: FastMap::default(),
            outcomes: FastMap::default(),
            template: template.unbind(),
        })
    }

    /// A new decision dict, its keys in the decision's order, every value None but the policy's.
    pub fn blank<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.template.bind(py).copy()
    }

    /// Set the outcome's items (verdict, guard, rule, reason) in `dict`, a [`DecisionTexts::blank`]
    /// one (which holds the policy's identity already).
    pub fn outcome_items(
        &mut self,
        py: Python<'_>,
        dict: &Bound<'_, PyDict>,
        outcome: &Outcome,
    ) -> PyResult<()> {
        dict.set_item(intern!(py, "verdict"), self.verdict(py, outcome.verdict))?;
        dict.set_item(intern!(py, "guard"), self.guard(py, outcome.guard))?;
        dict.set_item(intern!(py, "rule"), self.rule(py, outcome.rule.as_ref()))?;
        dict.set_item(intern!(py, "reason"), self.reason(py, &outcome.reason))?;
        Ok(())
    }

    /// The outcome as a `(verdict, guard, rule, reason)` tuple, the same tuple for equal outcomes.
    pub fn outcome_tuple<'py>(
        &mut self,
        py: Python<'py>,
        outcome: &Outcome,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let key = (
            outcome.verdict,
            outcome.guard,
            outcome.rule.as_ref().map(|rule| rule.key()),
            outcome.reason.key(),
        );
        if let Some(found) = self.outcomes.get(&key) {
            return Ok(found.bind(py).clone());
        }
        let made = PyTuple::new(
            py,
            [
                self.verdict(py, outcome.verdict).into_any(),
                self.guard(py, outcome.guard).into_any(),
                self.rule(py, outcome.rule.as_ref()),
                self.reason(py, &outcome.reason).into_any(),
            ],
        )?;
        if self.outcomes.len() < LIMIT {
            self.outcomes.insert(key, made.clone().unbind());
        }
        Ok(made)
    }

    fn verdict<'py>(&mut self, py: Python<'py>, verdict: Verdict) -> Bound<'py, PyString> {
        cached(py, &mut self.verdicts, verdict, || {
            verdict.name().to_owned()
        })
    }

    fn guard<'py>(&mut self, py: Python<'py>, guard: Guard) -> Bound<'py, PyString> {
        cached(py, &mut self.guards, guard, || guard.name().to_owned())
    }

    /// The rule's id, or None for an outcome no rule made.
    fn rule<'py>(&mut self, py: Python<'py>, rule: Option<&Rule>) -> Bound<'py, PyAny> {
        match rule {
            Some(rule) => {
                cached(py, &mut self.rules, rule.key(), || rule.as_str().to_owned()).into_any()
            }
            None => py.None().into_bound(py),
        }
    }

    fn reason<'py>(&mut self, py: Python<'py>, reason: &Reason) -> Bound<'py, PyString> {
        cached(py, &mut self.reasons, reason.key(), || reason.to_string())
    }
}
