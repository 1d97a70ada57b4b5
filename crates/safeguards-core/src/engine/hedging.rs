//! Hedging: an emergency hedge must not chase itself, nor take more than the book shows.
//!
//! A hedge intent's depth is 1 + its parent's depth when the parent is itself a hedge; deeper than
//! `max_depth` is blocked. It needs a quote for its symbol fresher than `quote_max_age`, and may
//! take at most `liquidity_fraction` of the displayed size on its side. At most
//! `max_attempts_per_group` hedges per group. A group whose leg fills are out of balance with no
//! hedge filled since is unhedged; past `max_unhedged` it raises `unhedged_timeout`. An evicted
//! order leaves its group's legs; a group with no orders left is dropped.

use crate::fastmap::{FastMap as HashMap, FastSet as HashSet};

use serde_json::{Map, Value, json};

use crate::decision::{AlertKind, Guard, Outcome, Reason, Step, Verdict};
use crate::event::{Event, Role, Side};
use crate::num::Num;
use crate::policy::Tables;
use crate::pyfmt::{format_fixed3, format_g, opt_repr, str_repr};

use super::book::{Book, Order};
use super::context::{Ctx, Sink};
use super::time::Timer;

#[derive(Debug, Clone, Copy)]
struct Quote {
    bid_qty: Num,
    ask_qty: Num,
    broker_ts: i64,
}

/// Hedging's view of one group.
#[derive(Debug, Clone, Default)]
struct HedgeGroup {
    attempts: i64,
    legs: Vec<String>,
    unhedged_since: Option<i64>,
    /// Orders with an intent in this group still in the book: at 0 the group is dropped.
    members: i64,
}

#[derive(Debug, Clone)]
pub struct Hedging {
    max_depth: i64,
    fraction: f64,
    quote_max_age_ns: i64,
    max_attempts: i64,
    max_unhedged_ns: i64,
    quotes: HashMap<String, Quote>,
    groups: HashMap<String, HedgeGroup>,
    pending_depth: i64,
}

impl Hedging {
    pub fn new(tables: &Tables) -> Hedging {
        Hedging {
            max_depth: tables.max_depth,
            fraction: tables.liquidity_fraction,
            quote_max_age_ns: tables.quote_max_age_ns,
            max_attempts: tables.max_attempts,
            max_unhedged_ns: tables.max_unhedged_ns,
            quotes: HashMap::default(),
            groups: HashMap::default(),
            pending_depth: 0,
        }
    }

    /// The quote step: the freshest quote per symbol (an older one arriving late is not kept).
    pub fn quote(&mut self, event: &Event) -> Step {
        let recorded = Some(Outcome::fixed(
            Verdict::Accept,
            Guard::Hedging,
            "quote",
            Reason::QuoteRecorded,
        ));
        let (Some(symbol), Some(broker_ts)) = (event.symbol.as_ref(), event.broker_ts) else {
            return recorded;
        };
        let quote = Quote {
            bid_qty: event.bid_qty.unwrap_or(Num::ZERO),
            ask_qty: event.ask_qty.unwrap_or(Num::ZERO),
            broker_ts,
        };
        match self.quotes.get_mut(symbol.as_str()) {
            Some(held) if held.broker_ts > broker_ts => {}
            Some(held) => *held = quote,
            None => {
                self.quotes.insert(symbol.clone(), quote);
            }
        }
        recorded
    }

    /// 1 + the parent's depth if the parent is a hedge order, following parent links.
    pub fn depth_of(book: &Book, parent_id: Option<&str>) -> i64 {
        let mut depth = 1;
        let mut seen: HashSet<String> = HashSet::default();
        let mut order = parent_id.and_then(|id| book.orders.get(id));
        while let Some(current) = order {
            if current.role != Some(Role::Hedge) || !seen.insert(current.order_id.clone()) {
                break;
            }
            depth += 1;
            order = current
                .parent_id
                .as_deref()
                .and_then(|id| book.orders.get(id));
        }
        depth
    }

    /// The check step for intents: a hedge's depth, the group's attempts, the quote's age and size.
    pub fn check_intent(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        if event.role != Some(Role::Hedge) {
            return None;
        }
        let order_id = event.order_id.clone();
        let group_id = event.group_id.clone();
        let depth = Hedging::depth_of(ctx.book, event.parent_id.as_deref());
        let tables = ctx.tables;
        if depth > self.max_depth {
            let detail = format!(
                "hedge depth {depth} exceeds the limit {} (parent {})",
                self.max_depth,
                opt_repr(event.parent_id.as_deref())
            );
            let severity = tables.severity(AlertKind::HedgeDepthExceeded);
            ctx.sink.alert(
                AlertKind::HedgeDepthExceeded,
                severity,
                Guard::Hedging,
                order_id,
                group_id,
                detail,
                false,
            );
            return Some(Outcome::fixed(
                Verdict::Block,
                Guard::Hedging,
                "max_depth",
                Reason::DepthExceeded {
                    depth,
                    max: self.max_depth,
                },
            ));
        }
        if let Some(group) = group_id.as_ref().and_then(|id| self.groups.get(id))
            && group.attempts >= self.max_attempts
        {
            let detail = format!(
                "group already made {} hedge attempts (limit {})",
                group.attempts, self.max_attempts
            );
            let severity = tables.severity(AlertKind::HedgeAttemptsExceeded);
            ctx.sink.alert(
                AlertKind::HedgeAttemptsExceeded,
                severity,
                Guard::Hedging,
                order_id,
                group_id,
                detail,
                false,
            );
            return Some(Outcome::fixed(
                Verdict::Block,
                Guard::Hedging,
                "max_attempts_per_group",
                Reason::AttemptsExhausted {
                    max: self.max_attempts,
                },
            ));
        }
        let symbol = event.symbol.as_deref().unwrap_or_default();
        let quote = self.quotes.get(symbol).copied();
        let age = quote.map_or(0, |q| ctx.sink.now().saturating_sub(q.broker_ts));
        let Some(quote) = quote.filter(|_| age <= self.quote_max_age_ns) else {
            let detail = match quote {
                None => format!("no quote for {}", str_repr(symbol)),
                Some(_) => format!(
                    "freshest quote for {} is {}s old (limit {}s)",
                    str_repr(symbol),
                    format_fixed3(age as f64 / 1e9),
                    format_g(self.quote_max_age_ns as f64 / 1e9)
                ),
            };
            let severity = tables.severity(AlertKind::StaleQuote);
            ctx.sink.alert(
                AlertKind::StaleQuote,
                severity,
                Guard::Hedging,
                order_id,
                group_id,
                detail.clone(),
                false,
            );
            return Some(Outcome::fixed(
                Verdict::Block,
                Guard::Hedging,
                "quote_max_age",
                Reason::Text(detail),
            ));
        };
        let buy = event.side == Some(Side::Buy);
        let displayed = if buy { quote.ask_qty } else { quote.bid_qty };
        let allowed = self.fraction * displayed.as_f64();
        let qty = event.qty.unwrap_or(Num::ZERO);
        if qty > allowed {
            let detail = format!(
                "hedge qty {qty} exceeds {} x {} size {displayed} = {}",
                format_g(self.fraction),
                if buy { "ask" } else { "bid" },
                format_g(allowed)
            );
            let severity = tables.severity(AlertKind::InsufficientLiquidity);
            ctx.sink.alert(
                AlertKind::InsufficientLiquidity,
                severity,
                Guard::Hedging,
                order_id,
                group_id,
                detail.clone(),
                false,
            );
            return Some(Outcome::fixed(
                Verdict::Block,
                Guard::Hedging,
                "liquidity_fraction",
                Reason::Text(detail),
            ));
        }
        self.pending_depth = depth;
        None
    }

    /// After an intent is recorded: its group counts it, a hedge its depth and the attempt, a leg joins the legs.
    pub fn after_intent(&mut self, book: &mut Book, event: &Event) -> Step {
        let order = book.orders.get_mut(event.order_id.as_deref()?)?;
        let group_id = order.group_id.as_deref().unwrap_or_default();
        if !self.groups.contains_key(group_id) {
            self.groups
                .insert(group_id.to_string(), HedgeGroup::default());
        }
        let group = self.groups.get_mut(group_id)?;
        group.members += 1;
        match order.role {
            Some(Role::Hedge) => {
                order.hedge_depth = self.pending_depth;
                group.attempts += 1;
            }
            Some(Role::Leg) => group.legs.push(order.order_id.clone()),
            _ => {}
        }
        None
    }

    /// After a fill: a hedge's fill ends the group's unhedged spell; a leg's may start one.
    pub fn after_fill(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let order = ctx.book.orders.get(event.order_id.as_deref()?)?;
        let group_id = order.group_id.as_deref()?;
        let role = order.role;
        let group = self.groups.get_mut(group_id)?;
        match role {
            Some(Role::Hedge) => group.unhedged_since = None,
            Some(Role::Leg) => {
                // Balanced: every leg (with a quantity) filled to the same fraction.
                let mut balanced = true;
                let mut first = None;
                for (qty, cum_qty) in group
                    .legs
                    .iter()
                    .filter_map(|id| ctx.book.orders.quantities(id))
                {
                    if let Some(qty) = qty.filter(|qty| qty.is_truthy()) {
                        let ratio = cum_qty.as_f64() / qty.as_f64();
                        match first {
                            None => first = Some(ratio),
                            Some(first) if ratio != first => {
                                balanced = false;
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                if balanced {
                    group.unhedged_since = None;
                } else if group.unhedged_since.is_none() {
                    let now = ctx.sink.now();
                    group.unhedged_since = Some(now);
                    ctx.sink.schedule(
                        now.saturating_add(self.max_unhedged_ns),
                        Timer::Unhedged {
                            group_id: group_id.to_string(),
                            since: now,
                        },
                    );
                }
            }
            _ => {}
        }
        None
    }

    /// Whether the guard still holds `group_id` (a timer for a group it forgot is moot).
    pub fn holds_group(&self, group_id: &str) -> bool {
        self.groups.contains_key(group_id)
    }

    /// The unhedged timer: still out of balance since then, an alert.
    pub fn unhedged_timeout(&self, sink: &mut Sink<'_>, group_id: &str, since: i64) {
        if self
            .groups
            .get(group_id)
            .is_some_and(|group| group.unhedged_since == Some(since))
        {
            let detail = format!(
                "legs out of balance and no hedge filled for {}s of broker time",
                format_g(self.max_unhedged_ns as f64 / 1e9)
            );
            let severity = sink.tables.severity(AlertKind::UnhedgedTimeout);
            sink.alert(
                AlertKind::UnhedgedTimeout,
                severity,
                Guard::Hedging,
                None,
                Some(group_id.into()),
                detail,
                false,
            );
        }
    }

    /// Forget a long-finished order: out of its group's legs; the group too once it has no orders left.
    pub fn evicted(&mut self, order: &Order) {
        let Some(group_id) = order.group_id.as_ref().filter(|_| order.has_intent) else {
            return;
        };
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        if order.role == Some(Role::Leg)
            && let Some(at) = group.legs.iter().position(|leg| *leg == order.order_id)
        {
            group.legs.remove(at);
        }
        group.members -= 1;
        if group.members <= 0 {
            self.groups.remove(group_id);
        }
    }

    pub fn snapshot(&self) -> Value {
        let groups: Map<String, Value> = self
            .groups
            .iter()
            .map(|(id, g)| {
                (
                    id.clone(),
                    json!({"attempts": g.attempts, "unhedged_since": g.unhedged_since}),
                )
            })
            .collect();
        json!({"quotes": self.quotes.len(), "groups": groups})
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{
        Read, bad, field, int, list, num, num_json, opt_int, sorted, text,
    };
    use super::{HedgeGroup, Hedging, Quote};
    use crate::policy::Tables;

    impl Hedging {
        pub(crate) fn state(&self) -> Value {
            let quotes = self
                .quotes
                .iter()
                .map(|(s, q)| json!([s, num_json(q.bid_qty), num_json(q.ask_qty), q.broker_ts]))
                .collect();
            let groups = self
                .groups
                .iter()
                .map(|(id, g)| json!([id, g.attempts, g.legs, g.unhedged_since, g.members]))
                .collect();
            json!({"quotes": sorted(quotes), "groups": sorted(groups), "pending_depth": self.pending_depth})
        }

        pub(crate) fn restore(tables: &Tables, value: &Value) -> Read<Hedging> {
            let mut hedging = Hedging::new(tables);
            for row in list(field(value, "quotes")?, "quotes")? {
                let row = list(row, "quote")?;
                let [symbol, bid_qty, ask_qty, broker_ts] = row.as_slice() else {
                    return Err(bad("quote"));
                };
                let quote = Quote {
                    bid_qty: num(bid_qty, "quote")?,
                    ask_qty: num(ask_qty, "quote")?,
                    broker_ts: int(broker_ts, "quote")?,
                };
                hedging.quotes.insert(text(symbol, "quote")?, quote);
            }
            for row in list(field(value, "groups")?, "groups")? {
                let row = list(row, "group")?;
                let [id, attempts, legs, since, members] = row.as_slice() else {
                    return Err(bad("group"));
                };
                let group = HedgeGroup {
                    attempts: int(attempts, "group")?,
                    legs: list(legs, "group")?
                        .iter()
                        .map(|leg| text(leg, "group"))
                        .collect::<Read<_>>()?,
                    unhedged_since: opt_int(since, "group")?,
                    members: int(members, "group")?,
                };
                hedging.groups.insert(text(id, "group")?, group);
            }
            hedging.pending_depth = int(field(value, "pending_depth")?, "pending_depth")?;
            Ok(hedging)
        }
    }
}
