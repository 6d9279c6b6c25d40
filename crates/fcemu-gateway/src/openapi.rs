//! The subset of FC's 2023-03-30 OpenAPI that fcemu serves (docs/contract.md): InvokeFunction (sync, async,
//! with its log tail), ListFunctions, GetFunction, UpdateFunction, ListInstances and the provision-config
//! calls. The official SDK works against it with `endpoint` set to the listen address.

use crate::{Call, invalid_argument, json_response, not_found};
use fcemu_control::{
    Body, ControlPlane, InvocationKind, TargetRefused, TaskIdRefused, fc_error_response, ids,
};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;

/// What a call under `/2023-03-30/` does: InvokeFunction invokes, a GET reads, the rest changes state.
pub fn call(method: &http::Method, rest: &str) -> Call {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["functions", _, "invocations"]) => Call::Invoke,
        ("GET" | "HEAD", _) => Call::Read,
        _ => Call::Change,
    }
}

/// The subset of FC's 2023-03-30 OpenAPI that fcemu serves.
pub async fn handle(cp: &ControlPlane, rest: &str, req: Request<Body>) -> Response<Body> {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match (req.method().as_str(), segments.as_slice()) {
        ("POST", ["functions", name, "invocations"]) => {
            let name = name.to_string();
            if cp.function(&name).is_none() {
                return not_found(&name);
            }
            let options = match InvokeOptions::of(req.headers()) {
                Ok(options) => options,
                Err(e) => return e.response(),
            };
            if options.asynchronous {
                return invoke_async(cp, &name, req).await;
            }
            let response = cp
                .invoke(&name, crate::limited(req), InvocationKind::Event)
                .await;
            if options.log_tail {
                return with_log_tail(cp, response).await;
            }
            response
        }
        ("GET", ["functions"]) => {
            let functions: Vec<_> = cp
                .functions()
                .iter()
                .map(|f| openapi_function(&f.spec))
                .collect();
            json_response(
                StatusCode::OK,
                &serde_json::json!({ "functions": functions }),
            )
        }
        ("GET", ["functions", name]) => match cp.function(name) {
            Some(f) => json_response(StatusCode::OK, &openapi_function(&f.spec)),
            None => not_found(name),
        },
        ("PUT", ["functions", name]) => update_function(cp, name, req).await,
        ("GET", ["functions", name, "instances"]) => {
            if cp.function(name).is_none() {
                return not_found(name);
            }
            let instances: Vec<_> = cp
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
            &serde_json::json!({ "provisionConfigs": cp.provision_statuses() }),
        ),
        ("GET", ["functions", name, "provision-config"]) => match cp.provision_status(name) {
            Some(status) => json_response(StatusCode::OK, &serde_json::json!(status)),
            None => not_found(name),
        },
        ("PUT" | "DELETE", ["functions", name, "provision-config"]) => {
            let name = name.to_string();
            let target = if req.method() == http::Method::DELETE {
                0
            } else {
                match read_target(req).await {
                    Ok(target) => target,
                    Err(e) => return e.response(),
                }
            };
            match cp.set_provision_target(&name, target).await {
                Ok(status) => json_response(StatusCode::OK, &serde_json::json!(status)),
                Err(TargetRefused::NoFunction) => not_found(&name),
                Err(TargetRefused::OverCap { target, cap }) => invalid_argument(&format!(
                    "target {target} is over the {cap} instances function {name} may have (fcemu up --max-instances, or its reservedConcurrency): nothing was changed; ask for at most {cap}, or start fcemu up with a higher --max-instances"
                )),
            }
        }
        _ => {
            let method = req.method().clone();
            if let Some(response) = crate::openapi_tasks::handle(cp, &segments, &req) {
                return response;
            }
            let req = match segments.as_slice() {
                ["functions", _, "sessions", ..] => {
                    match crate::openapi_sessions::handle(cp, &segments, req).await {
                        Some(response) => return response,
                        None => return not_served(&method, rest),
                    }
                }
                _ => req,
            };
            match crate::openapi_async::handle(cp, &segments, req).await {
                Some(response) => response,
                None => not_served(&method, rest),
            }
        }
    }
}

/// FC's limit on the payload of an asynchronous invocation.
pub const MAX_ASYNC_BODY_BYTES: usize = 128 * 1024;
/// How much of a request's log `x-fc-log-result` carries.
pub const LOG_RESULT_BYTES: usize = 4 * 1024;

/// What was wrong with a request FC answers 400 `InvalidArgument`.
struct InvalidArgument(String);

impl From<String> for InvalidArgument {
    fn from(message: String) -> Self {
        InvalidArgument(message)
    }
}

impl InvalidArgument {
    fn response(&self) -> Response<Body> {
        invalid_argument(&self.0)
    }
}

/// InvokeFunction's `x-fc-invocation-type` and `x-fc-log-type`.
struct InvokeOptions {
    asynchronous: bool,
    log_tail: bool,
}

impl InvokeOptions {
    fn of(headers: &http::HeaderMap) -> Result<Self, InvalidArgument> {
        let asynchronous = two_way(headers, "x-fc-invocation-type", ["Sync", "Async"])?;
        let log_tail = two_way(headers, "x-fc-log-type", ["None", "Tail"])?;
        if asynchronous && log_tail {
            return Err(InvalidArgument(
                "x-fc-log-type: Tail needs a synchronous invocation: an asynchronous one answers before it runs; read its log with `fcemu logs --request-id ID`".into(),
            ));
        }
        Ok(InvokeOptions {
            asynchronous,
            log_tail,
        })
    }
}

/// A header with one of two values (any case): false for the first, which absence also means, true for the
/// second.
fn two_way(
    headers: &http::HeaderMap,
    name: &str,
    values: [&str; 2],
) -> Result<bool, InvalidArgument> {
    let Some(value) = headers.get(name) else {
        return Ok(false);
    };
    let value = value.to_str().unwrap_or("");
    match values.iter().position(|v| v.eq_ignore_ascii_case(value)) {
        Some(i) => Ok(i == 1),
        None => Err(InvalidArgument(format!(
            "{name} must be {} or {}, found `{value}`",
            values[0], values[1]
        ))),
    }
}

/// `x-fc-invocation-type: Async`: the payload is read, the invocation queued, and 202 answered at once
/// with the request id it will run under.
async fn invoke_async(cp: &ControlPlane, function: &str, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let payload = match read_event(body, SEND_SYNCHRONOUSLY).await {
        Ok(payload) => payload,
        Err(refused) => return refused,
    };
    let task_id = parts
        .headers
        .get(ASYNC_TASK_ID)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let queued = match cp.enqueue_task(function, &parts.headers, payload, task_id) {
        Ok(queued) => queued,
        Err(TaskIdRefused::Invalid) => {
            return invalid_argument(&format!(
                "{ASYNC_TASK_ID} is `{}`, allowed: 1 to 128 letters, digits, - and _",
                task_id.unwrap_or_default()
            ));
        }
        Err(TaskIdRefused::Taken) => {
            return fc_error_response(
                StatusCode::CONFLICT,
                "AsyncTaskAlreadyExists",
                &format!(
                    "function {function} has an async task {} already: give each invocation an id of its own",
                    task_id.unwrap_or_default()
                ),
                &ids::request_id(),
            );
        }
    };
    let mut response = Response::builder()
        .status(StatusCode::ACCEPTED)
        .header("x-fc-request-id", &*queued.request_id);
    if let Some(task_id) = &queued.task_id {
        response = response.header(ASYNC_TASK_ID, task_id.as_str());
    }
    response
        .body(fcemu_control::empty_body())
        .expect("a valid response")
}

/// The header that names an asynchronous invocation's async task (and answers with it).
const ASYNC_TASK_ID: &str = "x-fc-async-task-id";

/// What to do with a payload over FC's limit on asynchronous ones: an invocation's, or a trigger's event.
pub(crate) const SEND_SYNCHRONOUSLY: &str =
    "send a larger one synchronously (up to 32 MB) or pass a reference to it";
pub(crate) const EVENT_TOO_LARGE: &str = "a trigger's event is an asynchronous invocation's payload: make the event smaller (its source sends a reference to large data, as OSS names the object)";

/// An asynchronous invocation's payload, read whole up to FC's limit; over it, FC's 400 `EntityTooLarge`
/// with `advice`.
pub(crate) async fn read_event(body: Body, advice: &str) -> Result<bytes::Bytes, Response<Body>> {
    match crate::collect_limited(body, MAX_ASYNC_BODY_BYTES).await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            let message = format!(
                "the payload is over {} KB (FC's limit on an asynchronous invocation); {advice}",
                MAX_ASYNC_BODY_BYTES / 1024
            );
            Err(fc_error_response(
                StatusCode::BAD_REQUEST,
                "EntityTooLarge",
                &message,
                &ids::request_id(),
            ))
        }
        Err(e) => Err(invalid_argument(&format!(
            "reading the payload failed: {e}"
        ))),
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
async fn read_target(req: Request<Body>) -> Result<u32, InvalidArgument> {
    // A provision config is a few bytes of JSON.
    let body = crate::collect_limited(req.into_body(), 64 * 1024)
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
            InvalidArgument(format!(
                "`target` must be a whole number of instances, found {}",
                value.get("target").unwrap_or(&serde_json::Value::Null)
            ))
        })
}

fn not_served(method: &http::Method, rest: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::NOT_FOUND,
        "NotFound",
        &format!("{method} /2023-03-30/{rest} is not part of the OpenAPI subset fcemu serves"),
        &ids::request_id(),
    )
}

/// A function as GetFunction shows it: its configuration under the API's own names.
fn openapi_function(f: &fcemu_spec::FunctionSpec) -> serde_json::Value {
    let mut props = fcemu_spec::to_props(f);
    // The s.yaml's trigger and provisioned target have calls of their own in the API.
    props.remove("triggers");
    props.remove("provisionConfig");
    serde_json::Value::Object(props)
}

/// UpdateFunction: the body's fields applied with the s.yaml's rules, then the function rolled (new
/// requests go to new instances; the old ones finish, then run PreStop). Answers with the function as
/// GetFunction shows it; fields that mean nothing locally are accepted and named in `x-fcemu-ignored`.
async fn update_function(cp: &ControlPlane, name: &str, req: Request<Body>) -> Response<Body> {
    let Some(current) = cp.function(name) else {
        return not_found(name);
    };
    let invalid = |message: &str| {
        fc_error_response(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            message,
            &ids::request_id(),
        )
    };
    let body = match crate::collect_limited(req.into_body(), 1024 * 1024).await {
        Ok(body) => body.to_bytes(),
        Err(e) => return invalid(&format!("reading the body failed: {e}")),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(e) => {
            return invalid(&format!(
                "the body must be JSON like {{\"memorySize\": 1024}}: {e}"
            ));
        }
    };
    let (spec, ignored) =
        match fcemu_spec::update_function(&current.spec, &value, &cp.project().dir) {
            Ok(updated) => updated,
            Err(errors) => {
                let each: Vec<String> = errors
                    .iter()
                    .map(|(field, message)| format!("{field}: {message}"))
                    .collect();
                return invalid(&format!(
                    "the function was not changed: {}",
                    each.join("; ")
                ));
            }
        };
    if !ignored.is_empty() {
        tracing::warn!(
            "UpdateFunction of {name}: {} accepted and ignored (they mean nothing locally)",
            ignored.join(", ")
        );
    }
    cp.update(cp.specs_with(spec.clone()), &Default::default())
        .await;
    let mut response = json_response(StatusCode::OK, &openapi_function(&spec));
    if let Ok(v) = http::HeaderValue::from_str(&ignored.join(",")) {
        if !ignored.is_empty() {
            response.headers_mut().insert("x-fcemu-ignored", v);
        }
    }
    response
}
