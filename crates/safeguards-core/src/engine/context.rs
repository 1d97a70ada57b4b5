//! What a guard's step works on: the tables, the book, and the sink alerts go into.

use crate::decision::{Alert, AlertKind, Guard, Severity};
use crate::event::Event;
use crate::policy::Tables;

use super::book::{Book, Finished, Order};
use super::escalation::Escalation;
use super::time::{Deadline, Time, Timer};

/// The alerts raised and the event they are raised at.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pub alerts: Vec<Alert>,
    /// The current event's seq (or arrival number); the last one's between events.
    pub seq: Option<i64>,
    /// The broker time alerts are stamped with: the event's broker_ts, a timer's deadline, or None.
    pub stamp: Option<i64>,
    /// The current event's receive time.
    pub recv_ts: i64,
}

/// Where alerts go: buffered, and seen by escalation at once (it may raise its own, and schedule clears).
pub struct Sink<'a> {
    pub tables: &'a Tables,
    pub time: &'a mut Time,
    pub out: &'a mut Outbox,
    pub trading: &'a mut Escalation,
}

impl Sink<'_> {
    /// Raise an alert at the current event (or time), and let escalation see it.
    #[allow(clippy::too_many_arguments)]
    pub fn alert(
        &mut self,
        kind: AlertKind,
        severity: Severity,
        guard: Guard,
        order_id: Option<String>,
        group_id: Option<String>,
        detail: String,
        after_terminal: bool,
    ) {
        let stamp = self.out.stamp.or(if self.time.now != 0 {
            Some(self.time.now)
        } else {
            None
        });
        let alert = Alert {
            kind,
            severity,
            guard,
            seq: self.out.seq,
            order_id,
            group_id,
            broker_ts: stamp,
            detail,
        };
        self.out.alerts.push(alert.clone());
        Escalation::on_alert(self, &alert, after_terminal);
    }

    pub fn schedule(&mut self, at: i64, timer: Timer) {
        self.time.schedule(at, timer);
    }

    /// Start an order's timeout: `after_ns` of broker time from now, kept in the order's `slot`
    /// (what the timer checks when it fires) and scheduled.
    pub fn arm(
        &mut self,
        slot: &mut Option<i64>,
        after_ns: i64,
        deadline: Deadline,
        order_id: &str,
    ) {
        let at = self.now().saturating_add(after_ns);
        *slot = Some(at);
        self.schedule(
            at,
            Timer::Order {
                deadline,
                order_id: order_id.into(),
            },
        );
    }

    pub fn now(&self) -> i64 {
        self.time.now
    }
}

/// One step's world: the policy, the book of orders, and the sink.
pub struct Ctx<'a> {
    pub tables: &'a Tables,
    pub book: &'a mut Book,
    pub sink: Sink<'a>,
}

impl Ctx<'_> {
    /// The event's group: its own group_id, else the group of its order.
    pub fn group_of(&self, event: &Event) -> Option<String> {
        event
            .group_id
            .clone()
            .or_else(|| self.book.group_of_order(event.order_id.as_deref()))
    }
}

/// A terminal order just saw an event: it may be evicted `retain_ns` after now.
pub fn finish(
    order: &mut Order,
    finished: &mut std::collections::VecDeque<Finished>,
    time: &mut Time,
    retain_ns: i64,
) {
    let now = time.now;
    order.done_at = Some(now);
    finished.push_back(Finished::of(order, now));
    let at = now.saturating_add(retain_ns);
    if time.wake_at.is_none_or(|wake| at < wake) {
        time.wake_at = Some(at);
    }
}
