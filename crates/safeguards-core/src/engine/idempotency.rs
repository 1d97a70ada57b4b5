//! Idempotency: a repeated broker event (same key inside the window) is not applied twice.
//!
//! A key is one 64-bit xxh3 hash of canonical bytes of its fields, its content another: stable
//! across processes (no per-process salt), and value-based (5 and 5.0 are equal, a timestamp is
//! its instant however it was spelt). Keys are listed in buckets of 1/64 of the window of broker
//! time, in arrival order; expiry drops a whole bucket once broker time is a window past its end,
//! and the `max_keys` bound drops the oldest keys first. Expiry follows the engine's trusted broker
//! time, never the stamp of the event at hand.

use std::collections::VecDeque;
use std::collections::hash_map::Entry;

use serde_json::{Value, json};
use xxhash_rust::xxh3::xxh3_64;

use crate::decision::{AlertKind, Guard, Outcome, Reason, Step, Verdict};
use crate::event::{DEFAULT_ACCOUNT, Event, Field, FieldValue};
use crate::fastmap::HashKeyed;
use crate::policy::Tables;
use crate::pyfmt::opt_repr;

use super::context::Ctx;

const BUCKETS_PER_WINDOW: i64 = 64;

type KeyMap = HashKeyed<u64>;

/// Canonical bytes of one field value (tagged, so values of different kinds never meet).
#[inline(always)]
fn push_value(bytes: &mut Vec<u8>, value: Option<FieldValue<'_>>) {
    match value {
        None => bytes.push(b'-'),
        Some(value) => push_held(bytes, value),
    }
}

/// Canonical bytes of a value held: its kind's tag and 8 bytes (a text's length, then the text),
/// or `b` and one byte. Written as whole arrays, since the fingerprint of every new key writes
/// one per field it holds.
#[inline(always)]
fn push_held(bytes: &mut Vec<u8>, value: FieldValue<'_>) {
    let word = |tag: u8, word: u64| {
        let mut head = [tag; 9];
        head[1..].copy_from_slice(&word.to_le_bytes());
        head
    };
    match value {
        FieldValue::Str(text) => {
            bytes.extend_from_slice(&word(b's', text.len() as u64));
            bytes.extend_from_slice(text.as_bytes());
        }
        FieldValue::Int(int) => bytes.extend_from_slice(&word(b'i', int as u64)),
        FieldValue::Num(num) => {
            let (tag, bits) = num.canonical();
            bytes.extend_from_slice(&word(tag, bits));
        }
        FieldValue::Bool(flag) => bytes.extend_from_slice(&[b'b', u8::from(flag)]),
    }
}

/// A digest of the event's content: its held content fields (a [`Field::mask`]), each its tag
/// then its value, in canonical order.
fn fingerprint(bytes: &mut Vec<u8>, content_fields: u32, event: &Event) -> u64 {
    bytes.clear();
    event.each_held(
        content_fields,
        #[inline(always)]
        |field, value| {
            bytes.push(field as u8);
            push_held(bytes, value);
        },
    );
    xxh3_64(bytes)
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    key_fields: Vec<Field>,
    default_key: bool,
    /// The fields a fingerprint covers, as a [`Field::mask`].
    content_fields: u32,
    max_keys: usize,
    bucket_ns: i64,
    /// From a bucket's start to its expiry.
    bucket_life_ns: i64,
    seen: KeyMap,
    buckets: VecDeque<(i64, Vec<u64>)>,
    /// Keys stamped before this go in the newest bucket; None: the next key opens one.
    bucket_end: Option<i128>,
    /// Broker time at which the oldest bucket expires; None: nothing to expire.
    expire_at: Option<i128>,
    /// Keys of the oldest bucket already evicted by the max_keys bound.
    oldest_done: usize,
    pub evicted: u64,
    pub expired: u64,
    scratch: Vec<u8>,
}

impl Idempotency {
    pub fn new(tables: &Tables) -> Idempotency {
        let bucket_ns = (tables.window_ns / BUCKETS_PER_WINDOW).max(1);
        Idempotency {
            default_key: tables.key_fields == [Field::Account, Field::EventId],
            key_fields: tables.key_fields.clone(),
            content_fields: Field::mask(&tables.content_fields),
            max_keys: tables.max_keys,
            bucket_ns,
            bucket_life_ns: bucket_ns.saturating_add(tables.window_ns),
            seen: KeyMap::default(),
            buckets: VecDeque::new(),
            bucket_end: None,
            expire_at: None,
            oldest_done: 0,
            evicted: 0,
            expired: 0,
            scratch: Vec::with_capacity(256),
        }
    }

    /// The event's dedup key, None if it has none (a local event without an event_id, say).
    pub fn key(&mut self, event: &Event) -> Option<u64> {
        let bytes = &mut self.scratch;
        bytes.clear();
        if self.default_key {
            let event_id = event.event_id.as_deref()?;
            match event.account.as_deref() {
                None | Some(DEFAULT_ACCOUNT) => bytes.push(b'k'),
                Some(account) => {
                    bytes.push(b'K');
                    push_value(bytes, Some(FieldValue::Str(account)));
                }
            }
            push_value(bytes, Some(FieldValue::Str(event_id)));
        } else {
            let values: Vec<_> = self
                .key_fields
                .iter()
                .map(|field| event.get(*field))
                .collect();
            if values.iter().all(Option::is_none) {
                return None;
            }
            bytes.push(b'c');
            for value in values {
                push_value(bytes, value);
            }
        }
        Some(xxh3_64(bytes))
    }

    /// A digest of the event's content: its present content fields and their values.
    pub fn fingerprint(&mut self, event: &Event) -> u64 {
        fingerprint(&mut self.scratch, self.content_fields, event)
    }

    /// The step (broker and local events, first): a repeat is `duplicate`, a repeat with other content a conflict.
    pub fn check(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let key = self.key(event)?;
        let now = ctx.sink.time.now;
        if self.expire_at.is_some_and(|at| i128::from(now) >= at) {
            self.expire(now);
        }
        let vacant = match self.seen.entry(key) {
            Entry::Occupied(known) => Err(*known.get()),
            Entry::Vacant(vacant) => Ok(vacant),
        };
        if let Err(known) = vacant {
            if known == fingerprint(&mut self.scratch, self.content_fields, event) {
                return Some(Outcome::fixed(
                    Verdict::Duplicate,
                    Guard::Idempotency,
                    "dedup_window",
                    Reason::Duplicate,
                ));
            }
            let group = ctx.group_of(event);
            let severity = ctx.tables.severity(AlertKind::ConflictingDuplicate);
            let event_id = opt_repr(event.event_id.as_deref());
            ctx.sink.alert(
                AlertKind::ConflictingDuplicate,
                severity,
                Guard::Idempotency,
                event.order_id.clone(),
                group,
                format!("event_id {event_id} seen before with different content; not applied"),
                false,
            );
            return Some(Outcome::fixed(
                Verdict::Reject,
                Guard::Idempotency,
                "conflicting_duplicate",
                Reason::ConflictingDuplicate {
                    event_id: event.event_id.clone(),
                },
            ));
        }
        let stamp = match event.broker_ts {
            Some(stamp) => stamp,
            // a local event: its broker-time estimate
            None => now.max(
                event
                    .recv_ts
                    .saturating_sub(ctx.sink.time.offset.unwrap_or(0)),
            ),
        };
        if let Ok(vacant) = vacant {
            vacant.insert(fingerprint(&mut self.scratch, self.content_fields, event));
        }
        if self.bucket_end.is_none_or(|end| i128::from(stamp) >= end) {
            self.open_bucket(stamp);
        }
        if let Some((_, keys)) = self.buckets.back_mut() {
            keys.push(key);
        }
        if self.seen.len() > self.max_keys {
            self.evict_oldest();
        }
        None
    }

    fn open_bucket(&mut self, stamp: i64) {
        self.bucket_end = Some(i128::from(stamp) + i128::from(self.bucket_ns));
        self.buckets.push_back((stamp, Vec::new()));
        if self.buckets.len() == 1 {
            self.expire_at = Some(i128::from(stamp) + i128::from(self.bucket_life_ns));
        }
    }

    /// Drop the buckets whose every key is older than the window.
    fn expire(&mut self, now: i64) {
        let last_start = i128::from(now) - i128::from(self.bucket_life_ns);
        while let Some((start, _)) = self.buckets.front() {
            if i128::from(*start) > last_start {
                break;
            }
            let Some((_, keys)) = self.buckets.pop_front() else {
                break;
            };
            for key in &keys[self.oldest_done.min(keys.len())..] {
                if self.seen.remove(key).is_some() {
                    self.expired += 1;
                }
            }
            self.oldest_done = 0;
        }
        if self.buckets.is_empty() {
            self.bucket_end = None;
        }
        self.expire_at = self
            .buckets
            .front()
            .map(|(start, _)| i128::from(*start) + i128::from(self.bucket_life_ns));
    }

    /// More than `max_keys` held: forget the oldest keys (memory is bounded whatever the window).
    fn evict_oldest(&mut self) {
        while self.seen.len() > self.max_keys && !self.buckets.is_empty() {
            let keys = &self.buckets[0].1;
            if self.oldest_done < keys.len() {
                if self.seen.remove(&keys[self.oldest_done]).is_some() {
                    self.evicted += 1;
                }
                self.oldest_done += 1;
                continue;
            }
            if self.buckets.len() == 1 {
                break;
            }
            self.buckets.pop_front();
            self.oldest_done = 0;
            self.expire_at = self
                .buckets
                .front()
                .map(|(start, _)| i128::from(*start) + i128::from(self.bucket_life_ns));
        }
        if let Some((_, keys)) = self.buckets.front_mut()
            && self.oldest_done > 65_536
            && self.oldest_done * 2 > keys.len()
        {
            keys.drain(..self.oldest_done);
            self.oldest_done = 0;
        }
    }

    pub fn keys_held(&self) -> usize {
        self.seen.len()
    }

    pub fn snapshot(&self) -> Value {
        json!({"keys": self.seen.len(), "expired": self.expired, "evicted": self.evicted})
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{Read, bad, field, int, list, opt_int, uint};
    use super::{Idempotency, KeyMap};
    use crate::policy::Tables;

    fn clamp(value: Option<i128>) -> Option<i64> {
        value.map(|v| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
    }

    impl Idempotency {
        pub(crate) fn state(&self) -> Value {
            let mut seen: Vec<(u64, u64)> = self.seen.iter().map(|(k, f)| (*k, *f)).collect();
            seen.sort_unstable();
            let buckets: Vec<Value> = self
                .buckets
                .iter()
                .map(|(start, keys)| json!([start, keys]))
                .collect();
            json!({"seen": seen, "buckets": buckets, "bucket_end": clamp(self.bucket_end),
                   "expire_at": clamp(self.expire_at), "oldest_done": self.oldest_done,
                   "evicted": self.evicted, "expired": self.expired})
        }

        pub(crate) fn restore(tables: &Tables, value: &Value) -> Read<Idempotency> {
            let mut dedup = Idempotency::new(tables);
            let seen = list(field(value, "seen")?, "seen")?;
            let mut map = KeyMap::default();
            map.reserve(seen.len());
            for pair in seen {
                let pair = list(pair, "seen")?;
                let [k, f] = pair.as_slice() else {
                    return Err(bad("seen"));
                };
                map.insert(uint(k, "seen")?, uint(f, "seen")?);
            }
            dedup.seen = map;
            for bucket in list(field(value, "buckets")?, "buckets")? {
                let bucket = list(bucket, "bucket")?;
                let [start, keys] = bucket.as_slice() else {
                    return Err(bad("bucket"));
                };
                let keys = list(keys, "bucket")?
                    .iter()
                    .map(|k| uint(k, "bucket"))
                    .collect::<Read<Vec<u64>>>()?;
                dedup.buckets.push_back((int(start, "bucket")?, keys));
            }
            dedup.bucket_end = opt_int(field(value, "bucket_end")?, "bucket_end")?.map(i128::from);
            dedup.expire_at = opt_int(field(value, "expire_at")?, "expire_at")?.map(i128::from);
            dedup.oldest_done =
                usize::try_from(uint(field(value, "oldest_done")?, "oldest_done")?).unwrap_or(0);
            dedup.evicted = uint(field(value, "evicted")?, "evicted")?;
            dedup.expired = uint(field(value, "expired")?, "expired")?;
            Ok(dedup)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{EventType, Role, Side};
    use crate::num::Num;

    /// An event holding every canonical field, so a fingerprint reads them all.
    fn full_event() -> Event {
        let mut event = Event::new(EventType::PartialFill, 1_700_000_000_000_000_123);
        let text = |name: &str| Some(format!("{name}-1"));
        event.seq = Some(7);
        event.event_id = text("e");
        event.account = text("acct");
        event.order_id = text("o");
        event.broker_order_id = text("b");
        event.group_id = text("g");
        event.leg = text("leg");
        event.role = Some(Role::Hedge);
        event.parent_id = text("p");
        event.symbol = text("SPX 260320C05000000");
        event.side = Some(Side::Sell);
        event.qty = Some(Num::Int(10));
        event.limit_px = Some(Num::Float(-1.25));
        event.last_qty = Some(Num::Float(4.0));
        event.last_px = Some(Num::Float(1.2));
        event.cum_qty = Some(Num::Int(4));
        event.leaves_qty = Some(Num::Int(6));
        event.bid_px = Some(Num::Float(1.1));
        event.bid_qty = Some(Num::Int(50));
        event.ask_px = Some(Num::Float(1.3));
        event.ask_qty = Some(Num::Int(40));
        event.broker_ts = Some(1_700_000_000_000_000_000);
        event.broker_seq = Some(99);
        event.poss_dup = Some(false);
        event
    }

    /// The fingerprint as a loop over the fields' list reads it: the bytes checkpoints hold.
    fn fingerprint_by_list(fields: &[Field], event: &Event) -> u64 {
        let mut bytes = Vec::new();
        for &field in fields {
            if let Some(value) = event.get(field) {
                bytes.push(field as u8);
                push_value(&mut bytes, Some(value));
            }
        }
        xxh3_64(&bytes)
    }

    #[test]
    fn the_unrolled_fingerprint_hashes_the_bytes_of_the_list_of_fields() {
        let mut event = full_event();
        let mut scratch = Vec::new();
        let ignored = [Field::Seq, Field::RecvTs, Field::BrokerSeq, Field::PossDup];
        let some: Vec<Field> = Field::ALL
            .iter()
            .copied()
            .filter(|field| !ignored.contains(field))
            .collect();
        for _ in 0..2 {
            for fields in [
                Field::ALL,
                &some[..],
                &[Field::EventId, Field::Qty][..],
                &[],
            ] {
                assert_eq!(
                    fingerprint(&mut scratch, Field::mask(fields), &event),
                    fingerprint_by_list(fields, &event),
                    "{fields:?}"
                );
            }
            event.leg = None; // and with fields missing
            event.last_px = None;
            event.poss_dup = None;
        }
    }

    #[test]
    fn a_fingerprint_is_the_same_value_in_every_build() {
        // Checkpoints hold fingerprints: a change here makes every re-delivered event after a
        // restart a conflicting duplicate. Change the checkpoint's version with it, or not at all.
        let mut scratch = Vec::new();
        assert_eq!(
            fingerprint(&mut scratch, Field::mask(Field::ALL), &full_event()),
            4_418_323_009_766_988_906
        );
    }
}
