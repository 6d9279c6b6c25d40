//! fcemu-gateway: the HTTP face of a running `fcemu up`. One listener serves HTTP trigger traffic, the
//! `/_fcemu` control API and the subset of FC's 2023-03-30 OpenAPI (docs/contract.md).

mod auth;
mod control_api;
mod jwt;
mod openapi;
mod openapi_async;
mod openapi_sessions;
mod openapi_tasks;
mod signature;
mod trigger;
mod ui;

pub use auth::{Access, Call, Token};

use bytes::Bytes;
use fcemu_control::{
    Body, BoxError, ControlPlane, MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_PATH_BYTES,
    fc_error_response, ids,
};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How the gateway serves.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// After the shutdown signal, how long open connections may take to finish. `up` gives the signal once
    /// every request has been drained and every follower's stream has ended, so what is left is flushing the
    /// last bytes, or connections that never sent a whole request (hyper holds those open until the grace
    /// is over).
    pub grace: Duration,
    /// A connection that has not sent a whole request head within this is closed: a client that sends
    /// half a request line must not hold a connection (and its file descriptor) forever.
    pub header_read_timeout: Duration,
    /// Who may call what changes state.
    pub access: Access,
    /// How HTTP triggers' `authType` is checked.
    pub trigger_auth: TriggerAuthCheck,
}

/// How the gateway checks HTTP triggers' and custom domains' `authType`.
#[derive(Debug, Clone, Default)]
pub struct TriggerAuthCheck {
    /// The AccessKey that `authType: function` signatures are checked with (None: none is known, and such
    /// requests are refused saying so).
    pub keys: Option<fcemu_control::Credentials>,
    /// `--no-trigger-auth`: every trigger served as anonymous.
    pub off: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace: Duration::from_millis(250),
            header_read_timeout: Duration::from_secs(10),
            access: Access::open(),
            trigger_auth: TriggerAuthCheck::default(),
        }
    }
}

/// Serves until `shutdown` resolves, then lets open connections finish for up to `options.grace`.
pub async fn serve(
    listener: TcpListener,
    cp: ControlPlane,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) {
    let access = match listener.local_addr() {
        Ok(addr) => options.access.clone().bound_to(addr),
        Err(_) => options.access.clone(),
    };
    let mut gateway = Gateway::new(cp, access);
    gateway.trigger_auth = options.trigger_auth.clone();
    let gateway = Arc::new(gateway);
    // HTTP/1.1, as FC's HTTP triggers speak it to clients; no protocol sniffing on every connection.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .keep_alive(true)
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment instead of spinning.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        let service = hyper::service::service_fn(move |req| {
            let gateway = gateway.clone();
            async move { Ok::<_, std::convert::Infallible>(gateway.handle(req).await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(options.grace, graceful.shutdown()).await;
}

pub struct Gateway {
    cp: ControlPlane,
    access: Access,
    pub(crate) trigger_auth: TriggerAuthCheck,
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(fcemu_control::full_body(value.to_string()))
        .expect("a valid response")
}

pub(crate) fn invalid_argument(message: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::BAD_REQUEST,
        "InvalidArgument",
        message,
        &ids::request_id(),
    )
}

pub(crate) fn not_found(function: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::NOT_FOUND,
        "FunctionNotFound",
        &format!("function {function} does not exist in this project"),
        &ids::request_id(),
    )
}

/// Headers over 8 KB, a path over 4 KB or a declared body over 32 MB: what is over, for a 400 InvalidArgument.
fn exceeded_limit<B>(req: &Request<B>) -> Option<String> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Some(format!(
            "the request headers take {header_bytes} bytes, allowed: at most {MAX_HEADER_BYTES} (FC's limit)"
        ));
    }
    let path_bytes = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if path_bytes > MAX_PATH_BYTES {
        return Some(format!(
            "the request path takes {path_bytes} bytes, allowed: at most {MAX_PATH_BYTES} (FC's limit)"
        ));
    }
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    declared.filter(|len| *len > MAX_BODY_BYTES as u64).map(|len| {
        format!("the request body is {len} bytes, allowed: at most {MAX_BODY_BYTES} for a synchronous invocation (FC's limit)")
    })
}

/// The client's body, streamed on; a body without a declared length is cut off past the limit (the
/// request is then answered 400, as one that declared too much).
fn limited(req: Request<Body>) -> Request<Body> {
    req.map(|b| http_body_util::Limited::new(b, MAX_BODY_BYTES).boxed_unsync())
}

impl Gateway {
    pub fn new(cp: ControlPlane, access: Access) -> Self {
        Gateway {
            cp,
            access,
            trigger_auth: TriggerAuthCheck::default(),
        }
    }

    /// Answers one request. Any body will do: hyper's from a connection, or one a test builds.
    pub async fn handle<B>(&self, req: Request<B>) -> Response<Body>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        if let Some(message) = exceeded_limit(&req) {
            return invalid_argument(&message);
        }
        let req = req.map(|b| b.map_err(Into::into).boxed_unsync());
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix("/_fcemu/") {
            let rest = rest.to_string();
            if let Some(refused) = self
                .access
                .check(&req, control_api::call(req.method(), &rest))
            {
                return refused;
            }
            return control_api::handle(&self.cp, &rest, req).await;
        }
        if let Some(rest) = path.strip_prefix("/2023-03-30/") {
            let rest = rest.to_string();
            if let Some(refused) = self.access.check(&req, openapi::call(req.method(), &rest)) {
                return refused;
            }
            return openapi::handle(&self.cp, &rest, req).await;
        }
        self.trigger(req).await
    }
}

/// A body read whole, up to `limit` bytes. Boxed: the compiler cannot prove an `async` block that awaits
/// this directly to be `Send` (its error type is a boxed trait object).
pub(crate) fn collect_limited(
    body: Body,
    limit: usize,
) -> std::pin::Pin<
    Box<
        dyn std::future::Future<Output = Result<http_body_util::Collected<bytes::Bytes>, BoxError>>
            + Send,
    >,
> {
    Box::pin(http_body_util::Limited::new(body, limit).collect())
}

/// The first value of query parameter `key`, decoded.
pub(crate) fn query_param(uri: &http::Uri, key: &str) -> Option<String> {
    form_urlencoded::parse(uri.query()?.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// A body of newline-delimited JSON lines that come over time (a follower), each written as soon as it is
/// produced.
pub(crate) fn ndjson_stream<S>(lines: S) -> Body
where
    S: futures_util::Stream<Item = String> + Send + 'static,
{
    use futures_util::StreamExt;
    let frames = lines.map(|mut line| {
        line.push('\n');
        Ok::<_, BoxError>(http_body::Frame::data(Bytes::from(line)))
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}

/// A body of newline-delimited JSON lines read a page at a time (a query of the whole run, which can be
/// millions of lines on disk): each page goes out in frames of about 64 KB (one frame per line would cost
/// the serving thread a poll and a write for each), and the next page is read only as the client takes
/// these, so memory holds one page whatever the run's size.
pub(crate) fn ndjson_pages<S>(pages: S) -> Body
where
    S: futures_util::Stream<Item = Vec<String>> + Send + 'static,
{
    use futures_util::StreamExt;
    const FRAME: usize = 64 * 1024;
    let frames = pages.flat_map(|page| {
        let mut frames = Vec::new();
        let mut frame = Vec::with_capacity(FRAME);
        for line in page {
            frame.extend_from_slice(line.as_bytes());
            frame.push(b'\n');
            if frame.len() >= FRAME {
                frames.push(std::mem::replace(&mut frame, Vec::with_capacity(FRAME)));
            }
        }
        if !frame.is_empty() {
            frames.push(frame);
        }
        futures_util::stream::iter(
            frames
                .into_iter()
                .map(|f| Ok::<_, BoxError>(http_body::Frame::data(Bytes::from(f)))),
        )
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}

#[cfg(test)]
mod tests;
