//! The lifecycle hooks: the Initializer (`POST /initialize`, or a command run in the container) and PreStop
//! (`GET /pre-stop`), each bounded by its timeout, each with its events and log lines.

use crate::instance::{Instance, ms};
use crate::logs::HookKind;
use crate::pool::Function;
use crate::{Event, Shared, client, ids};
use bytes::Bytes;
use fcemu_spec::{Hook, HookAction};
use http::{Method, Request, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How an Initializer failed, by FC's rules.
#[derive(Debug)]
pub enum InitFailure {
    /// 400 or 404: the instance is kept and the Initializer tried again on the next request to it.
    Keep(String),
    /// 5xx, timeout, connection error, or a command that exited non-zero: the instance is destroyed.
    Destroy(String),
}

impl InitFailure {
    pub fn message(&self) -> &str {
        match self {
            InitFailure::Keep(m) | InitFailure::Destroy(m) => m,
        }
    }
}

enum HookCallError {
    Timeout,
    Connect(String),
}

/// Sends a hook request (no body) to the instance with the common headers.
async fn call_http_hook(
    shared: &Shared,
    function: &Function,
    instance: &Instance,
    method: Method,
    path: &'static str,
    request_id: &str,
    timeout: Duration,
) -> Result<(StatusCode, Bytes), HookCallError> {
    let addr = instance
        .addr()
        .ok_or_else(|| HookCallError::Connect("the instance has no address".into()))?;
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .body(client::empty_body())
        .expect("a valid hook request");
    function.set_fc_headers(req.headers_mut(), request_id, path);
    let call = async {
        instance
            .connections
            .call(shared.runtime.as_ref(), addr, req)
            .await
            .map_err(|e| HookCallError::Connect(error_chain(&*e)))
    };
    tokio::time::timeout(timeout, call)
        .await
        .unwrap_or(Err(HookCallError::Timeout))
}

/// An error with its causes, which is where hyper keeps the useful part.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn snippet(body: &[u8]) -> String {
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

struct HookRun<'a> {
    shared: &'a Shared,
    function: &'a Function,
    instance: &'a Instance,
    kind: HookKind,
    request_id: Arc<str>,
    started: Instant,
}

impl<'a> HookRun<'a> {
    /// `FC Initialize Start RequestId: ...`, the `.start` event, and the window that attributes log lines.
    fn begin(
        shared: &'a Shared,
        function: &'a Function,
        instance: &'a Instance,
        kind: HookKind,
        hook: &Hook,
    ) -> Self {
        let request_id = ids::request_id();
        let (event, word) = names(kind);
        shared.events.emit(
            Event::new(event.0, &function.name, Some(&instance.id))
                .request(&request_id)
                .with("handler", Function::hook_action_label(&hook.action)),
        );
        function.system_line(
            shared,
            instance,
            Some(&request_id),
            Some(kind),
            format!("FC {word} Start RequestId: {request_id}"),
        );
        instance.begin_activity(&request_id, kind);
        HookRun {
            shared,
            function,
            instance,
            kind,
            request_id,
            started: Instant::now(),
        }
    }

    fn end(&self, status: Option<i64>, error: Option<&str>) -> Duration {
        let elapsed = self.started.elapsed();
        if let Some(active) = self.instance.end_activity(&self.request_id) {
            self.function.billing.active(active);
        }
        self.function.billing.hook_execution();
        let (event, word) = names(self.kind);
        let mut e = Event::new(event.1, &self.function.name, Some(&self.instance.id))
            .request(&self.request_id)
            .duration(ms(elapsed));
        if let Some(s) = status {
            e = e.status(s);
        }
        if let Some(err) = error {
            e = e.error(err);
            self.function.system_line(
                self.shared,
                self.instance,
                Some(&self.request_id),
                Some(self.kind),
                format!("FC {word} Failed RequestId: {}: {err}", self.request_id),
            );
        }
        self.shared.events.emit(e);
        self.function.system_line(
            self.shared,
            self.instance,
            Some(&self.request_id),
            Some(self.kind),
            format!(
                "FC {word} End RequestId: {} Duration: {:.2} ms",
                self.request_id,
                ms(elapsed)
            ),
        );
        elapsed
    }
}

fn names(kind: HookKind) -> ((&'static str, &'static str), &'static str) {
    match kind {
        HookKind::Initialize => (("initializer.start", "initializer.end"), "Initialize"),
        HookKind::PreStop => (("prestop.start", "prestop.end"), "PreStop"),
        HookKind::Invoke => (("invoke.start", "invoke.end"), "Invoke"),
        HookKind::PreFreeze => (("prefreeze.start", "prefreeze.end"), "PreFreeze"),
    }
}

/// Runs the Initializer once; `Ok` carries how long it took (zero when none is configured).
pub async fn run_initializer(
    shared: &Shared,
    function: &Function,
    instance: &Instance,
) -> Result<Duration, InitFailure> {
    let Some(hook) = &function.spec.initializer else {
        return Ok(Duration::ZERO);
    };
    let run = HookRun::begin(shared, function, instance, HookKind::Initialize, hook);
    let secs = hook.timeout.as_secs();
    let outcome: Result<i64, (Option<i64>, InitFailure)> = match &hook.action {
        HookAction::Handler(_) => {
            match call_http_hook(
                shared,
                function,
                instance,
                Method::POST,
                "/initialize",
                &run.request_id,
                hook.timeout,
            )
            .await
            {
                Ok((status, _)) if status.is_success() => Ok(status.as_u16().into()),
                Ok((status, body)) => {
                    let message = format!(
                        "the Initializer (POST /initialize) answered HTTP {}{}",
                        status.as_u16(),
                        snippet(&body)
                    );
                    let failure = if matches!(status.as_u16(), 400 | 404) {
                        InitFailure::Keep(message)
                    } else {
                        InitFailure::Destroy(message)
                    };
                    Err((Some(status.as_u16().into()), failure))
                }
                Err(HookCallError::Timeout) => Err((
                    None,
                    InitFailure::Destroy(format!(
                        "the Initializer (POST /initialize) did not finish within its timeout of {secs} s"
                    )),
                )),
                Err(HookCallError::Connect(e)) => Err((
                    None,
                    InitFailure::Destroy(format!(
                        "the Initializer (POST /initialize) could not be reached: {e}"
                    )),
                )),
            }
        }
        HookAction::Command(command) => {
            match tokio::time::timeout(hook.timeout, function.exec(shared, instance, command)).await
            {
                Ok(Ok(out)) if out.exit_code == 0 => Ok(0),
                Ok(Ok(out)) => {
                    let stderr = tail(&out.stderr, 10);
                    let stderr = if stderr.is_empty() {
                        String::new()
                    } else {
                        format!(": {stderr}")
                    };
                    Err((
                        Some(out.exit_code),
                        InitFailure::Destroy(format!(
                            "the Initializer command {command:?} exited with code {}{stderr}",
                            out.exit_code
                        )),
                    ))
                }
                Ok(Err(e)) => Err((
                    None,
                    InitFailure::Destroy(format!(
                        "the Initializer command {command:?} could not run: {e}"
                    )),
                )),
                Err(_) => Err((
                    None,
                    InitFailure::Destroy(format!(
                        "the Initializer command {command:?} did not finish within its timeout of {secs} s"
                    )),
                )),
            }
        }
    };
    match outcome {
        Ok(status) => Ok(run.end(Some(status), None)),
        Err((status, failure)) => {
            run.end(status, Some(failure.message()));
            Err(failure)
        }
    }
}

/// Runs PreStop. It never blocks a destroy: any failure is logged and the destroy goes on.
pub async fn run_pre_stop(shared: &Shared, function: &Function, instance: &Instance) {
    if let Some(hook) = &function.spec.pre_stop {
        run_notice_hook(
            shared,
            function,
            instance,
            hook,
            HookKind::PreStop,
            "/pre-stop",
            "the instance is destroyed anyway",
        )
        .await;
    }
}

/// Runs PreFreeze (FC 2.0) before a freeze; like PreStop, a failure is logged and the freeze goes on.
pub async fn run_pre_freeze(shared: &Shared, function: &Function, instance: &Instance) {
    if let Some(hook) = &function.spec.pre_freeze {
        run_notice_hook(
            shared,
            function,
            instance,
            hook,
            HookKind::PreFreeze,
            "/pre-freeze",
            "the instance is frozen anyway",
        )
        .await;
    }
}

/// A hook that tells the function what is about to happen (`GET path`): its answer only gets logged.
async fn run_notice_hook(
    shared: &Shared,
    function: &Function,
    instance: &Instance,
    hook: &Hook,
    kind: HookKind,
    path: &'static str,
    anyway: &str,
) {
    let run = HookRun::begin(shared, function, instance, kind, hook);
    let word = names(kind).1;
    match call_http_hook(
        shared,
        function,
        instance,
        Method::GET,
        path,
        &run.request_id,
        hook.timeout,
    )
    .await
    {
        Ok((status, _)) if status.is_success() => {
            run.end(Some(status.as_u16().into()), None);
        }
        Ok((status, body)) => {
            let message = format!(
                "{word} (GET {path}) answered HTTP {}{}; {anyway}",
                status.as_u16(),
                snippet(&body)
            );
            run.end(Some(status.as_u16().into()), Some(&message));
        }
        Err(HookCallError::Timeout) => {
            let secs = hook.timeout.as_secs();
            run.end(
                None,
                Some(&format!(
                    "{word} (GET {path}) did not finish within its timeout of {secs} s; {anyway}"
                )),
            );
        }
        Err(HookCallError::Connect(e)) => {
            run.end(
                None,
                Some(&format!(
                    "{word} (GET {path}) could not be reached: {e}; {anyway}"
                )),
            );
        }
    }
}
