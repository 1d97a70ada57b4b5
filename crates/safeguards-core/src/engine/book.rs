//! The book: what the engine knows about each order, and how finished orders leave it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::fastmap::{FastSet as HashSet, IdIndex};

use serde_json::{Value, json};

use crate::event::{Role, Side};
use crate::num::Num;
use crate::policy::{State, Tables};

use super::packed::Packed;

/// What the engine knows about one order.
#[derive(Debug, Clone)]
pub struct Order {
    pub order_id: String,
    pub group_id: Option<String>,
    pub role: Option<Role>,
    pub parent_id: Option<String>,
    pub symbol: Option<String>,
    pub side: Option<Side>,
    pub qty: Option<Num>,
    pub state: State,
    pub before_pending: Option<State>,
    pub cum_qty: Num,
    pub leaves_qty: Option<Num>,
    pub has_intent: bool,
    pub submitted: bool,
    pub acked: bool,
    pub ack_deadline: Option<i64>,
    pub cancel_deadline: Option<i64>,
    pub fill_deadline: Option<i64>,
    pub replace_deadline: Option<i64>,
    pub hedge_depth: i64,
    pub late_qty: Num,
    pub adopted: bool,
    /// Broker time of its last event while terminal (None while live): eviction's clock.
    pub done_at: Option<i64>,
    /// The sum of the distinct trade reports' last_qty (None: none seen).
    pub traded_qty: Option<Num>,
    /// The quantity a pending replace request asked for.
    pub replace_qty: Option<Num>,
    /// When it entered the book, relative to the others: the book is read in this order.
    pub(crate) born: u64,
    /// Where the book holds it ([`Orders`]).
    pub(crate) slot: u32,
}

impl Order {
    pub fn new(order_id: String, state: State, group_id: Option<String>) -> Order {
        Order {
            order_id,
            group_id,
            role: None,
            parent_id: None,
            symbol: None,
            side: None,
            qty: None,
            state,
            before_pending: None,
            cum_qty: Num::ZERO,
            leaves_qty: None,
            has_intent: false,
            submitted: false,
            acked: false,
            ack_deadline: None,
            cancel_deadline: None,
            fill_deadline: None,
            replace_deadline: None,
            hedge_depth: 0,
            late_qty: Num::ZERO,
            adopted: false,
            done_at: None,
            traded_qty: None,
            replace_qty: None,
            born: 0,
            slot: 0,
        }
    }

    /// The order as the Python API shows it (`Engine.order`): every field but deadlines.
    pub fn to_json(&self, tables: &Tables) -> Value {
        let name = |state: State| Value::from(tables.state_name(state).as_ref());
        json!({
            "order_id": self.order_id,
            "group_id": self.group_id,
            "role": self.role.map(Role::name),
            "parent_id": self.parent_id,
            "symbol": self.symbol,
            "side": self.side.map(Side::name),
            "qty": self.qty.map(num_json),
            "state": name(self.state),
            "before_pending": self.before_pending.map(name),
            "cum_qty": num_json(self.cum_qty),
            "leaves_qty": self.leaves_qty.map(num_json),
            "has_intent": self.has_intent,
            "submitted": self.submitted,
            "acked": self.acked,
            "hedge_depth": self.hedge_depth,
            "late_qty": num_json(self.late_qty),
            "adopted": self.adopted,
            "traded_qty": self.traded_qty.map(num_json),
            "replace_qty": self.replace_qty.map(num_json),
        })
    }
}

/// A number as JSON, an int staying an int.
pub fn num_json(value: Num) -> Value {
    match value {
        Num::Int(int) => Value::from(int),
        Num::Float(float) => Value::from(float),
    }
}

/// Evicted order ids, the newest `limit` of them, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Evicted {
    ids: HashSet<String>,
    order: VecDeque<String>,
    limit: usize,
}

impl Evicted {
    pub fn contains(&self, order_id: &str) -> bool {
        self.ids.contains(order_id)
    }

    fn remember(&mut self, order_id: String) {
        if self.ids.insert(order_id.clone()) {
            self.order.push_back(order_id);
            if self.order.len() > self.limit
                && let Some(oldest) = self.order.pop_front()
            {
                self.ids.remove(&oldest);
            }
        }
    }
}

/// The orders held, each in a slot of its own, found by id.
///
/// Slots rather than a map of orders: the map holds only (id, slot), so growing it moves small
/// entries, and the queues of the book name a slot and the order's `born` instead of a copy of its
/// id. Every step of an event looks up the same order; the slot found last is remembered, so only
/// the first lookup hashes and probes. A finished order is packed ([`Packed`]) once its event is
/// decided ([`Orders::pack`]); reading it gives a copy, changing it unpacks it.
#[derive(Debug, Default)]
pub struct Orders {
    slots: Vec<Slot>,
    free: Vec<u32>,
    index: IdIndex,
    last: AtomicU32,
}

#[derive(Debug, Clone)]
enum Slot {
    Free,
    Live(Box<Order>),
    Packed(Packed),
}

impl Slot {
    /// The id of the order held, as bytes.
    #[inline]
    fn order_id(&self) -> Option<&[u8]> {
        match self {
            Slot::Free => None,
            Slot::Live(order) => Some(order.order_id.as_bytes()),
            Slot::Packed(packed) => Some(packed.order_id_bytes()),
        }
    }

    fn born(&self) -> Option<u64> {
        match self {
            Slot::Free => None,
            Slot::Live(order) => Some(order.born),
            Slot::Packed(packed) => Some(packed.born),
        }
    }

    fn read(&self, slot: u32) -> Option<Cow<'_, Order>> {
        match self {
            Slot::Free => None,
            Slot::Live(order) => Some(Cow::Borrowed(order)),
            Slot::Packed(packed) => Some(Cow::Owned(packed.unpack(slot))),
        }
    }
}

impl Clone for Orders {
    fn clone(&self) -> Orders {
        Orders {
            slots: self.slots.clone(),
            free: self.free.clone(),
            index: self.index.clone(),
            last: AtomicU32::new(self.last.load(Relaxed)),
        }
    }
}

impl Orders {
    /// Orders indexed by another hash of their ids (tests force collisions with it).
    #[cfg(test)]
    fn with_hash(hash: fn(&str) -> u64) -> Orders {
        Orders {
            index: IdIndex::with_hash(hash),
            ..Orders::default()
        }
    }

    fn find(&self, order_id: &str) -> Option<u32> {
        let last = self.last.load(Relaxed);
        if let Some(Slot::Live(order)) = self.slots.get(last as usize)
            && order.order_id == order_id
        {
            return Some(last);
        }
        let slots = &self.slots;
        let slot = self.index.get(order_id, |slot| {
            slots.get(slot as usize).and_then(Slot::order_id)
        })?;
        self.last.store(slot, Relaxed);
        Some(slot)
    }

    /// The order, read: borrowed while live, a copy when packed.
    pub fn get(&self, order_id: &str) -> Option<Cow<'_, Order>> {
        let slot = self.find(order_id)?;
        self.slots[slot as usize].read(slot)
    }

    /// The order's group id, live or packed, without a copy.
    pub fn group_id(&self, order_id: &str) -> Option<&str> {
        match &self.slots[self.find(order_id)? as usize] {
            Slot::Free => None,
            Slot::Live(order) => order.group_id.as_deref(),
            Slot::Packed(packed) => packed.group_id(),
        }
    }

    /// The order's (qty, cum_qty), live or packed, without a copy.
    pub fn quantities(&self, order_id: &str) -> Option<(Option<Num>, Num)> {
        match &self.slots[self.find(order_id)? as usize] {
            Slot::Free => None,
            Slot::Live(order) => Some((order.qty, order.cum_qty)),
            Slot::Packed(packed) => Some(packed.quantities()),
        }
    }

    /// Whether the order is packed with no deadline that could fire (its timers are moot).
    pub fn quiet(&self, order_id: &str) -> bool {
        self.find(order_id).is_some_and(
            |slot| matches!(&self.slots[slot as usize], Slot::Packed(packed) if packed.quiet),
        )
    }

    /// The order, to change: a packed one is unpacked first.
    pub fn get_mut(&mut self, order_id: &str) -> Option<&mut Order> {
        let slot = self.find(order_id)?;
        self.live(slot)
    }

    fn live(&mut self, slot: u32) -> Option<&mut Order> {
        let held = &mut self.slots[slot as usize];
        if let Slot::Packed(packed) = held {
            *held = Slot::Live(Box::new(packed.unpack(slot)));
        }
        match held {
            Slot::Live(order) => Some(order),
            _ => None,
        }
    }

    /// Pack the order if it is finished (terminal, its eviction clock running).
    pub fn pack(&mut self, order_id: &str) {
        let Some(slot) = self.find(order_id) else {
            return;
        };
        let held = &mut self.slots[slot as usize];
        if let Slot::Live(order) = held
            && order.done_at.is_some()
        {
            *held = Slot::Packed(Packed::pack(order));
        }
    }

    /// How many of the orders are held packed.
    pub fn packed(&self) -> usize {
        self.slots
            .iter()
            .filter(|held| matches!(held, Slot::Packed(_)))
            .count()
    }

    pub fn contains_key(&self, order_id: &str) -> bool {
        self.find(order_id).is_some()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// The orders, read, in no particular order (see [`Book::in_order`]).
    pub fn values(&self) -> impl Iterator<Item = Cow<'_, Order>> {
        self.slots
            .iter()
            .zip(0u32..)
            .filter_map(|(held, slot)| held.read(slot))
    }

    /// Every order, to change (packed ones are unpacked).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Order> {
        for slot in 0..self.slots.len() {
            self.live(slot as u32);
        }
        self.slots.iter_mut().filter_map(|held| match held {
            Slot::Live(order) => Some(&mut **order),
            _ => None,
        })
    }

    /// Hold `order`, in place of an order of the same id if there is one; returns its slot.
    fn insert(&mut self, mut order: Order) -> u32 {
        if let Some(slot) = self.find(&order.order_id) {
            order.slot = slot;
            self.slots[slot as usize] = Slot::Live(Box::new(order));
            return slot;
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::Free);
                u32::try_from(self.slots.len() - 1).expect("at most u32::MAX orders are held")
            }
        };
        order.slot = slot;
        self.index.insert(&order.order_id, slot);
        self.slots[slot as usize] = Slot::Live(Box::new(order));
        slot
    }

    /// Whether `slot` still holds the order born `born`.
    fn holds_born(&self, slot: u32, born: u64) -> bool {
        self.slots
            .get(slot as usize)
            .and_then(Slot::born)
            .is_some_and(|held| held == born)
    }

    /// The order in `slot`, read, if it is still the one born `born`.
    fn at(&self, slot: u32, born: u64) -> Option<Cow<'_, Order>> {
        if !self.holds_born(slot, born) {
            return None;
        }
        self.slots[slot as usize].read(slot)
    }

    /// Whether a retention entry still stands: its order held, and last seen finished at its time.
    fn holds(&self, entry: &Finished) -> bool {
        let done_at = match self.slots.get(entry.slot as usize) {
            Some(Slot::Live(order)) if order.born == entry.born => order.done_at,
            Some(Slot::Packed(packed)) if packed.born == entry.born => packed.done_at,
            _ => return false,
        };
        done_at == Some(entry.done_at)
    }

    fn take(&mut self, slot: u32) -> Option<Order> {
        let held = std::mem::replace(self.slots.get_mut(slot as usize)?, Slot::Free);
        let order = match held {
            Slot::Free => return None,
            Slot::Live(order) => *order,
            Slot::Packed(packed) => packed.unpack(slot),
        };
        self.index.remove(&order.order_id, slot);
        self.free.push(slot);
        Some(order)
    }

    pub fn remove(&mut self, order_id: &str) -> Option<Order> {
        let slot = self.find(order_id)?;
        self.take(slot)
    }

    /// (born, slot) of every order held.
    fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.slots
            .iter()
            .zip(0u32..)
            .filter_map(|(held, slot)| Some((held.born()?, slot)))
    }
}

/// A finished order's place in the retention queue: when it was last seen finished, and which order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finished {
    pub done_at: i64,
    slot: u32,
    born: u64,
}

impl Finished {
    pub fn of(order: &Order, done_at: i64) -> Finished {
        Finished {
            done_at,
            slot: order.slot,
            born: order.born,
        }
    }
}

/// Orders, and the queue by which finished ones are evicted once `retain_ns` of broker time old.
///
/// A terminal order that sees an event is queued (time, id); the engine pops the queue's old end
/// as broker time passes, so the cost is amortised O(1). Evicted ids are remembered (the newest
/// `max_keys` of the dedup policy), so a late event for one is told apart from an orphan.
///
/// At most `max_orders` orders are held (the dedup policy's `max_keys`): past it, the order that
/// entered first goes, finished or not ([`Book::evict_overflow`]), so that a feed of orders that
/// never finish cannot exhaust the process (issue 15 item 9).
#[derive(Debug, Clone)]
pub struct Book {
    pub orders: Orders,
    pub finished: VecDeque<Finished>,
    pub evicted: Evicted,
    pub evictions: u64,
    pub retain_ns: i64,
    pub max_orders: usize,
    /// (born, id) in the order orders entered; stale entries are skipped, and dropped in bulk.
    entered: VecDeque<(u64, u32)>,
    born: u64,
}

impl Book {
    pub fn new(retain_ns: i64, max_evicted: usize) -> Book {
        Book {
            orders: Orders::default(),
            finished: VecDeque::new(),
            evicted: Evicted {
                limit: max_evicted,
                ..Evicted::default()
            },
            evictions: 0,
            retain_ns,
            max_orders: max_evicted,
            entered: VecDeque::new(),
            born: 0,
        }
    }

    /// Put a new order in the book (after every order already there).
    pub fn insert(&mut self, mut order: Order) {
        self.born += 1;
        order.born = self.born;
        let slot = self.orders.insert(order);
        self.entered.push_back((self.born, slot));
    }

    /// Past `max_orders` orders, evict those that entered first; returns them (the caller alerts for
    /// those not finished, and lets the guards forget them).
    pub fn evict_overflow(&mut self) -> Vec<Order> {
        let mut gone = Vec::new();
        while self.orders.len() > self.max_orders {
            let Some((born, slot)) = self.entered.pop_front() else {
                break;
            };
            if !self.orders.holds_born(slot, born) {
                continue; // gone already, or entered again since
            }
            if let Some(order) = self.orders.take(slot) {
                self.evicted.remember(order.order_id.clone());
                self.evictions += 1;
                gone.push(order);
            }
        }
        if self.entered.len() > 2 * self.orders.len() + 1024 {
            let mut entries: Vec<(u64, u32)> = self.orders.entries().collect();
            entries.sort_unstable();
            self.entered = entries.into();
        }
        if self.finished.len() > 2 * self.orders.len() + 1024 {
            // finished orders evicted before their retention ran out: their entries wait for
            // broker time that may not come
            let orders = &self.orders;
            self.finished.retain(|entry| orders.holds(entry));
        }
        gone
    }

    /// The orders in the order they entered the book.
    pub fn in_order(&self) -> Vec<Cow<'_, Order>> {
        let mut orders: Vec<Cow<'_, Order>> = self.orders.values().collect();
        orders.sort_by_key(|order| order.born);
        orders
    }

    pub fn group_of_order(&self, order_id: Option<&str>) -> Option<String> {
        order_id
            .and_then(|id| self.orders.group_id(id))
            .map(str::to_string)
    }

    /// Drop the orders finished before `horizon`; returns them, so the guards forget what served only them.
    pub fn evict_before(&mut self, horizon: i64) -> Vec<Order> {
        let mut gone = Vec::new();
        while let Some(entry) = self.finished.front() {
            if entry.done_at >= horizon {
                break;
            }
            let Some(entry) = self.finished.pop_front() else {
                break;
            };
            // gone, live again, or seen since: a newer entry rules
            if !self.orders.holds(&entry) {
                continue;
            }
            if let Some(order) = self.orders.take(entry.slot) {
                self.evicted.remember(order.order_id.clone());
                self.evictions += 1;
                gone.push(order);
            }
        }
        gone
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{
        Read, bad, field, flag, int, list, num, num_json, opt_int, opt_num, opt_text, text, uint,
    };
    use super::{Book, Evicted, Finished, Order};
    use crate::event::{Role, Side};
    use crate::policy::{State, Tables};

    fn state_of(tables: &Tables, value: &Value) -> Read<State> {
        tables
            .state_id(&text(value, "order state")?)
            .ok_or_else(|| bad("order state"))
    }

    impl Order {
        fn state(&self, tables: &Tables) -> Value {
            let name = |state: State| json!(tables.state_name(state).as_ref());
            json!({
                "order_id": self.order_id, "group_id": self.group_id, "role": self.role.map(Role::name),
                "parent_id": self.parent_id, "symbol": self.symbol, "side": self.side.map(Side::name),
                "qty": self.qty.map(num_json), "state": name(self.state), "before_pending": self.before_pending.map(name),
                "cum_qty": num_json(self.cum_qty), "leaves_qty": self.leaves_qty.map(num_json),
                "has_intent": self.has_intent, "submitted": self.submitted, "acked": self.acked,
                "ack_deadline": self.ack_deadline, "cancel_deadline": self.cancel_deadline,
                "fill_deadline": self.fill_deadline, "replace_deadline": self.replace_deadline,
                "hedge_depth": self.hedge_depth, "late_qty": num_json(self.late_qty), "adopted": self.adopted,
                "done_at": self.done_at, "traded_qty": self.traded_qty.map(num_json),
                "replace_qty": self.replace_qty.map(num_json),
            })
        }

        fn restore(tables: &Tables, v: &Value) -> Read<Order> {
            let f = |name: &str| field(v, name);
            let mut order = Order::new(
                text(f("order_id")?, "order_id")?,
                state_of(tables, f("state")?)?,
                None,
            );
            order.group_id = opt_text(f("group_id")?, "group_id")?;
            order.role = opt_text(f("role")?, "role")?.and_then(|role| Role::from_name(&role));
            order.parent_id = opt_text(f("parent_id")?, "parent_id")?;
            order.symbol = opt_text(f("symbol")?, "symbol")?;
            order.side = opt_text(f("side")?, "side")?.and_then(|side| Side::from_name(&side));
            order.qty = opt_num(f("qty")?, "qty")?;
            order.before_pending = match f("before_pending")? {
                Value::Null => None,
                state => Some(state_of(tables, state)?),
            };
            order.cum_qty = num(f("cum_qty")?, "cum_qty")?;
            order.leaves_qty = opt_num(f("leaves_qty")?, "leaves_qty")?;
            order.has_intent = flag(f("has_intent")?, "has_intent")?;
            order.submitted = flag(f("submitted")?, "submitted")?;
            order.acked = flag(f("acked")?, "acked")?;
            order.ack_deadline = opt_int(f("ack_deadline")?, "ack_deadline")?;
            order.cancel_deadline = opt_int(f("cancel_deadline")?, "cancel_deadline")?;
            order.fill_deadline = opt_int(f("fill_deadline")?, "fill_deadline")?;
            order.replace_deadline = opt_int(f("replace_deadline")?, "replace_deadline")?;
            order.hedge_depth = int(f("hedge_depth")?, "hedge_depth")?;
            order.late_qty = num(f("late_qty")?, "late_qty")?;
            order.adopted = flag(f("adopted")?, "adopted")?;
            order.done_at = opt_int(f("done_at")?, "done_at")?;
            order.traded_qty = opt_num(f("traded_qty")?, "traded_qty")?;
            order.replace_qty = opt_num(f("replace_qty")?, "replace_qty")?;
            Ok(order)
        }
    }

    impl Book {
        pub(crate) fn state(&self, tables: &Tables) -> Value {
            let orders: Vec<Value> = self
                .in_order()
                .into_iter()
                .map(|order| order.state(tables))
                .collect();
            // an entry whose order is gone would be skipped when its time comes: it is not kept
            let finished: Vec<Value> = self
                .finished
                .iter()
                .filter_map(|entry| {
                    let order = self.orders.at(entry.slot, entry.born)?;
                    Some(json!([entry.done_at, order.order_id]))
                })
                .collect();
            json!({"orders": orders, "finished": finished, "evicted": self.evicted.order, "evictions": self.evictions})
        }

        pub(crate) fn restore(tables: &Tables, value: &Value) -> Read<Book> {
            let mut book = Book::new(tables.retain_ns(), tables.max_keys);
            for order in list(field(value, "orders")?, "orders")? {
                book.insert(Order::restore(tables, order)?);
            }
            for row in list(field(value, "finished")?, "finished")? {
                let row = list(row, "finished")?;
                let (Some(at), Some(id)) = (row.first(), row.get(1)) else {
                    return Err(bad("finished"));
                };
                let done_at = int(at, "finished")?;
                if let Some(order) = book.orders.get(&text(id, "finished")?) {
                    let entry = Finished::of(&order, done_at);
                    book.finished.push_back(entry);
                }
            }
            let mut evicted = Evicted {
                limit: tables.max_keys,
                ..Evicted::default()
            };
            for id in list(field(value, "evicted")?, "evicted")? {
                evicted.remember(text(id, "evicted")?);
            }
            book.evicted = evicted;
            book.evictions = uint(field(value, "evictions")?, "evictions")?;
            // `entered` is the orders' own order: a checkpoint need not hold it
            Ok(book)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Book, Finished, Order, Orders};
    use crate::policy::State;

    fn order(id: &str) -> Order {
        Order::new(id.to_string(), State(0), None)
    }

    fn ids<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Vec<&'a str> {
        orders
            .into_iter()
            .map(|order| order.order_id.as_str())
            .collect()
    }

    #[test]
    fn past_the_bound_the_orders_that_entered_first_go_and_are_remembered() {
        let mut book = Book::new(1, 10);
        book.max_orders = 2;
        for id in ["a", "b", "c"] {
            book.insert(order(id));
        }
        assert_eq!(ids(&book.evict_overflow()), ["a"]);
        book.orders.remove("b"); // gone another way (finished and evicted): its entry is stale
        book.insert(order("d"));
        assert!(book.evict_overflow().is_empty());
        book.insert(order("a")); // a again: a new order, entered last
        assert_eq!(ids(&book.evict_overflow()), ["c"]); // b's entry skipped: b is gone
        let in_order = book.in_order();
        assert_eq!(ids(in_order.iter().map(|order| &**order)), ["d", "a"]);
        assert!(book.evicted.contains("a") && book.evicted.contains("c"));
        assert_eq!(book.evictions, 2);
        assert_eq!(book.orders.len(), 2);
    }

    #[test]
    fn stale_entries_are_dropped_in_bulk_so_the_queue_stays_bounded() {
        let mut book = Book::new(1, 10);
        book.max_orders = 4;
        for n in 0..10_000 {
            let id = format!("o{n}");
            book.insert(order(&id));
            book.orders.remove(&id); // every order leaves another way
            book.evict_overflow();
        }
        assert!(book.entered.len() <= 1024 + 1, "{}", book.entered.len());
        for n in 0..6 {
            book.insert(order(&format!("n{n}")));
        }
        assert_eq!(ids(&book.evict_overflow()), ["n0", "n1"]);
    }

    #[test]
    fn finished_orders_evicted_past_the_bound_leave_the_retention_queue() {
        let mut book = Book::new(i64::MAX, 10);
        book.max_orders = 4;
        for n in 0..10_000 {
            let id = format!("o{n}");
            let mut finished = order(&id);
            finished.done_at = Some(n);
            book.insert(finished);
            let entry = Finished::of(&book.orders.get(&id).unwrap(), n);
            book.finished.push_back(entry); // finished, and broker time never reaches the retention
            book.evict_overflow();
        }
        assert_eq!(book.orders.len(), 4);
        assert!(
            book.finished.len() <= 2 * 4 + 1024 + 1,
            "{}",
            book.finished.len()
        );
        let held: Vec<String> = book
            .finished
            .iter()
            .rev()
            .take(4)
            .filter_map(|entry| book.orders.at(entry.slot, entry.born))
            .map(|order| order.order_id.clone())
            .collect();
        assert_eq!(held, ["o9999", "o9998", "o9997", "o9996"]); // the held orders keep their entries
    }

    /// The same book whatever the hash: every id colliding, some colliding, none.
    #[test]
    fn colliding_hashes_leave_the_book_right() {
        let hashes: [fn(&str) -> u64; 3] =
            [|_| 7, |id| id.len() as u64 % 3, crate::fastmap::id_hash];
        for hash in hashes {
            let mut book = Book::new(i64::MAX, 1_000);
            book.orders = Orders::with_hash(hash);
            book.max_orders = 40;
            let mut held: Vec<String> = Vec::new();
            for n in 0..200 {
                let id = format!("o{}", n * 7 % 101);
                if book.orders.contains_key(&id) {
                    // finished and packed, then read back through the index
                    let order = book.orders.get_mut(&id).unwrap();
                    order.done_at = Some(n);
                    book.orders.pack(&id);
                    assert_eq!(book.orders.get(&id).unwrap().order_id, id);
                    if n % 3 == 0 {
                        assert_eq!(book.orders.remove(&id).unwrap().order_id, id);
                        held.retain(|other| *other != id);
                    }
                } else {
                    book.insert(order(&id));
                    held.push(id.clone());
                }
                for gone in book.evict_overflow() {
                    held.retain(|other| *other != gone.order_id);
                }
                assert_eq!(book.orders.len(), held.len());
                for id in &held {
                    assert_eq!(book.orders.get(id).unwrap().order_id, *id);
                }
                for n in 0..101 {
                    let id = format!("o{n}");
                    assert_eq!(book.orders.contains_key(&id), held.contains(&id), "{id}");
                }
            }
            let in_order = book.in_order();
            assert_eq!(ids(in_order.iter().map(|order| &**order)), held);
        }
    }
}
