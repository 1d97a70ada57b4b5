//! A finished order, packed: what the book holds for the retention of an order that is done.
//!
//! The reference policy keeps finished orders for 24 h of broker time (a late fill after a cancel
//! must still find its order), so a day of history holds every order of the day, and nearly all of
//! them are finished. An [`Order`] is a few hundred bytes with its strings on the heap; packed, its
//! fields are a few dozen bytes in one allocation (absent values cost a byte, integers are varints).
//! An event for a packed order unpacks it first: every field comes back exactly (an integer stays an
//! integer, a float keeps its bits).

use crate::event::{Role, Side};
use crate::num::Num;
use crate::policy::State;

use super::book::Order;

/// An order packed into bytes, with what the book reads without unpacking it.
#[derive(Debug, Clone)]
pub struct Packed {
    pub born: u64,
    pub done_at: Option<i64>,
    /// No deadline of its can fire: acknowledged (or never awaited) and no other deadline set.
    pub quiet: bool,
    bytes: Box<[u8]>,
}

impl Packed {
    pub fn pack(order: &Order) -> Packed {
        let mut out = Writer(Vec::with_capacity(64));
        out.text(&order.order_id);
        out.opt_text(order.group_id.as_deref());
        out.opt_text(order.parent_id.as_deref());
        out.opt_text(order.symbol.as_deref());
        out.byte(order.role.map_or(0, |role| role as u8 + 1));
        out.byte(order.side.map_or(0, |side| side as u8 + 1));
        let flags = u8::from(order.has_intent)
            | u8::from(order.submitted) << 1
            | u8::from(order.acked) << 2
            | u8::from(order.adopted) << 3;
        out.byte(flags);
        out.varint(u64::from(order.state.0));
        out.varint(
            order
                .before_pending
                .map_or(0, |state| u64::from(state.0) + 1),
        );
        out.opt_num(order.qty);
        out.num(order.cum_qty);
        out.opt_num(order.leaves_qty);
        out.num(order.late_qty);
        out.opt_num(order.traded_qty);
        out.opt_num(order.replace_qty);
        for deadline in [
            order.ack_deadline,
            order.cancel_deadline,
            order.fill_deadline,
            order.replace_deadline,
        ] {
            out.opt_int(deadline);
        }
        out.int(order.hedge_depth);
        Packed {
            born: order.born,
            done_at: order.done_at,
            quiet: (order.acked || order.ack_deadline.is_none())
                && order.cancel_deadline.is_none()
                && order.fill_deadline.is_none()
                && order.replace_deadline.is_none(),
            bytes: out.0.into_boxed_slice(),
        }
    }

    /// The order id, read without unpacking (it comes first).
    pub fn order_id(&self) -> &str {
        Reader::new(&self.bytes).text()
    }

    /// The order id's bytes, read without unpacking nor checking UTF-8 (the index compares them).
    pub fn order_id_bytes(&self) -> &[u8] {
        let mut input = Reader::new(&self.bytes);
        let len = input.varint() as usize;
        &self.bytes[input.at..input.at + len]
    }

    /// The group id, read without unpacking (it comes second).
    pub fn group_id(&self) -> Option<&str> {
        let mut input = Reader::new(&self.bytes);
        input.text();
        match input.varint() as usize {
            0 => None,
            len => Some(input.str_of(len - 1)),
        }
    }

    /// (qty, cum_qty), read without unpacking: what a group's balance needs of each leg.
    pub fn quantities(&self) -> (Option<Num>, Num) {
        let mut input = Reader::new(&self.bytes);
        input.text();
        for _ in 0..3 {
            input.skip_opt_text();
        }
        input.at += 3; // role, side, flags
        input.varint(); // state
        input.varint(); // before_pending
        let qty = input.opt_num();
        (qty, input.opt_num().unwrap_or(Num::ZERO))
    }

    pub fn unpack(&self, slot: u32) -> Order {
        let mut input = Reader::new(&self.bytes);
        let order_id = input.text().to_string();
        let group_id = input.opt_text();
        let mut order = Order::new(order_id, State(0), group_id);
        order.parent_id = input.opt_text();
        order.symbol = input.opt_text();
        order.role = match input.byte() {
            1 => Some(Role::Leg),
            2 => Some(Role::Hedge),
            3 => Some(Role::Stop),
            _ => None,
        };
        order.side = match input.byte() {
            1 => Some(Side::Buy),
            2 => Some(Side::Sell),
            _ => None,
        };
        let flags = input.byte();
        order.has_intent = flags & 1 != 0;
        order.submitted = flags & 2 != 0;
        order.acked = flags & 4 != 0;
        order.adopted = flags & 8 != 0;
        order.state = State(input.varint() as u16);
        order.before_pending = match input.varint() {
            0 => None,
            state => Some(State((state - 1) as u16)),
        };
        order.qty = input.opt_num();
        order.cum_qty = input.opt_num().unwrap_or(Num::ZERO);
        order.leaves_qty = input.opt_num();
        order.late_qty = input.opt_num().unwrap_or(Num::ZERO);
        order.traded_qty = input.opt_num();
        order.replace_qty = input.opt_num();
        order.ack_deadline = input.opt_int();
        order.cancel_deadline = input.opt_int();
        order.fill_deadline = input.opt_int();
        order.replace_deadline = input.opt_int();
        order.hedge_depth = input.int();
        order.done_at = self.done_at;
        order.born = self.born;
        order.slot = slot;
        order
    }
}

const NONE: u8 = 0;
const INT: u8 = 1;
const FLOAT: u8 = 2;

struct Writer(Vec<u8>);

impl Writer {
    fn byte(&mut self, byte: u8) {
        self.0.push(byte);
    }

    fn varint(&mut self, mut value: u64) {
        while value >= 0x80 {
            self.0.push(value as u8 | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
    }

    fn int(&mut self, value: i64) {
        self.varint(((value << 1) ^ (value >> 63)) as u64); // zigzag: small magnitudes, few bytes
    }

    fn text(&mut self, text: &str) {
        self.varint(text.len() as u64);
        self.0.extend_from_slice(text.as_bytes());
    }

    fn opt_text(&mut self, text: Option<&str>) {
        match text {
            None => self.varint(0),
            Some(text) => {
                self.varint(text.len() as u64 + 1);
                self.0.extend_from_slice(text.as_bytes());
            }
        }
    }

    fn num(&mut self, value: Num) {
        self.opt_num(Some(value));
    }

    fn opt_num(&mut self, value: Option<Num>) {
        match value {
            None => self.byte(NONE),
            Some(Num::Int(int)) => {
                self.byte(INT);
                self.int(int);
            }
            Some(Num::Float(float)) => {
                self.byte(FLOAT);
                self.0.extend_from_slice(&float.to_bits().to_le_bytes());
            }
        }
    }

    fn opt_int(&mut self, value: Option<i64>) {
        match value {
            None => self.byte(NONE),
            Some(int) => {
                self.byte(INT);
                self.int(int);
            }
        }
    }
}

/// Reads what [`Writer`] wrote (the bytes are the book's own: never malformed).
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let byte = self.bytes[self.at];
        self.at += 1;
        byte
    }

    fn varint(&mut self) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.byte();
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return value;
            }
            shift += 7;
        }
    }

    fn int(&mut self) -> i64 {
        let zigzag = self.varint();
        ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64)
    }

    fn str_of(&mut self, len: usize) -> &'a str {
        let bytes = &self.bytes[self.at..self.at + len];
        self.at += len;
        std::str::from_utf8(bytes).expect("packed from a str")
    }

    fn text(&mut self) -> &'a str {
        let len = self.varint() as usize;
        self.str_of(len)
    }

    fn opt_text(&mut self) -> Option<String> {
        match self.varint() as usize {
            0 => None,
            len => Some(self.str_of(len - 1).to_string()),
        }
    }

    fn skip_opt_text(&mut self) {
        if let Some(len) = (self.varint() as usize).checked_sub(1) {
            self.at += len;
        }
    }

    fn opt_num(&mut self) -> Option<Num> {
        match self.byte() {
            INT => Some(Num::Int(self.int())),
            FLOAT => {
                let mut bits = [0u8; 8];
                bits.copy_from_slice(&self.bytes[self.at..self.at + 8]);
                self.at += 8;
                Some(Num::Float(f64::from_bits(u64::from_le_bytes(bits))))
            }
            _ => None,
        }
    }

    fn opt_int(&mut self) -> Option<i64> {
        match self.byte() {
            INT => Some(self.int()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Packed;
    use crate::engine::book::Order;
    use crate::event::{Role, Side};
    use crate::num::Num;
    use crate::policy::State;

    fn same(a: &Order, b: &Order) -> bool {
        format!("{a:?}") == format!("{b:?}") // every field, floats by their shortest exact text
    }

    #[test]
    fn every_field_comes_back_exactly() {
        let mut order = Order::new("O-1-é".into(), State(3), Some("G-7".into()));
        order.role = Some(Role::Hedge);
        order.parent_id = Some(String::new());
        order.symbol = Some("SPX 5000C".into());
        order.side = Some(Side::Sell);
        order.qty = Some(Num::Float(2.5));
        order.before_pending = Some(State(0));
        order.cum_qty = Num::Int(i64::MAX);
        order.leaves_qty = Some(Num::Float(-0.0));
        order.has_intent = true;
        order.acked = true;
        order.ack_deadline = Some(i64::MIN);
        order.fill_deadline = Some(-1);
        order.replace_deadline = Some(1_771_684_200_000_000_000);
        order.hedge_depth = 3;
        order.late_qty = Num::Float(1e-300);
        order.adopted = true;
        order.done_at = Some(42);
        order.traded_qty = Some(Num::Int(-7));
        order.born = 99;
        order.slot = 5;
        let packed = Packed::pack(&order);
        assert_eq!(packed.order_id(), "O-1-é");
        assert_eq!(packed.order_id_bytes(), "O-1-é".as_bytes());
        assert_eq!(packed.group_id(), Some("G-7"));
        let (qty, cum_qty) = packed.quantities();
        assert_eq!(
            (qty.map(Num::as_f64), cum_qty.as_f64()),
            (Some(2.5), i64::MAX as f64)
        );
        let back = packed.unpack(5);
        assert!(same(&order, &back), "{order:?}\n{back:?}");
        assert_eq!(
            back.leaves_qty.map(|n| n.as_f64().to_bits()),
            Some((-0.0f64).to_bits())
        );

        let bare = Order::new(String::new(), State(0), None);
        assert!(same(&bare, &Packed::pack(&bare).unpack(0)));
        assert_eq!(Packed::pack(&bare).group_id(), None);
        assert_eq!(Packed::pack(&bare).order_id_bytes(), b"");
    }

    #[test]
    fn a_finished_order_packs_small() {
        let mut order = Order::new(
            "SIM-0001234-L2".into(),
            State(4),
            Some("SIM-G-000321".into()),
        );
        order.symbol = Some("SPX-17".into());
        order.role = Some(Role::Leg);
        order.side = Some(Side::Buy);
        order.qty = Some(Num::Int(10));
        order.cum_qty = Num::Int(10);
        order.leaves_qty = Some(Num::Int(0));
        order.traded_qty = Some(Num::Int(10));
        let packed = Packed::pack(&order);
        assert!(packed.bytes.len() <= 64, "{} bytes", packed.bytes.len());
    }
}
