//! Fault injection for the local backend's REST API, so the Daydream client's retries can be
//! tested against real HTTP: "the next N calls of route R answer status S (or stall)".
//!
//! A `then` fault on create ("succeed, then fail") creates the stream and only then answers
//! with the status or stalls, the way a lost answer looks to the client: the stream exists
//! although the caller may never learn its id.
//!
//! Set at start-up with `RTC_LOCAL_FAULTS=create:500x2,status:stall3000x1,create:then502` or at runtime
//! through `PUT /local/_faults` (behind the relay token). `GET /local/_faults` also returns a
//! journal of the calls the backend served, so tests can check what the client sent.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lock;

/// REST operation of the local backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultRoute {
    /// `POST /v1/streams`.
    Create,
    /// `GET /v1/streams`.
    List,
    /// `GET /v1/streams/{id}`.
    Get,
    /// `PATCH /v1/streams/{id}`.
    Update,
    /// Either DELETE form.
    Delete,
    /// `GET /v1/streams/{id}/status`.
    Status,
    /// `POST /v1/api-key` (the sign-in's token exchange).
    ApiKey,
    /// Any of the above.
    Any,
}

impl std::str::FromStr for FaultRoute {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
            format!("unknown route {s:?} (create, list, get, update, delete, status, api_key, any)")
        })
    }
}

/// One rule: the next `count` calls of `route` fail this way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultRule {
    /// Which calls.
    pub route: FaultRoute,
    /// Answer with this status (400–599)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// …or hold the request this long before answering normally.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stall_ms: Option<u64>,
    /// How many calls are affected.
    #[serde(default = "one")]
    pub count: u32,
    /// `Retry-After` seconds sent with a status fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
    /// Serve the call first, then fail or stall its answer (create only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub then: bool,
}

fn one() -> u32 {
    1
}

/// What to do with one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer this status in Daydream's error envelope.
    Status {
        /// HTTP status.
        status: u16,
        /// `Retry-After` seconds.
        retry_after: Option<u32>,
    },
    /// Wait, then answer normally.
    Stall(Duration),
}

/// When a [`Fault`] strikes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    /// Instead of serving the call.
    Before,
    /// After the call has been served, on its answer.
    After,
}

/// A call the backend served, for tests.
#[derive(Debug, Clone, Serialize)]
pub struct JournalEntry {
    /// Operation.
    pub route: FaultRoute,
    /// Stream id, when the path names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    /// Request body, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Whether a fault answered it.
    pub faulted: bool,
}

const JOURNAL_LEN: usize = 256;

/// Pending rules and the journal.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<FaultRule>>,
    journal: Mutex<VecDeque<JournalEntry>>,
}

impl Faults {
    /// Parses `route:STATUSxN` / `route:stallMSxN` items separated by commas; a `then` before
    /// the status or stall serves the call first (`create:then500`).
    pub fn parse(spec: &str) -> Result<Vec<FaultRule>, String> {
        spec.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|item| {
                let (route, rest) = item
                    .split_once(':')
                    .ok_or_else(|| format!("fault {item:?}: expected route:what[xN]"))?;
                let (then, rest) = rest
                    .strip_prefix("then")
                    .map_or((false, rest), |rest| (true, rest));
                let (what, count) = rest.split_once('x').unwrap_or((rest, "1"));
                let count = count
                    .parse()
                    .map_err(|_| format!("fault {item:?}: bad count"))?;
                let mut rule = FaultRule {
                    route: route.parse()?,
                    status: None,
                    stall_ms: None,
                    count,
                    retry_after: None,
                    then,
                };
                if let Some(ms) = what.strip_prefix("stall") {
                    rule.stall_ms = Some(
                        ms.parse()
                            .map_err(|_| format!("fault {item:?}: bad stall"))?,
                    );
                } else {
                    rule.status = Some(
                        what.parse()
                            .map_err(|_| format!("fault {item:?}: bad status"))?,
                    );
                }
                check(&rule)?;
                Ok(rule)
            })
            .collect()
    }

    /// Replaces the pending rules.
    pub fn set(&self, rules: Vec<FaultRule>) -> Result<(), String> {
        rules.iter().try_for_each(check)?;
        *lock(&self.rules) = rules;
        Ok(())
    }

    /// Pending rules.
    pub fn rules(&self) -> Vec<FaultRule> {
        lock(&self.rules).clone()
    }

    /// Consumes the first matching rule, if any.
    pub fn take(&self, route: FaultRoute) -> Option<(Fault, When)> {
        let mut rules = lock(&self.rules);
        let index = rules
            .iter()
            .position(|r| r.count > 0 && (r.route == route || r.route == FaultRoute::Any))?;
        let rule = &mut rules[index];
        rule.count -= 1;
        let fault = match (rule.status, rule.stall_ms) {
            (Some(status), _) => Fault::Status {
                status,
                retry_after: rule.retry_after,
            },
            (None, Some(ms)) => Fault::Stall(Duration::from_millis(ms)),
            (None, None) => return None,
        };
        let when = if rule.then { When::After } else { When::Before };
        if rule.count == 0 {
            rules.remove(index);
        }
        Some((fault, when))
    }

    /// Records a served call.
    pub fn record(&self, entry: JournalEntry) {
        let mut journal = lock(&self.journal);
        if journal.len() == JOURNAL_LEN {
            journal.pop_front();
        }
        journal.push_back(entry);
    }

    /// Calls served so far (newest last).
    pub fn journal(&self) -> Vec<JournalEntry> {
        lock(&self.journal).iter().cloned().collect()
    }
}

fn check(rule: &FaultRule) -> Result<(), String> {
    if rule.then && rule.route != FaultRoute::Create {
        return Err("a `then` fault applies to create only".into());
    }
    match (rule.status, rule.stall_ms) {
        (Some(s), None) if (400..=599).contains(&s) => Ok(()),
        (Some(_), None) => Err("fault status must be 400–599".into()),
        (None, Some(_)) => Ok(()),
        _ => Err("a fault needs exactly one of status and stall_ms".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_consumes_rules_in_order() {
        let faults = Faults::default();
        faults
            .set(Faults::parse("status:500x2, create:stall10, any:429").unwrap())
            .unwrap();
        let five = Fault::Status {
            status: 500,
            retry_after: None,
        };
        assert_eq!(faults.take(FaultRoute::Status), Some((five, When::Before)));
        assert_eq!(
            faults.take(FaultRoute::Create),
            Some((Fault::Stall(Duration::from_millis(10)), When::Before))
        );
        assert_eq!(faults.take(FaultRoute::Status), Some((five, When::Before)));
        assert!(matches!(
            faults.take(FaultRoute::Status),
            Some((Fault::Status { status: 429, .. }, When::Before))
        ));
        assert_eq!(faults.take(FaultRoute::Status), None);
    }

    #[test]
    fn rejects_bad_specs() {
        assert!(Faults::parse("nope:500").is_err());
        assert!(Faults::parse("create:200").is_err());
        assert!(Faults::parse("create").is_err());
        assert!(Faults::parse("create:500xmany").is_err());
        assert!(Faults::parse("status:then500").is_err());
    }

    #[test]
    fn then_faults_strike_after_the_call() {
        let faults = Faults::default();
        faults
            .set(Faults::parse("create:then502, create:thenstall20").unwrap())
            .unwrap();
        assert_eq!(
            faults.take(FaultRoute::Create),
            Some((
                Fault::Status {
                    status: 502,
                    retry_after: None
                },
                When::After
            ))
        );
        assert_eq!(
            faults.take(FaultRoute::Create),
            Some((Fault::Stall(Duration::from_millis(20)), When::After))
        );
    }
}
