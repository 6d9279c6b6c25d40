//! Invoke: a request placed on an instance, passed through with FC's headers, its response streamed back.
//!
//! A request whose bytes never reached the instance's process (its connection was refused: the process is
//! gone) is placed again on another instance, and the dead instance leaves service at once; only a request
//! the function received is answered with `UnhandledInvocationError` when its instance fails.

use crate::client::{Body, BoxError};
use crate::control_plane::ControlPlane;
use crate::error::InvokeError;
use crate::pool::{Lease, Pool};
use crate::record::{Ended, InvokeRecord, TrackedBody};
use crate::responses::{
    InvocationKind, fc_error_response, invoke_error_response, place_error_response,
    unhandled_message,
};
use crate::{headers, ids};
use http::header;
use http::{HeaderValue, Request, Response, StatusCode};
use hyper::client::conn::http1::SendRequest;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// fcemu's request header (`true`) that makes a request skip warm instances: a cold start on demand.
pub const COLD_START_HEADER: &str = "x-fcemu-cold-start";

/// How many instances a request may be placed on when the ones before went away before it reached them.
const DELIVERIES: u32 = 4;

/// What became of one delivery of a request to an instance.
enum Delivery {
    Answered(Response<Body>),
    /// It never reached the instance's process: here it is back, to be placed again.
    NotReached(Request<Body>),
    /// The instance's server accepted no connection in time (a full listen backlog): placed again within
    /// the function's timeout, not counted as a delivery.
    NotAccepted(Request<Body>),
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
        req: Request<Body>,
        kind: InvocationKind,
        request_id: Arc<str>,
    ) -> Response<Body> {
        self.invoke_attempt(function, req, kind, request_id, 0, true)
            .await
    }

    /// One try of a request that has been tried `retries` times before (an asynchronous invocation's):
    /// the function sees that number in `x-fc-retry-count`. A synchronous request (`in_session`) goes
    /// where its session lives; an asynchronous one has no session, as on FC.
    pub(crate) async fn invoke_attempt(
        &self,
        function: &str,
        req: Request<Body>,
        kind: InvocationKind,
        request_id: Arc<str>,
        retries: u32,
        in_session: bool,
    ) -> Response<Body> {
        let arrived = std::time::SystemTime::now();
        let Some(pool) = self.function_pool(function) else {
            return fc_error_response(
                StatusCode::NOT_FOUND,
                "FunctionNotFound",
                &format!("function {function} does not exist in this project"),
                &request_id,
            );
        };
        let (req, cold) = match for_instance(&pool, req, kind, &request_id) {
            Ok(prepared) => prepared,
            Err(e) => {
                return fc_error_response(
                    StatusCode::BAD_REQUEST,
                    "InvalidArgument",
                    &format!("bad request path: {e}"),
                    &request_id,
                );
            }
        };
        let mut req = match read_whole(req, self.shared.options.body_read_timeout).await {
            Ok(req) => req,
            Err(e) => return invoke_error_response(&e, &request_id, kind),
        };
        let (claim, binding) = in_session
            .then(|| crate::session_binding::claim(&pool, &req))
            .flatten()
            .unzip();
        let patience = tokio::time::Instant::now() + pool.function.spec.timeout;
        let mut delivery = 0;
        while delivery < DELIVERIES {
            let lease = match pool.acquire_in(cold && delivery == 0, claim.as_ref()).await {
                Ok(lease) => lease,
                Err(e) => {
                    let response = place_error_response(&e, &request_id, kind);
                    if let Some(instance) = e.failed_on() {
                        crate::record::unserved(
                            &self.shared,
                            &pool.function.name,
                            instance,
                            &request_id,
                            arrived,
                            &response,
                            &fcemu_runtime::error_chain(&e),
                        );
                    }
                    return response;
                }
            };
            if delivery > 0 || retries > 0 {
                req.headers_mut()
                    .insert(headers::RETRY_COUNT, HeaderValue::from(retries + delivery));
            }
            let session = lease.session;
            match deliver(lease, req, kind, &request_id).await {
                Delivery::Answered(response) => {
                    let binding = binding.unwrap_or(crate::session_binding::Binding::None);
                    return crate::session_binding::bind(&pool, session, binding, response);
                }
                Delivery::NotReached(back) => {
                    req = back;
                    delivery += 1;
                }
                Delivery::NotAccepted(_) if tokio::time::Instant::now() >= patience => {
                    let e = InvokeError::NotAccepted {
                        timeout: pool.function.spec.timeout,
                    };
                    return invoke_error_response(&e, &request_id, kind);
                }
                Delivery::NotAccepted(back) => req = back,
            }
        }
        let e = InvokeError::ProcessExited(
            format!("each of the {DELIVERIES} instances it was placed on went away before it reached them").into(),
        );
        invoke_error_response(&e, &request_id, kind)
    }
}

/// The client's body, read whole before any instance is touched, as FC's front end reads it: the function's
/// timeout counts from when it gets the request, and a client that trickles its body in holds no instance,
/// no slot and no connection to one. A body that has not come whole within `limit` is answered 408; one
/// that breaks (bad chunked encoding, over 32 MB, the client gone), 400. A request without a body passes as
/// it is.
async fn read_whole(req: Request<Body>, limit: Duration) -> Result<Request<Body>, InvokeError> {
    use http_body_util::BodyExt;
    if http_body::Body::is_end_stream(req.body()) {
        return Ok(req);
    }
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(limit, body.collect()).await {
        Ok(Ok(whole)) => Ok(Request::from_parts(
            parts,
            crate::client::full_body(whole.to_bytes()),
        )),
        Ok(Err(e)) => Err(InvokeError::ClientBody(e)),
        Err(_) => Err(InvokeError::ClientTooSlow { limit }),
    }
}

/// A response body up to this size (by its `Content-Length`) is read whole before its head goes to the
/// client, so that an instance dying mid-body is answered as the function error it is, never as a success
/// with its body cut short. Larger and streamed bodies go as they come.
pub const HELD_BODY_BYTES: u64 = 64 * 1024;

/// What came back from the instance: a small body read whole, or the body to stream.
enum ReplyBody {
    Whole(bytes::Bytes),
    Streamed(hyper::body::Incoming),
}

/// The request as the instance gets it: the client's x-fc-* headers removed (FC forbids them), FC's own
/// set, an event sent as `POST /invoke`. Also says whether a cold start was asked for.
fn for_instance(
    pool: &Pool,
    req: Request<Body>,
    kind: InvocationKind,
    request_id: &str,
) -> Result<(Request<Body>, bool), http::uri::InvalidUri> {
    let (mut parts, body) = req.into_parts();
    let cold = parts
        .headers
        .remove(COLD_START_HEADER)
        .is_some_and(|v| v == "true");
    headers::strip(&mut parts.headers, |name| {
        name.as_str().starts_with("x-fc-")
    });
    pool.function
        .headers
        .set(&mut parts.headers, request_id, kind.control_path());
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
    // Origin form on the instance's own connection. The client's Host is kept (FC passes it through);
    // an HTTP/1.0 client may send none, and the function's server then gets one naming the function.
    if !parts.headers.contains_key(header::HOST) {
        if let Ok(host) = HeaderValue::from_str(&pool.function.spec.name.to_ascii_lowercase()) {
            parts.headers.insert(header::HOST, host);
        }
    }
    parts.uri = path_and_query.parse()?;
    parts.version = http::Version::HTTP_11;
    Ok((Request::from_parts(parts, body), cold))
}

/// Sends the request to the instance `lease` holds and answers with its response, streamed.
async fn deliver(
    lease: Lease,
    req: Request<Body>,
    kind: InvocationKind,
    request_id: &Arc<str>,
) -> Delivery {
    let instance = lease.instance.clone();
    let pool = lease.pool().clone();
    let shared = &pool.shared;
    let Some(addr) = instance.addr() else {
        return Delivery::NotReached(req);
    };
    let runtime = shared.runtime.as_ref();
    // An idle connection, or a new one. A refused connection means the process is gone; one not answered
    // in time most often met a listen backlog a burst filled (the kernel drops the SYN and resends it a
    // second later), not a dead process, whose exit the engine reports: that request is placed again.
    let (mut connection, dialed) = match instance.connections.idle().await {
        Some(connection) => (connection, false),
        None => match crate::client::dial(runtime, addr).await {
            Ok(connection) => (connection, true),
            Err(e) if crate::client::has_io_cause(&*e, std::io::ErrorKind::TimedOut) => {
                return Delivery::NotAccepted(req);
            }
            Err(_) => {
                pool.lost(&instance.id);
                return Delivery::NotReached(req);
            }
        },
    };
    let cold = instance
        .take_cold_start()
        .then(|| instance.init_duration())
        .flatten();
    let mut record = InvokeRecord::begin(shared.clone(), lease, request_id.clone(), cold);
    let timeout = pool.function.spec.timeout;
    // A request without a body can be sent again if its process turns out never to have read it. That
    // happens when another request on the same process ends it, or when a new connection is taken into
    // the backlog of a process already exiting (its last request killed it, and the engine has not said
    // so yet). With one request per instance on a connection kept from before, neither can happen, and no
    // copy is made.
    let replay = ((pool.function.spec.instance_concurrency > 1 || dialed)
        && http_body::Body::is_end_stream(req.body()))
    .then(|| head_of(&req));
    let exchange = async {
        let response = match connection.try_send_request(req).await {
            Ok(response) => response,
            // The connection closed before the request was written: once more on a new one.
            Err(mut e) => match e.take_message() {
                Some(req) => match crate::client::dial(runtime, addr).await {
                    Ok(fresh) => {
                        connection = fresh;
                        connection.send_request(req).await.map_err(Sent::Failed)?
                    }
                    Err(_) => return Err(Sent::NotReached(Box::new(req))),
                },
                None => return Err(Sent::Failed(e.into_error())),
            },
        };
        let small = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .is_some_and(|len| len <= HELD_BODY_BYTES);
        if !small {
            return Ok(response.map(ReplyBody::Streamed));
        }
        let (parts, body) = response.into_parts();
        match http_body_util::BodyExt::collect(body).await {
            Ok(whole) => Ok(Response::from_parts(
                parts,
                ReplyBody::Whole(whole.to_bytes()),
            )),
            Err(e) => Err(Sent::Cut(e)),
        }
    };
    let outcome = tokio::time::timeout(timeout, exchange).await;
    let failure = match outcome {
        Ok(Ok(reply)) => {
            if ends_its_process(&pool, &reply) {
                pool.lost(&instance.id);
            }
            return Delivery::Answered(answer(reply, record, connection, cold, request_id));
        }
        Ok(Err(Sent::NotReached(req))) => {
            pool.lost(&instance.id);
            record.retried("its process went away before the request reached it");
            return Delivery::NotReached(*req);
        }
        // Reset: the process closed the connection with the request unread in it (a process that exits
        // having read everything sends an orderly end instead).
        Ok(Err(Sent::Failed(e)))
            if replay.is_some()
                && crate::client::has_io_cause(&e, std::io::ErrorKind::ConnectionReset) =>
        {
            if let Some(lease) = record.lease() {
                crate::destroy::check_alive(lease).await;
            }
            record.retried("its process closed the connection without reading the request");
            let head = replay.expect("checked above");
            return Delivery::NotReached(head.map(|()| crate::client::empty_body()));
        }
        // The connection broke after the function got the request: before its answer, or in the middle
        // of a body held to be sent whole.
        Ok(Err(Sent::Failed(e) | Sent::Cut(e))) => {
            let cause: BoxError = Box::new(e);
            if let Some(lease) = record.lease() {
                crate::destroy::check_alive(lease).await;
            }
            InvokeError::ProcessExited(cause)
        }
        Err(_) => InvokeError::Timeout { timeout },
    };
    // A custom server that timed out is still healthy: it stays, and is not suspected. A built-in
    // runtime serves one request at a time and cannot stop a handler that ran past its time, so, as FC
    // does, that instance is restarted: it takes no request from now on, and a new one serves what comes.
    let restart = matches!(failure, InvokeError::Timeout { .. })
        && pool.function.spec.runtime.language().is_some()
        && pool.begin_destroy(&instance.id, crate::DestroyReason::Timeout);
    let response = invoke_error_response(&failure, request_id, kind);
    let message = unhandled_message(&failure);
    let ended = match failure {
        InvokeError::Timeout { .. } => Ended::TimedOut(&message),
        _ => Ended::Failed(&message),
    };
    record.finish(response.status().as_u16(), ended);
    if restart {
        let (id, pool2) = (instance.id.clone(), pool.clone());
        shared
            .tasks
            .spawn(async move { pool2.destroy(&id, None).await });
    }
    Delivery::Answered(response)
}

/// How sending a request failed.
enum Sent {
    NotReached(Box<Request<Body>>),
    Failed(hyper::Error),
    /// The response's head came, and its body (held to be sent whole) broke off.
    Cut(hyper::Error),
}

/// A copy of a request's method, target and headers.
fn head_of(req: &Request<Body>) -> Request<()> {
    let mut head = Request::new(());
    *head.method_mut() = req.method().clone();
    *head.uri_mut() = req.uri().clone();
    *head.version_mut() = req.version();
    *head.headers_mut() = req.headers().clone();
    head
}

/// Whether a built-in runtime said its process ends after this answer: fcemu's runtimes answer
/// `Connection: close` only then (the handler called exit(), a fatal error). The instance leaves service at
/// once and its exit destroys it, rather than being frozen, as an answered instance is, with its process
/// half-ended (its init not yet gone), where a later thaw would find its port closed.
fn ends_its_process(pool: &Pool, reply: &Response<ReplyBody>) -> bool {
    pool.function.spec.runtime.language().is_some()
        && reply
            .headers()
            .get(header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// The instance's response, with FC's response headers: a whole body accounted for now, a streamed one
/// tracked to its end.
fn answer(
    reply: Response<ReplyBody>,
    mut record: InvokeRecord,
    connection: SendRequest<Body>,
    cold: Option<crate::InitDuration>,
    request_id: &str,
) -> Response<Body> {
    let instance = record.instance().expect("a live record").clone();
    let (mut parts, body) = reply.into_parts();
    headers::strip(&mut parts.headers, |_| false);
    parts.headers.reserve(4);
    parts.headers.insert(
        headers::REQUEST_ID,
        HeaderValue::from_str(request_id).expect("ids are ASCII"),
    );
    parts.headers.insert(
        headers::INSTANCE_ID,
        HeaderValue::from_str(&instance.id).expect("ids are ASCII"),
    );
    if let Some(init) = cold {
        if let Ok(v) = HeaderValue::from_str(&init.server_timing()) {
            parts.headers.append(headers::SERVER_TIMING, v);
        }
        if let Ok(v) =
            HeaderValue::from_str(&format!("{:.3}", crate::init_duration::ms(init.total())))
        {
            parts.headers.insert(headers::INIT_DURATION_MS, v);
        }
    }
    record.status = parts.status.as_u16();
    let body = match body {
        ReplyBody::Streamed(streamed) => Body::new(TrackedBody {
            inner: streamed,
            record: Some(record),
            connection: Some(connection),
            instance,
        }),
        ReplyBody::Whole(whole) => {
            crate::record::answered(record, connection, &instance);
            crate::client::full_body(whole)
        }
    };
    Response::from_parts(parts, body)
}

// Compile-time checks, never called: the gateway spawns these futures on a multi-threaded runtime, so each
// must be Send. A change that holds a non-Send value (a MutexGuard, an Rc) across an await fails here, by
// name, instead of as an opaque error at the gateway's spawn.
#[allow(dead_code)]
fn send_1(p: Arc<Pool>) {
    fn send<T: Send>(_: T) {}
    send(p.acquire(false));
}
#[allow(dead_code)]
fn send_2(l: Lease, r: Request<Body>, id: Arc<str>) {
    fn send<T: Send>(_: T) {}
    send(deliver(l, r, InvocationKind::Event, &id));
}
#[allow(dead_code)]
fn send_3(l: &Lease) {
    fn send<T: Send>(_: T) {}
    send(crate::destroy::check_alive(l));
}
#[allow(dead_code)]
fn send_4(cp: ControlPlane, r: Request<Body>, id: Arc<str>) {
    fn send<T: Send>(_: T) {}
    send(cp.invoke_as("f", r, InvocationKind::Event, id));
}
