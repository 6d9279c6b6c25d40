//! Helpers for tests that drive a control plane (enabled by the `testing` feature, in dev-dependencies only).

use crate::{ControlPlane, InvocationKind, full_body};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;

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
