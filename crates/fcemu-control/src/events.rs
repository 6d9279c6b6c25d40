//! The lifecycle event stream (interface.md): one JSON object per event, kept for the run and broadcast.

use serde::Serialize;
use std::time::SystemTime;

/// One lifecycle event. Field names are the contract: scripts read them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// RFC 3339 with milliseconds when serialized; formatted only then, as most events are never read.
    #[serde(serialize_with = "rfc3339_millis")]
    pub ts: SystemTime,
    pub event: &'static str,
    pub function_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
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
    pub fn new(event: &'static str, function_name: &str, instance_id: Option<&str>) -> Self {
        Event {
            ts: SystemTime::now(),
            event,
            function_name: function_name.to_string(),
            instance_id: instance_id.map(str::to_string),
            request_id: None,
            duration_ms: None,
            status: None,
            reason: None,
            error: None,
            extra: Extra::default(),
        }
    }

    pub fn request(mut self, id: &str) -> Self {
        self.request_id = Some(id.to_string());
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
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Every event of the run, in order.
pub type EventBus = crate::journal::Journal<Event>;

impl EventBus {
    pub fn emit(&self, event: Event) {
        self.push(event);
    }
}
