//! Intents: every order is recorded (intent) before it is submitted, and acknowledged in time.
//!
//! A `submit` with no intent is blocked; a broker event for an order we never recorded is an
//! `orphan_order` and the order is adopted (its exposure is real). Timeouts are in broker time:
//! `ack` from the intent (restarted at submit), `fill` from the submit, `cancel` and `replace`
//! from their requests. Start-up reconciliation follows `intents.recovery` ([`Intents::reconcile`]).

use serde_json::{Value, json};

use crate::decision::{AlertKind, Guard, Outcome, Reason, Step, Verdict};
use crate::event::Event;
use crate::num::Num;
use crate::policy::State;
use crate::pyfmt::{format_g, str_repr};

use super::book::Order;
use super::context::{Ctx, Sink, finish};
use super::time::{Deadline, Timer};

/// One order the broker lists open at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOrder {
    pub order_id: String,
    /// `str()` of the broker's id, as the alert's words show it (`None` if absent).
    pub broker_order_id: String,
    /// The broker's status, if it gave a string.
    pub status: Option<String>,
    pub cum_qty: Option<Num>,
}

#[derive(Debug, Clone)]
pub struct Intents {
    pub orphans: u64,
    /// Orders first seen from the broker in sessions that record no intents (not orphans).
    pub unrecorded: u64,
    /// Whether the current session carries our local events.
    pub records_intents: bool,
}

fn accept(rule: &'static str, reason: Reason) -> Step {
    Some(Outcome::fixed(
        Verdict::Accept,
        Guard::Intents,
        rule,
        reason,
    ))
}

fn block(rule: &'static str, reason: Reason) -> Step {
    Some(Outcome::fixed(Verdict::Block, Guard::Intents, rule, reason))
}

impl Intents {
    pub fn new() -> Intents {
        Intents {
            orphans: 0,
            unrecorded: 0,
            records_intents: true,
        }
    }

    /// Before anything else for an intent: one intent per order id, never a finished one's.
    pub fn check_intent(&self, ctx: &Ctx<'_>, event: &Event) -> Step {
        let order_id = event.order_id.as_deref().unwrap_or_default();
        if ctx.book.orders.contains_key(order_id) {
            return block(
                "one_intent_per_order",
                Reason::AlreadyHasIntent {
                    order_id: order_id.into(),
                },
            );
        }
        if ctx.book.evicted.contains(order_id) {
            return block(
                "one_intent_per_order",
                Reason::EvictedIntent {
                    order_id: order_id.into(),
                },
            );
        }
        None
    }

    pub fn record_intent(&self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let tables = ctx.tables;
        let mut order = Order::new(
            event.order_id.clone().unwrap_or_default(),
            tables.initial,
            event.group_id.clone(),
        );
        order.role = event.role;
        order.parent_id = event.parent_id.clone();
        order.symbol = event.symbol.clone();
        order.side = event.side;
        order.qty = event.qty;
        order.has_intent = true;
        if let Some(ack_ns) = tables.ack_ns {
            ctx.sink.arm(
                &mut order.ack_deadline,
                ack_ns,
                Deadline::Ack,
                &order.order_id,
            );
        }
        ctx.book.insert(order);
        accept("intent_recorded", Reason::IntentRecorded)
    }

    pub fn submit(&self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let tables = ctx.tables;
        let order_id = event.order_id.as_deref().unwrap_or_default();
        let now = ctx.sink.now();
        let Some(order) = ctx
            .book
            .orders
            .get_mut(order_id)
            .filter(|order| order.has_intent)
        else {
            if !ctx.book.orders.contains_key(order_id) && ctx.book.evicted.contains(order_id) {
                return block("submit_once", Reason::SubmitEvicted);
            }
            if !tables.required_before_submit {
                return Some(Outcome::new(
                    Verdict::Accept,
                    Guard::Intents,
                    None,
                    Reason::SubmitWithoutIntentAllowed,
                ));
            }
            let group = ctx.group_of(event);
            ctx.sink.alert(
                AlertKind::SubmitWithoutIntent,
                tables.severity(AlertKind::SubmitWithoutIntent),
                Guard::Intents,
                Some(order_id.into()),
                group,
                "submit for an order with no recorded intent was blocked".into(),
                false,
            );
            return block("required_before_submit", Reason::NoIntent);
        };
        if order.submitted {
            return block("submit_once", Reason::AlreadySubmitted);
        }
        if order.state == tables.failed_state() && !order.acked {
            return block("lost_intent_failed", Reason::LostIntentFailed);
        }
        order.submitted = true;
        if let Some(ack_ns) = tables.ack_ns
            && !order.acked
        {
            let pending = order.ack_deadline.is_some(); // the intent's timer, yet to fire: it will wait on
            let at = now.saturating_add(ack_ns);
            order.ack_deadline = Some(at);
            if !pending {
                ctx.sink.schedule(
                    at,
                    Timer::Order {
                        deadline: Deadline::Ack,
                        order_id: order_id.into(),
                    },
                );
            }
        }
        if let Some(fill_ns) = tables.fill_ns {
            ctx.sink
                .arm(&mut order.fill_deadline, fill_ns, Deadline::Fill, order_id);
        }
        accept("intent_before_submit", Reason::Submitted)
    }

    pub fn cancel_request(&self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let tables = ctx.tables;
        let order_id = event.order_id.as_deref().unwrap_or_default();
        let Some(order) = ctx.book.orders.get_mut(order_id) else {
            if ctx.book.evicted.contains(order_id) {
                return accept("cancel_allowed", Reason::CancelEvicted);
            }
            return block("cancel_known_order", Reason::NoOrderToCancel);
        };
        if tables.is_terminal(order.state) {
            return accept(
                "cancel_allowed",
                Reason::CancelTerminal {
                    state: tables.state_name(order.state).clone(),
                },
            );
        }
        if let Some(cancel_ns) = tables.cancel_ns {
            ctx.sink.arm(
                &mut order.cancel_deadline,
                cancel_ns,
                Deadline::Cancel,
                order_id,
            );
        }
        accept("cancel_allowed", Reason::CancelRecorded)
    }

    /// A request to change the order (its new quantity): answered by replaced, refused, or the order's end.
    pub fn replace_request(&self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let tables = ctx.tables;
        let order_id = event.order_id.as_deref().unwrap_or_default();
        let Some(order) = ctx.book.orders.get_mut(order_id) else {
            if ctx.book.evicted.contains(order_id) {
                return block("replace_known_order", Reason::ReplaceEvicted);
            }
            return block("replace_known_order", Reason::NoOrderToReplace);
        };
        if tables.is_terminal(order.state) {
            let state = tables.state_name(order.state).clone();
            return block("replace_known_order", Reason::ReplaceTerminal { state });
        }
        order.replace_qty = event.qty;
        if let Some(replace_ns) = tables.replace_ns {
            ctx.sink.arm(
                &mut order.replace_deadline,
                replace_ns,
                Deadline::Replace,
                order_id,
            );
        }
        accept("replace_allowed", Reason::ReplaceRecorded)
    }

    /// Any broker event: its order is known (else adopted, or a late event for an evicted one); it is acknowledged.
    pub fn broker_event(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let order_id = event.order_id.as_deref().unwrap_or_default();
        if !ctx.book.orders.contains_key(order_id) {
            if ctx.book.evicted.contains(order_id) {
                return Intents::evicted_order_event(ctx, event);
            }
            self.adopt(ctx, event);
        }
        if let Some(order) = ctx.book.orders.get_mut(order_id)
            && !order.acked
        {
            order.acked = true;
            order.ack_deadline = None;
        }
        None
    }

    /// A late event for an order finished and forgotten: harmless, except a fill, which is real exposure.
    fn evicted_order_event(ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let event_type = event.kind.name();
        if !event.kind.is_fill() {
            return Some(Outcome::fixed(
                Verdict::Stale,
                Guard::Intents,
                "evicted_order",
                Reason::EvictedStale { event_type },
            ));
        }
        let order_id = event.order_id.clone().unwrap_or_default();
        let detail = format!(
            "{event_type} for order {}, which finished and was evicted more than the retention ago: its quantity \
             cannot be applied; check the position with the broker",
            str_repr(&order_id)
        );
        let severity = ctx.tables.late_fill_severity;
        ctx.sink.alert(
            AlertKind::IllegalTransition,
            severity,
            Guard::Intents,
            Some(order_id),
            event.group_id.clone(),
            detail.clone(),
            true,
        );
        Some(Outcome::fixed(
            Verdict::Reject,
            Guard::Intents,
            "evicted_order",
            Reason::Text(detail),
        ))
    }

    /// An order first heard of from the broker: tracked from here (its exposure is real).
    fn adopt(&mut self, ctx: &mut Ctx<'_>, event: &Event) {
        let mut order = Order::new(
            event.order_id.clone().unwrap_or_default(),
            ctx.tables.initial,
            event.group_id.clone(),
        );
        order.adopted = true;
        order.submitted = true;
        if let Some(qty) = event.qty {
            order.qty = Some(qty);
        } else if let (Some(cum), Some(leaves)) = (event.cum_qty, event.leaves_qty)
            && leaves.is_truthy()
        {
            order.qty = Some(cum + leaves);
        }
        if event.symbol.is_some() {
            order.symbol = event.symbol.clone();
        }
        if event.side.is_some() {
            order.side = event.side;
        }
        if event.role.is_some() {
            order.role = event.role;
        }
        if event.parent_id.is_some() {
            order.parent_id = event.parent_id.clone();
        }
        let (order_id, group_id) = (order.order_id.clone(), order.group_id.clone());
        ctx.book.insert(order);
        if !self.records_intents {
            self.unrecorded += 1;
            return;
        }
        self.orphans += 1;
        ctx.sink.alert(
            AlertKind::OrphanOrder,
            ctx.tables.severity(AlertKind::OrphanOrder),
            Guard::Intents,
            Some(order_id),
            group_id,
            format!(
                "broker event {} for an order with no recorded intent; order adopted",
                event.kind.name()
            ),
            false,
        );
    }

    /// Compare the broker's open orders with ours and act as `intents.recovery` says.
    pub fn reconcile(&mut self, ctx: &mut Ctx<'_>, open_orders: &[OpenOrder]) {
        let tables = ctx.tables;
        let recovery = |key: &str| tables.recovery.get(key).map(String::as_str);
        // listed: by id, first position kept, last entry's values (a dict's assignment)
        let mut listed: Vec<&OpenOrder> = Vec::new();
        for entry in open_orders {
            match listed
                .iter()
                .position(|held| held.order_id == entry.order_id)
            {
                Some(at) => listed[at] = entry,
                None => listed.push(entry),
            }
        }
        for entry in &listed {
            let Some(order) = ctx.book.orders.get_mut(&entry.order_id) else {
                self.reconcile_unknown(ctx, entry);
                continue;
            };
            let broker_cum = Num::or_zero(entry.cum_qty);
            if broker_cum != order.cum_qty {
                let adopt = recovery("quantity_mismatch") == Some("adopt_broker");
                let mut detail = format!(
                    "broker cum_qty {}, ours {}",
                    broker_cum.format_g(),
                    order.cum_qty.format_g()
                );
                if adopt {
                    order.cum_qty = broker_cum;
                    if let Some(qty) = order.qty {
                        let left = qty - broker_cum;
                        order.leaves_qty = Some(if left < Num::ZERO { Num::ZERO } else { left });
                    }
                    detail.push_str("; adopted the broker's figure");
                } else {
                    detail.push_str("; not changed (policy: alert)");
                }
                let group = order.group_id.clone();
                let severity = tables.severity(AlertKind::StateMismatch);
                ctx.sink.alert(
                    AlertKind::StateMismatch,
                    severity,
                    Guard::Intents,
                    Some(entry.order_id.clone()),
                    group,
                    detail,
                    false,
                );
            }
        }
        let ids: Vec<String> = ctx
            .book
            .in_order()
            .into_iter()
            .map(|order| order.order_id.clone())
            .collect();
        let failed = tables.failed_state();
        for order_id in ids {
            let book = &mut *ctx.book;
            let Some(order) = book.orders.get_mut(&order_id) else {
                continue;
            };
            if listed.iter().any(|entry| entry.order_id == order_id)
                || tables.is_terminal(order.state)
            {
                continue;
            }
            let group = order.group_id.clone();
            if !order.acked && order.has_intent {
                let mark = recovery("unacknowledged_intents") == Some("mark_failed");
                if mark {
                    order.state = failed;
                    order.ack_deadline = None;
                    order.fill_deadline = None;
                    order.cancel_deadline = None;
                    finish(order, &mut book.finished, ctx.sink.time, book.retain_ns);
                }
                let what = if order.submitted {
                    "submitted"
                } else {
                    "recorded"
                };
                let outcome = if mark {
                    format!(
                        "marked failed ({}): never resubmitted",
                        tables.state_name(failed)
                    )
                } else {
                    "left as is (policy: alert)".into()
                };
                let detail = format!(
                    "intent {what} but never acknowledged and not open at the broker; {outcome}"
                );
                let severity = tables.severity(AlertKind::LostIntent);
                ctx.sink.alert(
                    AlertKind::LostIntent,
                    severity,
                    Guard::Intents,
                    Some(order_id),
                    group,
                    detail,
                    false,
                );
            } else if order.acked {
                let detail = format!(
                    "we hold the order {}; the broker no longer lists it open (its final events are due)",
                    tables.state_name(order.state)
                );
                let severity = tables.severity(AlertKind::StateMismatch);
                ctx.sink.alert(
                    AlertKind::StateMismatch,
                    severity,
                    Guard::Intents,
                    Some(order_id),
                    group,
                    detail,
                    false,
                );
            }
        }
    }

    fn reconcile_unknown(&mut self, ctx: &mut Ctx<'_>, entry: &OpenOrder) {
        let tables = ctx.tables;
        let action = tables
            .recovery
            .get("unknown_broker_orders")
            .map_or("alert", String::as_str);
        let mut detail = format!(
            "broker lists open order {} (broker id {}) we never recorded",
            str_repr(&entry.order_id),
            entry.broker_order_id
        );
        if action == "adopt" || action == "cancel" {
            let state: State = entry
                .status
                .as_deref()
                .and_then(|status| {
                    tables
                        .state_id(status)
                        .filter(|s| tables.declared_stage(*s).is_some())
                })
                .or_else(|| tables.state_id("new"))
                .unwrap_or(tables.initial);
            let mut order = Order::new(entry.order_id.clone(), state, None);
            order.adopted = true;
            order.submitted = true;
            order.acked = true;
            order.cum_qty = Num::or_zero(entry.cum_qty);
            let terminal = tables.is_terminal(state);
            ctx.book.insert(order);
            if terminal {
                let book = &mut *ctx.book;
                if let Some(order) = book.orders.get_mut(&entry.order_id) {
                    finish(order, &mut book.finished, ctx.sink.time, book.retain_ns);
                }
            }
            self.orphans += 1;
            detail.push_str("; adopted");
            if action == "cancel" {
                detail.push_str("; cancel it (policy: cancel)");
            }
        }
        let severity = tables.severity(AlertKind::OrphanOrder);
        ctx.sink.alert(
            AlertKind::OrphanOrder,
            severity,
            Guard::Intents,
            Some(entry.order_id.clone()),
            None,
            detail,
            false,
        );
    }

    /// An order timer: it fires only if the order still waits for exactly this deadline.
    pub fn timeout(sink: &mut Sink<'_>, order: Option<&mut Order>, deadline: Deadline, at: i64) {
        let Some(order) = order else { return };
        let tables = sink.tables;
        let live = !tables.is_terminal(order.state);
        let seconds = |ns: Option<i64>| format_g(ns.unwrap_or(0) as f64 / 1e9);
        let state = tables.state_name(order.state).clone();
        let (kind, detail) = match deadline {
            Deadline::Ack => {
                if order.acked {
                    return;
                }
                match order.ack_deadline {
                    Some(later) if later > at => {
                        // restarted (by the submit) after this timer was set: wait on
                        sink.schedule(
                            later,
                            Timer::Order {
                                deadline: Deadline::Ack,
                                order_id: order.order_id.clone(),
                            },
                        );
                        return;
                    }
                    Some(due) if due == at => {
                        order.ack_deadline = None;
                        (
                            AlertKind::AckTimeout,
                            format!(
                                "no broker acknowledgement within {}s of broker time",
                                seconds(tables.ack_ns)
                            ),
                        )
                    }
                    _ => return,
                }
            }
            Deadline::Cancel if order.cancel_deadline == Some(at) && live => {
                order.cancel_deadline = None;
                (
                    AlertKind::CancelTimeout,
                    format!(
                        "cancel not confirmed within {}s of broker time (order is {state})",
                        seconds(tables.cancel_ns)
                    ),
                )
            }
            Deadline::Replace if order.replace_deadline == Some(at) && live => {
                order.replace_deadline = None;
                (
                    AlertKind::ReplaceTimeout,
                    format!(
                        "replace not answered within {}s of broker time (order is {state})",
                        seconds(tables.replace_ns)
                    ),
                )
            }
            Deadline::Fill if order.fill_deadline == Some(at) && live => {
                order.fill_deadline = None;
                (
                    AlertKind::FillTimeout,
                    format!(
                        "order not done within {}s of broker time (order is {state})",
                        seconds(tables.fill_ns)
                    ),
                )
            }
            _ => return,
        };
        let (order_id, group_id) = (order.order_id.clone(), order.group_id.clone());
        sink.alert(
            kind,
            tables.severity(kind),
            Guard::Intents,
            Some(order_id),
            group_id,
            detail,
            false,
        );
    }

    pub fn snapshot(&self) -> Value {
        json!({"orphans": self.orphans, "unrecorded": self.unrecorded})
    }
}

impl Default for Intents {
    fn default() -> Self {
        Intents::new()
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{Read, field, flag, uint};
    use super::Intents;

    impl Intents {
        pub(crate) fn state(&self) -> Value {
            json!({"orphans": self.orphans, "unrecorded": self.unrecorded, "records_intents": self.records_intents})
        }

        pub(crate) fn restore(value: &Value) -> Read<Intents> {
            Ok(Intents {
                orphans: uint(field(value, "orphans")?, "orphans")?,
                unrecorded: uint(field(value, "unrecorded")?, "unrecorded")?,
                records_intents: flag(field(value, "records_intents")?, "records_intents")?,
            })
        }
    }
}
