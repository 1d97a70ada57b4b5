//! Ordering: apply a broker event to its order only if the policy allows the transition.
//!
//! An allowed transition is accepted; a target in an earlier stage than the current state is a
//! late delivery (`stale`); anything else is a violation (`reject` + alert, or applied + alert, as
//! the policy says). A fill after one of `late_fills.after` is real exposure: its quantity is kept
//! and a critical alert escalates the group. `cum_qty` never goes backwards; above the order
//! quantity it is an `overfill`. Gaps in `broker_seq` (per account, within a session's numbering)
//! raise `sequence_gap`. A fill is never lost in silence (see [`Ordering::fill`]).

use crate::fastmap::FastMap as HashMap;

use serde_json::{Map, Value, json};

use crate::decision::{AlertKind, Guard, Outcome, Reason, Rule, Step, Verdict};
use crate::event::{DEFAULT_ACCOUNT, Event, EventType};
use crate::num::Num;
use crate::policy::{State, Tables, Target};
use crate::session::{SessionKey, session_entry};

use super::book::Order;
use super::context::{Ctx, Sink, finish};

/// How far two quantities may differ and still be equal: sums of binary floats are not exact.
pub fn quantity_tolerance(quantity: Num) -> f64 {
    1e-9 * quantity.abs().as_f64().max(1.0)
}

#[derive(Debug, Clone)]
pub struct Ordering {
    pub session: SessionKey,
    /// Each session's last broker_seq per account.
    sessions: HashMap<SessionKey, HashMap<String, i64>>,
}

impl Default for Ordering {
    fn default() -> Self {
        Ordering::new()
    }
}

impl Ordering {
    pub fn new() -> Ordering {
        Ordering {
            session: SessionKey::None,
            sessions: HashMap::from_iter([(SessionKey::None, HashMap::default())]),
        }
    }

    fn last_seq(&mut self) -> &mut HashMap<String, i64> {
        session_entry(&mut self.sessions, &self.session)
    }

    /// The step (broker events): decide the event; a terminal order is then queued for eviction.
    pub fn apply(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let order_id = event.order_id.as_deref()?;
        if ctx.tables.check_gaps
            && let Some(broker_seq) = event.broker_seq
        {
            self.check_sequence(ctx, event, order_id, broker_seq);
        }
        let book = &mut *ctx.book;
        let order = book.orders.get_mut(order_id)?; // the intents step adopts unknown orders first
        let decision = Ordering::decide(&mut ctx.sink, order, event);
        if ctx.tables.is_terminal(order.state) {
            finish(order, &mut book.finished, ctx.sink.time, book.retain_ns);
        } else if order.done_at.is_some() {
            order.done_at = None; // out of a terminal state again (a violation applied)
        }
        Some(decision)
    }

    fn check_sequence(
        &mut self,
        ctx: &mut Ctx<'_>,
        event: &Event,
        order_id: &str,
        broker_seq: i64,
    ) {
        let account = match event.account.as_deref() {
            None | Some("") => DEFAULT_ACCOUNT,
            Some(account) => account,
        };
        let last_seq = self.last_seq();
        let last = last_seq.get(account).copied();
        if last.is_none_or(|last| broker_seq > last) {
            match last_seq.get_mut(account) {
                Some(slot) => *slot = broker_seq,
                None => {
                    last_seq.insert(account.to_string(), broker_seq);
                }
            }
            if let Some(last) = last
                && broker_seq > last.saturating_add(1)
            {
                let group = ctx.book.group_of_order(Some(order_id));
                let detail = format!(
                    "broker_seq jumped from {last} to {broker_seq}: {} message(s) missing",
                    i128::from(broker_seq) - i128::from(last) - 1
                );
                let severity = ctx.tables.severity(AlertKind::SequenceGap);
                ctx.sink.alert(
                    AlertKind::SequenceGap,
                    severity,
                    Guard::Ordering,
                    Some(order_id.into()),
                    group,
                    detail,
                    false,
                );
            }
        }
    }

    fn decide(sink: &mut Sink<'_>, order: &mut Order, event: &Event) -> Outcome {
        let tables = sink.tables;
        let current = order.state;
        let Some(target) = tables.event_state[event.kind as usize] else {
            return Outcome::new(
                Verdict::Reject,
                Guard::Ordering,
                None,
                Reason::NoStateFor {
                    event_type: event.kind.name(),
                },
            );
        };
        let target = match target {
            Target::Revert => return Ordering::revert(tables, order, current),
            Target::State(state) => state,
        };
        if event.kind.is_fill() {
            return Ordering::fill(sink, order, current, target, event);
        }
        if let Some(outcome) = Ordering::allowed(tables, current, target) {
            Ordering::enter(sink, order, current, target, event, event.cum_qty);
            return outcome;
        }
        if tables.stage_of(target) < tables.stage_of(current) || target == current {
            return Outcome::new(
                Verdict::Stale,
                Guard::Ordering,
                None,
                Reason::LateDelivery {
                    event_type: event.kind.name(),
                    target: tables.state_name(target).clone(),
                    current: tables.state_name(current).clone(),
                },
            );
        }
        Ordering::violation(sink, order, current, target, event, event.cum_qty, None)
    }

    /// The accept of an allowed transition, None if the policy does not allow it.
    fn allowed(tables: &Tables, from: State, to: State) -> Option<Outcome> {
        let rule = tables.transition(from, to)?;
        Some(Outcome::new(
            Verdict::Accept,
            Guard::Ordering,
            Some(Rule::Policy(rule.clone())),
            Reason::Transition {
                from: tables.state_name(from).clone(),
                to: tables.state_name(to).clone(),
            },
        ))
    }

    fn violation(
        sink: &mut Sink<'_>,
        order: &mut Order,
        current: State,
        target: State,
        event: &Event,
        cum: Option<Num>,
        kept: Option<String>,
    ) -> Outcome {
        let tables = sink.tables;
        let after_terminal = tables.is_terminal(current);
        let severity = if after_terminal {
            tables.violation_severity_after_terminal
        } else {
            tables.violation_severity
        };
        let (from, to) = (
            tables.state_name(current).clone(),
            tables.state_name(target).clone(),
        );
        sink.alert(
            AlertKind::IllegalTransition,
            severity,
            Guard::Ordering,
            Some(order.order_id.clone()),
            order.group_id.clone(),
            format!(
                "{} would move the order from {from} to {to}, which the policy does not allow{}",
                event.kind.name(),
                kept.as_deref().unwrap_or_default()
            ),
            after_terminal,
        );
        if tables.apply_violations {
            Ordering::enter(sink, order, current, target, event, cum);
            return Outcome::fixed(
                Verdict::Accept,
                Guard::Ordering,
                "on_violation",
                Reason::ViolationApplied { from, to },
            );
        }
        if kept.is_some() {
            return Outcome::fixed(
                Verdict::Accept,
                Guard::Ordering,
                "fill_kept",
                Reason::FillKept { from, to },
            );
        }
        Outcome::fixed(
            Verdict::Reject,
            Guard::Ordering,
            "on_violation",
            Reason::Violation { from, to },
        )
    }

    /// A trade report: its quantity is counted once, whatever the state says; the state follows the table.
    ///
    /// The quantity it adds is what its `cum_qty` adds, plus what its `last_qty` adds beyond every
    /// cum_qty seen (a cum_qty restarted at a replace, say): the latter is kept and a
    /// `fill_conflict` alert names it. A report that adds nothing is an older fill (`stale`). One
    /// that adds quantity where the policy allows no fill keeps its quantity and alerts.
    fn fill(
        sink: &mut Sink<'_>,
        order: &mut Order,
        current: State,
        target: State,
        event: &Event,
    ) -> Outcome {
        let tables = sink.tables;
        let before = order.cum_qty;
        let cum = event.cum_qty.unwrap_or(Num::ZERO);
        let last = Num::or_zero(event.last_qty);
        let reported = if cum > before { cum } else { before };
        let traded = Num::or_zero(order.traded_qty) + last;
        let excess = traded - reported;
        let unaccounted = if excess > quantity_tolerance(reported) {
            excess
        } else {
            Num::ZERO
        };
        let new_cum = reported + unaccounted;
        let added = new_cum - before;
        let allowed = Ordering::allowed(tables, current, target);
        order.traded_qty = Some(traded);
        if added <= Num::ZERO {
            if let Some(outcome) = allowed
                && tables.stage_of(target) > tables.stage_of(current)
            {
                Ordering::enter(sink, order, current, target, event, None); // e.g. the final fill at the same cum_qty
                return outcome;
            }
            return Outcome::new(
                Verdict::Stale,
                Guard::Ordering,
                None,
                Reason::OlderFill { cum, before, last },
            );
        }
        if unaccounted.is_truthy() {
            sink.alert(
                AlertKind::FillConflict,
                tables.severity(AlertKind::FillConflict),
                Guard::Ordering,
                Some(order.order_id.clone()),
                order.group_id.clone(),
                format!(
                    "{} reports {last} traded but cum_qty {cum}, while {before} was already counted: {unaccounted} at \
                     stake that no cum_qty includes (cum_qty restarted at a replace?); kept, cum_qty {before} -> {new_cum}",
                    event.kind.name()
                ),
                false,
            );
        }
        if let Some(outcome) = allowed {
            Ordering::enter(sink, order, current, target, event, Some(new_cum));
            if !unaccounted.is_truthy() {
                return outcome;
            }
            let (from, to) = (
                tables.state_name(current).clone(),
                tables.state_name(target).clone(),
            );
            return Outcome::fixed(
                Verdict::Accept,
                Guard::Ordering,
                "fill_conflict",
                Reason::FillConflict {
                    from,
                    to,
                    unaccounted,
                },
            );
        }
        if tables.late_fill_after.contains(&current) {
            return Ordering::late_fill(sink, order, current, event, new_cum);
        }
        order.cum_qty = new_cum;
        Ordering::check_overfill(sink, order);
        let kept = format!(
            "; its {added} traded are kept (cum_qty {before} -> {new_cum}): the venue traded them"
        );
        Ordering::violation(
            sink,
            order,
            current,
            target,
            event,
            Some(new_cum),
            Some(kept),
        )
    }

    fn enter(
        sink: &mut Sink<'_>,
        order: &mut Order,
        current: State,
        target: State,
        event: &Event,
        cum: Option<Num>,
    ) {
        let tables = sink.tables;
        if tables.is_pending(target) && !tables.is_pending(current) {
            order.before_pending = Some(current);
        }
        order.state = target;
        if event.kind == EventType::Replaced {
            // the replace took effect: its quantity is the order's now
            order.replace_deadline = None;
            if let Some(qty) = event.qty.or(order.replace_qty) {
                order.qty = Some(qty);
            }
            order.replace_qty = None;
        } else if let Some(qty) = event.qty
            && order.qty.is_none()
        {
            order.qty = Some(qty);
        }
        if let Some(cum) = cum
            && cum > order.cum_qty
        {
            order.cum_qty = cum;
            Ordering::check_overfill(sink, order);
        }
        if let Some(leaves) = event.leaves_qty {
            order.leaves_qty = Some(leaves);
        }
        if tables.is_terminal(target) {
            order.cancel_deadline = None;
            order.replace_deadline = None;
            order.fill_deadline = None;
        }
    }

    fn revert(tables: &Tables, order: &mut Order, current: State) -> Outcome {
        order.cancel_deadline = None;
        order.replace_deadline = None;
        order.replace_qty = None;
        if tables.is_pending(current)
            && let Some(previous) = order.before_pending.take()
        {
            order.state = previous;
            let (from, to) = (
                tables.state_name(current).clone(),
                tables.state_name(previous).clone(),
            );
            return Outcome::fixed(
                Verdict::Accept,
                Guard::Ordering,
                "revert",
                Reason::Reverted { from, to },
            );
        }
        let state = tables.state_name(current).clone();
        Outcome::fixed(
            Verdict::Stale,
            Guard::Ordering,
            "revert",
            Reason::NothingToRevert { state },
        )
    }

    fn late_fill(
        sink: &mut Sink<'_>,
        order: &mut Order,
        current: State,
        event: &Event,
        cum: Num,
    ) -> Outcome {
        let tables = sink.tables;
        let before = order.cum_qty;
        if cum > before {
            order.late_qty = order.late_qty + (cum - before);
            order.cum_qty = cum;
        }
        let state = tables.state_name(current).clone();
        sink.alert(
            AlertKind::IllegalTransition,
            tables.late_fill_severity,
            Guard::Ordering,
            Some(order.order_id.clone()),
            order.group_id.clone(),
            format!(
                "{} after {state}: the venue matched before the cancel; quantity kept (cum_qty {before} -> {}), a \
                 person must look",
                event.kind.name(),
                order.cum_qty
            ),
            true,
        );
        Ordering::check_overfill(sink, order);
        Outcome::fixed(
            Verdict::Accept,
            Guard::Ordering,
            "late_fills",
            Reason::LateFill { state },
        )
    }

    fn check_overfill(sink: &mut Sink<'_>, order: &Order) {
        let Some(qty) = order.qty else { return };
        if order.cum_qty - qty > quantity_tolerance(qty) {
            sink.alert(
                AlertKind::Overfill,
                sink.tables.severity(AlertKind::Overfill),
                Guard::Ordering,
                Some(order.order_id.clone()),
                order.group_id.clone(),
                format!("cum_qty {} exceeds the order quantity {qty}", order.cum_qty),
                false,
            );
        }
    }

    /// Sequence numbers start over: the next one is compared with nothing (a restart is not a gap).
    pub fn new_session(&mut self) {
        self.last_seq().clear();
    }

    /// Events from here on are numbered by session `key`.
    pub fn use_session(&mut self, key: &SessionKey) {
        if *key != self.session {
            self.session = key.clone();
            self.sessions.entry(key.clone()).or_default();
        }
    }

    pub fn snapshot(&self) -> Value {
        let seqs: Map<String, Value> = self
            .sessions
            .get(&self.session)
            .into_iter()
            .flatten()
            .map(|(account, seq)| (account.clone(), Value::from(*seq)))
            .collect();
        json!({"last_broker_seq": seqs})
    }
}

mod checkpointing {
    use crate::fastmap::FastMap as HashMap;

    use serde_json::{Value, json};

    use super::super::checkpoint::{Read, bad, field, int, key, key_json, list, sorted, text};
    use super::Ordering;

    impl Ordering {
        pub(crate) fn state(&self) -> Value {
            let sessions = self
                .sessions
                .iter()
                .map(|(k, seqs)| {
                    let mut seqs: Vec<(&String, &i64)> = seqs.iter().collect();
                    seqs.sort();
                    json!([key_json(k), seqs])
                })
                .collect();
            json!({"session": key_json(&self.session), "sessions": sorted(sessions)})
        }

        pub(crate) fn restore(value: &Value) -> Read<Ordering> {
            let mut ordering = Ordering::new();
            ordering.sessions.clear();
            for row in list(field(value, "sessions")?, "sessions")? {
                let row = list(row, "sessions")?;
                let [k, seqs] = row.as_slice() else {
                    return Err(bad("sessions"));
                };
                let mut last = HashMap::default();
                for pair in list(seqs, "sessions")? {
                    let pair = list(pair, "sessions")?;
                    let [account, seq] = pair.as_slice() else {
                        return Err(bad("sessions"));
                    };
                    last.insert(text(account, "sessions")?, int(seq, "sessions")?);
                }
                ordering.sessions.insert(key(k)?, last);
            }
            ordering.session = key(field(value, "session")?)?;
            ordering
                .sessions
                .entry(ordering.session.clone())
                .or_default();
            Ok(ordering)
        }
    }
}
