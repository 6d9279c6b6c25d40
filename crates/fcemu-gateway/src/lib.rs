//! fcemu-gateway: the HTTP face of a running `fcemu up`. One listener serves HTTP trigger traffic, the
//! `/_fcemu` control API and the subset of FC's 2023-03-30 OpenAPI (interface.md).

mod control_api;

use bytes::Bytes;
use fcemu_control::{Body, ControlPlane, InvocationKind, fc_error_response, ids};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves, then lets open connections finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    cp: ControlPlane,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
    let gateway = Arc::new(Gateway::new(cp));
    // HTTP/1.1, as FC's HTTP triggers speak it to clients; no protocol sniffing on every connection.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.keep_alive(true);
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
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

pub struct Gateway {
    cp: ControlPlane,
    /// With exactly one function that has an HTTP trigger, every path goes to it.
    single_trigger: Option<String>,
}

pub(crate) fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(fcemu_control::full_body(value.to_string()))
        .expect("a valid response")
}

/// FC's limits on a synchronous request, checked before any instance is touched.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_PATH_BYTES: usize = 4 * 1024;
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

fn invalid_argument(message: String) -> Response<Body> {
    fc_error_response(
        StatusCode::BAD_REQUEST,
        "InvalidArgument",
        &message,
        &ids::request_id(),
    )
}

/// Headers over 8 KB, a path over 4 KB or a declared body over 32 MB: what is over, for a 400 InvalidArgument.
fn exceeded_limit(req: &Request<Incoming>) -> Option<String> {
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

/// The client's body, streamed on; a body without a declared length is cut off past the limit.
fn incoming_body(req: Request<Incoming>) -> Request<Body> {
    req.map(|b| http_body_util::Limited::new(b, MAX_BODY_BYTES).boxed_unsync())
}

impl Gateway {
    pub fn new(cp: ControlPlane) -> Self {
        let with_trigger: Vec<String> = cp
            .functions()
            .filter(|f| f.http_trigger.is_some())
            .map(|f| f.name.clone())
            .collect();
        let single_trigger = (with_trigger.len() == 1).then(|| with_trigger[0].clone());
        Gateway { cp, single_trigger }
    }

    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        if let Some(message) = exceeded_limit(&req) {
            return invalid_argument(message);
        }
        let path = req.uri().path();
        if let Some(rest) = path.strip_prefix("/_fcemu/") {
            let rest = rest.to_string();
            return control_api::handle(&self.cp, &rest, req).await;
        }
        if let Some(rest) = path.strip_prefix("/2023-03-30/") {
            let rest = rest.to_string();
            return self.openapi(&rest, req).await;
        }
        self.trigger(req).await
    }

    /// HTTP trigger traffic: one trigger takes every path; with several, the first segment names the function.
    async fn trigger(&self, req: Request<Incoming>) -> Response<Body> {
        let (function, req) = match &self.single_trigger {
            Some(name) => (name.clone(), req),
            None => match self.route_by_segment(req) {
                Ok(routed) => routed,
                Err(segment) => return self.no_function_at(&segment),
            },
        };
        let Some(spec) = self.cp.function(&function) else {
            return not_found(&function);
        };
        if let Some(trigger) = &spec.http_trigger {
            if !trigger.allows(req.method().as_str()) {
                return fc_error_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "MethodNotAllowed",
                    &format!(
                        "the HTTP trigger {} of function {function} does not accept {}; it accepts {}",
                        trigger.name,
                        req.method(),
                        trigger.methods.join(", ")
                    ),
                    &ids::request_id(),
                );
            }
        }
        self.cp
            .invoke(&function, incoming_body(req), InvocationKind::HttpTrigger)
            .await
    }

    /// `/FUNCTION/rest` reaches FUNCTION as `/rest`. Err: the first segment names no function with a trigger.
    fn route_by_segment(
        &self,
        req: Request<Incoming>,
    ) -> Result<(String, Request<Incoming>), String> {
        let path = req.uri().path();
        let trimmed = path.trim_start_matches('/');
        let (first, rest) = trimmed
            .split_once('/')
            .map(|(a, b)| (a, format!("/{b}")))
            .unwrap_or((trimmed, "/".into()));
        let function = first.to_string();
        if self
            .cp
            .function(&function)
            .is_none_or(|f| f.http_trigger.is_none())
        {
            return Err(function);
        }
        let (mut parts, body) = req.into_parts();
        let query = parts
            .uri
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        parts.uri = format!("{rest}{query}")
            .parse()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        Ok((function, Request::from_parts(parts, body)))
    }

    fn no_function_at(&self, segment: &str) -> Response<Body> {
        let names: Vec<String> = self
            .cp
            .functions()
            .filter(|f| f.http_trigger.is_some())
            .map(|f| format!("/{}/", f.name))
            .collect();
        fc_error_response(
            StatusCode::NOT_FOUND,
            "FunctionNotFound",
            &format!(
                "no function with an HTTP trigger is named `{segment}`; with several functions the first path segment names one: {}",
                names.join(", ")
            ),
            &ids::request_id(),
        )
    }

    /// The subset of FC's 2023-03-30 OpenAPI that fcemu serves.
    async fn openapi(&self, rest: &str, req: Request<Incoming>) -> Response<Body> {
        let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (req.method().as_str(), segments.as_slice()) {
            ("POST", ["functions", name, "invocations"]) => {
                let name = name.to_string();
                if self.cp.function(&name).is_none() {
                    return not_found(&name);
                }
                let options = match InvokeOptions::of(req.headers()) {
                    Ok(options) => options,
                    Err(message) => return invalid_argument(message),
                };
                if options.asynchronous {
                    return self.invoke_async(&name, req).await;
                }
                let response = self
                    .cp
                    .invoke(&name, incoming_body(req), InvocationKind::Event)
                    .await;
                if options.log_tail {
                    return with_log_tail(&self.cp, response).await;
                }
                response
            }
            ("GET", ["functions"]) => {
                let functions: Vec<_> = self.cp.functions().map(openapi_function).collect();
                json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "functions": functions }),
                )
            }
            ("GET", ["functions", name]) => match self.cp.function(name) {
                Some(f) => json_response(StatusCode::OK, &openapi_function(f)),
                None => not_found(name),
            },
            ("GET", ["functions", name, "instances"]) => {
                if self.cp.function(name).is_none() {
                    return not_found(name);
                }
                let instances: Vec<_> = self
                    .cp
                    .instances()
                    .into_iter()
                    .filter(|i| i.function_name == *name)
                    .map(|i| serde_json::json!({ "instanceId": i.instance_id, "versionId": "LATEST" }))
                    .collect();
                json_response(
                    StatusCode::OK,
                    &serde_json::json!({ "instances": instances }),
                )
            }
            ("GET", ["provision-configs"]) => json_response(
                StatusCode::OK,
                &serde_json::json!({ "provisionConfigs": self.cp.provision_statuses() }),
            ),
            ("GET", ["functions", name, "provision-config"]) => {
                match self.cp.provision_status(name) {
                    Some(status) => json_response(StatusCode::OK, &serde_json::json!(status)),
                    None => not_found(name),
                }
            }
            ("PUT" | "DELETE", ["functions", name, "provision-config"]) => {
                let name = name.to_string();
                let target = if req.method() == http::Method::DELETE {
                    0
                } else {
                    match read_target(req).await {
                        Ok(target) => target,
                        Err(message) => {
                            return fc_error_response(
                                StatusCode::BAD_REQUEST,
                                "InvalidArgument",
                                &message,
                                &ids::request_id(),
                            );
                        }
                    }
                };
                match self.cp.set_provision_target(&name, target).await {
                    Some(status) => json_response(StatusCode::OK, &serde_json::json!(status)),
                    None => not_found(&name),
                }
            }
            _ => fc_error_response(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!(
                    "{} /2023-03-30/{rest} is not part of the OpenAPI subset fcemu serves",
                    req.method()
                ),
                &ids::request_id(),
            ),
        }
    }
}

/// FC's limit on the payload of an asynchronous invocation.
pub const MAX_ASYNC_BODY_BYTES: usize = 128 * 1024;
/// How much of a request's log `x-fc-log-result` carries.
pub const LOG_RESULT_BYTES: usize = 4 * 1024;

/// InvokeFunction's `x-fc-invocation-type` and `x-fc-log-type`.
struct InvokeOptions {
    asynchronous: bool,
    log_tail: bool,
}

impl InvokeOptions {
    fn of(headers: &http::HeaderMap) -> Result<Self, String> {
        let asynchronous = two_way(headers, "x-fc-invocation-type", ["Sync", "Async"])?;
        let log_tail = two_way(headers, "x-fc-log-type", ["None", "Tail"])?;
        if asynchronous && log_tail {
            return Err(
                "x-fc-log-type: Tail needs a synchronous invocation: an asynchronous one answers before it runs; read its log with `fcemu logs --request-id ID`".into(),
            );
        }
        Ok(InvokeOptions {
            asynchronous,
            log_tail,
        })
    }
}

/// A header with one of two values (any case): false for the first, which absence also means, true for the
/// second.
fn two_way(headers: &http::HeaderMap, name: &str, values: [&str; 2]) -> Result<bool, String> {
    let Some(value) = headers.get(name) else {
        return Ok(false);
    };
    let value = value.to_str().unwrap_or("");
    match values.iter().position(|v| v.eq_ignore_ascii_case(value)) {
        Some(i) => Ok(i == 1),
        None => Err(format!(
            "{name} must be {} or {}, found `{value}`",
            values[0], values[1]
        )),
    }
}

impl Gateway {
    /// `x-fc-invocation-type: Async`: the payload is read, the invocation queued, and 202 answered at once
    /// with the request id it will run under.
    async fn invoke_async(&self, function: &str, req: Request<Incoming>) -> Response<Body> {
        let (parts, body) = req.into_parts();
        let payload = match http_body_util::Limited::new(body, MAX_ASYNC_BODY_BYTES)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                return invalid_argument(format!(
                    "the payload of an asynchronous invocation is over {} KB (FC's limit); send a larger one synchronously (up to 32 MB) or pass a reference to it",
                    MAX_ASYNC_BODY_BYTES / 1024
                ));
            }
            Err(e) => {
                return invalid_argument(format!("reading the payload failed: {e}"));
            }
        };
        let request_id = self.cp.invoke_async(
            function,
            Request::from_parts(parts, fcemu_control::full_body(payload)),
        );
        Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("x-fc-request-id", &*request_id)
            .body(fcemu_control::empty_body())
            .expect("a valid response")
    }
}

/// `x-fc-log-type: Tail`: the response is read whole and sent with `x-fc-log-result`, the base64 of the
/// last 4 KB of the request's log lines.
async fn with_log_tail(cp: &ControlPlane, response: Response<Body>) -> Response<Body> {
    use base64::Engine;
    let (mut parts, body) = response.into_parts();
    let request_id = parts
        .headers
        .get("x-fc-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            return fcemu_control::function_error_response(
                StatusCode::OK,
                "UnhandledInvocationError",
                &format!("Process exited unexpectedly before completing request ({e})"),
                &request_id,
            );
        }
    };
    // Only a request that reached an instance has lines to wait for.
    let tail = if parts.headers.contains_key("x-fc-instance-id") && !request_id.is_empty() {
        cp.log_tail(&request_id, LOG_RESULT_BYTES).await
    } else {
        String::new()
    };
    let encoded = base64::engine::general_purpose::STANDARD.encode(tail);
    if let Ok(value) = http::HeaderValue::from_str(&encoded) {
        parts.headers.insert("x-fc-log-result", value);
    }
    parts.headers.remove(http::header::TRANSFER_ENCODING);
    parts.headers.insert(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    );
    Response::from_parts(parts, fcemu_control::full_body(body))
}

/// The `target` of a PutProvisionConfig body (`{"target": N, ...}`).
async fn read_target(req: Request<Incoming>) -> Result<u32, String> {
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading the body failed: {e}"))?
        .to_bytes();
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("the body must be JSON like {{\"target\": 2}}: {e}"))?;
    value
        .get("target")
        .and_then(serde_json::Value::as_u64)
        .and_then(|t| u32::try_from(t).ok())
        .ok_or_else(|| {
            format!(
                "`target` must be a whole number of instances, found {}",
                value.get("target").unwrap_or(&serde_json::Value::Null)
            )
        })
}

fn not_found(function: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::NOT_FOUND,
        "FunctionNotFound",
        &format!("function {function} does not exist in this project"),
        &ids::request_id(),
    )
}

fn openapi_function(f: &fcemu_spec::FunctionSpec) -> serde_json::Value {
    serde_json::json!({
        "functionName": f.name,
        "runtime": f.runtime.name(),
        "handler": f.handler,
        "description": f.description,
        "cpu": f.cpu,
        "memorySize": f.memory_size_mb,
        "diskSize": f.disk_size_mb,
        "timeout": f.timeout.as_secs(),
        "instanceConcurrency": f.instance_concurrency,
        "environmentVariables": f.environment_variables,
        "customContainerConfig": { "image": f.container.image, "port": f.container.port },
    })
}

/// A body of newline-delimited JSON values, each line written as soon as it is produced.
pub(crate) fn ndjson_stream<S, T>(items: S) -> Body
where
    S: futures_util::Stream<Item = T> + Send + 'static,
    T: serde::Serialize,
{
    use futures_util::StreamExt;
    let frames = items.map(|item| {
        let mut line = serde_json::to_vec(&item).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, fcemu_control::BoxError>(http_body::Frame::data(Bytes::from(line)))
    });
    http_body_util::StreamBody::new(frames).boxed_unsync()
}
