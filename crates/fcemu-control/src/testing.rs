//! Helpers for tests that drive a control plane (enabled by the `testing` feature, in dev-dependencies only).

use crate::{ControlPlane, Event, InvocationKind, full_body};
use bytes::Bytes;
use http::StatusCode;
use http::{Request, Response};
use http_body_util::BodyExt;
use std::sync::Arc;

/// Sends one HTTP trigger request and collects the whole response. The client tries to set `x-fc-region`
/// and `x-fc-function-name` (FC removes them) and a custom header (kept).
pub async fn call(
    cp: &ControlPlane,
    function: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Response<Bytes> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("x-fc-region", "spoofed-by-client")
        .header("x-fc-function-name", "spoofed-by-client")
        .header("x-custom", "kept")
        .body(full_body(body.to_string()))
        .expect("a valid request");
    let resp = cp.invoke(function, req, InvocationKind::HttpTrigger).await;
    let (parts, body) = resp.into_parts();
    Response::from_parts(
        parts,
        body.collect().await.expect("a complete body").to_bytes(),
    )
}

/// A response header, or "" when it is absent.
pub fn header<'a>(r: &'a Response<Bytes>, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

pub fn json(r: &Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(r.body())
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(r.body())))
}

/// Asserts FC's InitializationError response (HTTP 200 on purpose, `X-Fc-Error-Type`, the JSON body) and that
/// its message holds `needle`; returns the message.
pub fn assert_initialization_error(r: &Response<Bytes>, needle: &str) -> String {
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "FC answers InitializationError with 200"
    );
    assert_eq!(header(r, "x-fc-error-type"), "InitializationError");
    let body = json(r);
    assert_eq!(body["errorType"], "InitializationError");
    let message = body["errorMessage"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains(needle), "{needle:?} is not in {message:?}");
    message
}

/// The names of the run's events, in order.
pub fn event_names(cp: &ControlPlane) -> Vec<&'static str> {
    cp.events()
        .snapshot()
        .iter()
        .map(|e| e.event.as_str())
        .collect()
}

/// The first event of that name, if any.
pub fn first_event(cp: &ControlPlane, name: &str) -> Option<Arc<Event>> {
    cp.events().snapshot().into_iter().find(|e| e.event == name)
}

/// Asserts FC's UnhandledInvocationError response and that its message starts with `prefix`.
pub fn assert_unhandled(r: &Response<Bytes>, prefix: &str) {
    assert_eq!(
        header(r, "x-fc-error-type"),
        "UnhandledInvocationError",
        "{:?}",
        r.body()
    );
    let body = json(r);
    assert_eq!(body["errorType"], "UnhandledInvocationError");
    let message = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(prefix),
        "{message:?} does not start with {prefix:?}"
    );
}

/// Shuts the control plane down (PreStop on every instance) and checks the run's bookkeeping: the state
/// machine refused no transition (each refusal is a bug), and every instance that began Creating has
/// exactly one `instance.destroyed`.
pub async fn shut_down(cp: &ControlPlane, drain: std::time::Duration) {
    cp.shutdown(drain).await;
    assert_eq!(
        cp.illegal_transitions(),
        0,
        "the state machine refused a transition (see the error logged)"
    );
    let events = cp.events().snapshot();
    let ids = |kind: crate::EventKind| -> Vec<Arc<str>> {
        let mut ids: Vec<Arc<str>> = events
            .iter()
            .filter(|e| e.event == kind)
            .filter_map(|e| e.instance_id.clone())
            .collect();
        ids.sort();
        ids
    };
    let created = ids(crate::EventKind::InstanceCreating);
    let destroyed = ids(crate::EventKind::InstanceDestroyed);
    assert_eq!(
        created, destroyed,
        "each instance that began Creating is destroyed exactly once"
    );
}
