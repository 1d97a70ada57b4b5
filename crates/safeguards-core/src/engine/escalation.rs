//! Trading state: alerts escalate a group, a session or everything, from active to reducing to halted.
//!
//! Not a guard: a phase. Every alert passes through [`Escalation::on_alert`] as it is raised; the
//! gate ([`Escalation::gate`]) blocks local actions the state forbids (`reducing` lets only hedges
//! and cancels through, `halted` only cancels). States only rise until a rule's `clear_after`
//! clears them. Broker events are facts and are never blocked. An order with no group is its own
//! group (keyed by its order id). An evicted order's group forgets an `active` entry, never a raised
//! one; an evicted order with no group takes its own entry with it, whatever its level.

use crate::fastmap::FastMap as HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::decision::{Alert, AlertKind, Guard, Outcome, Reason, Rule, Severity, Step, Verdict};
use crate::event::{Event, EventType, Role};
use crate::policy::{EscalationRule, Level, Scope, Tables};
use crate::pyfmt::str_repr;
use crate::session::{SessionKey, session_entry};

use super::book::{Book, Order};
use super::context::Sink;
use super::time::{EpisodeScope, Timer};

/// One scope's trading state: its level, the rule that set it, and since when (broker ns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Episode {
    pub level: Level,
    pub rule: Option<Arc<str>>,
    pub since: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Escalation {
    rules: Vec<EscalationRule>,
    by_kind: HashMap<AlertKind, Vec<usize>>,
    pub groups: HashMap<String, Episode>,
    pub global: Episode,
    pub session: SessionKey,
    pub sessions: HashMap<SessionKey, Episode>,
    /// Nothing escalated yet: the gate has nothing to look at.
    escalated: bool,
}

impl Escalation {
    pub fn new(tables: &Tables) -> Escalation {
        let mut by_kind: HashMap<AlertKind, Vec<usize>> = HashMap::default();
        for (index, rule) in tables.escalation.iter().enumerate() {
            for kind in &rule.alerts {
                by_kind.entry(*kind).or_default().push(index);
            }
        }
        Escalation {
            rules: tables.escalation.clone(),
            by_kind,
            groups: HashMap::default(),
            global: Episode::default(),
            session: SessionKey::None,
            sessions: HashMap::from_iter([(SessionKey::None, Episode::default())]),
            escalated: false,
        }
    }

    fn session_state(&self) -> &Episode {
        &self.sessions[&self.session]
    }

    /// The effective trading state of a group: the strictest of its own, its session's and the global one.
    pub fn state_of(&self, group_id: Option<&str>) -> Level {
        let mut level = self.global.level.max(self.session_state().level);
        if let Some(own) = group_id.and_then(|id| self.groups.get(id)) {
            level = level.max(own.level);
        }
        level
    }

    /// The gate: intents, submits and replace requests pass only as the trading state allows.
    pub fn gate(&self, book: &Book, event: &Event) -> Step {
        if !self.escalated {
            return None;
        }
        let order_id = event.order_id.as_deref().unwrap_or_default();
        let order = book.orders.get(order_id);
        let group_id = event
            .group_id
            .clone()
            .or_else(|| order.as_ref().and_then(|o| o.group_id.clone()))
            .unwrap_or_else(|| order_id.to_string());
        let mut held = (&self.global, None::<String>);
        let session = self.session_state();
        if session.level > held.0.level {
            held = (session, Some("this session's trading".into()));
        }
        if let Some(own) = self.groups.get(&group_id)
            && own.level > held.0.level
        {
            held = (own, Some(format!("group {}", str_repr(&group_id))));
        }
        let (episode, scope) = held;
        let scope = scope.unwrap_or_else(|| "all trading".into());
        let rule = episode.rule.clone();
        match episode.level {
            Level::Active => None,
            Level::Halted => Some(Outcome::new(
                Verdict::Block,
                Guard::Escalation,
                rule.clone().map(Rule::Policy),
                Reason::Halted { scope, rule },
            )),
            Level::Reducing => {
                let role = if event.kind == EventType::Intent {
                    event.role
                } else {
                    order.as_ref().and_then(|o| o.role)
                };
                if role == Some(Role::Hedge) {
                    return None;
                }
                Some(Outcome::new(
                    Verdict::Block,
                    Guard::Escalation,
                    rule.clone().map(Rule::Policy),
                    Reason::Reducing { scope, rule },
                ))
            }
        }
    }

    /// An alert was raised: every rule for its kind may move its scope up.
    pub fn on_alert(sink: &mut Sink<'_>, alert: &Alert, after_terminal: bool) {
        let Some(rules) = sink.trading.by_kind.get(&alert.kind).cloned() else {
            return;
        };
        for index in rules {
            let rule = sink.trading.rules[index].clone();
            if rule.after_terminal && !after_terminal {
                continue;
            }
            if rule
                .min_severity
                .is_some_and(|minimum| alert.severity < minimum)
            {
                continue;
            }
            let scope = match rule.scope {
                Scope::All => EpisodeScope::All,
                Scope::Session => EpisodeScope::Session(sink.trading.session.clone()),
                Scope::Group => match alert.group_id.clone().or_else(|| alert.order_id.clone()) {
                    Some(key) => EpisodeScope::Group(key),
                    None => continue,
                },
            };
            Escalation::raise(sink, scope, &rule, alert);
        }
    }

    fn episode_mut(&mut self, scope: &EpisodeScope) -> &mut Episode {
        match scope {
            EpisodeScope::All => &mut self.global,
            EpisodeScope::Session(key) => session_entry(&mut self.sessions, key),
            EpisodeScope::Group(key) => self.groups.entry(key.clone()).or_default(),
        }
    }

    fn scope_words(scope: &EpisodeScope) -> String {
        match scope {
            EpisodeScope::All => "all trading".into(),
            EpisodeScope::Session(_) => "this session's trading".into(),
            EpisodeScope::Group(key) => format!("group {}", str_repr(key)),
        }
    }

    fn raise(sink: &mut Sink<'_>, scope: EpisodeScope, rule: &EscalationRule, cause: &Alert) {
        let now = sink.time.now;
        let episode = sink.trading.episode_mut(&scope);
        let retrigger = rule.to == episode.level
            && episode.rule.as_ref() == Some(&rule.id)
            && rule.clear_after_ns.is_some();
        if retrigger {
            // a new trigger of the episode's own rule: the clear is counted from it (the old timer is moot)
            episode.since = Some(now);
        } else {
            if rule.to <= episode.level {
                return;
            }
            *episode = Episode {
                level: rule.to,
                rule: Some(rule.id.clone()),
                since: Some(now),
            };
            sink.trading.escalated = true;
            let group_id = match &scope {
                EpisodeScope::Group(key) => Some(key.clone()),
                _ => None,
            };
            let detail = format!(
                "{} -> {} by rule {} after {}: {}",
                Escalation::scope_words(&scope),
                rule.to.name(),
                rule.id,
                cause.kind.name(),
                cause.detail
            );
            let (kind, severity) = (rule.to.alert_kind(), rule.to.severity());
            sink.alert(
                kind,
                severity,
                Guard::Escalation,
                cause.order_id.clone(),
                group_id,
                detail,
                false,
            );
        }
        if let Some(after) = rule.clear_after_ns {
            sink.schedule(
                now.saturating_add(after),
                Timer::Clear {
                    scope,
                    rule_id: rule.id.clone(),
                    since: now,
                },
            );
        }
    }

    /// A `clear_after` timer: back to active, unless the episode changed since it was set.
    pub fn clear(sink: &mut Sink<'_>, scope: &EpisodeScope, rule_id: &Arc<str>, since: i64) {
        let trading = &mut *sink.trading;
        let episode = match scope {
            EpisodeScope::All => Some(&mut trading.global),
            EpisodeScope::Session(key) => trading.sessions.get_mut(key),
            EpisodeScope::Group(key) => trading.groups.get_mut(key),
        };
        let Some(episode) = episode else { return };
        if episode.rule.as_ref() != Some(rule_id) || episode.since != Some(since) {
            return;
        }
        *episode = Episode::default();
        let group_id = match scope {
            EpisodeScope::Group(key) => Some(key.clone()),
            _ => None,
        };
        let detail = format!(
            "{} back to active: rule {rule_id} cleared",
            Escalation::scope_words(scope)
        );
        sink.alert(
            AlertKind::Resumed,
            Severity::Info,
            Guard::Escalation,
            None,
            group_id,
            detail,
            false,
        );
    }

    /// An evicted order's group forgets an `active` entry, never a raised one; an order with no group
    /// takes its own entry with it.
    pub fn evicted(&mut self, order: &Order) {
        let Some(group_id) = order.group_id.as_deref() else {
            // its own group, and nothing acts under an evicted id again (the intents guard refuses
            // it): a raised entry would only hold memory, one per orphan of a bad feed
            self.groups.remove(&order.order_id);
            return;
        };
        if self
            .groups
            .get(group_id)
            .is_some_and(|episode| episode.level == Level::Active)
        {
            self.groups.remove(group_id);
        }
    }

    /// Scope `session` follows the broker session: another log's skew does not slow this one.
    pub fn use_session(&mut self, key: &SessionKey) {
        if *key != self.session {
            self.session = key.clone();
            self.sessions.entry(key.clone()).or_default();
        }
    }

    pub fn snapshot(&self) -> Value {
        let groups: Map<String, Value> = self
            .groups
            .iter()
            .filter(|(_, episode)| episode.level != Level::Active)
            .map(|(key, episode)| {
                (
                    key.clone(),
                    json!({"state": episode.level.name(), "rule": episode.rule.as_deref()}),
                )
            })
            .collect();
        json!({"all": self.global.level.max(self.session_state().level).name(), "groups": groups})
    }
}

mod checkpointing {
    use serde_json::{Value, json};

    use super::super::checkpoint::{
        Read, bad, field, flag, key, key_json, list, opt_int, opt_text, sorted, text,
    };
    use super::{Episode, Escalation};
    use crate::policy::{Level, Tables};

    fn episode_json(episode: &Episode) -> Value {
        json!([episode.level.name(), episode.rule.as_deref(), episode.since])
    }

    fn episode(value: &Value) -> Read<Episode> {
        let row = list(value, "episode")?;
        let [level, rule, since] = row.as_slice() else {
            return Err(bad("episode"));
        };
        Ok(Episode {
            level: Level::from_name(&text(level, "episode")?).ok_or_else(|| bad("episode"))?,
            rule: opt_text(rule, "episode")?.map(Into::into),
            since: opt_int(since, "episode")?,
        })
    }

    impl Escalation {
        pub(crate) fn state(&self) -> Value {
            let groups = self
                .groups
                .iter()
                .map(|(k, e)| json!([k, episode_json(e)]))
                .collect();
            let sessions = self
                .sessions
                .iter()
                .map(|(k, e)| json!([key_json(k), episode_json(e)]))
                .collect();
            json!({"groups": sorted(groups), "all": episode_json(&self.global), "session": key_json(&self.session),
                   "sessions": sorted(sessions), "escalated": self.escalated})
        }

        pub(crate) fn restore(tables: &Tables, value: &Value) -> Read<Escalation> {
            let mut trading = Escalation::new(tables);
            let pair = |row: &Value| -> Read<(Value, Episode)> {
                let row = list(row, "episode")?;
                let [k, e] = row.as_slice() else {
                    return Err(bad("episode"));
                };
                Ok((k.clone(), episode(e)?))
            };
            for row in list(field(value, "groups")?, "groups")? {
                let (k, e) = pair(row)?;
                trading.groups.insert(text(&k, "group")?, e);
            }
            trading.sessions.clear();
            for row in list(field(value, "sessions")?, "sessions")? {
                let (k, e) = pair(row)?;
                trading.sessions.insert(key(&k)?, e);
            }
            trading.global = episode(field(value, "all")?)?;
            trading.session = key(field(value, "session")?)?;
            trading.sessions.entry(trading.session.clone()).or_default();
            trading.escalated = flag(field(value, "escalated")?, "escalated")?;
            Ok(trading)
        }
    }
}
