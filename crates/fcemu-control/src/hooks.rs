//! The lifecycle hooks: the Initializer (`POST /initialize`, or a command run in the container), PreStop
//! (`GET /pre-stop`) and PreFreeze (`GET /pre-freeze`), each bounded by its timeout, each with its events and
//! log lines. A hook needs only its [`HookContext`]: the function, the instance and the run's shared parts.

use crate::client::BoxError;
use crate::error::{HookCall, HookError};
use crate::events::EventKind;
use crate::function::Function;
use crate::init_duration::ms;
use crate::instance::Instance;
use crate::logs::HookKind;
use crate::shared::Shared;
use crate::{Event, client, ids};
use bytes::Bytes;
use fcemu_spec::{Hook, HookAction};
use http::{Request, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a hook runs against.
#[derive(Clone, Copy)]
pub struct HookContext<'a> {
    pub shared: &'a Shared,
    pub function: &'a Function,
    pub instance: &'a Instance,
}

const INITIALIZE: HookCall = HookCall::Http {
    name: "the Initializer",
    method: "POST",
    path: "/initialize",
};
const PRE_STOP: HookCall = HookCall::Http {
    name: "PreStop",
    method: "GET",
    path: "/pre-stop",
};
const PRE_FREEZE: HookCall = HookCall::Http {
    name: "PreFreeze",
    method: "GET",
    path: "/pre-freeze",
};

/// Sends a hook request (no body) to the instance with the common headers; the answer's status and body.
async fn call_http(
    cx: HookContext<'_>,
    call: &HookCall,
    request_id: &str,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), HookError> {
    let HookCall::Http { method, path, .. } = call else {
        unreachable!("an HTTP hook")
    };
    let unreachable = |source: BoxError| HookError::Unreachable {
        call: call.clone(),
        source,
    };
    let addr = cx
        .instance
        .addr()
        .ok_or_else(|| unreachable("the instance has no address".into()))?;
    let mut req = Request::builder()
        .method(*method)
        .uri(*path)
        .body(client::empty_body())
        .expect("a valid hook request");
    cx.function.headers.set(req.headers_mut(), request_id, path);
    let answer = cx
        .instance
        .connections
        .call(cx.shared.runtime.as_ref(), addr, req);
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(e)) => Err(unreachable(e)),
        Err(_) => Err(HookError::Timeout {
            call: call.clone(),
            timeout,
        }),
    }
}

/// A 2xx answer, or the failure that carries the status and the start of the body.
fn expect_success(call: &HookCall, (status, body): (StatusCode, Bytes)) -> Result<i64, HookError> {
    if status.is_success() {
        return Ok(status.as_u16().into());
    }
    Err(HookError::Status {
        call: call.clone(),
        status: status.as_u16(),
        body: snippet(&body),
    })
}

/// The start of a hook's answer; FC's error body (`{"errorMessage","errorType",...}`, what built-in runtimes
/// answer when the hook raised) as `ErrorType: message`.
fn snippet(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct FunctionError {
        error_message: String,
        error_type: String,
    }
    if let Ok(e) = serde_json::from_slice::<FunctionError>(body) {
        let cut: String = e.error_message.chars().take(300).collect();
        return format!(": {}: {cut}", e.error_type);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return String::new();
    }
    let cut: String = text.chars().take(300).collect();
    format!(": {cut}")
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs an execute-instruction hook in the container; its exit code.
async fn run_command(
    cx: HookContext<'_>,
    command: &[String],
    request_id: &Arc<str>,
    timeout: Duration,
) -> Result<i64, HookError> {
    let call = HookCall::Command(command.to_vec());
    let Some(container_id) = cx.instance.container_id() else {
        return Err(HookError::Unreachable {
            call,
            source: "the instance has no container".into(),
        });
    };
    let exec = cx.shared.runtime.exec(&container_id, command);
    let outcome = tokio::time::timeout(timeout, exec).await;
    if let Ok(Ok(out)) = &outcome {
        // What the command printed is the hook's log, as a handler's output is.
        let now = std::time::SystemTime::now();
        for (stream, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
            for line in text.lines() {
                cx.shared.logs.push(crate::LogRecord {
                    ts: now,
                    function_name: cx.function.name.clone(),
                    instance_id: cx.instance.id.clone(),
                    request_id: Some(request_id.clone()),
                    stream,
                    line: line.to_string(),
                    hook: Some(HookKind::Initialize),
                });
            }
        }
    }
    match outcome {
        Ok(Ok(out)) if out.exit_code == 0 => Ok(0),
        Ok(Ok(out)) => {
            let stderr = tail(&out.stderr, 10);
            Err(HookError::Exit {
                call,
                code: out.exit_code,
                stderr: if stderr.is_empty() {
                    stderr
                } else {
                    format!(": {stderr}")
                },
            })
        }
        Ok(Err(source)) => Err(HookError::Exec { call, source }),
        Err(_) => Err(HookError::Timeout { call, timeout }),
    }
}

/// One run of a hook: its request id, `.start`/`.end` events, log lines and billing.
struct HookRecord<'a> {
    cx: HookContext<'a>,
    kind: HookKind,
    request_id: Arc<str>,
    started: Instant,
    /// The runtime prints the Start and End lines (built-in runtimes do).
    own_lines: bool,
}

impl<'a> HookRecord<'a> {
    /// `FC Initialize Start RequestId: ...`, the `.start` event, and the window that attributes log lines.
    fn begin(cx: HookContext<'a>, kind: HookKind, hook: &Hook) -> Self {
        let request_id = ids::request_id();
        let (start, _, word) = names(kind);
        let HookContext {
            shared,
            function,
            instance,
        } = cx;
        shared.events.emit(
            Event::new(start, &function.name, Some(&instance.id))
                .request(&request_id)
                .with("handler", action_label(&hook.action)),
        );
        // A built-in runtime prints FC's Start and End lines of the hooks it runs itself.
        let own_lines = function.spec.runtime.prints_lifecycle_lines() && hook.handler().is_some();
        if !own_lines {
            shared.system_line(
                &function.name,
                instance,
                Some(&request_id),
                Some(kind),
                format!("FC {word} Start RequestId: {request_id}"),
            );
        }
        instance.begin_activity(&request_id, kind);
        HookRecord {
            cx,
            kind,
            request_id,
            started: Instant::now(),
            own_lines,
        }
    }

    /// Closes the run with its outcome; how long it took.
    fn end(&self, outcome: &Result<i64, HookError>, anyway: &str) -> Duration {
        let HookContext {
            shared,
            function,
            instance,
        } = self.cx;
        let elapsed = self.started.elapsed();
        if let Some(active) = instance.end_activity(&self.request_id) {
            function.billing.active(active);
        }
        function.billing.hook_execution();
        let (_, end, word) = names(self.kind);
        let mut e = Event::new(end, &function.name, Some(&instance.id))
            .request(&self.request_id)
            .duration(ms(elapsed));
        let line = |text: String| {
            shared.system_line(
                &function.name,
                instance,
                Some(&self.request_id),
                Some(self.kind),
                text,
            )
        };
        match outcome {
            Ok(status) => e = e.status(*status),
            Err(error) => {
                let message = format!("{}{anyway}", fcemu_runtime::error_chain(error));
                if let Some(status) = error.status() {
                    e = e.status(status);
                }
                line(format!(
                    "FC {word} Failed RequestId: {}: {message}",
                    self.request_id
                ));
                e = e.error(message);
            }
        }
        shared.events.emit(e);
        if !self.own_lines {
            line(format!(
                "FC {word} End RequestId: {} Duration: {:.2} ms",
                self.request_id,
                ms(elapsed)
            ));
        }
        elapsed
    }
}

/// The `.start` and `.end` events of a hook kind, and its word in log lines.
fn names(kind: HookKind) -> (EventKind, EventKind, &'static str) {
    match kind {
        HookKind::Initialize => (
            EventKind::InitializerStart,
            EventKind::InitializerEnd,
            "Initialize",
        ),
        HookKind::PreStop => (EventKind::PrestopStart, EventKind::PrestopEnd, "PreStop"),
        HookKind::Invoke => (EventKind::InvokeStart, EventKind::InvokeEnd, "Invoke"),
        HookKind::PreFreeze => (
            EventKind::PrefreezeStart,
            EventKind::PrefreezeEnd,
            "PreFreeze",
        ),
    }
}

/// How a hook is named in its `.start` event: the handler, or the command.
fn action_label(action: &HookAction) -> String {
    match action {
        HookAction::Handler(h) => h.clone(),
        HookAction::Command(c) => c.join(" "),
    }
}

/// Runs the Initializer once; `Ok` carries how long it took (zero when none is configured).
pub async fn run_initializer(cx: HookContext<'_>) -> Result<Duration, HookError> {
    let Some(hook) = &cx.function.spec.initializer else {
        return Ok(Duration::ZERO);
    };
    let run = HookRecord::begin(cx, HookKind::Initialize, hook);
    let outcome = match &hook.action {
        HookAction::Handler(_) => call_http(cx, &INITIALIZE, &run.request_id, hook.timeout)
            .await
            .and_then(|answer| expect_success(&INITIALIZE, answer)),
        HookAction::Command(command) => {
            run_command(cx, command, &run.request_id, hook.timeout).await
        }
    };
    let took = run.end(&outcome, "");
    outcome.map(|_| took)
}

/// Runs PreStop. It never blocks a destroy: any failure is logged and the destroy goes on.
pub async fn run_pre_stop(cx: HookContext<'_>) {
    if let Some(hook) = &cx.function.spec.pre_stop {
        run_notice_hook(
            cx,
            hook,
            HookKind::PreStop,
            &PRE_STOP,
            "; the instance is destroyed anyway",
        )
        .await;
    }
}

/// Runs PreFreeze (FC 2.0) before a freeze; like PreStop, a failure is logged and the freeze goes on.
pub async fn run_pre_freeze(cx: HookContext<'_>) {
    if let Some(hook) = &cx.function.spec.pre_freeze {
        run_notice_hook(
            cx,
            hook,
            HookKind::PreFreeze,
            &PRE_FREEZE,
            "; the instance is frozen anyway",
        )
        .await;
    }
}

/// A hook that tells the function what is about to happen: its answer only gets logged.
async fn run_notice_hook(
    cx: HookContext<'_>,
    hook: &Hook,
    kind: HookKind,
    call: &HookCall,
    anyway: &str,
) {
    let run = HookRecord::begin(cx, kind, hook);
    let outcome = call_http(cx, call, &run.request_id, hook.timeout)
        .await
        .and_then(|answer| expect_success(call, answer));
    run.end(&outcome, anyway);
}

#[cfg(test)]
mod tests {
    use super::snippet;

    #[test]
    fn a_hooks_answer_is_quoted_and_fcs_error_body_summed_up() {
        assert_eq!(snippet(b"  model missing\n"), ": model missing");
        assert_eq!(snippet(b""), "");
        let fc_error = br#"{"errorMessage": "invalid syntax (index.py, line 68)", "errorType": "SyntaxError", "stackTrace": ["..."]}"#;
        assert_eq!(
            snippet(fc_error),
            ": SyntaxError: invalid syntax (index.py, line 68)"
        );
        assert_eq!(snippet(&[b'x'; 500]).len(), 2 + 300, "a long answer is cut");
    }
}
