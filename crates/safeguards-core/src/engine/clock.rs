//! Clock: broker time drives the engine, and a drifting or lying clock is noticed.
//!
//! Each broker or market event gives a sample `recv_ts - broker_ts` (network delay plus clock
//! offset). As NTP does, the normal offset is the minimum sample over a window of broker time (a
//! sliding-window minimum, O(1) per event). A sample more than `max_skew` above it is `clock_skew`;
//! one more than `future_tolerance` below it claims a broker time in the future: `clock_skew` too,
//! and that stamp does not move broker time. Alerts fire when an episode starts. When the window
//! has emptied, the last estimate stands in. Each session has its own window; a session whose
//! `recv_ts` is not our clock gives no samples; a coarse one widens the tolerance. Re-sends
//! (`poss_dup`) are not sampled. Until the first sample our clock stands in for the broker's.

use std::collections::VecDeque;

use crate::fastmap::FastMap as HashMap;

use serde_json::{Value, json};

use crate::decision::{AlertKind, Guard, Step};
use crate::event::{Event, Source};
use crate::policy::Tables;
use crate::pyfmt::format_fixed3;
use crate::session::{SessionKey, Traits, session_entry};

use super::context::Ctx;

/// One session's offset window and skew episode.
#[derive(Debug, Clone, Default)]
pub struct SessionClock {
    pub traits: Traits,
    times: VecDeque<i64>,
    offsets: VecDeque<i64>,
    in_episode: bool,
    /// The last estimate (None until the first sample).
    pub offset: Option<i64>,
}

/// What phase two (moving time) should do for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeMove {
    /// Broker time moves to this (if later than now).
    To(i64),
    /// The session's first sample: re-base what was set under our clock by this, then move.
    Learned { rebase: Option<i64>, to: i64 },
    /// A stamp from the future: time stays.
    Stay,
}

#[derive(Debug, Clone)]
pub struct ClockGuard {
    max_skew_ns: i64,
    window_ns: i64,
    future_ns: i64,
    pub session: SessionKey,
    sessions: HashMap<SessionKey, SessionClock>,
    pub skew_alerts: u64,
    /// Whether any sample has told broker time apart from ours yet (the one re-base happens before).
    rebased: bool,
}

impl ClockGuard {
    pub fn new(tables: &Tables) -> ClockGuard {
        ClockGuard {
            max_skew_ns: tables.max_skew_ns,
            window_ns: tables.offset_window_ns,
            future_ns: tables.future_tolerance_ns,
            session: SessionKey::None,
            sessions: HashMap::from_iter([(SessionKey::None, SessionClock::default())]),
            skew_alerts: 0,
            rebased: false,
        }
    }

    pub fn clock(&self) -> &SessionClock {
        &self.sessions[&self.session]
    }

    fn clock_mut(&mut self) -> &mut SessionClock {
        session_entry(&mut self.sessions, &self.session)
    }

    /// Phase two of every valid event: the broker time it tells (our clock corrected, for a local one).
    pub fn move_time(&mut self, event: &Event, now: i64, offset: &mut Option<i64>) -> TimeMove {
        let rebased = self.rebased;
        let future_ns = self.future_ns;
        let clock = self.clock_mut();
        let Some(broker_ts) = event.broker_ts.filter(|_| event.source() != Source::Local) else {
            return TimeMove::To(event.recv_ts.saturating_sub(clock.offset.unwrap_or(0)));
        };
        if clock.traits.own_clock {
            let sample = event.recv_ts.saturating_sub(broker_ts);
            match clock.offset {
                None => {
                    clock.offset = Some(sample);
                    *offset = Some(sample);
                    let mut rebase = None;
                    if !rebased {
                        self.rebased = true;
                        if sample != 0 && now != 0 {
                            rebase = Some(-sample); // broker time = our time - offset
                        }
                    }
                    return TimeMove::Learned {
                        rebase,
                        to: broker_ts,
                    };
                }
                Some(last) => {
                    let base = clock.offsets.front().copied().unwrap_or(last);
                    if sample < base.saturating_sub(future_ns) {
                        return TimeMove::Stay;
                    }
                }
            }
        }
        TimeMove::To(broker_ts)
    }

    /// The step (broker and market events): sample the offset, notice skew.
    pub fn observe(&mut self, ctx: &mut Ctx<'_>, event: &Event) -> Step {
        let (max_skew_ns, window_ns, future_ns) =
            (self.max_skew_ns, self.window_ns, self.future_ns);
        let clock = self.clock_mut();
        if !clock.traits.own_clock || event.poss_dup == Some(true) {
            return None;
        }
        let broker_ts = event.broker_ts?;
        let sample = event.recv_ts.saturating_sub(broker_ts);
        let horizon = ctx.sink.time.now.saturating_sub(window_ns); // trusted time, not this stamp
        while clock.times.front().is_some_and(|time| *time < horizon) {
            clock.times.pop_front();
            clock.offsets.pop_front();
        }
        let base = clock.offsets.front().copied().or(clock.offset);
        let mut episode = None;
        if let Some(base) = base {
            if sample < base.saturating_sub(future_ns) {
                let ahead = format_fixed3((base - sample) as f64 / 1e6);
                let detail = format!(
                    "broker_ts is {ahead} ms ahead of the estimated offset (a time in the future)"
                );
                self.episode(ctx, event, detail);
                return None;
            }
            if sample
                > base
                    .saturating_add(max_skew_ns)
                    .saturating_add(clock.traits.clock_resolution_ns)
            {
                let off = format_fixed3((sample - base) as f64 / 1e6);
                episode = Some(format!(
                    "recv_ts - broker_ts departs from the normal offset by {off} ms"
                ));
            } else {
                clock.in_episode = false;
            }
        }
        while clock.offsets.back().is_some_and(|last| *last >= sample) {
            clock.offsets.pop_back();
            clock.times.pop_back();
        }
        clock.times.push_back(broker_ts);
        clock.offsets.push_back(sample);
        let estimate = clock.offsets.front().copied();
        clock.offset = estimate;
        ctx.sink.time.offset = estimate;
        if let Some(detail) = episode {
            self.episode(ctx, event, detail);
        }
        None
    }

    fn episode(&mut self, ctx: &mut Ctx<'_>, event: &Event, detail: String) {
        let clock = self.clock_mut();
        if clock.in_episode {
            return;
        }
        clock.in_episode = true;
        self.skew_alerts += 1;
        let group = ctx.group_of(event);
        let severity = ctx.tables.severity(AlertKind::ClockSkew);
        ctx.sink.alert(
            AlertKind::ClockSkew,
            severity,
            Guard::Clock,
            event.order_id.clone(),
            group,
            detail,
            false,
        );
    }

    /// Events from here on come from session `key`, with these clocks; returns the session's offset.
    pub fn use_session(&mut self, key: &SessionKey, traits: Traits) -> Option<Option<i64>> {
        if *key != self.session || traits != self.clock().traits {
            self.session = key.clone();
            let clock = self
                .sessions
                .entry(key.clone())
                .or_insert_with(|| SessionClock {
                    traits,
                    ..SessionClock::default()
                });
            clock.traits = traits;
            return Some(clock.offset);
        }
        None
    }

    pub fn snapshot(&self, offset: Option<i64>) -> Value {
        json!({"offset_ns": offset, "samples": self.clock().offsets.len(), "skew_alerts": self.skew_alerts})
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{
        Read, bad, field, flag, int, key, key_json, list, opt_int, sorted, uint,
    };
    use super::{ClockGuard, SessionClock};
    use crate::policy::Tables;
    use crate::session::Traits;

    impl ClockGuard {
        pub(crate) fn state(&self) -> Value {
            let sessions = self
                .sessions
                .iter()
                .map(|(k, c)| {
                    let traits = json!({"own_clock": c.traits.own_clock,
                        "clock_resolution_ns": c.traits.clock_resolution_ns,
                        "records_intents": c.traits.records_intents});
                    json!([
                        key_json(k),
                        traits,
                        c.times,
                        c.offsets,
                        c.in_episode,
                        c.offset
                    ])
                })
                .collect();
            json!({"session": key_json(&self.session), "sessions": sorted(sessions),
                   "skew_alerts": self.skew_alerts, "rebased": self.rebased})
        }

        pub(crate) fn restore(tables: &Tables, value: &Value) -> Read<ClockGuard> {
            let mut clock = ClockGuard::new(tables);
            clock.sessions.clear();
            for row in list(field(value, "sessions")?, "sessions")? {
                let row = list(row, "session clock")?;
                let [k, traits, times, offsets, in_episode, offset] = row.as_slice() else {
                    return Err(bad("session clock"));
                };
                let ints = |v: &Value| -> Read<std::collections::VecDeque<i64>> {
                    list(v, "session clock")?
                        .iter()
                        .map(|t| int(t, "session clock"))
                        .collect()
                };
                let session = SessionClock {
                    traits: Traits {
                        own_clock: flag(field(traits, "own_clock")?, "own_clock")?,
                        clock_resolution_ns: int(
                            field(traits, "clock_resolution_ns")?,
                            "clock_resolution_ns",
                        )?,
                        records_intents: flag(
                            field(traits, "records_intents")?,
                            "records_intents",
                        )?,
                    },
                    times: ints(times)?,
                    offsets: ints(offsets)?,
                    in_episode: flag(in_episode, "in_episode")?,
                    offset: opt_int(offset, "offset")?,
                };
                clock.sessions.insert(key(k)?, session);
            }
            clock.session = key(field(value, "session")?)?;
            clock.sessions.entry(clock.session.clone()).or_default();
            clock.skew_alerts = uint(field(value, "skew_alerts")?, "skew_alerts")?;
            clock.rebased = flag(field(value, "rebased")?, "rebased")?;
            Ok(clock)
        }
    }
}
