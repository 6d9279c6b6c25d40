//! Invoke: a request placed on an instance, passed through with FC's headers, its response streamed back,
//! and one report line when the response body has been sent.

use crate::client::{Body, BoxError, full_body};
use crate::hooks::error_chain;
use crate::instance::{InitDuration, ms};
use crate::logs::HookKind;
use crate::pool::{Function, Lease, PlaceError};
use crate::{ControlPlane, Event, Shared, headers, ids};
use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Instant;

/// fcemu's request header (`true`) that makes a request skip warm instances: a cold start on demand.
pub const COLD_START_HEADER: &str = "x-fcemu-cold-start";

/// How the request reached fcemu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationKind {
    /// HTTP trigger traffic: method, path, query, headers and body passed through.
    HttpTrigger,
    /// InvokeFunction: the payload is sent as `POST /invoke`.
    Event,
}

impl InvocationKind {
    fn control_path(self) -> &'static str {
        match self {
            InvocationKind::HttpTrigger => "/http-invoke",
            InvocationKind::Event => "/invoke",
        }
    }
}

/// Hop-by-hop headers belong to one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == "keep-alive" || name == "proxy-connection"
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    strip_headers(headers, |_| false);
}

/// Removes the hop-by-hop headers, those the `Connection` header names, and those `also` picks. One pass
/// over the names finds them: most messages carry few or none, and then nothing is allocated or rehashed.
fn strip_headers(headers: &mut HeaderMap, also: impl Fn(&HeaderName) -> bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_hop_by_hop(k) || named.contains(k) || also(k))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

/// FC's shape for errors of the service itself: status, `{"Code","Message","RequestId"}`.
pub fn fc_error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    let body = serde_json::json!({ "Code": code, "Message": message, "RequestId": request_id });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(headers::REQUEST_ID, request_id)
        .body(full_body(body.to_string()))
        .expect("a valid error response")
}

/// FC's shape for errors of the function: `X-Fc-Error-Type` and `{"errorMessage","errorType"}`.
pub fn function_error_response(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(headers::REQUEST_ID, request_id)
        .header(headers::ERROR_TYPE, error_type)
        .body(full_body(body.to_string()))
        .expect("a valid error response")
}

impl ControlPlane {
    /// Serves one request on the named function.
    pub async fn invoke(
        &self,
        function: &str,
        req: Request<Body>,
        kind: InvocationKind,
    ) -> Response<Body> {
        self.invoke_as(function, req, kind, ids::request_id()).await
    }

    /// An asynchronous invocation (InvokeFunction with `x-fc-invocation-type: Async`): it runs in the
    /// background, like any other request of the function, and its id is returned at once. Its result is
    /// read to the end and dropped; its events and log lines are kept as for any request.
    pub fn invoke_async(&self, function: &str, req: Request<Body>) -> Arc<str> {
        let request_id = ids::request_id();
        let (cp, function, id) = (self.clone(), function.to_string(), request_id.clone());
        self.shared.tasks.spawn(async move {
            let response = cp
                .invoke_as(&function, req, InvocationKind::Event, id.clone())
                .await;
            let status = response.status();
            let error = response.headers().get(headers::ERROR_TYPE).cloned();
            // The request is accounted for when its response body ends.
            let _ = http_body_util::BodyExt::collect(response.into_body()).await;
            if !status.is_success() || error.is_some() {
                tracing::warn!(
                    "asynchronous invocation {id} of {function} failed: {status} {:?}",
                    error.unwrap_or_else(|| HeaderValue::from_static(""))
                );
            }
        });
        request_id
    }

    /// The end of a finished request's log: its lines (fcemu's and the function's), oldest first, cut to
    /// the last `max_bytes` (FC's `x-fc-log-type: Tail`). The function's lines come through the engine's log
    /// stream a little after they were written, so this waits for the request's report line (at most a
    /// second) and a short while more.
    pub async fn log_tail(&self, request_id: &str, max_bytes: usize) -> String {
        const STRAGGLERS: Duration = Duration::from_millis(30);
        let query = crate::LogQuery {
            request_id: Some(request_id.to_string()),
            ..Default::default()
        };
        let deadline = Instant::now() + Duration::from_secs(1);
        let reported = |lines: &[Arc<crate::LogRecord>]| {
            lines
                .iter()
                .any(|r| r.stream == "system" && r.line.starts_with("RequestId: "))
        };
        while !reported(&self.shared.logs.query(&query)) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(STRAGGLERS).await;
        let mut text = String::new();
        for record in self.shared.logs.query(&query) {
            text.push_str(&record.line);
            text.push('\n');
        }
        let mut cut = text.len().saturating_sub(max_bytes);
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text.split_off(cut)
    }

    /// [`ControlPlane::invoke`] under a request id chosen by the caller.
    pub async fn invoke_as(
        &self,
        function: &str,
        mut req: Request<Body>,
        kind: InvocationKind,
        request_id: Arc<str>,
    ) -> Response<Body> {
        let Some(f) = self.function_pool(function) else {
            return fc_error_response(
                StatusCode::NOT_FOUND,
                "FunctionNotFound",
                &format!("function {function} does not exist in this project"),
                &request_id,
            );
        };
        let cold = req
            .headers_mut()
            .remove(COLD_START_HEADER)
            .is_some_and(|v| v == "true");
        let lease = match f.acquire(cold).await {
            Ok(lease) => lease,
            Err(e) => return place_error_response(e, &f.spec.name, &request_id, kind),
        };
        forward(self.shared.clone(), f.clone(), lease, req, kind, request_id).await
    }
}

fn place_error_response(
    e: PlaceError,
    function: &str,
    request_id: &str,
    kind: InvocationKind,
) -> Response<Body> {
    match e {
        // FC answers an Initializer failure with HTTP 200 on purpose; the header says what happened.
        PlaceError::Initialization(message) => {
            function_error_response(StatusCode::OK, "InitializationError", &message, request_id)
        }
        PlaceError::NotStarted(message) => {
            let status = match kind {
                InvocationKind::HttpTrigger => StatusCode::BAD_GATEWAY,
                InvocationKind::Event => StatusCode::OK,
            };
            function_error_response(status, "FunctionNotStarted", &message, request_id)
        }
        PlaceError::Exhausted { limit } => fc_error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "ResourceExhausted",
            &format!(
                "function {function} has no free instance: all {limit} are busy and the wait queue is full; retry later, or raise --max-instances / instanceConcurrency"
            ),
            request_id,
        ),
        PlaceError::ShuttingDown => fc_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "fcemu is shutting down",
            request_id,
        ),
    }
}

async fn forward(
    shared: Arc<Shared>,
    function: Arc<Function>,
    lease: Lease,
    req: Request<Body>,
    kind: InvocationKind,
    request_id: Arc<str>,
) -> Response<Body> {
    let instance = lease.instance.clone();
    let Some(addr) = instance.addr() else {
        return function_error_response(
            StatusCode::BAD_GATEWAY,
            "FunctionNotStarted",
            "the instance has no address",
            &request_id,
        );
    };
    let (mut parts, body) = req.into_parts();

    // FC forbids clients to send x-fc-* headers: they are removed, then FC's own are set.
    strip_headers(&mut parts.headers, |name| {
        name.as_str().starts_with("x-fc-")
    });
    function.set_fc_headers(&mut parts.headers, &request_id, kind.control_path());
    let path_and_query = match kind {
        InvocationKind::HttpTrigger => parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
            .to_string(),
        InvocationKind::Event => {
            parts.method = http::Method::POST;
            parts.headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            );
            "/invoke".to_string()
        }
    };
    // Origin form on the instance's own connection; the client's Host is kept (FC passes it through).
    if !parts.headers.contains_key(header::HOST) {
        parts.headers.insert(
            header::HOST,
            HeaderValue::from_str(&addr.to_string()).expect("an address is a valid Host"),
        );
    }
    parts.uri = match path_and_query.parse() {
        Ok(uri) => uri,
        Err(e) => {
            return fc_error_response(
                StatusCode::BAD_REQUEST,
                "InvalidArgument",
                &format!("bad request path: {e}"),
                &request_id,
            );
        }
    };
    parts.version = http::Version::HTTP_11;

    let cold = instance
        .take_cold_start()
        .then(|| instance.init_duration())
        .flatten();
    let mut record = InvokeRecord::begin(
        shared.clone(),
        function.clone(),
        lease,
        request_id.clone(),
        cold,
    );
    let timeout = function.spec.timeout;
    let exchange = async {
        let mut connection = instance
            .connections
            .checkout(shared.runtime.as_ref(), addr)
            .await?;
        let response = connection
            .send_request(Request::from_parts(parts, body))
            .await?;
        Ok::<_, BoxError>((response, connection))
    };
    let outcome = match tokio::time::timeout(timeout, exchange).await {
        Ok(Ok(exchanged)) => Ok(exchanged),
        Ok(Err(e)) => {
            record.lost_connection();
            Err(format!(
                "Process exited unexpectedly before completing request ({})",
                error_chain(&*e)
            ))
        }
        // The instance is still healthy: it stays, and is not suspected.
        Err(_) => Err(format!(
            "Function timed out after {} seconds",
            timeout.as_secs()
        )),
    };
    let (response, connection) = match outcome {
        Ok(exchanged) => exchanged,
        Err(message) => {
            record.finish(502, Some(&message));
            return function_error_response(
                unhandled_status(kind),
                "UnhandledInvocationError",
                &message,
                &request_id,
            );
        }
    };

    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.reserve(4);
    parts.headers.insert(
        headers::REQUEST_ID,
        HeaderValue::from_str(&request_id).expect("ids are ASCII"),
    );
    parts.headers.insert(
        headers::INSTANCE_ID,
        HeaderValue::from_str(&instance.id).expect("ids are ASCII"),
    );
    if let Some(init) = cold {
        if let Ok(v) = HeaderValue::from_str(&init.server_timing()) {
            parts.headers.append(headers::SERVER_TIMING, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("{:.3}", ms(init.total()))) {
            parts.headers.insert(headers::INIT_DURATION_MS, v);
        }
    }
    record.status = parts.status.as_u16();
    Response::from_parts(
        parts,
        Body::new(TrackedBody {
            inner: body,
            record: Some(record),
            connection: Some(connection),
            instance,
        }),
    )
}

fn unhandled_status(kind: InvocationKind) -> StatusCode {
    match kind {
        InvocationKind::HttpTrigger => StatusCode::BAD_GATEWAY,
        InvocationKind::Event => StatusCode::OK,
    }
}

/// One request's bookkeeping, from the moment it is sent to the instance until its response body is done.
struct InvokeRecord {
    shared: Arc<Shared>,
    function: Arc<Function>,
    lease: Option<Lease>,
    request_id: Arc<str>,
    started: Instant,
    status: u16,
    cold: Option<InitDuration>,
    finished: bool,
}

impl InvokeRecord {
    fn begin(
        shared: Arc<Shared>,
        function: Arc<Function>,
        lease: Lease,
        request_id: Arc<str>,
        cold: Option<InitDuration>,
    ) -> Self {
        let instance = &lease.instance;
        shared.events.emit(
            Event::new("invoke.start", &function.name, Some(&instance.id))
                .request(&request_id)
                .with("coldStart", cold.is_some()),
        );
        function.system_line(
            &shared,
            instance,
            Some(&request_id),
            Some(HookKind::Invoke),
            ["FC Invoke Start RequestId: ", &request_id].concat(),
        );
        instance.begin_activity(&request_id, HookKind::Invoke);
        InvokeRecord {
            shared,
            function,
            lease: Some(lease),
            request_id,
            started: Instant::now(),
            status: 0,
            cold,
            finished: false,
        }
    }

    /// The connection to the instance broke: its process may be exiting, so it is not frozen at once.
    fn lost_connection(&mut self) {
        if let Some(lease) = self.lease.as_mut() {
            lease.lost_connection();
        }
    }

    fn finish(&mut self, status: u16, error: Option<&str>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let Some(lease) = self.lease.take() else {
            return;
        };
        let instance = lease.instance.clone();
        let elapsed = self.started.elapsed();
        let duration_ms = ms(elapsed);
        // FC bills whole milliseconds, at least one.
        let billed_ms = (elapsed.as_micros().div_ceil(1000) as u64).max(1);
        if let Some(active) = instance.end_activity(&self.request_id) {
            self.function.billing.active(active);
        }
        self.function.billing.invocation();
        let mut event = Event::new("invoke.end", &self.function.name, Some(&instance.id))
            .request(&self.request_id)
            .status(status.into())
            .duration(duration_ms)
            .with("billedDurationMs", billed_ms)
            .with("coldStart", self.cold.is_some());
        if let Some(e) = error {
            event = event.error(e);
        }
        self.shared.events.emit(event);
        let rid = &self.request_id;
        self.function.system_line(
            &self.shared,
            &instance,
            Some(rid),
            Some(HookKind::Invoke),
            ["FC Invoke End RequestId: ", rid].concat(),
        );
        let report = report_line(
            rid,
            &instance.id,
            status,
            elapsed,
            billed_ms,
            self.function.spec.memory_size_mb,
        );
        let init = self.cold.map(|init| init.describe());
        let fresh = self.function.fresh_memory_peak_mb(&instance);
        let reading = fresh
            .is_none()
            .then(|| self.function.begin_memory_reading(&instance))
            .flatten();
        match reading {
            // No recent reading, and none under way: the report waits for one, off the request's path.
            Some(reading) => {
                let (shared, function, instance, rid) = (
                    self.shared.clone(),
                    self.function.clone(),
                    instance.clone(),
                    rid.clone(),
                );
                self.shared.tasks.spawn(async move {
                    let peak = function
                        .read_memory_peak_mb(&shared, &instance, reading)
                        .await;
                    let report = complete_report(report, peak, init.as_deref());
                    function.system_line(
                        &shared,
                        &instance,
                        Some(&rid),
                        Some(HookKind::Invoke),
                        report,
                    );
                });
            }
            // A recent reading, or one under way: the report goes out now with the latest value.
            None => {
                let peak = fresh.or_else(|| self.function.last_memory_peak_mb(&instance));
                let report = complete_report(report, peak, init.as_deref());
                self.function.system_line(
                    &self.shared,
                    &instance,
                    Some(rid),
                    Some(HookKind::Invoke),
                    report,
                );
            }
        }
        drop(lease);
    }
}

impl Drop for InvokeRecord {
    fn drop(&mut self) {
        // The caller went away or the body ended without our noticing: still account for the request.
        let status = self.status;
        self.finish(status, None);
    }
}

/// FC's report line, but for its end (see [`complete_report`]). Written piece by piece: it is made for every
/// request, and floating-point formatting would cost several times as much.
fn report_line(
    request_id: &str,
    instance_id: &str,
    status: u16,
    elapsed: std::time::Duration,
    billed_ms: u64,
    memory_size_mb: u32,
) -> String {
    use std::fmt::Write;
    let hundredths = (elapsed.as_micros() + 5) / 10;
    let mut report = String::with_capacity(200);
    report.push_str("RequestId: ");
    report.push_str(request_id);
    report.push_str(" InstanceId: ");
    report.push_str(instance_id);
    let _ = write!(
        report,
        " Status: {status} Duration: {}.{:02} ms Billed Duration: {billed_ms} ms Memory Size: {memory_size_mb} MB",
        hundredths / 100,
        hundredths % 100
    );
    report
}

/// The report line's end: `Max Memory Used` when known, and the cold start's `Init Duration`.
fn complete_report(mut report: String, peak_mb: Option<u64>, init: Option<&str>) -> String {
    use std::fmt::Write;
    if let Some(peak) = peak_mb {
        let _ = write!(report, " Max Memory Used: {peak} MB");
    }
    if let Some(init) = init {
        report.push(' ');
        report.push_str(init);
    }
    report
}

/// The instance's response body on its way to the caller; when it ends, the request is accounted for and
/// the instance's slot given back.
struct TrackedBody {
    inner: hyper::body::Incoming,
    record: Option<InvokeRecord>,
    /// The connection the response came on: back to the instance's pool once the body has ended.
    connection: Option<hyper::client::conn::http1::SendRequest<Body>>,
    instance: Arc<crate::Instance>,
}

impl TrackedBody {
    /// The body has been read to its end: the connection goes back to the instance's pool and the request
    /// is accounted for. Callers stop polling a body that says it has ended, so this runs on the last
    /// frame, on the end, or when the body is dropped after its end.
    fn ended(&mut self) {
        if let Some(connection) = self.connection.take() {
            self.instance.connections.checkin(connection);
        }
        if let Some(mut r) = self.record.take() {
            let status = r.status;
            r.finish(status, None);
        }
    }
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.ended();
        }
        // Otherwise the caller went away mid-body: the connection still carries the rest, so it is closed
        // (dropped), and the record accounts for the request when it drops.
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let message = format!(
                    "Process exited unexpectedly before completing request ({})",
                    error_chain(&e)
                );
                if let Some(mut r) = this.record.take() {
                    r.lost_connection();
                    r.finish(502, Some(&message));
                }
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
