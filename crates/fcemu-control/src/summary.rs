//! What a run came to, read from its whole event stream: hook runs and their failures, cold starts with their
//! three parts, invocations by status, requests that failed, instances by destroy reason, and the bill. `up`
//! writes it to `.fcemu/summary.json` at every shutdown; its verdict is what `fcemu down` exits with.

use crate::ControlPlane;
use crate::billing::BillingView;
use crate::journal::Entry;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// True when every hook succeeded and every request got an answer that is not a 5xx.
    pub passed: bool,
    pub hooks: Vec<HookRun>,
    pub cold_starts: Vec<Value>,
    /// Invocations by HTTP status.
    pub invocations: BTreeMap<String, u64>,
    /// Requests answered 5xx, or never answered.
    pub failed_requests: Vec<Value>,
    /// Instances by destroy reason.
    pub instances: BTreeMap<String, u64>,
    pub billing: Vec<BillingView>,
    /// Lines the kept history lost: dropped past its size limit, or never written (a full disk).
    #[serde(default)]
    pub history: History,
    /// Asynchronous invocations: queued, tried again, dropped for their age, outcomes sent on.
    #[serde(default)]
    pub asynchronous: AsyncCounts,
}

/// What became of the run's asynchronous invocations, by their events.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct AsyncCounts {
    pub enqueued: u64,
    pub retried: u64,
    pub expired: u64,
    pub delivered: u64,
    /// Of those queued, how many a timer or event-source trigger fired.
    #[serde(default)]
    pub fired: u64,
}

/// What the history files lost, for logs and for events.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct History {
    pub logs: Lost,
    pub events: Lost,
}

/// Lines lost, by why (see `journal::Losses`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Lost {
    pub dropped: usize,
    pub unwritten: usize,
}

impl From<crate::journal::Losses> for Lost {
    fn from(l: crate::journal::Losses) -> Self {
        Lost {
            dropped: l.dropped,
            unwritten: l.unwritten,
        }
    }
}

/// One run of a hook.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookRun {
    /// `Initialize`, `PreStop` or `PreFreeze`.
    pub hook: String,
    pub function_name: String,
    pub instance_id: String,
    pub request_id: String,
    pub duration_ms: f64,
    /// The HTTP status (or the command's exit code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl HookRun {
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

impl Summary {
    pub fn failed_hooks(&self) -> impl Iterator<Item = &HookRun> {
        self.hooks.iter().filter(|h| h.failed())
    }
}

impl ControlPlane {
    /// The run so far, from every event (those spilled to disk included).
    pub async fn summary(&self) -> Summary {
        let journal = self.events().clone();
        let entries = tokio::task::spawn_blocking(move || journal.read_all(0))
            .await
            .unwrap_or_default();
        let events: Vec<Value> = entries
            .into_iter()
            .filter_map(|e| match e {
                Entry::Kept(event) => serde_json::to_value(&*event).ok(),
                Entry::Spilled(line) => serde_json::from_str(&line).ok(),
            })
            .collect();
        let mut summary = summarize(&events);
        summary.billing = self.billing();
        summary.history = History {
            logs: self.logs().losses().into(),
            events: self.events().losses().into(),
        };
        summary
    }
}

fn summarize(events: &[Value]) -> Summary {
    let text = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let mut hooks = Vec::new();
    let mut cold_starts = Vec::new();
    let mut invocations: BTreeMap<String, u64> = BTreeMap::new();
    let mut failed_requests = Vec::new();
    let mut instances: BTreeMap<String, u64> = BTreeMap::new();
    let mut asynchronous = AsyncCounts::default();
    // Requests started and not (yet) ended, by request id.
    let mut open: BTreeMap<String, &Value> = BTreeMap::new();
    for e in events {
        let name = text(e, "event");
        let hook = match name.as_str() {
            "initializer.end" => Some("Initialize"),
            "prestop.end" => Some("PreStop"),
            "prefreeze.end" => Some("PreFreeze"),
            _ => None,
        };
        if let Some(hook) = hook {
            hooks.push(HookRun {
                hook: hook.to_string(),
                function_name: text(e, "functionName"),
                instance_id: text(e, "instanceId"),
                request_id: text(e, "requestId"),
                duration_ms: e
                    .get("durationMs")
                    .and_then(Value::as_f64)
                    .unwrap_or_default(),
                status: e.get("status").and_then(Value::as_i64),
                error: e.get("error").and_then(Value::as_str).map(str::to_string),
            });
            continue;
        }
        match name.as_str() {
            "instance.ready" if e.get("initDurationMs").is_some() => {
                let mut cold = serde_json::Map::new();
                for k in [
                    "functionName",
                    "instanceId",
                    "initDurationMs",
                    "instanceCreateMs",
                    "runtimeInitMs",
                    "engineStartMs",
                    "functionStartMs",
                    "initHookMs",
                ] {
                    if let Some(v) = e.get(k) {
                        cold.insert(k.into(), v.clone());
                    }
                }
                cold_starts.push(Value::Object(cold));
            }
            "invoke.start" => {
                open.insert(text(e, "requestId"), e);
            }
            "invoke.retried" => {
                open.remove(&text(e, "requestId"));
            }
            "invoke.end" => {
                open.remove(&text(e, "requestId"));
                let status = e.get("status").and_then(Value::as_i64).unwrap_or_default();
                *invocations.entry(status.to_string()).or_default() += 1;
                // An event invocation that failed in fcemu (its instance never served: FC answers
                // FunctionNotStarted with HTTP 200) carries the error, whatever the status.
                if status >= 500 || e.get("error").is_some() {
                    failed_requests.push(request_of(e));
                }
            }
            "instance.destroyed" => {
                *instances.entry(text(e, "reason")).or_default() += 1;
            }
            "async.enqueued" => asynchronous.enqueued += 1,
            "async.retried" => {
                asynchronous.retried += 1;
                // A failed try that is tried again is not the request failing: its last try judges it.
                let id = text(e, "requestId");
                failed_requests.retain(|r| r["requestId"] != id.as_str());
            }
            "async.expired" => asynchronous.expired += 1,
            "destination.delivered" => asynchronous.delivered += 1,
            "trigger.fired" => asynchronous.fired += 1,
            _ => {}
        }
    }
    for e in open.values() {
        let mut lost = request_of(e);
        lost["error"] = "started and never answered".into();
        failed_requests.push(lost);
    }
    let passed = failed_requests.is_empty() && !hooks.iter().any(HookRun::failed);
    Summary {
        passed,
        hooks,
        cold_starts,
        invocations,
        failed_requests,
        instances,
        billing: Vec::new(),
        history: History::default(),
        asynchronous,
    }
}

fn request_of(e: &Value) -> Value {
    let mut r = serde_json::Map::new();
    for k in ["functionName", "instanceId", "requestId", "status", "error"] {
        if let Some(v) = e.get(k) {
            r.insert(k.into(), v.clone());
        }
    }
    Value::Object(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_failed_hook_or_a_5xx_or_a_lost_request_fails_the_run() {
        let ok = [
            json!({"event": "initializer.end", "functionName": "f", "instanceId": "c-1", "requestId": "r0", "status": 200, "durationMs": 3.0}),
            json!({"event": "instance.ready", "functionName": "f", "instanceId": "c-1", "initDurationMs": 20.0, "instanceCreateMs": 5.0, "runtimeInitMs": 12.0, "initHookMs": 3.0}),
            json!({"event": "invoke.start", "requestId": "r1"}),
            json!({"event": "invoke.end", "requestId": "r1", "status": 200}),
            json!({"event": "prestop.end", "functionName": "f", "instanceId": "c-1", "requestId": "r2", "status": 200}),
            json!({"event": "instance.destroyed", "instanceId": "c-1", "reason": "shutdown"}),
        ];
        let s = summarize(&ok);
        assert!(s.passed);
        assert_eq!(s.hooks.len(), 2);
        assert_eq!(s.cold_starts[0]["runtimeInitMs"], 12.0);
        assert_eq!(s.invocations["200"], 1);
        assert_eq!(s.instances["shutdown"], 1);

        let mut bad = ok.to_vec();
        bad.push(json!({"event": "prestop.end", "functionName": "f", "instanceId": "c-2", "requestId": "r3", "status": 500, "error": "the PreStop hook (GET /pre-stop) answered HTTP 500"}));
        let s = summarize(&bad);
        assert!(!s.passed);
        assert_eq!(s.failed_hooks().count(), 1);

        let mut lost = ok.to_vec();
        lost.push(json!({"event": "invoke.start", "requestId": "r9", "functionName": "f"}));
        lost.push(json!({"event": "invoke.start", "requestId": "r8"}));
        lost.push(json!({"event": "invoke.end", "requestId": "r8", "status": 502}));
        let s = summarize(&lost);
        assert!(!s.passed);
        assert_eq!(s.failed_requests.len(), 2);
        assert_eq!(s.failed_requests[1]["error"], "started and never answered");

        let mut not_started = ok.to_vec();
        not_started.push(json!({"event": "invoke.end", "requestId": "r7", "status": 200, "errorType": "FunctionNotStarted", "error": "the function's server did not accept connections"}));
        let s = summarize(&not_started);
        assert!(!s.passed);
        assert_eq!(s.failed_requests[0]["requestId"], "r7");
    }
}
