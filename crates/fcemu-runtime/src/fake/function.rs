//! The function in a fake container: it answers FC's hook paths and the fixture's routes, as
//! fixtures/function does, reading the same `FIXTURE_*` variables.

use super::{FakeRuntime, FunctionCounters, env_ms, env_of};
use crate::*;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio::sync::{mpsc, watch};

/// The function running in a fake container.
pub(super) struct FakeFunction {
    pub(super) spec: ContainerSpec,
    pub(super) log: mpsc::UnboundedSender<LogLine>,
    pub(super) paused: watch::Receiver<bool>,
    pub(super) gone: watch::Receiver<bool>,
    pub(super) counters: Arc<FunctionCounters>,
    pub(super) runtime: FakeRuntime,
    pub(super) id: String,
    pub(super) started: tokio::time::Instant,
}

impl FakeFunction {
    pub(super) fn say(&self, stream: OutputStream, line: &str) {
        let _ = self.log.send(LogLine {
            ts: SystemTime::now(),
            stream,
            line: line.to_string(),
        });
    }

    /// The container (its init) exits 100 ms from now, and not while it is paused: a frozen container never
    /// finishes exiting.
    fn exit_soon(&self, exit_code: i64, oom_killed: bool) {
        let (runtime, id, mut paused) =
            (self.runtime.clone(), self.id.clone(), self.paused.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let _ = paused.wait_for(|p| !*p).await;
            runtime.kill(&id, exit_code, oom_killed);
        });
    }

    /// The response, or None when the process dies mid-request (the connection is dropped unanswered).
    pub(super) async fn handle(
        &self,
        req: Request<hyper::body::Incoming>,
    ) -> Option<Response<Full<Bytes>>> {
        // A frozen container does nothing until it is thawed.
        let mut paused = self.paused.clone();
        let _ = paused.wait_for(|p| !*p).await;
        let path = req.uri().path().to_string();
        let rid = req
            .headers()
            .get("x-fc-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let env_status = |name: &str| {
            env_of(&self.spec, name)
                .and_then(|v| v.parse::<u16>().ok())
                .unwrap_or(200)
        };
        let status = match (req.method().as_str(), path.as_str()) {
            ("POST", "/initialize") => {
                let n = self.counters.initialize.fetch_add(1, Ordering::SeqCst) + 1;
                self.say(
                    OutputStream::Stdout,
                    &format!("initializer called ({n}) request {rid}"),
                );
                tokio::time::sleep(env_ms(&self.spec, "FIXTURE_INIT_DELAY_MS")).await;
                let fail_times = env_of(&self.spec, "FIXTURE_INIT_FAIL_TIMES")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(u64::MAX);
                if n > fail_times {
                    200
                } else {
                    env_status("FIXTURE_INIT_STATUS")
                }
            }
            ("GET", "/pre-stop") => {
                let n = self.counters.pre_stop.fetch_add(1, Ordering::SeqCst) + 1;
                self.say(
                    OutputStream::Stdout,
                    &format!("pre-stop called ({n}) request {rid}"),
                );
                tokio::time::sleep(env_ms(&self.spec, "FIXTURE_PRESTOP_DELAY_MS")).await;
                env_status("FIXTURE_PRESTOP_STATUS")
            }
            ("GET", "/pre-freeze") => {
                let n = self.counters.pre_freeze.fetch_add(1, Ordering::SeqCst) + 1;
                self.say(
                    OutputStream::Stdout,
                    &format!("pre-freeze called ({n}) request {rid}"),
                );
                200
            }
            (_, "/healthz") => {
                let healthy_after = env_ms(&self.spec, "FIXTURE_HEALTHY_AFTER_MS");
                if self.started.elapsed() >= healthy_after {
                    200
                } else {
                    503
                }
            }
            (_, "/crash") => {
                self.say(OutputStream::Stderr, &format!("crashing request {rid}"));
                self.runtime.kill(&self.id, 1, false);
                return None;
            }
            (_, "/crash-slowly") => {
                // The function's process dies now; the container exits soon. With `?port=open` the
                // port still accepts meanwhile, as when the OOM killer's victim is still being torn down.
                self.say(
                    OutputStream::Stderr,
                    &format!("crashing slowly request {rid}"),
                );
                if req.uri().query() != Some("port=open") {
                    self.runtime.process_gone(&self.id);
                }
                self.exit_soon(137, true);
                return None;
            }
            (_, "/exit-after-answer") => {
                // As fcemu's built-in runtimes end on exit(): the port closes, the answer says
                // `Connection: close`, and the container exits 100 ms later (never while paused).
                self.say(
                    OutputStream::Stdout,
                    &format!("exiting after the answer request {rid}"),
                );
                self.runtime.stop_listening(&self.id);
                self.exit_soon(3, false);
                return Some(
                    Response::builder()
                        .header("connection", "close")
                        .body(Full::new(Bytes::new()))
                        .unwrap(),
                );
            }
            (_, "/body") => {
                // Answers the request body as it came (a body that breaks off ends the connection).
                use http_body_util::BodyExt;
                let body = req.into_body().collect().await.ok()?.to_bytes();
                return Some(Response::new(Full::new(body)));
            }
            ("POST", "/mcp") if !req.headers().contains_key("mcp-session-id") => {
                // An MCP Streamable HTTP server's `initialize`: it opens a session and names it in its
                // answer (as fixtures/mcp-example does).
                let n = self.counters.requests.fetch_add(1, Ordering::SeqCst);
                let session = format!("mcp{n}{}", self.id.replace('-', ""));
                return Some(
                    Response::builder()
                        .header("mcp-session-id", session)
                        .body(Full::new(Bytes::from_static(b"{}")))
                        .unwrap(),
                );
            }
            (_, "/sleep") => {
                let ms = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("ms="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                200
            }
            _ => {
                let served = self.counters.requests.fetch_add(1, Ordering::SeqCst);
                self.say(
                    OutputStream::Stdout,
                    &format!("invoke {} {path} request {rid}", req.method()),
                );
                // A handler that takes a while (tests of how work queues for capped instances).
                if let Some(ms) =
                    env_of(&self.spec, "FIXTURE_INVOKE_DELAY_MS").and_then(|v| v.parse().ok())
                {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                // A handler that fails its first requests (tests of asynchronous retries).
                let fail_times = env_of(&self.spec, "FIXTURE_INVOKE_FAIL_TIMES")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0u64);
                if served < fail_times { 500 } else { 200 }
            }
        };
        let headers: serde_json::Map<String, serde_json::Value> = req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into(),
                )
            })
            .collect();
        let body =
            serde_json::json!({ "path": path, "query": req.uri().query(), "headers": headers });
        Some(
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
    }
}
