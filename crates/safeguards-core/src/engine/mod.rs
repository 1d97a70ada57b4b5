//! The engine: every event through the safeguards in fixed phases, exactly one decision out.
//!
//! Per event: (1) the screen (done before, by [`crate::screen`]); (2) time: broker time moves to
//! the event's trusted time and due timers fire, whatever the verdict turns out to be; (3) the
//! steps of the event's type, in pipeline order, escalation's gate among them; (4) the record
//! (counts, the decision). A step answers `None` (go on), an accept (remembered, go on) or any
//! other verdict (that is the decision). Alerts go through escalation as they are raised and are
//! buffered until taken ([`Engine::pop_alerts`]).

pub mod book;
pub mod checkpoint;
pub mod clock;
pub mod context;
pub mod escalation;
pub mod hedging;
pub mod idempotency;
pub mod intents;
pub mod ordering;
pub mod packed;
pub mod pipeline;
pub mod time;

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use crate::decision::{Alert, AlertKind, Guard, Outcome, Reason, Severity, Verdict};
use crate::event::Event;
use crate::policy::{Level, Tables};
use crate::session::{SessionKey, Traits};

use book::{Book, Order};
use clock::{ClockGuard, TimeMove};
use context::{Ctx, Outbox, Sink};
use escalation::Escalation;
use hedging::Hedging;
use idempotency::Idempotency;
use intents::{Intents, OpenOrder};
use ordering::Ordering;
use pipeline::{Step, pipeline};
use time::{Time, Timer};

/// One decided event: its seq, its outcome, and its group (its own, else its order's).
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub seq: i64,
    pub outcome: Outcome,
    pub group_id: Option<String>,
}

/// Five safeguards and escalation over one book. Not thread-safe: one engine per event stream.
pub struct Engine {
    pub tables: Tables,
    book: Book,
    time: Time,
    out: Outbox,
    trading: Escalation,
    dedup: Idempotency,
    clock: ClockGuard,
    hedging: Hedging,
    intents: Intents,
    ordering: Ordering,
    counts: [u64; 6],
    alert_counts: Vec<(AlertKind, u64)>,
    pub arrivals: i64,
}

/// Fold one step's answer into the pipeline: an accept is remembered, anything else ends it.
macro_rules! step {
    ($outcome:ident, $answer:expr) => {
        if let Some(decided) = $answer {
            if decided.verdict != Verdict::Accept {
                return decided;
            }
            $outcome = Some(decided);
        }
    };
}

impl Engine {
    pub fn new(tables: Tables) -> Engine {
        let book = Book::new(tables.retain_ns(), tables.max_keys);
        Engine {
            trading: Escalation::new(&tables),
            dedup: Idempotency::new(&tables),
            clock: ClockGuard::new(&tables),
            hedging: Hedging::new(&tables),
            intents: Intents::new(),
            ordering: Ordering::new(),
            book,
            time: Time::default(),
            out: Outbox::default(),
            counts: [0; 6],
            alert_counts: Vec::new(),
            arrivals: 0,
            tables,
        }
    }

    // --- events ---------------------------------------------------------------------

    /// Decide one valid event.
    pub fn decide(&mut self, event: &Event) -> Decided {
        let mut group_id = None;
        let (seq, outcome) =
            self.decide_seeing_group(event, |group| group_id = group.map(str::to_string));
        Decided {
            seq,
            outcome,
            group_id,
        }
    }

    /// [`Engine::decide`], the decision's group shown to `see_group` as it is found instead of
    /// copied into the decision: a writer of columns or lines takes it as text, so there is no
    /// copy to make and free for every event. Returns the decision's seq and outcome.
    pub fn decide_seeing_group(
        &mut self,
        event: &Event,
        see_group: impl FnOnce(Option<&str>),
    ) -> (i64, Outcome) {
        self.arrivals += 1;
        let seq = event.seq.unwrap_or(self.arrivals);
        self.out.seq = Some(seq);
        self.out.stamp = event.broker_ts;
        self.out.recv_ts = event.recv_ts;
        self.move_time(event);
        let outcome = self.run_steps(event);
        self.out.stamp = None;
        self.counts[outcome.verdict as usize] += 1;
        see_group(match (&event.group_id, &event.order_id) {
            (Some(group_id), _) => Some(group_id),
            (None, Some(order_id)) => self.book.orders.group_id(order_id),
            (None, None) => None,
        });
        if let Some(order_id) = event.order_id.as_deref() {
            self.book.orders.pack(order_id); // if its event finished it
        }
        if self.book.orders.len() > self.book.max_orders {
            self.evict_overflow();
        }
        (seq, outcome)
    }

    /// The book is over its bound: the orders that entered first go, an unfinished one with an alert.
    fn evict_overflow(&mut self) {
        for order in self.book.evict_overflow() {
            if !self.tables.terminal.contains(&order.state) {
                let Engine {
                    tables,
                    time,
                    out,
                    trading,
                    book,
                    ..
                } = self;
                let detail = format!(
                    "order {} evicted unfinished (state {}): the book holds at most {} orders \
                     (idempotency.max_keys)",
                    order.order_id,
                    tables.state_name(order.state),
                    book.max_orders
                );
                Sink {
                    tables,
                    time,
                    out,
                    trading,
                }
                .alert(
                    AlertKind::OrderEvictedUnfinished,
                    Severity::Warning,
                    Guard::Engine,
                    Some(order.order_id.clone()),
                    order.group_id.clone(),
                    detail,
                    false,
                );
            }
            self.hedging.evicted(&order);
            self.trading.evicted(&order);
        }
        self.sweep_timers();
    }

    /// Forget the timers of evicted orders and groups (they are moot: see [`Time::sweep`]).
    fn sweep_timers(&mut self) {
        let Engine {
            book,
            time,
            hedging,
            ..
        } = self;
        time.sweep(|timer| match timer {
            Timer::Order { order_id, .. } => !book.orders.contains_key(order_id),
            Timer::Unhedged { group_id, .. } => !hedging.holds_group(group_id),
            Timer::Clear { .. } => false,
        });
    }

    /// Count a malformed input; its arrival number (the decision's seq when it has no valid one).
    pub fn record_invalid(&mut self) -> i64 {
        self.arrivals += 1;
        self.counts[Verdict::Invalid as usize] += 1;
        self.arrivals
    }

    /// Count an event that broke the store's promise (a step could not run on it): `invalid`.
    pub fn unprocessable(&mut self, seq: Option<i64>, why: String) -> Decided {
        self.arrivals += 1;
        self.counts[Verdict::Invalid as usize] += 1;
        Decided {
            seq: seq.unwrap_or(self.arrivals),
            outcome: Outcome::new(
                Verdict::Invalid,
                Guard::Engine,
                None,
                Reason::Unprocessable(why),
            ),
            group_id: None,
        }
    }

    /// Phase two: broker time moves to the event's trusted time; due timers fire.
    fn move_time(&mut self, event: &Event) {
        match self
            .clock
            .move_time(event, self.time.now, &mut self.time.offset)
        {
            TimeMove::To(at) => self.advance(at),
            TimeMove::Learned { rebase, to } => {
                if let Some(shift) = rebase {
                    self.rebase(shift);
                }
                self.advance(to);
            }
            TimeMove::Stay => {}
        }
    }

    /// Phase three: the event type's steps, in pipeline order.
    fn run_steps(&mut self, event: &Event) -> Outcome {
        let Engine {
            tables,
            book,
            time,
            out,
            trading,
            dedup,
            clock,
            hedging,
            intents,
            ordering,
            ..
        } = self;
        let mut ctx = Ctx {
            tables,
            book,
            sink: Sink {
                tables,
                time,
                out,
                trading,
            },
        };
        let mut outcome: Option<Outcome> = None;
        for &next in pipeline(event.kind) {
            let answer = match next {
                Step::Dedup => dedup.check(&mut ctx, event),
                Step::Gate => ctx.sink.trading.gate(ctx.book, event),
                Step::CheckIntent => intents.check_intent(&ctx, event),
                Step::CheckHedge => hedging.check_intent(&mut ctx, event),
                Step::RecordIntent => intents.record_intent(&mut ctx, event),
                Step::AfterHedgeIntent => hedging.after_intent(ctx.book, event),
                Step::Submit => intents.submit(&mut ctx, event),
                Step::CancelRequest => intents.cancel_request(&mut ctx, event),
                Step::ReplaceRequest => intents.replace_request(&mut ctx, event),
                Step::ObserveClock => clock.observe(&mut ctx, event),
                Step::Quote => hedging.quote(event),
                Step::BrokerEvent => intents.broker_event(&mut ctx, event),
                Step::ApplyOrdering => ordering.apply(&mut ctx, event),
                Step::AfterFill => hedging.after_fill(&mut ctx, event),
            };
            step!(outcome, answer);
        }
        outcome.unwrap_or_else(|| {
            Outcome::new(Verdict::Accept, Guard::Engine, None, Reason::NoObjection)
        })
    }

    /// How many alerts are raised and not yet taken.
    pub fn pending_alerts(&self) -> usize {
        self.out.alerts.len()
    }

    /// The alerts raised since the last call, oldest first.
    pub fn pop_alerts(&mut self) -> Vec<Alert> {
        let alerts = std::mem::take(&mut self.out.alerts);
        for alert in &alerts {
            match self
                .alert_counts
                .iter_mut()
                .find(|(kind, _)| *kind == alert.kind)
            {
                Some((_, count)) => *count += 1,
                None => self.alert_counts.push((alert.kind, 1)),
            }
        }
        alerts
    }

    // --- time -----------------------------------------------------------------------

    /// Broker time moves forward to `now`: every timer it passes fires, then long-finished orders go.
    pub fn advance(&mut self, now: i64) {
        if now <= self.time.now {
            return;
        }
        self.time.now = now;
        if self.time.wake_at.is_some_and(|wake| now > wake) {
            self.wake(now);
        }
    }

    /// Live use: the local clock says `local_now`; corrected by the estimated offset.
    pub fn advance_local(&mut self, local_now: i64) {
        self.advance(local_now.saturating_sub(self.time.offset.unwrap_or(0)));
    }

    fn wake(&mut self, now: i64) {
        let saved = self.out.stamp;
        while let Some((at, timer)) = self.time.pop_due(now) {
            self.out.stamp = Some(at);
            self.fire(at, timer);
        }
        self.out.stamp = saved;
        let retain = self.book.retain_ns;
        if self
            .book
            .finished
            .front()
            .is_some_and(|entry| entry.done_at < now.saturating_sub(retain))
        {
            for order in self.book.evict_before(now.saturating_sub(retain)) {
                self.hedging.evicted(&order);
                self.trading.evicted(&order);
            }
            self.sweep_timers();
        }
        self.rewake();
    }

    fn rewake(&mut self) {
        let evict_at = self
            .book
            .finished
            .front()
            .map(|entry| entry.done_at.saturating_add(self.book.retain_ns));
        self.time.rewake(evict_at);
    }

    fn fire(&mut self, at: i64, timer: Timer) {
        let Engine {
            tables,
            book,
            time,
            out,
            trading,
            hedging,
            ..
        } = self;
        let mut sink = Sink {
            tables,
            time,
            out,
            trading,
        };
        match timer {
            Timer::Order { deadline, order_id } => {
                if !book.orders.quiet(&order_id) {
                    Intents::timeout(&mut sink, book.orders.get_mut(&order_id), deadline, at);
                    book.orders.pack(&order_id); // finished, it goes back packed
                }
            }
            Timer::Unhedged { group_id, since } => {
                hedging.unhedged_timeout(&mut sink, &group_id, since)
            }
            Timer::Clear {
                scope,
                rule_id,
                since,
            } => Escalation::clear(&mut sink, &scope, &rule_id, since),
        }
    }

    /// Move broker time and every pending deadline by `shift`, once, when the broker's clock is first known.
    fn rebase(&mut self, shift: i64) {
        self.time.shift(shift);
        for entry in self.book.finished.iter_mut() {
            entry.done_at = entry.done_at.saturating_add(shift);
        }
        for order in self.book.orders.values_mut() {
            for value in [
                &mut order.ack_deadline,
                &mut order.cancel_deadline,
                &mut order.replace_deadline,
                &mut order.fill_deadline,
                &mut order.done_at,
            ]
            .into_iter()
            .flatten()
            {
                *value = value.saturating_add(shift);
            }
        }
        self.rewake();
    }

    pub fn now(&self) -> i64 {
        self.time.now
    }

    pub fn offset(&self) -> Option<i64> {
        self.time.offset
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.time.next_deadline()
    }

    // --- sessions and start-up --------------------------------------------------------

    /// The broker's message numbers start over (a new FIX session or trading day).
    pub fn new_session(&mut self) {
        self.ordering.new_session();
    }

    /// Events from here on belong to broker session `key`, with these traits.
    pub fn use_session(&mut self, key: &SessionKey, traits: Traits) {
        if let Some(offset) = self.clock.use_session(key, traits) {
            self.time.offset = offset;
        }
        self.intents.records_intents = traits.records_intents;
        self.ordering.use_session(key);
        self.trading.use_session(key);
    }

    /// Compare the broker's open orders with ours; the findings are alerts.
    pub fn reconcile(&mut self, open_orders: &[OpenOrder]) -> Vec<Alert> {
        self.out.seq = Some(self.arrivals);
        self.out.stamp = None;
        let Engine {
            tables,
            book,
            time,
            out,
            trading,
            intents,
            ..
        } = self;
        let mut ctx = Ctx {
            tables,
            book,
            sink: Sink {
                tables,
                time,
                out,
                trading,
            },
        };
        intents.reconcile(&mut ctx, open_orders);
        self.pop_alerts()
    }

    // --- reading --------------------------------------------------------------------

    /// The order, read (a copy when the book holds it packed).
    pub fn order(&self, order_id: &str) -> Option<Cow<'_, Order>> {
        self.book.orders.get(order_id)
    }

    pub fn trading_state(&self, group_id: Option<&str>) -> Level {
        self.trading.state_of(group_id)
    }

    /// Verdict counts, in the order of [`Verdict::ALL`].
    pub fn counts(&self) -> [(Verdict, u64); 6] {
        Verdict::ALL.map(|verdict| (verdict, self.counts[verdict as usize]))
    }

    /// Alert counts by kind, in the order kinds were first taken.
    pub fn alert_counts(&self) -> &[(AlertKind, u64)] {
        &self.alert_counts
    }

    pub fn orders_held(&self) -> usize {
        self.book.orders.len()
    }

    /// Of the orders held, how many are finished and packed.
    pub fn orders_packed(&self) -> usize {
        self.book.orders.packed()
    }

    pub fn dedup_keys_held(&self) -> usize {
        self.dedup.keys_held()
    }

    /// A JSON-ready picture of the whole engine, as `safeguards.Engine.snapshot` gives it.
    /// The trading state alone (`snapshot()["trading"]`), without building every order: the
    /// sidecar reads it on every exit.
    pub fn trading_snapshot(&self) -> Value {
        self.trading.snapshot()
    }

    pub fn snapshot(&self, identity: &str) -> Value {
        let verdicts: Map<String, Value> = self
            .counts()
            .iter()
            .map(|(verdict, count)| (verdict.name().into(), Value::from(*count)))
            .collect();
        let alerts: Map<String, Value> = self
            .alert_counts
            .iter()
            .map(|(kind, count)| (kind.name().into(), Value::from(*count)))
            .collect();
        let orders: Map<String, Value> = self
            .book
            .in_order()
            .into_iter()
            .map(|order| (order.order_id.clone(), order.to_json(&self.tables)))
            .collect();
        json!({
            "policy": identity,
            "now": self.time.now,
            "offset_ns": self.time.offset,
            "arrivals": self.arrivals,
            "verdicts": verdicts,
            "alerts": alerts,
            "trading": self.trading.snapshot(),
            "orders": orders,
            "guards": {
                "idempotency": self.dedup.snapshot(),
                "clock": self.clock.snapshot(self.time.offset),
                "hedging": self.hedging.snapshot(),
                "intents": self.intents.snapshot(),
                "ordering": self.ordering.snapshot(),
            },
        })
    }

    // --- checkpoints ------------------------------------------------------------------

    /// Everything the engine holds, as JSON (format [`checkpoint::FORMAT`]):
    /// [`Engine::from_state`] continues exactly as this engine would. Take the alerts first.
    pub fn state(&self) -> Result<Value, checkpoint::CheckpointError> {
        if !self.out.alerts.is_empty() {
            return Err(checkpoint::CheckpointError(
                "take the alerts (pop_alerts) before saving the engine's state".into(),
            ));
        }
        let counts: Map<String, Value> = self
            .counts()
            .iter()
            .map(|(verdict, count)| (verdict.name().into(), Value::from(*count)))
            .collect();
        let alert_counts: Vec<Value> = self
            .alert_counts
            .iter()
            .map(|(kind, count)| json!([kind.name(), count]))
            .collect();
        Ok(json!({
            "format": checkpoint::FORMAT,
            "arrivals": self.arrivals,
            "seq": self.out.seq,
            "counts": counts,
            "alert_counts": alert_counts,
            "time": self.time.state(),
            "book": self.book.state(&self.tables),
            "escalation": self.trading.state(),
            "idempotency": self.dedup.state(),
            "clock": self.clock.state(),
            "hedging": self.hedging.state(),
            "intents": self.intents.state(),
            "ordering": self.ordering.state(),
        }))
    }

    /// An engine in exactly the state [`Engine::state`] described, under the same tables.
    pub fn from_state(
        tables: Tables,
        state: &Value,
    ) -> Result<Engine, checkpoint::CheckpointError> {
        use checkpoint::{bad, field, int, list, opt_int, text, uint};
        let format = state
            .get("format")
            .and_then(Value::as_str)
            .unwrap_or("none");
        if format != checkpoint::FORMAT {
            return Err(checkpoint::CheckpointError(format!(
                "format {format:?} is not {:?}; recover by replaying the journal's records",
                checkpoint::FORMAT
            )));
        }
        let mut engine = Engine::new(tables);
        let tables = &engine.tables;
        engine.time = Time::restore(field(state, "time")?)?;
        engine.book = Book::restore(tables, field(state, "book")?)?;
        engine.trading = Escalation::restore(tables, field(state, "escalation")?)?;
        engine.dedup = Idempotency::restore(tables, field(state, "idempotency")?)?;
        engine.clock = ClockGuard::restore(tables, field(state, "clock")?)?;
        engine.hedging = Hedging::restore(tables, field(state, "hedging")?)?;
        engine.intents = Intents::restore(field(state, "intents")?)?;
        engine.ordering = Ordering::restore(field(state, "ordering")?)?;
        engine.arrivals = int(field(state, "arrivals")?, "arrivals")?;
        engine.out.seq = opt_int(field(state, "seq")?, "seq")?;
        for verdict in Verdict::ALL {
            let count = field(state, "counts")?
                .get(verdict.name())
                .ok_or_else(|| bad("counts"))?;
            engine.counts[verdict as usize] = uint(count, "counts")?;
        }
        for row in list(field(state, "alert_counts")?, "alert_counts")? {
            let row = list(row, "alert_counts")?;
            let [kind, count] = row.as_slice() else {
                return Err(bad("alert_counts"));
            };
            let kind = AlertKind::from_name(&text(kind, "alert_counts")?)
                .ok_or_else(|| bad("alert_counts"))?;
            engine
                .alert_counts
                .push((kind, uint(count, "alert_counts")?));
        }
        engine.rewake();
        Ok(engine)
    }

    /// Timers pending (moot ones included: they are found moot when they fire).
    pub fn pending_timers(&self) -> usize {
        self.time.pending()
    }
}
