//! The canonical event (DESIGN section 4): its fields, sources, types, roles and sides, in one place.

use crate::num::Num;

/// What kind of value a canonical field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Str,
    Int,
    Number,
    Timestamp,
    Bool,
}

impl Kind {
    /// The words every "expected ..., got ..." reason uses.
    pub fn words(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::Int => "an integer",
            Kind::Number => "a number",
            Kind::Timestamp => {
                "an RFC 3339 timestamp with its zone (e.g. 2026-02-21T14:30:00.123Z) or integer nanoseconds"
            }
            Kind::Bool => "true or false",
        }
    }
}

macro_rules! fields {
    ($($variant:ident = $name:literal : $kind:ident),* $(,)?) => {
        /// Every canonical field, in the order of DESIGN section 4 (the event store's column order).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field { $($variant),* }

        impl Field {
            pub const ALL: &'static [Field] = &[$(Field::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Field::$variant => $name),* }
            }

            pub fn kind(self) -> Kind {
                match self { $(Field::$variant => Kind::$kind),* }
            }

            pub fn from_name(name: &str) -> Option<Field> {
                match name { $($name => Some(Field::$variant),)* _ => None }
            }
        }

        impl Event {
            /// Each of `fields` (a [`Field::mask`]) the event holds, with its value, in canonical
            /// order. Unrolled field by field, so each read is direct: a loop over a list of fields
            /// calling [`Event::get`] pays a dispatch per field, and the dedup fingerprint of every
            /// new key reads them all.
            #[inline(always)]
            pub fn each_held(&self, fields: u32, mut visit: impl FnMut(Field, FieldValue<'_>)) {
                $(
                    if fields & Field::$variant.bit() != 0
                        && let Some(value) = self.get(Field::$variant)
                    {
                        visit(Field::$variant, value);
                    }
                )*
            }
        }
    };
}

fields! {
    Seq = "seq": Int,
    Source = "source": Str,
    Type = "type": Str,
    EventId = "event_id": Str,
    Account = "account": Str,
    OrderId = "order_id": Str,
    BrokerOrderId = "broker_order_id": Str,
    GroupId = "group_id": Str,
    Leg = "leg": Str,
    Role = "role": Str,
    ParentId = "parent_id": Str,
    Symbol = "symbol": Str,
    Side = "side": Str,
    Qty = "qty": Number,
    LimitPx = "limit_px": Number,
    LastQty = "last_qty": Number,
    LastPx = "last_px": Number,
    CumQty = "cum_qty": Number,
    LeavesQty = "leaves_qty": Number,
    BidPx = "bid_px": Number,
    BidQty = "bid_qty": Number,
    AskPx = "ask_px": Number,
    AskQty = "ask_qty": Number,
    BrokerTs = "broker_ts": Timestamp,
    RecvTs = "recv_ts": Timestamp,
    BrokerSeq = "broker_seq": Int,
    PossDup = "poss_dup": Bool,
}

impl Field {
    /// This field's bit in a mask of fields (there are fewer than 32).
    #[inline(always)]
    pub const fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The mask of a set of fields.
    pub fn mask(fields: &[Field]) -> u32 {
        fields.iter().fold(0, |mask, field| mask | field.bit())
    }

    /// Quantities may not be negative; prices may (a credit spread's limit is negative).
    pub fn is_quantity(self) -> bool {
        matches!(
            self,
            Field::Qty
                | Field::LastQty
                | Field::CumQty
                | Field::LeavesQty
                | Field::BidQty
                | Field::AskQty
        )
    }

    /// The closed set of values of a field, besides source and type.
    pub fn choices(self) -> Option<&'static [&'static str]> {
        match self {
            Field::Side => Some(&["buy", "sell"]),
            Field::Role => Some(&["leg", "hedge", "stop"]),
            _ => None,
        }
    }
}

/// Who an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    Broker,
    Local,
    Market,
}

impl Source {
    /// Sorted, as the screen lists them.
    pub const ALL: [Source; 3] = [Source::Broker, Source::Local, Source::Market];

    pub fn name(self) -> &'static str {
        match self {
            Source::Broker => "broker",
            Source::Local => "local",
            Source::Market => "market",
        }
    }

    pub fn from_name(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|source| source.name() == name)
    }

    pub fn types(self) -> &'static [EventType] {
        use EventType::*;
        match self {
            Source::Local => &[Intent, Submit, CancelRequest, ReplaceRequest],
            Source::Broker => &[
                PendingNew,
                New,
                PartialFill,
                Fill,
                PendingCancel,
                Canceled,
                CancelRejected,
                PendingReplace,
                Replaced,
                Rejected,
                Expired,
                DoneForDay,
            ],
            Source::Market => &[Quote],
        }
    }
}

/// Every event type, with the source it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    Intent,
    Submit,
    CancelRequest,
    ReplaceRequest,
    PendingNew,
    New,
    PartialFill,
    Fill,
    PendingCancel,
    Canceled,
    CancelRejected,
    PendingReplace,
    Replaced,
    Rejected,
    Expired,
    DoneForDay,
    Quote,
}

impl EventType {
    pub const COUNT: usize = 17;

    pub fn name(self) -> &'static str {
        use EventType::*;
        match self {
            Intent => "intent",
            Submit => "submit",
            CancelRequest => "cancel_request",
            ReplaceRequest => "replace_request",
            PendingNew => "pending_new",
            New => "new",
            PartialFill => "partial_fill",
            Fill => "fill",
            PendingCancel => "pending_cancel",
            Canceled => "canceled",
            CancelRejected => "cancel_rejected",
            PendingReplace => "pending_replace",
            Replaced => "replaced",
            Rejected => "rejected",
            Expired => "expired",
            DoneForDay => "done_for_day",
            Quote => "quote",
        }
    }

    pub fn source(self) -> Source {
        use EventType::*;
        match self {
            Intent | Submit | CancelRequest | ReplaceRequest => Source::Local,
            Quote => Source::Market,
            _ => Source::Broker,
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        Source::ALL
            .iter()
            .flat_map(|source| source.types())
            .copied()
            .find(|t| t.name() == name)
    }

    /// Trade reports: the broker types that carry a fill (last_qty, last_px).
    pub fn is_fill(self) -> bool {
        matches!(self, EventType::PartialFill | EventType::Fill)
    }

    /// The fields an event of this type must carry, in canonical order (DESIGN section 4's table).
    pub fn required(self) -> &'static [Field] {
        use EventType::*;
        use Field::*;
        match self {
            Intent => &[OrderId, GroupId, Role, Symbol, Side, Qty, RecvTs],
            Submit | CancelRequest => &[OrderId, RecvTs],
            ReplaceRequest => &[OrderId, Qty, RecvTs],
            CancelRejected => &[EventId, OrderId, BrokerTs, RecvTs],
            PartialFill | EventType::Fill => &[
                EventId, OrderId, LastQty, LastPx, CumQty, LeavesQty, BrokerTs, RecvTs,
            ],
            Quote => &[Symbol, BidPx, BidQty, AskPx, AskQty, BrokerTs, RecvTs],
            _ => &[EventId, OrderId, CumQty, LeavesQty, BrokerTs, RecvTs],
        }
    }
}

/// An order's role in its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Leg,
    Hedge,
    Stop,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Leg => "leg",
            Role::Hedge => "hedge",
            Role::Stop => "stop",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        [Role::Leg, Role::Hedge, Role::Stop]
            .into_iter()
            .find(|role| role.name() == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }

    pub fn from_name(name: &str) -> Option<Side> {
        [Side::Buy, Side::Sell]
            .into_iter()
            .find(|side| side.name() == name)
    }
}

/// The account an event without one belongs to.
pub const DEFAULT_ACCOUNT: &str = "default";

/// One valid canonical event, typed; timestamps in nanoseconds since the epoch.
#[derive(Debug, Clone)]
pub struct Event {
    pub seq: Option<i64>,
    pub kind: EventType,
    pub event_id: Option<String>,
    pub account: Option<String>,
    pub order_id: Option<String>,
    pub broker_order_id: Option<String>,
    pub group_id: Option<String>,
    pub leg: Option<String>,
    pub role: Option<Role>,
    pub parent_id: Option<String>,
    pub symbol: Option<String>,
    pub side: Option<Side>,
    pub qty: Option<Num>,
    pub limit_px: Option<Num>,
    pub last_qty: Option<Num>,
    pub last_px: Option<Num>,
    pub cum_qty: Option<Num>,
    pub leaves_qty: Option<Num>,
    pub bid_px: Option<Num>,
    pub bid_qty: Option<Num>,
    pub ask_px: Option<Num>,
    pub ask_qty: Option<Num>,
    pub broker_ts: Option<i64>,
    pub recv_ts: i64,
    pub broker_seq: Option<i64>,
    pub poss_dup: Option<bool>,
}

/// A field's value, as the hash of canonical bytes sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldValue<'a> {
    Str(&'a str),
    Int(i64),
    Num(Num),
    Bool(bool),
}

impl Event {
    /// An event of this type with only its receive time: the rest is filled in by the caller.
    pub fn new(kind: EventType, recv_ts: i64) -> Event {
        Event {
            seq: None,
            kind,
            event_id: None,
            account: None,
            order_id: None,
            broker_order_id: None,
            group_id: None,
            leg: None,
            role: None,
            parent_id: None,
            symbol: None,
            side: None,
            qty: None,
            limit_px: None,
            last_qty: None,
            last_px: None,
            cum_qty: None,
            leaves_qty: None,
            bid_px: None,
            bid_qty: None,
            ask_px: None,
            ask_qty: None,
            broker_ts: None,
            recv_ts,
            broker_seq: None,
            poss_dup: None,
        }
    }

    pub fn source(&self) -> Source {
        self.kind.source()
    }

    /// The value of one canonical field, None when absent.
    #[inline(always)]
    pub fn get(&self, field: Field) -> Option<FieldValue<'_>> {
        use FieldValue as V;
        fn text(value: &Option<String>) -> Option<FieldValue<'_>> {
            value.as_deref().map(FieldValue::Str)
        }
        let num = |value: Option<Num>| value.map(V::Num);
        match field {
            Field::Seq => self.seq.map(V::Int),
            Field::Source => Some(V::Str(self.source().name())),
            Field::Type => Some(V::Str(self.kind.name())),
            Field::EventId => text(&self.event_id),
            Field::Account => text(&self.account),
            Field::OrderId => text(&self.order_id),
            Field::BrokerOrderId => text(&self.broker_order_id),
            Field::GroupId => text(&self.group_id),
            Field::Leg => text(&self.leg),
            Field::Role => self.role.map(|role| V::Str(role.name())),
            Field::ParentId => text(&self.parent_id),
            Field::Symbol => text(&self.symbol),
            Field::Side => self.side.map(|side| V::Str(side.name())),
            Field::Qty => num(self.qty),
            Field::LimitPx => num(self.limit_px),
            Field::LastQty => num(self.last_qty),
            Field::LastPx => num(self.last_px),
            Field::CumQty => num(self.cum_qty),
            Field::LeavesQty => num(self.leaves_qty),
            Field::BidPx => num(self.bid_px),
            Field::BidQty => num(self.bid_qty),
            Field::AskPx => num(self.ask_px),
            Field::AskQty => num(self.ask_qty),
            Field::BrokerTs => self.broker_ts.map(V::Int),
            Field::RecvTs => Some(V::Int(self.recv_ts)),
            Field::BrokerSeq => self.broker_seq.map(V::Int),
            Field::PossDup => self.poss_dup.map(V::Bool),
        }
    }

    /// Set one canonical field from a checked value (the screen's last step); a text goes into
    /// the buffer `spare` kept for its field, so a reused event allocates nothing.
    pub(crate) fn set(&mut self, field: Field, value: Checked<'_>, spare: &mut TextBuffers) {
        match (field, value) {
            (Field::Seq, Checked::Int(v)) => self.seq = Some(v),
            (Field::Role, Checked::Str(v)) => self.role = Role::from_name(v),
            (Field::Side, Checked::Str(v)) => self.side = Side::from_name(v),
            (field, Checked::Str(v)) => {
                if let Some(slot) = self.text_mut(field) {
                    spare.put(field, slot, Some(v));
                }
            }
            (Field::Qty, Checked::Num(v)) => self.qty = Some(v),
            (Field::LimitPx, Checked::Num(v)) => self.limit_px = Some(v),
            (Field::LastQty, Checked::Num(v)) => self.last_qty = Some(v),
            (Field::LastPx, Checked::Num(v)) => self.last_px = Some(v),
            (Field::CumQty, Checked::Num(v)) => self.cum_qty = Some(v),
            (Field::LeavesQty, Checked::Num(v)) => self.leaves_qty = Some(v),
            (Field::BidPx, Checked::Num(v)) => self.bid_px = Some(v),
            (Field::BidQty, Checked::Num(v)) => self.bid_qty = Some(v),
            (Field::AskPx, Checked::Num(v)) => self.ask_px = Some(v),
            (Field::AskQty, Checked::Num(v)) => self.ask_qty = Some(v),
            (Field::BrokerTs, Checked::Int(v)) => self.broker_ts = Some(v),
            (Field::RecvTs, Checked::Int(v)) => self.recv_ts = v,
            (Field::BrokerSeq, Checked::Int(v)) => self.broker_seq = Some(v),
            (Field::PossDup, Checked::Bool(v)) => self.poss_dup = Some(v),
            _ => {}
        }
    }

    /// The slot of a free-text field (ids, leg, symbol), None for any other field.
    pub(crate) fn text_mut(&mut self, field: Field) -> Option<&mut Option<String>> {
        Some(match field {
            Field::EventId => &mut self.event_id,
            Field::Account => &mut self.account,
            Field::OrderId => &mut self.order_id,
            Field::BrokerOrderId => &mut self.broker_order_id,
            Field::GroupId => &mut self.group_id,
            Field::Leg => &mut self.leg,
            Field::ParentId => &mut self.parent_id,
            Field::Symbol => &mut self.symbol,
            _ => return None,
        })
    }

    /// Empty the event for the next one, of `kind`: its texts' buffers go to `spare`, for the
    /// next event that holds those fields.
    pub fn clear_for(&mut self, kind: EventType, spare: &mut TextBuffers) {
        for &field in TextBuffers::FIELDS {
            if let Some(slot) = self.text_mut(field) {
                spare.put(field, slot, None);
            }
        }
        *self = Event::new(kind, 0);
    }
}

/// The buffers of a reused event's free-text fields, by field, kept while the event holds none:
/// reading events one after another into one event allocates no text.
#[derive(Debug)]
pub struct TextBuffers([String; FIELD_COUNT]);

const FIELD_COUNT: usize = Field::ALL.len();

impl Default for TextBuffers {
    fn default() -> Self {
        TextBuffers(std::array::from_fn(|_| String::new()))
    }
}

impl TextBuffers {
    /// The free-text fields: those [`Event::text_mut`] holds.
    pub const FIELDS: &'static [Field] = &[
        Field::EventId,
        Field::Account,
        Field::OrderId,
        Field::BrokerOrderId,
        Field::GroupId,
        Field::Leg,
        Field::ParentId,
        Field::Symbol,
    ];

    /// Set `slot` (the event's `field`) to `text` in a kept buffer, or empty it into its buffer.
    #[inline]
    pub fn put(&mut self, field: Field, slot: &mut Option<String>, text: Option<&str>) {
        let kept = &mut self.0[field as usize];
        match text {
            Some(text) => {
                let held = slot.get_or_insert_with(|| std::mem::take(kept));
                held.clear();
                held.push_str(text);
            }
            None => {
                if let Some(held) = slot.take() {
                    *kept = held;
                }
            }
        }
    }
}

/// A field value that passed its kind's checks (a text borrowed from the input).
#[derive(Debug, Clone)]
pub(crate) enum Checked<'a> {
    Str(&'a str),
    Int(i64),
    Num(Num),
    Bool(bool),
}
