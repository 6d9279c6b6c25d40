//! FC's queue for asynchronous invocations (`x-fc-invocation-type: Async`, and what destinations and timers
//! send): each event is kept under `.fcemu/async/` until it is done, so an `up` stopped and started again
//! runs what was left; a function error is tried again up to `maxAsyncRetryAttempts` times, with
//! `x-fc-retry-count` saying which try it is; throttling (no instance to be had) waits and is not counted;
//! an event older than `maxAsyncEventAgeInSeconds` is dropped. The outcome goes to the function's
//! destination, if it has one: another function of the project, invoked asynchronously with FC's destination
//! event, or a sink file standing in for the services that do not run locally.

use crate::async_config::StoredAsyncConfig;
use crate::control_plane::ControlPlane;
use crate::events::{Event, EventKind};
use crate::headers;
use crate::responses::InvocationKind;
use bytes::Bytes;
use fcemu_spec::{AsyncInvokeConfig, Destination};
use http::{HeaderValue, Request, StatusCode};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest wait between two tries (function errors back off 1 s, 2 s, 4 s, ... up to it).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// One queued event, as kept on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct QueuedEvent {
    pub request_id: String,
    pub function_name: String,
    /// The payload, base64.
    pub payload: String,
    /// The client's headers that go on with it (content type, the caller's own).
    pub headers: Vec<(String, String)>,
    /// When it was queued, ms since the epoch.
    pub enqueued_at: u64,
    /// Tries that failed so far.
    pub failed_tries: u32,
}

/// What one try came to.
enum Outcome {
    Succeeded {
        status: u16,
        body: Bytes,
    },
    /// The function failed (its error type, or the platform's).
    Failed {
        status: u16,
        error: String,
        body: Bytes,
    },
    /// No instance could take it now: wait, and do not count it.
    Throttled,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ControlPlane {
    /// `acs:fc:{region}:{account}:functions/{name}`, as FC names the function.
    pub fn function_arn(&self, function: &str) -> String {
        let region = self
            .function(function)
            .map(|f| self.shared.options.region_of(&f.spec))
            .unwrap_or_default();
        format!(
            "acs:fc:{region}:{}:functions/{function}",
            self.shared.options.account_id
        )
    }

    /// The function's stored `asyncInvokeConfig`, if it has one.
    pub fn async_invoke_config(&self, function: &str) -> Option<StoredAsyncConfig> {
        self.shared
            .async_configs
            .lock()
            .unwrap()
            .get(function)
            .cloned()
    }

    /// Every stored one, by function name.
    pub fn async_invoke_configs(&self) -> Vec<(String, StoredAsyncConfig)> {
        let configs = self.shared.async_configs.lock().unwrap();
        configs
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// PutAsyncInvokeConfig: applies from the next try of every event on.
    pub fn put_async_invoke_config(
        &self,
        function: &str,
        config: AsyncInvokeConfig,
    ) -> StoredAsyncConfig {
        let mut configs = self.shared.async_configs.lock().unwrap();
        let stored = match configs.get(function) {
            Some(old) => StoredAsyncConfig {
                config,
                created: old.created,
                modified: SystemTime::now(),
            },
            None => StoredAsyncConfig::new(config),
        };
        configs.insert(function.to_string(), stored.clone());
        stored
    }

    /// DeleteAsyncInvokeConfig; false when there was none.
    pub fn delete_async_invoke_config(&self, function: &str) -> bool {
        self.shared
            .async_configs
            .lock()
            .unwrap()
            .remove(function)
            .is_some()
    }

    /// What runs the function's events now: its stored config, or FC's defaults.
    fn async_rules(&self, function: &str) -> AsyncInvokeConfig {
        self.async_invoke_config(function)
            .map(|s| s.config)
            .unwrap_or_default()
    }

    /// Queues an asynchronous invocation of `function` with this payload, kept on disk before this returns
    /// (when the run has a queue folder), and runs it in the background. Returns its request id.
    pub fn enqueue(&self, function: &str, headers: &http::HeaderMap, payload: Bytes) -> Arc<str> {
        use base64::Engine;
        let request_id = crate::ids::request_id();
        let kept = headers
            .iter()
            .filter(|(k, _)| !k.as_str().starts_with("x-fc-") && *k != http::header::CONTENT_LENGTH)
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let event = QueuedEvent {
            request_id: request_id.to_string(),
            function_name: function.to_string(),
            payload: base64::engine::general_purpose::STANDARD.encode(&payload),
            headers: kept,
            enqueued_at: millis(SystemTime::now()),
            failed_tries: 0,
        };
        self.keep(&event);
        let name: Arc<str> = function.into();
        self.shared.events.emit(
            Event::new(EventKind::AsyncEnqueued, &name, None)
                .request(&request_id)
                .with("payloadBytes", payload.len()),
        );
        self.spawn_event(event);
        request_id
    }

    /// Runs again what an earlier `up` of this project left queued. Returns how many.
    pub fn resume_async(&self) -> usize {
        let Some(dir) = self.queue_dir() else {
            return 0;
        };
        let mut resumed = 0;
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<QueuedEvent>(&b).ok());
            match parsed {
                // The id names the event's file: one that is not fcemu's shape (a committed
                // `"requestId": "../../x"`) would have it write or delete outside the queue.
                Some(event) if !crate::ids::is_request_id(&event.request_id) => tracing::warn!(
                    "{} is not a queued event of fcemu's (its request id is not one): left as it is",
                    path.display()
                ),
                Some(event) if self.function(&event.function_name).is_some() => {
                    self.spawn_event(event);
                    resumed += 1;
                }
                Some(event) => tracing::warn!(
                    "a queued event of {} is left in {}: the function is no longer in the project",
                    event.function_name,
                    path.display()
                ),
                None => tracing::warn!("{} is not a queued event: left as it is", path.display()),
            }
        }
        resumed
    }

    fn queue_dir(&self) -> Option<PathBuf> {
        self.shared
            .options
            .state_dir
            .as_ref()
            .map(|d| d.join("async"))
    }

    /// Writes the event where a restart finds it (whole or not at all: written aside, then renamed).
    fn keep(&self, event: &QueuedEvent) {
        let Some(dir) = self.queue_dir() else { return };
        let write = || -> std::io::Result<()> {
            crate::files::create_private_dir(&dir)?;
            let path = event_file(&dir, event);
            let aside = dir.join(format!(".{}.json.new", event.request_id));
            let mut file = crate::files::create_private(&aside)?;
            std::io::Write::write_all(&mut file, &serde_json::to_vec(event)?)?;
            file.sync_all()?;
            std::fs::rename(&aside, &path)
        };
        if let Err(e) = write() {
            tracing::warn!("queued event {} not kept on disk: {e}", event.request_id);
        }
    }

    /// The event is done: its outcome goes to its destination, and it leaves the queue.
    fn finish(
        &self,
        rules: &AsyncInvokeConfig,
        event: &QueuedEvent,
        payload: &Bytes,
        outcome: &Outcome,
    ) {
        self.deliver(rules, event, payload, outcome);
        if let Some(dir) = self.queue_dir() {
            let _ = std::fs::remove_file(event_file(&dir, event));
        }
    }

    fn spawn_event(&self, event: QueuedEvent) {
        let cp = self.clone();
        self.shared
            .tasks
            .spawn(async move { cp.run_event(event).await });
    }

    /// Tries the event until it succeeds, its tries are spent, or it is too old; then sends the outcome to
    /// its destination. At shutdown it stops between tries, and stays queued for the next run.
    async fn run_event(&self, mut event: QueuedEvent) {
        use base64::Engine;
        let function: Arc<str> = event.function_name.as_str().into();
        let id: Arc<str> = event.request_id.as_str().into();
        let payload = Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(&event.payload)
                .unwrap_or_default(),
        );
        let mut throttled = Duration::from_millis(100);
        // Its age: what it had when this run took it up (by the wall clock, across runs), and since then by
        // the runtime's clock (which tests can drive).
        let aged = SystemTime::now()
            .duration_since(UNIX_EPOCH + Duration::from_millis(event.enqueued_at))
            .unwrap_or_default();
        let taken_up = tokio::time::Instant::now();
        loop {
            let rules = self.async_rules(&function);
            let age = aged + taken_up.elapsed();
            if age > Duration::from_secs(rules.max_async_event_age_in_seconds) {
                self.shared.events.emit(
                    Event::new(EventKind::AsyncExpired, &function, None)
                        .request(&id)
                        .with("ageSeconds", age.as_secs()),
                );
                let outcome = Outcome::Failed {
                    status: 0,
                    error: "EventAgeExceeded".into(),
                    body: Bytes::new(),
                };
                self.finish(&rules, &event, &payload, &outcome);
                return;
            }
            let slots = self
                .function_pool(&function)
                .and_then(|pool| pool.async_slots.clone());
            let turn = match slots {
                Some(slots) => tokio::select! {
                    biased;
                    _ = self.shared.shutdown.cancelled() => return,
                    turn = slots.acquire_owned() => turn.ok(),
                },
                None => None,
            };
            // A stopping run starts no try: what is left stays queued for the next one.
            if self.is_shutting_down() {
                return;
            }
            let mut req = Request::post("/").body(crate::client::full_body(payload.clone()));
            if let Ok(req) = req.as_mut() {
                for (k, v) in &event.headers {
                    if let (Ok(k), Ok(v)) = (
                        http::HeaderName::try_from(k.as_str()),
                        HeaderValue::try_from(v.as_str()),
                    ) {
                        req.headers_mut().append(k, v);
                    }
                }
            }
            let Ok(req) = req else { return };
            let response = self
                .invoke_attempt(
                    &function,
                    req,
                    InvocationKind::Event,
                    id.clone(),
                    event.failed_tries,
                )
                .await;
            drop(turn);
            let outcome = outcome_of(response).await;
            let wait = match &outcome {
                Outcome::Succeeded { .. } => {
                    self.finish(&rules, &event, &payload, &outcome);
                    return;
                }
                Outcome::Throttled => {
                    throttled = (throttled * 2).min(MAX_BACKOFF);
                    throttled
                }
                Outcome::Failed { error, status, .. } => {
                    event.failed_tries += 1;
                    let final_try = event.failed_tries > rules.max_async_retry_attempts
                        || error == "FunctionNotFound";
                    if final_try {
                        self.finish(&rules, &event, &payload, &outcome);
                        return;
                    }
                    self.keep(&event);
                    self.shared.events.emit(
                        Event::new(EventKind::AsyncRetried, &function, None)
                            .request(&id)
                            .status(*status as i64)
                            .with("error", error.clone())
                            .with("retryCount", event.failed_tries),
                    );
                    (Duration::from_secs(1) * 2u32.pow(event.failed_tries - 1)).min(MAX_BACKOFF)
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.shared.shutdown.cancelled() => return,
            }
        }
    }

    /// FC's destination event for the outcome, sent where the function's config says.
    fn deliver(
        &self,
        rules: &AsyncInvokeConfig,
        event: &QueuedEvent,
        payload: &Bytes,
        outcome: &Outcome,
    ) {
        let (destination, status, condition, function_error, body) = match outcome {
            Outcome::Succeeded { status, body } => (&rules.on_success, *status, "", "", body),
            Outcome::Failed {
                status,
                error,
                body,
            } => (
                &rules.on_failure,
                *status,
                error.as_str(),
                error.as_str(),
                body,
            ),
            Outcome::Throttled => return,
        };
        let Some(destination) = destination else {
            return;
        };
        let function: Arc<str> = event.function_name.as_str().into();
        let arn = self.function_arn(&function);
        let record = serde_json::json!({
            "timestamp": millis(SystemTime::now()),
            "requestContext": {
                "requestId": event.request_id,
                "functionArn": arn,
                "condition": condition,
                "approximateInvokeCount": event.failed_tries + u32::from(matches!(outcome, Outcome::Succeeded { .. })),
            },
            "requestPayload": String::from_utf8_lossy(payload),
            "responseContext": { "statusCode": status, "functionError": function_error },
            "responsePayload": String::from_utf8_lossy(body),
        });
        let to = match destination {
            Destination::Function { name, .. } if self.function(name).is_some() => {
                let mut headers = http::HeaderMap::new();
                headers.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                self.enqueue(name, &headers, Bytes::from(record.to_string()));
                "function"
            }
            _ => {
                self.sink(destination.arn(), &event.function_name, &record);
                "sink"
            }
        };
        self.shared.events.emit(
            Event::new(EventKind::DestinationDelivered, &function, None)
                .request(&event.request_id.as_str().into())
                .with("destination", destination.arn())
                .with("condition", condition)
                .with("to", to),
        );
    }

    /// One JSON line per delivery to a destination that does not run locally.
    fn sink(&self, arn: &str, function: &str, record: &serde_json::Value) {
        let Some(dir) = self
            .shared
            .options
            .state_dir
            .as_ref()
            .map(|d| d.join("destinations"))
        else {
            return;
        };
        let line = serde_json::json!({
            "ts": crate::events::timestamp(SystemTime::now()),
            "destination": arn,
            "functionName": function,
            "event": record,
        });
        let write = || -> std::io::Result<()> {
            crate::files::create_private_dir(&dir)?;
            let mut file = crate::files::append_private(&dir.join("deliveries.jsonl"))?;
            std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes())
        };
        if let Err(e) = write() {
            tracing::warn!("a delivery to {arn} was not written: {e}");
        }
    }
}

/// The file that holds a queued event, named by its request id.
fn event_file(dir: &std::path::Path, event: &QueuedEvent) -> PathBuf {
    dir.join(format!("{}.json", event.request_id))
}

/// What a response says of the try: the function's error type (`x-fc-error-type`), a platform error, or
/// throttling.
async fn outcome_of(response: http::Response<crate::Body>) -> Outcome {
    let status = response.status();
    let error = response
        .headers()
        .get(headers::ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = http_body_util::BodyExt::collect(response.into_body())
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Outcome::Throttled;
    }
    // fcemu's own errors (the function not started, not found) carry FC's Code; any other failing answer
    // is the function's, as FC counts a custom container's 5xx.
    let code = || {
        serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .filter(|v| v.get("RequestId").is_some())
            .and_then(|v| v["Code"].as_str().map(str::to_string))
            .unwrap_or_else(|| "UnhandledInvocationError".into())
    };
    match error {
        Some(error) => Outcome::Failed {
            status: status.as_u16(),
            error,
            body,
        },
        None if status.is_success() => Outcome::Succeeded {
            status: status.as_u16(),
            body,
        },
        None => Outcome::Failed {
            status: status.as_u16(),
            error: code(),
            body,
        },
    }
}
