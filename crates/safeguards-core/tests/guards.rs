//! Each guard, escalation and the engine's time through the core's own API, on the reference policy
//! (`fixtures/multileg_options.json`: `safeguards compile rules/multileg_options.yaml`).

use safeguards_core::decision::{Alert, AlertKind, Guard, Severity, Verdict};
use safeguards_core::engine::intents::OpenOrder;
use safeguards_core::engine::{Decided, Engine};
use safeguards_core::event::{Event, Field};
use safeguards_core::num::Num;
use safeguards_core::policy::{Level, Tables};
use safeguards_core::screen::{Raw, screen};
use safeguards_core::session::{SessionKey, Traits};
use serde_json::{Value, json};

const S: i64 = 1_000_000_000;
const T0: i64 = 1_771_684_200 * S; // 2026-02-21T14:30:00Z

fn tables() -> Tables {
    Tables::from_json(include_str!("fixtures/multileg_options.json"))
        .expect("the reference policy's tables")
}

fn engine() -> Engine {
    Engine::new(tables())
}

/// A canonical event from JSON, through the screen.
fn event(value: Value) -> Event {
    let items = value
        .as_object()
        .expect("an object")
        .iter()
        .filter_map(|(name, value)| {
            let raw = match value {
                Value::Null => Raw::None,
                Value::Bool(flag) => Raw::Bool(*flag),
                Value::Number(number) => match number.as_i64() {
                    Some(int) => Raw::Int(int),
                    None => Raw::Float(number.as_f64().unwrap_or_default()),
                },
                Value::String(text) => Raw::Str(text.clone().into()),
                _ => Raw::Other("list".into()),
            };
            Field::from_name(name).map(|field| (field, raw))
        })
        .collect::<Vec<_>>();
    screen(&items).unwrap_or_else(|why| panic!("invalid test event: {why}"))
}

fn intent(order_id: &str, group_id: &str, at: i64) -> Value {
    json!({"source": "local", "type": "intent", "event_id": format!("I-{order_id}"), "order_id": order_id,
           "group_id": group_id, "role": "leg", "symbol": "SPX", "side": "buy", "qty": 10, "recv_ts": at})
}

fn hedge(order_id: &str, parent: &str, qty: i64, at: i64) -> Value {
    json!({"source": "local", "type": "intent", "event_id": format!("I-{order_id}"), "order_id": order_id,
           "group_id": "G", "role": "hedge", "parent_id": parent, "symbol": "SPX", "side": "buy", "qty": qty,
           "recv_ts": at})
}

fn local(kind: &str, order_id: &str, at: i64) -> Value {
    json!({"source": "local", "type": kind, "event_id": format!("{kind}-{order_id}-{at}"), "order_id": order_id,
           "recv_ts": at})
}

fn broker(kind: &str, event_id: &str, order_id: &str, cum: Value, leaves: Value, at: i64) -> Value {
    let mut value = json!({"source": "broker", "type": kind, "event_id": event_id, "order_id": order_id,
                           "cum_qty": cum, "leaves_qty": leaves, "broker_ts": at, "recv_ts": at});
    if kind == "partial_fill" || kind == "fill" {
        value["last_qty"] = json!(1);
        value["last_px"] = json!(1.25);
    }
    value
}

fn quote(ask_qty: i64, at: i64) -> Value {
    json!({"source": "market", "type": "quote", "symbol": "SPX", "bid_px": 1.2, "bid_qty": 100, "ask_px": 1.3,
           "ask_qty": ask_qty, "broker_ts": at, "recv_ts": at})
}

fn decide(engine: &mut Engine, value: Value) -> (Decided, Vec<Alert>) {
    let decided = engine.decide(&event(value));
    (decided, engine.pop_alerts())
}

fn verdict(engine: &mut Engine, value: Value) -> (Verdict, String, Vec<AlertKind>) {
    let (decided, alerts) = decide(engine, value);
    (
        decided.outcome.verdict,
        decided.outcome.reason.to_string(),
        alerts.iter().map(|a| a.kind).collect(),
    )
}

/// An order through intent, submit and the broker's ack.
fn working(engine: &mut Engine, order_id: &str, at: i64) {
    assert_eq!(
        verdict(engine, intent(order_id, "G", at)).0,
        Verdict::Accept
    );
    assert_eq!(
        verdict(engine, local("submit", order_id, at + 1)).0,
        Verdict::Accept
    );
    let ack = broker(
        "new",
        &format!("A-{order_id}"),
        order_id,
        json!(0),
        json!(10),
        at + 2,
    );
    assert_eq!(verdict(engine, ack).0, Verdict::Accept);
}

mod idempotency {
    use super::*;

    #[test]
    fn a_repeat_is_a_duplicate_and_other_content_a_conflict_that_halts_the_group() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        let fill = broker("partial_fill", "F1", "O1", json!(1), json!(9), T0 + S);
        assert_eq!(verdict(&mut engine, fill.clone()).0, Verdict::Accept);
        let (verdict_, reason, alerts) = verdict(&mut engine, fill.clone());
        assert_eq!((verdict_, alerts.len()), (Verdict::Duplicate, 0));
        assert_eq!(
            reason,
            "this broker event was already seen; not applied again"
        );
        let mut other = fill;
        other["last_px"] = json!(9.99);
        let (verdict_, reason, alerts) = verdict(&mut engine, other);
        assert_eq!(verdict_, Verdict::Reject);
        assert_eq!(
            reason,
            "event_id 'F1' was already seen with different content"
        );
        assert_eq!(
            alerts,
            vec![AlertKind::ConflictingDuplicate, AlertKind::Halted]
        );
        assert_eq!(engine.trading_state(Some("G")), Level::Halted);
    }

    #[test]
    fn content_is_compared_by_value_not_by_spelling() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        let fill = broker("partial_fill", "F1", "O1", json!(1), json!(9), T0 + S);
        engine.decide(&event(fill.clone()));
        let mut respelt = fill;
        respelt["cum_qty"] = json!(1.0);
        respelt["broker_ts"] = json!("2026-02-21T15:30:01.000+01:00");
        respelt["recv_ts"] = json!(T0 + 2 * S); // ignored by the reference policy
        assert_eq!(verdict(&mut engine, respelt).0, Verdict::Duplicate);
    }

    #[test]
    fn keys_expire_a_window_of_broker_time_later() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        let ack_again = broker("new", "A-O1", "O1", json!(0), json!(10), T0 + 2);
        engine.advance(T0 + 25 * 3600 * S);
        let (verdict_, _, _) = verdict(&mut engine, ack_again);
        assert_ne!(
            verdict_,
            Verdict::Duplicate,
            "a day later the key is forgotten"
        );
        assert_eq!(
            engine.snapshot("p")["guards"]["idempotency"]["expired"],
            json!(3)
        );
    }
}

mod clock {
    use super::*;

    fn stamped(broker_ts: i64, recv_ts: i64) -> Value {
        let mut value = quote(100, broker_ts);
        value["recv_ts"] = json!(recv_ts);
        value
    }

    #[test]
    fn a_late_clock_is_one_alert_per_episode_and_reduces_the_session() {
        let mut engine = engine();
        assert!(
            verdict(&mut engine, stamped(T0, T0 + S / 1000))
                .2
                .is_empty()
        );
        let (_, _, alerts) = verdict(&mut engine, stamped(T0 + S, T0 + 3 * S));
        assert_eq!(alerts, vec![AlertKind::ClockSkew, AlertKind::Reducing]);
        assert!(
            verdict(&mut engine, stamped(T0 + 2 * S, T0 + 4 * S))
                .2
                .is_empty(),
            "the same episode"
        );
        assert_eq!(engine.trading_state(None), Level::Reducing);
        let (_, alerts) = decide(&mut engine, stamped(T0 + 200 * S, T0 + 200 * S + S / 1000));
        assert_eq!(
            alerts.iter().map(|a| a.kind).collect::<Vec<_>>(),
            vec![AlertKind::Resumed]
        );
        assert_eq!(
            alerts[0].detail,
            "this session's trading back to active: rule reduce_on_clock_skew cleared"
        );
    }

    #[test]
    fn a_stamp_from_the_future_alerts_and_does_not_move_time() {
        let mut engine = engine();
        engine.decide(&event(stamped(T0, T0)));
        let (decided, alerts) = decide(&mut engine, stamped(T0 + 3600 * S, T0 + S));
        assert_eq!(decided.outcome.verdict, Verdict::Accept);
        assert_eq!(alerts[0].kind, AlertKind::ClockSkew);
        assert!(
            alerts[0]
                .detail
                .starts_with("broker_ts is 3599000.000 ms ahead"),
            "{}",
            alerts[0].detail
        );
        assert_eq!(engine.now(), T0);
    }

    #[test]
    fn a_session_without_our_clock_gives_no_samples() {
        let mut engine = engine();
        let traits = Traits {
            own_clock: false,
            ..Traits::default()
        };
        engine.use_session(&SessionKey::Str("fix".into()), traits);
        assert!(verdict(&mut engine, stamped(T0, T0 + 10 * S)).2.is_empty());
        assert!(
            verdict(&mut engine, stamped(T0 + S, T0 + 100 * S))
                .2
                .is_empty()
        );
    }
}

mod hedging {
    use super::*;

    #[test]
    fn a_hedge_needs_a_fresh_quote_and_enough_size() {
        let mut engine = engine();
        working(&mut engine, "L1", T0);
        let (verdict_, reason, alerts) = verdict(&mut engine, hedge("H1", "L1", 3, T0 + S));
        assert_eq!(
            (verdict_, reason.as_str()),
            (Verdict::Block, "no quote for 'SPX'")
        );
        assert_eq!(alerts, vec![AlertKind::StaleQuote]);
        engine.decide(&event(quote(4, T0 + 2 * S)));
        let (verdict_, reason, _) = verdict(&mut engine, hedge("H2", "L1", 3, T0 + 2 * S + 1));
        assert_eq!(verdict_, Verdict::Block);
        assert_eq!(reason, "hedge qty 3 exceeds 0.5 x ask size 4 = 2");
        assert_eq!(
            verdict(&mut engine, hedge("H3", "L1", 2, T0 + 2 * S + 2)).0,
            Verdict::Accept
        );
        engine.advance(T0 + 10 * S);
        let (_, reason, _) = verdict(&mut engine, hedge("H4", "L1", 1, T0 + 10 * S + 1));
        assert_eq!(reason, "freshest quote for 'SPX' is 8.000s old (limit 2s)");
    }

    #[test]
    fn a_hedge_of_a_hedge_of_a_hedge_is_too_deep_and_halts_the_group() {
        let mut engine = engine();
        working(&mut engine, "L1", T0);
        engine.decide(&event(quote(500, T0 + S)));
        assert_eq!(
            verdict(&mut engine, hedge("H1", "L1", 1, T0 + S + 1)).0,
            Verdict::Accept
        );
        assert_eq!(
            verdict(&mut engine, hedge("H2", "H1", 1, T0 + S + 2)).0,
            Verdict::Accept
        );
        let (verdict_, reason, alerts) = verdict(&mut engine, hedge("H3", "H2", 1, T0 + S + 3));
        assert_eq!(
            (verdict_, reason.as_str()),
            (Verdict::Block, "hedge depth 3 exceeds 2")
        );
        assert_eq!(
            alerts,
            vec![AlertKind::HedgeDepthExceeded, AlertKind::Halted]
        );
        assert_eq!(engine.order("H2").map(|o| o.hedge_depth), Some(2));
    }
}

mod intents {
    use super::*;

    #[test]
    fn a_submit_without_an_intent_is_blocked() {
        let mut engine = engine();
        let (verdict_, reason, alerts) = verdict(&mut engine, local("submit", "X", T0));
        assert_eq!(verdict_, Verdict::Block);
        assert_eq!(
            reason,
            "no intent recorded for this order: record the intent first"
        );
        assert_eq!(alerts, vec![AlertKind::SubmitWithoutIntent]);
    }

    #[test]
    fn an_unknown_order_from_the_broker_is_an_orphan_adopted_with_its_quantity() {
        let mut engine = engine();
        let (decided, alerts) = decide(
            &mut engine,
            broker("new", "E1", "Z", json!(2), json!(3), T0),
        );
        assert_eq!(decided.outcome.verdict, Verdict::Accept);
        assert_eq!(alerts[0].kind, AlertKind::OrphanOrder);
        assert_eq!(alerts[0].severity, Severity::Critical);
        assert_eq!(engine.order("Z").and_then(|o| o.qty), Some(Num::Int(5)));
    }

    #[test]
    fn the_ack_timeout_runs_on_broker_time() {
        let mut engine = engine();
        engine.decide(&event(quote(100, T0)));
        engine.decide(&event(intent("O1", "G", T0 + 1)));
        engine.advance(T0 + 5 * S);
        assert!(engine.pop_alerts().is_empty(), "not past the deadline yet");
        engine.advance(T0 + 5 * S + 2);
        let alerts = engine.pop_alerts();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::AckTimeout);
        assert_eq!(
            alerts[0].detail,
            "no broker acknowledgement within 5s of broker time"
        );
        assert_eq!(
            alerts[0].broker_ts,
            Some(T0 + 5 * S + 1),
            "stamped with the deadline"
        );
    }

    #[test]
    fn reconciliation_marks_a_lost_intent_failed() {
        let mut engine = engine();
        engine.decide(&event(intent("O1", "G", T0)));
        let listed = [OpenOrder {
            order_id: "B9".into(),
            broker_order_id: "77".into(),
            status: None,
            cum_qty: None,
        }];
        let alerts = engine.reconcile(&listed);
        let kinds: Vec<_> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::OrphanOrder,
                AlertKind::Halted,
                AlertKind::LostIntent
            ]
        );
        assert!(
            alerts[2]
                .detail
                .ends_with("marked failed (rejected): never resubmitted"),
            "{}",
            alerts[2].detail
        );
        let (verdict_, reason, _) = verdict(&mut engine, local("submit", "O1", T0 + 1));
        assert_eq!(verdict_, Verdict::Block);
        assert!(reason.starts_with("start-up reconciliation marked this intent failed"));
    }
}

mod ordering {
    use super::*;

    #[test]
    fn allowed_late_and_illegal_transitions() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        let fill = broker("partial_fill", "F1", "O1", json!(4), json!(6), T0 + S);
        let (decided, _) = decide(&mut engine, fill);
        assert_eq!(
            decided
                .outcome
                .rule
                .as_ref()
                .map(|r| r.as_str().to_string()),
            Some("working_fill".into())
        );
        assert_eq!(
            decided.outcome.reason.to_string(),
            "new -> partially_filled"
        );
        let late_new = broker("new", "A2", "O1", json!(0), json!(10), T0 + 2 * S);
        let (verdict_, reason, _) = verdict(&mut engine, late_new);
        assert_eq!(verdict_, Verdict::Stale);
        assert_eq!(
            reason,
            "new announces new, but the order is already partially_filled: a late delivery"
        );
        let pending = broker("pending_new", "P1", "O1", json!(4), json!(6), T0 + 3 * S);
        assert_eq!(verdict(&mut engine, pending).0, Verdict::Stale);
        engine.decide(&event(broker(
            "canceled",
            "C1",
            "O1",
            json!(4),
            json!(0),
            T0 + 4 * S,
        )));
        let replaced = broker("replaced", "R1", "O1", json!(4), json!(6), T0 + 5 * S);
        assert_eq!(
            verdict(&mut engine, replaced).0,
            Verdict::Stale,
            "an earlier stage"
        );
        let expired = broker("expired", "X1", "O1", json!(4), json!(0), T0 + 6 * S);
        let (verdict_, reason, alerts) = verdict(&mut engine, expired);
        assert_eq!(verdict_, Verdict::Reject);
        assert_eq!(reason, "canceled -> expired is not an allowed transition");
        assert_eq!(
            alerts,
            vec![AlertKind::IllegalTransition, AlertKind::Halted],
            "after a terminal state"
        );
    }

    #[test]
    fn a_fill_after_cancel_keeps_its_quantity_and_an_overfill_is_flagged() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        engine.decide(&event(broker(
            "canceled",
            "C1",
            "O1",
            json!(0),
            json!(0),
            T0 + S,
        )));
        let (decided, alerts) = decide(
            &mut engine,
            broker("fill", "F1", "O1", json!(12.5), json!(0), T0 + 2 * S),
        );
        assert_eq!(decided.outcome.verdict, Verdict::Accept);
        let kinds: Vec<_> = alerts.iter().map(|a| a.kind).collect();
        assert_eq!(
            kinds,
            vec![
                AlertKind::IllegalTransition,
                AlertKind::Halted,
                AlertKind::Overfill
            ]
        );
        assert_eq!(
            alerts[2].detail,
            "cum_qty 12.5 exceeds the order quantity 10"
        );
        let order = engine.order("O1").expect("held");
        assert_eq!(
            (order.cum_qty, order.late_qty),
            (Num::Float(12.5), Num::Float(12.5))
        );
    }

    #[test]
    fn a_rejected_cancel_reverts_and_gaps_in_broker_seq_alert() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        engine.decide(&event(broker(
            "pending_cancel",
            "PC",
            "O1",
            json!(0),
            json!(10),
            T0 + S,
        )));
        let mut rejected = json!({"source": "broker", "type": "cancel_rejected", "event_id": "CR", "order_id": "O1",
                                  "broker_ts": T0 + 2 * S, "recv_ts": T0 + 2 * S, "broker_seq": 5});
        let (verdict_, reason, _) = verdict(&mut engine, rejected.clone());
        assert_eq!(
            (verdict_, reason.as_str()),
            (Verdict::Accept, "request rejected: pending_cancel -> new")
        );
        rejected["event_id"] = json!("CR2");
        rejected["broker_seq"] = json!(9);
        let (_, alerts) = decide(&mut engine, rejected);
        assert_eq!(alerts[0].kind, AlertKind::SequenceGap);
        assert_eq!(
            alerts[0].detail,
            "broker_seq jumped from 5 to 9: 3 message(s) missing"
        );
    }
}

mod escalation {
    use super::*;

    #[test]
    fn a_halted_group_blocks_its_intents_and_submits_but_not_cancels() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        engine.decide(&event(broker(
            "fill",
            "F1",
            "O1",
            json!(11),
            json!(0),
            T0 + S,
        ))); // overfill: halt
        assert_eq!(engine.trading_state(Some("G")), Level::Halted);
        assert_eq!(engine.trading_state(Some("other")), Level::Active);
        let (decided, _) = decide(&mut engine, intent("O2", "G", T0 + 2 * S));
        assert_eq!(decided.outcome.verdict, Verdict::Block);
        assert_eq!(decided.outcome.guard, Guard::Escalation);
        assert_eq!(
            decided.outcome.reason.to_string(),
            "group 'G' halted (rule halt_on_overfill): only cancels pass"
        );
        assert_eq!(
            verdict(&mut engine, local("cancel_request", "O1", T0 + 3 * S)).0,
            Verdict::Accept
        );
        assert_eq!(
            verdict(&mut engine, intent("O3", "G2", T0 + 4 * S)).0,
            Verdict::Accept
        );
    }
}

mod book {
    use super::*;

    #[test]
    fn finished_orders_leave_the_book_after_the_retention_and_a_late_fill_for_one_is_flagged() {
        let mut engine = engine();
        working(&mut engine, "O1", T0);
        engine.decide(&event(broker(
            "fill",
            "F1",
            "O1",
            json!(10),
            json!(0),
            T0 + S,
        )));
        assert_eq!(engine.orders_held(), 1);
        engine.advance(T0 + 25 * 3600 * S);
        assert_eq!(engine.orders_held(), 0);
        let (verdict_, _, alerts) = verdict(
            &mut engine,
            broker("fill", "F9", "O1", json!(10), json!(0), T0 + 90_000 * S),
        );
        assert_eq!(verdict_, Verdict::Reject);
        assert_eq!(alerts[0], AlertKind::IllegalTransition);
        let (verdict_, reason, _) = verdict(&mut engine, intent("O1", "G", T0 + 90_001 * S));
        assert_eq!(verdict_, Verdict::Block);
        assert_eq!(
            reason,
            "order 'O1' finished long ago (evicted): use a new order id"
        );
    }

    /// The reference policy with the book bounded at `max_keys` orders.
    fn bounded(max_keys: u64) -> Engine {
        let mut policy: Value =
            serde_json::from_str(include_str!("fixtures/multileg_options.json"))
                .expect("the reference policy");
        policy["idempotency"]["max_keys"] = json!(max_keys);
        Engine::new(Tables::from_value(&policy).expect("the bounded policy's tables"))
    }

    #[test]
    fn intents_never_acknowledged_hold_a_bounded_book_and_bounded_timers() {
        // no broker event ever comes, so no ack timeout is ever due: the timers of evicted
        // orders must go with them, not wait for broker time (issue 15 item 9)
        let mut engine = bounded(1_000);
        let mut evicted = 0;
        let mut timers = Vec::new();
        for n in 0..50_000 {
            let (_, alerts) = decide(&mut engine, intent(&format!("o{n}"), "G", T0 + n * 1_000));
            evicted += alerts
                .iter()
                .filter(|alert| alert.kind == AlertKind::OrderEvictedUnfinished)
                .count();
            if n % 10_000 == 9_999 {
                timers.push(engine.pending_timers());
            }
        }
        assert_eq!(engine.orders_held(), 1_000);
        assert_eq!(evicted, 49_000);
        let limit = 2 * 2 * 1_000 + 1_024; // two timers per order (ack, fill), swept at double
        assert!(
            timers.iter().all(|held| *held <= 2 * limit),
            "timers held after each 10,000 intents: {timers:?}"
        );
    }

    #[test]
    fn broker_orders_unknown_to_us_hold_a_bounded_book() {
        let mut engine = bounded(1_000);
        for n in 0..20_000 {
            engine.decide(&event(broker(
                "new",
                &format!("E{n}"),
                &format!("o{n}"),
                json!(0),
                json!(10),
                T0 + n * 1_000,
            )));
        }
        assert_eq!(engine.orders_held(), 1_000);
        assert!(engine.pending_timers() <= 2 * 1_000 + 1_024);
        // each orphan halted its own group (its order id); an evicted one takes its episode along
        assert_eq!(engine.trading_state(Some("o19999")), Level::Halted);
        assert_eq!(engine.trading_state(Some("o0")), Level::Active);
    }
}
