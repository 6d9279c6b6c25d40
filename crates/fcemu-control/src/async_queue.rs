//! FC's queue for asynchronous invocations (`x-fc-invocation-type: Async`, and what destinations and timers
//! send): each event is kept under `.fcemu/async/` until it is done, so an `up` stopped and started again
//! runs what was left; a function error is tried again up to `maxAsyncRetryAttempts` times, with
//! `x-fc-retry-count` saying which try it is; throttling (no instance to be had) waits and is not counted;
//! an event older than `maxAsyncEventAgeInSeconds` is dropped. The outcome goes to the function's
//! destination, if it has one (`destinations.rs`), and, for a function with `asyncTask`, on the task's
//! record (`async_tasks.rs`), which StopAsyncTask can end between tries or during one.

use crate::control_plane::ControlPlane;
use crate::events::{Event, EventKind, epoch_millis};
use crate::headers;
use crate::responses::InvocationKind;
use crate::task_record::TaskStatus;
use bytes::Bytes;
use fcemu_spec::AsyncInvokeConfig;
use http::{HeaderValue, Request, StatusCode};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// FC's condition for an event dropped for its age.
const EVENT_AGE_EXCEEDED: &str = "EventAgeExceeded";

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
    /// The async task it is, for a function with `asyncTask`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
}

/// What a queued invocation is known by.
pub struct Queued {
    pub request_id: Arc<str>,
    /// Its async task's id, for a function with `asyncTask`.
    pub task_id: Option<String>,
}

/// Why an invocation naming its async task was not queued.
#[derive(Debug, PartialEq, Eq)]
pub enum TaskIdRefused {
    /// Not 1 to 128 letters, digits, `-` and `_`.
    Invalid,
    /// The function has a task of that id already.
    Taken,
}

/// What one try came to.
pub(crate) enum Outcome {
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

    /// Queues an asynchronous invocation of `function` with this payload, kept on disk before this returns
    /// (when the run has a queue folder), and runs it in the background. Returns its request id.
    pub fn enqueue(&self, function: &str, headers: &http::HeaderMap, payload: Bytes) -> Arc<str> {
        match self.enqueue_task(function, headers, payload, None) {
            Ok(queued) => queued.request_id,
            Err(_) => unreachable!("an invocation that names no task id is never refused"),
        }
    }

    /// [`enqueue`](Self::enqueue), for a function with `asyncTask` also an async task: named `task_id` (the
    /// client's `x-fc-async-task-id`), or by the request id. A task id that is not one, or that the function
    /// has already, is refused and nothing is queued.
    pub fn enqueue_task(
        &self,
        function: &str,
        headers: &http::HeaderMap,
        payload: Bytes,
        task_id: Option<&str>,
    ) -> Result<Queued, TaskIdRefused> {
        use base64::Engine;
        let request_id = crate::ids::request_id();
        let task_id = match (self.async_rules(function).async_task, task_id) {
            (false, _) => None,
            (true, Some(id)) if !crate::task_record::is_task_id(id) => {
                return Err(TaskIdRefused::Invalid);
            }
            (true, id) => Some(id.unwrap_or(&request_id).to_string()),
        };
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
            enqueued_at: epoch_millis(SystemTime::now()),
            failed_tries: 0,
            task_id: task_id.clone(),
        };
        if !self.open_task(&event, &payload) {
            return Err(TaskIdRefused::Taken);
        }
        self.keep(&event);
        let name: Arc<str> = function.into();
        self.shared.events.emit(
            Event::new(EventKind::AsyncEnqueued, &name, None)
                .request(&request_id)
                .with("payloadBytes", payload.len()),
        );
        self.spawn_event(event);
        Ok(Queued {
            request_id,
            task_id,
        })
    }

    /// Runs again what an earlier `up` of this project left queued (its async tasks' records read first).
    /// Returns how many.
    pub fn resume_async(&self) -> usize {
        self.load_tasks();
        let Some(dir) = self.queue_dir() else {
            return 0;
        };
        let mut resumed = 0;
        for (path, parsed) in crate::files::read_json_files::<QueuedEvent>(&dir) {
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
        if let Err(e) = crate::files::replace_json(&dir, &event.request_id, event) {
            tracing::warn!("queued event {} not kept on disk: {e}", event.request_id);
        }
    }

    /// The event is done: its outcome goes to its destination and on its task's record, and it leaves the
    /// queue.
    fn finish(
        &self,
        rules: &AsyncInvokeConfig,
        event: &QueuedEvent,
        payload: &Bytes,
        outcome: &Outcome,
    ) {
        let delivered = self.deliver(rules, event, payload, outcome);
        let (status, answer, error) = match outcome {
            Outcome::Succeeded { body, .. } => (TaskStatus::Succeeded, body, None),
            Outcome::Failed { error, body, .. } if error == EVENT_AGE_EXCEEDED => {
                (TaskStatus::Expired, body, Some(error.as_str()))
            }
            Outcome::Failed { error, body, .. } => (TaskStatus::Failed, body, Some(error.as_str())),
            Outcome::Throttled => return,
        };
        let sent = delivered.then_some(match status {
            TaskStatus::Succeeded => "Succeeded",
            _ => "Failed",
        });
        self.task_ended(event, status, answer, error, sent);
        self.dequeue(event);
    }

    fn dequeue(&self, event: &QueuedEvent) {
        if let Some(dir) = self.queue_dir() {
            let _ = std::fs::remove_file(event_file(&dir, event));
        }
    }

    /// A task stopped by StopAsyncTask: it leaves the queue (no destination hears of it), and the instance
    /// running its cut-off try, if one was, is destroyed through PreStop as a reclaim.
    async fn end_stopped(&self, event: &QueuedEvent) {
        self.dequeue(event);
        let running = self.shared.events.snapshot().iter().rev().find_map(|e| {
            (e.event == "invoke.start"
                && e.request_id.as_deref() == Some(event.request_id.as_str()))
            .then(|| e.instance_id.clone())
            .flatten()
        });
        self.task_step(event, TaskStatus::Stopped, "stopped", running.as_deref());
        if let Some(instance) = running {
            self.reclaim_instance(&instance).await;
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
        // StopAsyncTask's: checked before each try, and it cuts a try or a wait short.
        let stop = self.task_stop(&event);
        loop {
            if stop.is_cancelled() {
                self.end_stopped(&event).await;
                return;
            }
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
                    error: EVENT_AGE_EXCEEDED.into(),
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
                    _ = stop.cancelled() => continue,
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
            self.task_step(&event, TaskStatus::Running, "invoked", None);
            let attempt = self.invoke_attempt(
                &function,
                req,
                InvocationKind::Event,
                id.clone(),
                event.failed_tries,
                false,
            );
            let response = tokio::select! {
                response = attempt => response,
                // Cut off: the request is dropped, and `end_stopped` destroys the instance that ran it.
                _ = stop.cancelled() => continue,
            };
            drop(turn);
            let instance = response
                .headers()
                .get(headers::INSTANCE_ID)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
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
                    self.task_step(&event, TaskStatus::Retrying, error, instance.as_deref());
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
                _ = stop.cancelled() => {}
                _ = self.shared.shutdown.cancelled() => return,
            }
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
