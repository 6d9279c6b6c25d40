//! Triggers that fire from events: timers on their schedule, and any timer or event-source trigger when
//! asked (`fcemu trigger`). A firing is an asynchronous invocation with the source's event, queued as FC's
//! event sources queue theirs: retried, aged and sent to destinations by the async queue.

use crate::control_plane::ControlPlane;
use crate::events::{Event, EventKind};
use crate::function::Function;
use crate::source_events::{Firing, source_event};
use bytes::Bytes;
use fcemu_spec::EventTrigger;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Why a trigger was not fired.
#[derive(Debug)]
pub enum FireRefused {
    NoFunction,
    /// The function has no timer or event-source trigger of that name; these are the ones it has.
    NoTrigger {
        known: Vec<String>,
    },
    /// The source would not send this event (an OSS key outside the trigger's filter).
    NotSent(String),
}

impl std::fmt::Display for FireRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FireRefused::NoFunction => write!(f, "no such function in this project"),
            FireRefused::NoTrigger { known } if known.is_empty() => write!(
                f,
                "the function has no timer or event-source trigger (an HTTP trigger is fired by a request to its URL)"
            ),
            FireRefused::NoTrigger { known } => write!(
                f,
                "the function has no timer or event-source trigger of that name, allowed: {}",
                known.join(", ")
            ),
            FireRefused::NotSent(why) => f.write_str(why),
        }
    }
}

/// How often the timer loop looks again at the functions served, so one an update adds or changes starts
/// within this.
const TIMER_RESCAN: Duration = Duration::from_secs(1);

impl ControlPlane {
    /// Fires a timer or event-source trigger of `function` now, with `event` as its payload or, without
    /// one, the event its source would send (`data` filling what the source would: an OSS key, a message).
    /// Returns the request id of the queued invocation.
    pub fn fire_trigger(
        &self,
        function: &str,
        trigger: &str,
        event: Option<Bytes>,
        data: Option<&str>,
    ) -> Result<Arc<str>, FireRefused> {
        let f = self.function(function).ok_or(FireRefused::NoFunction)?;
        let Some(t) = f.spec.event_triggers.iter().find(|t| t.name == trigger) else {
            let known = f.spec.event_triggers.iter().map(|t| t.name.clone());
            return Err(FireRefused::NoTrigger {
                known: known.collect(),
            });
        };
        let payload = match event {
            Some(event) => event,
            None => self.event_of(&f, t, data, SystemTime::now())?,
        };
        Ok(self.fire(&f, t, payload))
    }

    fn event_of(
        &self,
        f: &Function,
        t: &EventTrigger,
        data: Option<&str>,
        at: SystemTime,
    ) -> Result<Bytes, FireRefused> {
        let region = self.shared.options.region_of(&f.spec);
        let firing = Firing {
            region: &region,
            account: &self.shared.options.account_id,
            data,
            at,
        };
        source_event(t, &firing)
            .map(Bytes::from)
            .map_err(FireRefused::NotSent)
    }

    fn fire(&self, f: &Function, t: &EventTrigger, payload: Bytes) -> Arc<str> {
        let mut headers = http::HeaderMap::new();
        // MNS's STREAM messages and Tablestore's CBOR records are bytes; every other source sends JSON.
        let json = serde_json::from_slice::<serde_json::Value>(&payload).is_ok();
        let content_type = if json {
            "application/json"
        } else {
            "application/octet-stream"
        };
        headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static(content_type),
        );
        let request_id = self.enqueue(&f.name, &headers, payload);
        self.shared.events.emit(
            Event::new(EventKind::TriggerFired, &f.name, None)
                .request(&request_id)
                .with("triggerName", t.name.as_str())
                .with("triggerType", t.trigger_type.as_str()),
        );
        request_id
    }

    /// Runs every enabled timer trigger of the functions served on its schedule, until shutdown. Times
    /// are the wall clock's at the start, carried on by the runtime's clock (which tests can drive).
    pub(crate) fn spawn_timers(&self) {
        let cp = self.clone();
        let shutdown = self.shared.shutdown.clone();
        self.shared.tasks.spawn(async move {
            let (wall, clock) = (SystemTime::now(), tokio::time::Instant::now());
            let now = || wall + clock.elapsed();
            // By function and trigger: the expression it was scheduled by, when it started, its next time
            // (None: the expression names no time to come).
            type Scheduled = (String, SystemTime, Option<SystemTime>);
            let mut timers: HashMap<(Arc<str>, String), Scheduled> = HashMap::new();
            loop {
                let at = now();
                let mut seen = Vec::new();
                for f in cp.functions() {
                    for t in f.spec.event_triggers.iter() {
                        let Some(timer) = t.timer.as_ref().filter(|_| t.is_enabled_timer()) else {
                            continue;
                        };
                        let key = (f.name.clone(), t.name.clone());
                        seen.push(key.clone());
                        let entry = timers
                            .entry(key)
                            .or_insert_with(|| (String::new(), at, None));
                        if entry.0 != timer.cron_expression {
                            let next = timer.schedule.next_after(at, at);
                            *entry = (timer.cron_expression.clone(), at, next);
                        }
                        let Some(due) = entry.2.filter(|due| *due <= at) else {
                            continue;
                        };
                        if let Ok(payload) = cp.event_of(&f, t, None, due) {
                            cp.fire(&f, t, payload);
                        }
                        // Times missed while the machine slept are not made up: the next is after now.
                        entry.2 = timer.schedule.next_after(entry.1, at);
                    }
                }
                timers.retain(|k, _| seen.contains(k));
                let earliest = timers.values().filter_map(|(_, _, next)| *next).min();
                let wait = match earliest {
                    Some(next) => next.duration_since(now()).unwrap_or_default(),
                    None => TIMER_RESCAN,
                }
                .min(TIMER_RESCAN);
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
        });
    }
}
