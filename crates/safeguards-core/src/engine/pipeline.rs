//! The steps each event type goes through, and what each step needs to have run before it.
//!
//! A step belongs to one guard (or to escalation's gate). Its place in an event type's pipeline
//! is not a convention to remember: each step declares the steps it relies on (`Step::needs`), and
//! a test checks every pipeline against those declarations. A sixth guard adds its steps here,
//! says what they need, and the engine dispatches them (`Engine::run_steps`).

use crate::decision::Guard;
use crate::event::EventType;

/// One step of a pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// A repeat of a key inside the window is a duplicate (every event but quotes).
    Dedup,
    /// The trading state lets the local action through, or not.
    Gate,
    /// An intent is well formed for its order (no second intent, a known parent).
    CheckIntent,
    /// A hedge intent within depth, size against the displayed quote, attempts.
    CheckHedge,
    /// The intent is recorded: the order exists from here on, its ack timeout starts.
    RecordIntent,
    /// The hedge chain learns the recorded hedge (depth, attempts, unhedged timer).
    AfterHedgeIntent,
    /// A submit needs its recorded intent.
    Submit,
    /// A cancel request moves the order to its pending request, with its timeout.
    CancelRequest,
    /// A replace request likewise, with the new quantity.
    ReplaceRequest,
    /// Clock skew against the estimated offset, and future timestamps.
    ObserveClock,
    /// The latest quote per symbol, for liquidity and staleness.
    Quote,
    /// A broker event for an order we never recorded is an orphan; acks stop the ack timer.
    BrokerEvent,
    /// The order state machine: the transition, stale and late deliveries, fills and quantities.
    ApplyOrdering,
    /// A fill reduces the group's unhedged exposure.
    AfterFill,
}

impl Step {
    /// The guard that answers for this step.
    pub fn guard(self) -> Guard {
        use Step::*;
        match self {
            Dedup => Guard::Idempotency,
            Gate => Guard::Escalation,
            CheckIntent | RecordIntent | Submit | CancelRequest | ReplaceRequest | BrokerEvent => {
                Guard::Intents
            }
            CheckHedge | AfterHedgeIntent | Quote | AfterFill => Guard::Hedging,
            ObserveClock => Guard::Clock,
            ApplyOrdering => Guard::Ordering,
        }
    }

    /// The steps that must have run (and let the event through) before this one, when the
    /// event's pipeline has them.
    pub fn needs(self) -> &'static [Step] {
        use Step::*;
        match self {
            Dedup => &[],
            // A repeat is answered as a duplicate whatever the trading state.
            Gate | ObserveClock | Submit | CancelRequest | ReplaceRequest => &[Dedup],
            CheckIntent => &[Dedup, Gate],
            CheckHedge => &[Dedup, Gate, CheckIntent],
            // Nothing is recorded for an intent some check refused.
            RecordIntent => &[Dedup, Gate, CheckIntent, CheckHedge],
            AfterHedgeIntent => &[RecordIntent],
            Quote => &[ObserveClock],
            BrokerEvent => &[Dedup, ObserveClock],
            // The order exists (or is adopted as an orphan) before its state moves.
            ApplyOrdering => &[BrokerEvent],
            // Exposure is reduced by the quantity the order state machine accepted.
            AfterFill => &[ApplyOrdering],
        }
    }
}

/// The steps an event of type `kind` goes through, in order.
pub fn pipeline(kind: EventType) -> &'static [Step] {
    use Step::*;
    match kind {
        EventType::Intent => &[
            Dedup,
            Gate,
            CheckIntent,
            CheckHedge,
            RecordIntent,
            AfterHedgeIntent,
        ],
        EventType::Submit => &[Dedup, Gate, Submit],
        EventType::CancelRequest => &[Dedup, CancelRequest],
        EventType::ReplaceRequest => &[Dedup, Gate, ReplaceRequest],
        EventType::Quote => &[ObserveClock, Quote],
        EventType::PartialFill | EventType::Fill => {
            &[Dedup, ObserveClock, BrokerEvent, ApplyOrdering, AfterFill]
        }
        _ => &[Dedup, ObserveClock, BrokerEvent, ApplyOrdering],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Source;

    fn every_type() -> impl Iterator<Item = &'static EventType> {
        Source::ALL.into_iter().flat_map(Source::types)
    }

    #[test]
    fn every_step_runs_after_what_it_needs() {
        for &kind in every_type() {
            let steps = pipeline(kind);
            for (at, step) in steps.iter().enumerate() {
                for needed in step.needs() {
                    if let Some(before) = steps.iter().position(|s| s == needed) {
                        assert!(before < at, "{kind:?}: {step:?} needs {needed:?} first");
                    }
                }
                assert_eq!(
                    steps.iter().filter(|s| *s == step).count(),
                    1,
                    "{kind:?}: {step:?} twice"
                );
            }
        }
    }

    #[test]
    fn local_actions_pass_the_gate_and_broker_events_do_not() {
        for &kind in every_type() {
            let gated = pipeline(kind).contains(&Step::Gate);
            let expected = matches!(
                kind,
                EventType::Intent | EventType::Submit | EventType::ReplaceRequest
            );
            assert_eq!(gated, expected, "{kind:?}");
            assert_eq!(
                pipeline(kind).contains(&Step::Dedup),
                kind != EventType::Quote,
                "{kind:?}"
            );
        }
    }

    #[test]
    fn each_step_names_the_guard_that_answers_for_it() {
        assert_eq!(Step::Gate.guard(), Guard::Escalation);
        assert_eq!(Step::ApplyOrdering.guard(), Guard::Ordering);
        assert_eq!(Step::AfterFill.guard(), Guard::Hedging);
    }
}
