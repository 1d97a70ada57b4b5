//! Broker time and timers as data: (deadline, what) in a heap, fired as broker time passes them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::session::SessionKey;

/// What an order timer waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    Ack,
    Cancel,
    Replace,
    Fill,
}

/// Whose trading state an escalation episode holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpisodeScope {
    All,
    Session(SessionKey),
    Group(String),
}

/// The work a timer does when broker time passes its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Timer {
    /// An order's timeout; moot if the order stopped waiting (its deadline changed or cleared).
    Order {
        deadline: Deadline,
        order_id: String,
    },
    /// A group's legs out of balance since `since` with no hedge filled.
    Unhedged { group_id: String, since: i64 },
    /// An escalation episode's `clear_after`; moot if the episode changed since.
    Clear {
        scope: EpisodeScope,
        rule_id: Arc<str>,
        since: i64,
    },
}

/// A timer's place in the heap, in (deadline, scheduling) order; its work is held apart, in a
/// slot of [`Time`]'s, so the heap moves small entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: i64,
    /// Unique: the order is (at, count), the slot never decides it.
    count: u64,
    slot: u32,
}

/// Broker time (only forward), the estimated clock offset, and the timers.
#[derive(Debug, Clone, Default)]
pub struct Time {
    /// Broker time in ns (the engine's notion of now); 0 until a broker timestamp is seen.
    pub now: i64,
    /// Estimated recv_ts - broker_ts of the current session; None until known.
    pub offset: Option<i64>,
    timers: BinaryHeap<Reverse<Scheduled>>,
    /// Each scheduled timer's work, by slot; None: a free slot.
    work: Vec<Option<Timer>>,
    free: Vec<u32>,
    count: u64,
    /// Timers held after the last [`Time::sweep`]: the next sweep waits until the heap doubles.
    swept: usize,
    /// Broker time after which there is work (a timer due, an order to evict); None: none.
    pub(crate) wake_at: Option<i64>,
}

impl Time {
    /// Run `timer` once broker time passes `at`. Timers are never cancelled, only found moot.
    pub fn schedule(&mut self, at: i64, timer: Timer) {
        self.count += 1;
        self.hold(at, self.count, timer);
        if self.wake_at.is_none_or(|wake| at < wake) {
            self.wake_at = Some(at);
        }
    }

    fn hold(&mut self, at: i64, count: u64, timer: Timer) {
        let slot = match self.free.pop() {
            Some(slot) => {
                self.work[slot as usize] = Some(timer);
                slot
            }
            None => {
                self.work.push(Some(timer));
                u32::try_from(self.work.len() - 1).expect("at most u32::MAX timers are held")
            }
        };
        self.timers.push(Reverse(Scheduled { at, count, slot }));
    }

    /// The earliest timer due before `now`, taken off the heap.
    pub(crate) fn pop_due(&mut self, now: i64) -> Option<(i64, Timer)> {
        if self
            .timers
            .peek()
            .is_some_and(|Reverse(first)| first.at < now)
        {
            let Reverse(due) = self.timers.pop()?;
            let timer = self.work[due.slot as usize].take()?;
            self.free.push(due.slot);
            return Some((due.at, timer));
        }
        None
    }

    /// Drop the timers `moot` says can no longer fire anything (an evicted order's), once the heap
    /// has doubled since the last sweep: without it, the timers of orders evicted before broker
    /// time reached their deadlines stay until it does, and without broker time never (issue 15
    /// item 9). Amortised O(1) per timer; firing order is unchanged, since moot timers do nothing.
    pub(crate) fn sweep(&mut self, moot: impl Fn(&Timer) -> bool) {
        if self.timers.len() <= 2 * self.swept + 1024 {
            return;
        }
        let Time {
            timers, work, free, ..
        } = self;
        timers.retain(|Reverse(due)| {
            let slot = due.slot as usize;
            if work[slot].as_ref().is_some_and(|timer| !moot(timer)) {
                return true;
            }
            work[slot] = None;
            free.push(due.slot);
            false
        });
        self.swept = self.timers.len();
    }

    pub fn next_deadline(&self) -> Option<i64> {
        self.timers.peek().map(|Reverse(first)| first.at)
    }

    pub fn pending(&self) -> usize {
        self.timers.len()
    }

    /// When there is next work: the first timer or the first eviction (`evict_at`), whichever is sooner.
    pub(crate) fn rewake(&mut self, evict_at: Option<i64>) {
        self.wake_at = match (self.next_deadline(), evict_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Move every deadline by `shift` (the one re-base when the broker's clock is first known).
    pub(crate) fn shift(&mut self, shift: i64) {
        self.now = self.now.saturating_add(shift);
        let timers = std::mem::take(&mut self.timers);
        self.timers = timers
            .into_iter()
            .map(|Reverse(mut due)| {
                due.at = due.at.saturating_add(shift);
                Reverse(due)
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timers_fire_in_deadline_then_scheduling_order() {
        let mut time = Time::default();
        let timer = |id: &str| Timer::Order {
            deadline: Deadline::Ack,
            order_id: id.into(),
        };
        time.schedule(20, timer("b"));
        time.schedule(10, timer("a"));
        time.schedule(20, timer("c"));
        assert_eq!(time.wake_at, Some(10));
        assert_eq!(
            time.pop_due(10),
            None,
            "a deadline fires once time is past it"
        );
        let fired: Vec<_> = std::iter::from_fn(|| time.pop_due(21)).collect();
        assert_eq!(
            fired,
            vec![(10, timer("a")), (20, timer("b")), (20, timer("c"))]
        );
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{
        Read, bad, field, int, key, key_json, list, opt_int, text, uint,
    };
    use super::{Deadline, EpisodeScope, Reverse, Scheduled, Time, Timer};

    fn deadline_name(deadline: Deadline) -> &'static str {
        match deadline {
            Deadline::Ack => "ack",
            Deadline::Cancel => "cancel",
            Deadline::Replace => "replace",
            Deadline::Fill => "fill",
        }
    }

    fn timer_json(timer: &Timer) -> Vec<Value> {
        match timer {
            Timer::Order { deadline, order_id } => vec![
                json!("order"),
                json!(deadline_name(*deadline)),
                json!(order_id),
            ],
            Timer::Unhedged { group_id, since } => {
                vec![json!("unhedged"), json!(group_id), json!(since)]
            }
            Timer::Clear {
                scope,
                rule_id,
                since,
            } => {
                let scope = match scope {
                    EpisodeScope::All => json!("all"),
                    EpisodeScope::Session(session) => json!(["session", key_json(session)]),
                    EpisodeScope::Group(group) => json!(["group", group]),
                };
                vec![json!("clear"), scope, json!(rule_id.as_ref()), json!(since)]
            }
        }
    }

    fn timer(row: &[Value]) -> Read<Timer> {
        let what = "timer";
        let at = |index: usize| row.get(index).ok_or_else(|| bad(what));
        Ok(match text(at(0)?, what)?.as_str() {
            "order" => Timer::Order {
                deadline: match text(at(1)?, what)?.as_str() {
                    "ack" => Deadline::Ack,
                    "cancel" => Deadline::Cancel,
                    "replace" => Deadline::Replace,
                    "fill" => Deadline::Fill,
                    _ => return Err(bad(what)),
                },
                order_id: text(at(2)?, what)?,
            },
            "unhedged" => Timer::Unhedged {
                group_id: text(at(1)?, what)?,
                since: int(at(2)?, what)?,
            },
            "clear" => {
                let scope = match at(1)? {
                    Value::String(all) if all == "all" => EpisodeScope::All,
                    Value::Array(pair) if pair.len() == 2 => match pair[0].as_str() {
                        Some("session") => EpisodeScope::Session(key(&pair[1])?),
                        Some("group") => EpisodeScope::Group(text(&pair[1], what)?),
                        _ => return Err(bad(what)),
                    },
                    _ => return Err(bad(what)),
                };
                Timer::Clear {
                    scope,
                    rule_id: text(at(2)?, what)?.into(),
                    since: int(at(3)?, what)?,
                }
            }
            _ => return Err(bad(what)),
        })
    }

    impl Time {
        pub(crate) fn state(&self) -> Value {
            let mut timers: Vec<&Scheduled> = self.timers.iter().map(|Reverse(due)| due).collect();
            timers.sort();
            let timers: Vec<Value> = timers
                .into_iter()
                .filter_map(|due| {
                    let mut row = vec![json!(due.at), json!(due.count)];
                    row.extend(timer_json(self.work[due.slot as usize].as_ref()?));
                    Some(Value::Array(row))
                })
                .collect();
            json!({"now": self.now, "offset": self.offset, "count": self.count, "timers": timers})
        }

        pub(crate) fn restore(value: &Value) -> Read<Time> {
            let mut time = Time {
                now: int(field(value, "now")?, "now")?,
                offset: opt_int(field(value, "offset")?, "offset")?,
                count: uint(field(value, "count")?, "count")?,
                ..Time::default()
            };
            for row in list(field(value, "timers")?, "timers")? {
                let row = list(row, "timer")?;
                let (Some(at), Some(count)) = (row.first(), row.get(1)) else {
                    return Err(bad("timer"));
                };
                let (at, count) = (int(at, "timer")?, uint(count, "timer")?);
                time.hold(at, count, timer(&row[2..])?);
            }
            Ok(time)
        }
    }
}
