//! The OpenAPI's async tasks (functions with `asyncTask`): GetAsyncTask, ListAsyncTasks with its filters and
//! pages, and StopAsyncTask, in FC's shapes.

use crate::{invalid_argument, json_response, not_found, query_param};
use fcemu_control::{
    Body, ControlPlane, StopRefused, TaskFilter, TaskStatus, fc_error_response, ids,
};
use http::{Request, Response, StatusCode};

/// ListAsyncTasks' page size unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 100;

/// The calls under `functions/{name}/async-tasks`; None for any other.
pub fn handle(cp: &ControlPlane, segments: &[&str], req: &Request<Body>) -> Option<Response<Body>> {
    let (name, rest) = match segments {
        ["functions", name, "async-tasks", rest @ ..] => (*name, rest),
        _ => return None,
    };
    let response = match (req.method().as_str(), rest) {
        ("GET", []) => list(cp, name, req.uri()),
        ("GET", [task]) => match cp.async_task(name, task) {
            Some(task) => json_response(StatusCode::OK, &serde_json::json!(task)),
            None => no_task(cp, name, task),
        },
        ("PUT", [task, "stop"]) => match cp.stop_async_task(name, task) {
            Ok(_) => Response::builder()
                .status(StatusCode::OK)
                .header("x-fc-request-id", &*ids::request_id())
                .body(fcemu_control::empty_body())
                .expect("a valid response"),
            Err(StopRefused::NoTask) => no_task(cp, name, task),
            Err(StopRefused::Ended(status)) => invalid_argument(&format!(
                "async task {task} of {name} is {} already: only an Enqueued, Running or Retrying task can be stopped",
                status.name()
            )),
        },
        _ => return None,
    };
    Some(response)
}

fn list(cp: &ControlPlane, name: &str, uri: &http::Uri) -> Response<Body> {
    if cp.function(name).is_none() {
        return not_found(name);
    }
    let filter = match filter_of(uri) {
        Ok(filter) => filter,
        Err(why) => return invalid_argument(&why),
    };
    let (tasks, next) = cp.async_tasks(name, &filter);
    let mut body = serde_json::json!({ "tasks": tasks });
    if let Some(next) = next {
        body["nextToken"] = next.into();
    }
    json_response(StatusCode::OK, &body)
}

/// ListAsyncTasks' query: `status`, `prefix`, `startedTimeBegin`/`End` (ms), `sortOrderByTime` (asc, desc),
/// `limit`, `nextToken`, `includePayload`.
fn filter_of(uri: &http::Uri) -> Result<TaskFilter, String> {
    let param = |key: &str| query_param(uri, key).filter(|v| !v.is_empty());
    let millis = |key: &str| -> Result<Option<u64>, String> {
        param(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("{key} is `{v}`, allowed: milliseconds since the epoch"))
            })
            .transpose()
    };
    let status = match param("status") {
        Some(s) => Some(TaskStatus::parse(&s).ok_or_else(|| {
            let names: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.name()).collect();
            format!("status is `{s}`, allowed: {}", names.join(", "))
        })?),
        None => None,
    };
    let limit = match param("limit") {
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| format!("limit is `{l}`, allowed: 1 to {MAX_LIMIT}"))?,
        None => DEFAULT_LIMIT,
    };
    let ascending = match param("sortOrderByTime").as_deref() {
        None | Some("desc") => false,
        Some("asc") => true,
        Some(other) => return Err(format!("sortOrderByTime is `{other}`, allowed: asc, desc")),
    };
    Ok(TaskFilter {
        status,
        prefix: param("prefix"),
        started_time_begin: millis("startedTimeBegin")?,
        started_time_end: millis("startedTimeEnd")?,
        ascending,
        limit,
        next_token: param("nextToken"),
        include_payload: param("includePayload").is_some_and(|v| v == "true"),
    })
}

fn no_task(cp: &ControlPlane, name: &str, task: &str) -> Response<Body> {
    if cp.function(name).is_none() {
        return not_found(name);
    }
    fc_error_response(
        StatusCode::NOT_FOUND,
        "AsyncTaskNotFound",
        &format!(
            "function {name} has no async task {task} (tasks are kept for functions with asyncTask: true in asyncInvokeConfig)"
        ),
        &ids::request_id(),
    )
}
