//! The lifecycle event stream (docs/contract.md): one JSON object per event, kept for the run and broadcast.

use serde::Serialize;
use std::sync::Arc;
use std::time::SystemTime;

/// The lifecycle events of docs/contract.md (and fcemu's additions). The `instance.*` ones are an instance's
/// state transitions: only the state machine emits them (`crate::state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    InstanceCreating,
    InstanceCreated,
    InstanceRuntimeReady,
    InstanceReady,
    InstanceFrozen,
    InstanceThawed,
    InstanceDestroyed,
    InitializerStart,
    InitializerEnd,
    InvokeStart,
    InvokeEnd,
    /// fcemu's: a request that never reached its instance's process is placed again on another.
    InvokeRetried,
    PrestopStart,
    PrestopEnd,
    PrefreezeStart,
    PrefreezeEnd,
    ProvisionChanged,
    /// A function rolled to a new configuration, or added or removed (`up --watch`, UpdateFunction).
    FunctionUpdated,
    /// An asynchronous invocation was queued.
    AsyncEnqueued,
    /// A try of one failed, and it will be tried again.
    AsyncRetried,
    /// One grew older than `maxAsyncEventAgeInSeconds` before it finished.
    AsyncExpired,
    /// One's outcome went to its destination.
    DestinationDelivered,
    /// fcemu's: a timer or event-source trigger fired (on its schedule, or by `fcemu trigger`).
    TriggerFired,
    /// A session began on an instance (session affinity).
    SessionStarted,
    /// A session ended: `reason` says why.
    SessionEnded,
}

impl EventKind {
    pub const ALL: [EventKind; 25] = [
        EventKind::InstanceCreating,
        EventKind::InstanceCreated,
        EventKind::InstanceRuntimeReady,
        EventKind::InstanceReady,
        EventKind::InstanceFrozen,
        EventKind::InstanceThawed,
        EventKind::InstanceDestroyed,
        EventKind::InitializerStart,
        EventKind::InitializerEnd,
        EventKind::InvokeStart,
        EventKind::InvokeEnd,
        EventKind::InvokeRetried,
        EventKind::PrestopStart,
        EventKind::PrestopEnd,
        EventKind::PrefreezeStart,
        EventKind::PrefreezeEnd,
        EventKind::ProvisionChanged,
        EventKind::FunctionUpdated,
        EventKind::AsyncEnqueued,
        EventKind::AsyncRetried,
        EventKind::AsyncExpired,
        EventKind::DestinationDelivered,
        EventKind::TriggerFired,
        EventKind::SessionStarted,
        EventKind::SessionEnded,
    ];

    /// The name in the event stream.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::InstanceCreating => "instance.creating",
            EventKind::InstanceCreated => "instance.created",
            EventKind::InstanceRuntimeReady => "instance.runtime_ready",
            EventKind::InstanceReady => "instance.ready",
            EventKind::InstanceFrozen => "instance.frozen",
            EventKind::InstanceThawed => "instance.thawed",
            EventKind::InstanceDestroyed => "instance.destroyed",
            EventKind::InitializerStart => "initializer.start",
            EventKind::InitializerEnd => "initializer.end",
            EventKind::InvokeStart => "invoke.start",
            EventKind::InvokeEnd => "invoke.end",
            EventKind::InvokeRetried => "invoke.retried",
            EventKind::PrestopStart => "prestop.start",
            EventKind::PrestopEnd => "prestop.end",
            EventKind::PrefreezeStart => "prefreeze.start",
            EventKind::PrefreezeEnd => "prefreeze.end",
            EventKind::ProvisionChanged => "provision.changed",
            EventKind::FunctionUpdated => "function.updated",
            EventKind::AsyncEnqueued => "async.enqueued",
            EventKind::AsyncRetried => "async.retried",
            EventKind::AsyncExpired => "async.expired",
            EventKind::DestinationDelivered => "destination.delivered",
            EventKind::TriggerFired => "trigger.fired",
            EventKind::SessionStarted => "session.started",
            EventKind::SessionEnded => "session.ended",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// An instance's state transition: emitted by the state machine and nowhere else.
    pub fn is_instance_transition(self) -> bool {
        self.as_str().starts_with("instance.")
    }
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `event.event == "invoke.end"` reads as the stream does.
impl PartialEq<&str> for EventKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// One lifecycle event. Field names are the contract: scripts read them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// RFC 3339 with milliseconds when serialized; formatted only then, as most events are never read.
    #[serde(serialize_with = "rfc3339_millis")]
    pub ts: SystemTime,
    pub event: EventKind,
    pub function_name: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Arc<str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Event-specific fields (`initDurationMs` and its parts, `coldStart`, `billedDurationMs`, ...).
    #[serde(flatten)]
    pub extra: Extra,
}

/// An event's own fields, in the order they were added. An event has a handful at most, so a list is
/// cheaper to build than a map, and events are built on every request.
#[derive(Debug, Clone, Default)]
pub struct Extra(Vec<(&'static str, serde_json::Value)>);

impl Extra {
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// `extra["key"]`, `null` when absent, as with a JSON map.
impl std::ops::Index<&str> for Extra {
    type Output = serde_json::Value;

    fn index(&self, key: &str) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl Serialize for Extra {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Event {
    /// Names are shared (`Arc<str>`): an event is made on every request, and copying them each time would
    /// cost an allocation apiece. The `instance.*` events are made by [`Event::transition`] only.
    pub fn new(event: EventKind, function_name: &Arc<str>, instance_id: Option<&Arc<str>>) -> Self {
        debug_assert!(
            !event.is_instance_transition(),
            "{} is emitted by the state machine only",
            event.as_str()
        );
        Self::make(event, function_name, instance_id)
    }

    /// An instance's state transition (for `crate::state`).
    pub(crate) fn transition(
        event: EventKind,
        function_name: &Arc<str>,
        instance_id: &Arc<str>,
    ) -> Self {
        Self::make(event, function_name, Some(instance_id))
    }

    fn make(event: EventKind, function_name: &Arc<str>, instance_id: Option<&Arc<str>>) -> Self {
        Event {
            ts: SystemTime::now(),
            event,
            function_name: function_name.clone(),
            instance_id: instance_id.cloned(),
            request_id: None,
            duration_ms: None,
            status: None,
            reason: None,
            error: None,
            extra: Extra::default(),
        }
    }

    pub fn request(mut self, id: &Arc<str>) -> Self {
        self.request_id = Some(id.clone());
        self
    }

    pub fn duration(mut self, ms: f64) -> Self {
        self.duration_ms = Some(round_ms(ms));
        self
    }

    pub fn status(mut self, status: i64) -> Self {
        self.status = Some(status);
        self
    }

    pub fn reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    /// Adds a field; a key given twice keeps the last value.
    pub fn with(mut self, key: &'static str, value: impl Into<serde_json::Value>) -> Self {
        let value = value.into();
        match self.extra.0.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value,
            None => self.extra.0.push((key, value)),
        }
        self
    }
}

/// Milliseconds to three decimals: enough to be truthful, short enough to read.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 1000.0).round() / 1000.0
}

pub fn rfc3339_millis<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&timestamp(*t))
}

/// The event line a reader gets where events of the history are missing (`history.gap`, with how many
/// and why).
pub fn gap_line(lines: usize, reason: crate::journal::GapReason, at: SystemTime) -> String {
    serde_json::json!({
        "ts": timestamp(at),
        "event": "history.gap",
        "functionName": "",
        "lines": lines,
        "reason": match reason {
            crate::journal::GapReason::Dropped => "dropped",
            crate::journal::GapReason::Unwritten => "unwritten",
        },
        "error": crate::journal::gap_words(lines, reason),
    })
    .to_string()
}

/// Milliseconds since the epoch, as FC's APIs and events count times (0 before it).
pub(crate) fn epoch_millis(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `2026-11-22T05:08:17.879Z`. Every record written out needs one, many within the same second: the date
/// and time of day are formatted once per second (per thread) and only the milliseconds each time.
pub fn timestamp(t: SystemTime) -> String {
    use std::cell::RefCell;
    thread_local! {
        static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let since_epoch = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let millis = since_epoch.subsec_millis();
    SECOND.with(|cell| {
        let mut second = cell.borrow_mut();
        if second.0 != secs {
            // "YYYY-MM-DDTHH:MM:SSZ" without its Z.
            let mut text = humantime::format_rfc3339_seconds(t).to_string();
            text.pop();
            *second = (secs, text);
        }
        let mut out = String::with_capacity(24);
        out.push_str(&second.1);
        out.push('.');
        for divisor in [100, 10, 1] {
            out.push(char::from_digit(millis / divisor % 10, 10).expect("a decimal digit"));
        }
        out.push('Z');
        out
    })
}

/// Every event of the run, in order.
pub type EventBus = crate::journal::Journal<Event>;

impl EventBus {
    pub fn emit(&self, event: Event) {
        self.push(event);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn timestamps_match_rfc3339_with_milliseconds_across_seconds() {
        let base = UNIX_EPOCH + Duration::from_millis(1_795_000_000_000);
        for offset_ms in [0, 1, 999, 1000, 1007, 61_050, 86_400_123] {
            let t = base + Duration::from_millis(offset_ms);
            assert_eq!(
                timestamp(t),
                humantime::format_rfc3339_millis(t).to_string(),
                "{offset_ms}"
            );
        }
    }
}
