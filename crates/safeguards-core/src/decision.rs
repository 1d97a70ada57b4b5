//! Decisions and alerts as codes: verdict, guard, rule and a reason with its parameters.
//!
//! A decision is built on every event, so it holds no text: `Reason` keeps the parameters and
//! `Display` renders the exact words of the Python engine when (and only if) text is wanted.
//! Alerts are rare; their detail is rendered when raised.

use std::fmt;
use std::mem::Discriminant;
use std::sync::Arc;

use crate::num::Num;
use crate::pyfmt::{opt_repr, str_repr};

/// What happened to an event: exactly one per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    Accept,
    Duplicate,
    Stale,
    Reject,
    Block,
    Invalid,
}

impl Verdict {
    pub const ALL: [Verdict; 6] = [
        Verdict::Accept,
        Verdict::Duplicate,
        Verdict::Stale,
        Verdict::Reject,
        Verdict::Block,
        Verdict::Invalid,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Duplicate => "duplicate",
            Verdict::Stale => "stale",
            Verdict::Reject => "reject",
            Verdict::Block => "block",
            Verdict::Invalid => "invalid",
        }
    }
}

/// Who decided or alerted: a safeguard, escalation, the engine itself or the event screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Guard {
    Idempotency,
    Clock,
    Hedging,
    Intents,
    Ordering,
    Escalation,
    Engine,
    Schema,
}

impl Guard {
    pub fn name(self) -> &'static str {
        match self {
            Guard::Idempotency => "idempotency",
            Guard::Clock => "clock",
            Guard::Hedging => "hedging",
            Guard::Intents => "intents",
            Guard::Ordering => "ordering",
            Guard::Escalation => "escalation",
            Guard::Engine => "engine",
            Guard::Schema => "schema",
        }
    }
}

/// The policy rule behind a decision: a fixed name of the engine's, or an id the policy gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Fixed(&'static str),
    Policy(Arc<str>),
}

impl Rule {
    pub fn as_str(&self) -> &str {
        match self {
            Rule::Fixed(name) => name,
            Rule::Policy(name) => name,
        }
    }
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn from_name(name: &str) -> Option<Severity> {
        [Severity::Info, Severity::Warning, Severity::Critical]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

macro_rules! alert_kinds {
    ($($variant:ident = $name:literal),* $(,)?) => {
        /// Every kind of alert the engine raises (escalation's trading states among them).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum AlertKind { $($variant),* }

        impl AlertKind {
            pub const ALL: &'static [AlertKind] = &[$(AlertKind::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(AlertKind::$variant => $name),* }
            }

            pub fn from_name(name: &str) -> Option<AlertKind> {
                match name { $($name => Some(AlertKind::$variant),)* _ => None }
            }
        }
    };
}

alert_kinds! {
    IllegalTransition = "illegal_transition",
    Overfill = "overfill",
    FillConflict = "fill_conflict",
    ConflictingDuplicate = "conflicting_duplicate",
    OrphanOrder = "orphan_order",
    SubmitWithoutIntent = "submit_without_intent",
    LostIntent = "lost_intent",
    StateMismatch = "state_mismatch",
    AckTimeout = "ack_timeout",
    CancelTimeout = "cancel_timeout",
    ReplaceTimeout = "replace_timeout",
    FillTimeout = "fill_timeout",
    HedgeDepthExceeded = "hedge_depth_exceeded",
    HedgeAttemptsExceeded = "hedge_attempts_exceeded",
    InsufficientLiquidity = "insufficient_liquidity",
    StaleQuote = "stale_quote",
    UnhedgedTimeout = "unhedged_timeout",
    ClockSkew = "clock_skew",
    SequenceGap = "sequence_gap",
    Active = "active",
    Reducing = "reducing",
    Halted = "halted",
    Resumed = "resumed",
    OrderEvictedUnfinished = "order_evicted_unfinished",
}

/// One alert: raised by a guard, by escalation or by time passing.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub kind: AlertKind,
    pub severity: Severity,
    pub guard: Guard,
    /// The event at or after which it fired.
    pub seq: Option<i64>,
    pub order_id: Option<String>,
    pub group_id: Option<String>,
    /// Broker time it fired at (ns), None before any broker time is known.
    pub broker_ts: Option<i64>,
    pub detail: String,
}

/// Why a decision is what it is: the parameters of one of the engine's sentences.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// Words made once (a screen's reason, an alert's detail repeated).
    Text(String),
    NoObjection,
    Unprocessable(String),
    // idempotency
    Duplicate,
    ConflictingDuplicate {
        event_id: Option<String>,
    },
    // escalation's gate
    Halted {
        scope: String,
        rule: Option<Arc<str>>,
    },
    Reducing {
        scope: String,
        rule: Option<Arc<str>>,
    },
    // intents
    AlreadyHasIntent {
        order_id: String,
    },
    EvictedIntent {
        order_id: String,
    },
    IntentRecorded,
    SubmitEvicted,
    SubmitWithoutIntentAllowed,
    NoIntent,
    AlreadySubmitted,
    LostIntentFailed,
    Submitted,
    CancelEvicted,
    NoOrderToCancel,
    CancelTerminal {
        state: Arc<str>,
    },
    CancelRecorded,
    ReplaceEvicted,
    NoOrderToReplace,
    ReplaceTerminal {
        state: Arc<str>,
    },
    ReplaceRecorded,
    EvictedStale {
        event_type: &'static str,
    },
    // hedging
    QuoteRecorded,
    DepthExceeded {
        depth: i64,
        max: i64,
    },
    AttemptsExhausted {
        max: i64,
    },
    // ordering
    Transition {
        from: Arc<str>,
        to: Arc<str>,
    },
    NoStateFor {
        event_type: &'static str,
    },
    LateDelivery {
        event_type: &'static str,
        target: Arc<str>,
        current: Arc<str>,
    },
    ViolationApplied {
        from: Arc<str>,
        to: Arc<str>,
    },
    FillKept {
        from: Arc<str>,
        to: Arc<str>,
    },
    Violation {
        from: Arc<str>,
        to: Arc<str>,
    },
    OlderFill {
        cum: Num,
        before: Num,
        last: Num,
    },
    FillConflict {
        from: Arc<str>,
        to: Arc<str>,
        unaccounted: Num,
    },
    Reverted {
        from: Arc<str>,
        to: Arc<str>,
    },
    NothingToRevert {
        state: Arc<str>,
    },
    LateFill {
        state: Arc<str>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Reason::*;
        let rule_text = |rule: &Option<Arc<str>>| rule.as_deref().unwrap_or("None").to_string();
        match self {
            Text(text) => f.write_str(text),
            NoObjection => f.write_str("no safeguard objected"),
            Unprocessable(why) => write!(f, "could not process this event: {why}"),
            Duplicate => f.write_str("this broker event was already seen; not applied again"),
            ConflictingDuplicate { event_id } => {
                write!(f, "event_id {} was already seen with different content", opt_repr(event_id.as_deref()))
            }
            Halted { scope, rule } => {
                write!(f, "{scope} halted (rule {}): only cancels pass", rule_text(rule))
            }
            Reducing { scope, rule } => {
                write!(f, "{scope} reducing (rule {}): only hedges and cancels pass", rule_text(rule))
            }
            AlreadyHasIntent { order_id } => {
                write!(f, "order {} already has an intent or broker events", str_repr(order_id))
            }
            EvictedIntent { order_id } => {
                write!(f, "order {} finished long ago (evicted): use a new order id", str_repr(order_id))
            }
            IntentRecorded => f.write_str("intent recorded: submission may proceed"),
            SubmitEvicted => f.write_str("order finished long ago (evicted): use a new order id"),
            SubmitWithoutIntentAllowed => f.write_str("submit without intent allowed by policy"),
            NoIntent => f.write_str("no intent recorded for this order: record the intent first"),
            AlreadySubmitted => f.write_str("order already submitted"),
            LostIntentFailed => f.write_str(
                "start-up reconciliation marked this intent failed: record a new intent with a new order id",
            ),
            Submitted => f.write_str("submit matches a recorded intent"),
            CancelEvicted => f.write_str("order finished long ago (evicted): nothing to cancel"),
            NoOrderToCancel => f.write_str("no such order to cancel"),
            CancelTerminal { state } => write!(f, "order already {state}: nothing to cancel"),
            CancelRecorded => f.write_str("cancel request recorded"),
            ReplaceEvicted => f.write_str("order finished long ago (evicted): nothing to replace"),
            NoOrderToReplace => f.write_str("no such order to replace"),
            ReplaceTerminal { state } => write!(f, "order already {state}: nothing to replace"),
            ReplaceRecorded => f.write_str("replace request recorded"),
            EvictedStale { event_type } => write!(
                f,
                "{event_type} for an order finished and evicted more than the retention ago: not applied"
            ),
            QuoteRecorded => f.write_str("quote recorded"),
            DepthExceeded { depth, max } => write!(f, "hedge depth {depth} exceeds {max}"),
            AttemptsExhausted { max } => write!(f, "hedge attempts for the group exhausted ({max})"),
            Transition { from, to } => write!(f, "{from} -> {to}"),
            NoStateFor { event_type } => {
                write!(f, "the policy maps no order state to broker event {}", str_repr(event_type))
            }
            LateDelivery { event_type, target, current } => {
                write!(f, "{event_type} announces {target}, but the order is already {current}: a late delivery")
            }
            ViolationApplied { from, to } => write!(f, "{from} -> {to} not allowed, applied by policy (alerted)"),
            FillKept { from, to } => write!(
                f,
                "{from} -> {to} is not an allowed transition: the order stays {from}, the fill's quantity is kept (alerted)"
            ),
            Violation { from, to } => write!(f, "{from} -> {to} is not an allowed transition"),
            OlderFill { cum, before, last } => write!(
                f,
                "cum_qty {cum} is not above the order's {before} and its {last} traded are counted: an older fill"
            ),
            FillConflict { from, to, unaccounted } => {
                write!(f, "{from} -> {to}; {unaccounted} traded beyond cum_qty kept (alerted)")
            }
            Reverted { from, to } => write!(f, "request rejected: {from} -> {to}"),
            NothingToRevert { state } => write!(f, "no pending request to revert (order is {state})"),
            LateFill { state } => {
                write!(f, "fill after {state} is real exposure: quantity kept, group escalated")
            }
        }
    }
}

/// One event's outcome: verdict, guard, rule and reason (the decision without the event's ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub verdict: Verdict,
    pub guard: Guard,
    pub rule: Option<Rule>,
    pub reason: Reason,
}

impl Outcome {
    pub fn new(verdict: Verdict, guard: Guard, rule: Option<Rule>, reason: Reason) -> Outcome {
        Outcome {
            verdict,
            guard,
            rule,
            reason,
        }
    }

    pub fn fixed(verdict: Verdict, guard: Guard, rule: &'static str, reason: Reason) -> Outcome {
        Outcome {
            verdict,
            guard,
            rule: Some(Rule::Fixed(rule)),
            reason,
        }
    }
}

/// One step's answer in a pipeline: go on, go on having accepted, or stop with this outcome.
pub type Step = Option<Outcome>;

/// A state or a policy rule id, by identity: the tables intern them, so equal pointers are equal texts
/// (and the key holds the `Arc`, so no other text can take its address while it is a key).
#[derive(Debug, Clone)]
pub struct Interned(Arc<str>);

impl PartialEq for Interned {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Interned {}

impl std::hash::Hash for Interned {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        std::ptr::hash(Arc::as_ptr(&self.0) as *const u8, state);
    }
}

/// A rule's identity, for caches of its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RuleKey {
    Fixed(&'static str),
    Policy(Interned),
}

/// A reason's identity without rendering it: its variant and parameters; a reason with free text or
/// numbers in it is keyed by its words (equal numbers of different kinds, `5` and `5.0`, read apart).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReasonKey {
    Plain(Discriminant<Reason>),
    States(Discriminant<Reason>, Interned, Option<Interned>),
    Named(
        Discriminant<Reason>,
        &'static str,
        Option<(Interned, Interned)>,
    ),
    Ints(Discriminant<Reason>, i64, i64),
    Words(String),
}

impl Rule {
    /// The rule's identity without copying its text.
    pub fn key(&self) -> RuleKey {
        match self {
            Rule::Fixed(name) => RuleKey::Fixed(name),
            Rule::Policy(id) => RuleKey::Policy(Interned(id.clone())),
        }
    }
}

impl Reason {
    /// The reason's identity without rendering it: equal keys render equal words (a cache of its text keys on it).
    pub fn key(&self) -> ReasonKey {
        use Reason::*;
        let of = std::mem::discriminant(self);
        let state = |state: &Arc<str>| Interned(state.clone());
        match self {
            NoObjection
            | Duplicate
            | IntentRecorded
            | SubmitEvicted
            | SubmitWithoutIntentAllowed
            | NoIntent
            | AlreadySubmitted
            | LostIntentFailed
            | Submitted
            | CancelEvicted
            | NoOrderToCancel
            | CancelRecorded
            | ReplaceEvicted
            | NoOrderToReplace
            | ReplaceRecorded
            | QuoteRecorded => ReasonKey::Plain(of),
            CancelTerminal { state: one }
            | ReplaceTerminal { state: one }
            | NothingToRevert { state: one }
            | LateFill { state: one } => ReasonKey::States(of, state(one), None),
            Transition { from, to }
            | ViolationApplied { from, to }
            | FillKept { from, to }
            | Violation { from, to }
            | Reverted { from, to } => ReasonKey::States(of, state(from), Some(state(to))),
            EvictedStale { event_type } | NoStateFor { event_type } => {
                ReasonKey::Named(of, event_type, None)
            }
            LateDelivery {
                event_type,
                target,
                current,
            } => ReasonKey::Named(of, event_type, Some((state(target), state(current)))),
            DepthExceeded { depth, max } => ReasonKey::Ints(of, *depth, *max),
            AttemptsExhausted { max } => ReasonKey::Ints(of, *max, 0),
            other => ReasonKey::Words(other.to_string()),
        }
    }
}
