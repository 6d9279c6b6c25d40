//! `/_fcemu/...`: fcemu's own control API (interface.md), what `fcemu ps`, `logs`, `events` and `reclaim`
//! talk to.

use crate::{json_response, ndjson_stream};
use fcemu_control::{Body, ControlPlane, HookKind, LogQuery, fc_error_response, ids};
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;
use std::collections::HashMap;

fn query_map(req: &Request<Incoming>) -> HashMap<String, String> {
    req.uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .filter(|(_, v)| !v.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

fn bad_request(message: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::BAD_REQUEST,
        "InvalidArgument",
        message,
        &ids::request_id(),
    )
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true" || v == "1")
}

pub async fn handle(cp: &ControlPlane, rest: &str, req: Request<Incoming>) -> Response<Body> {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let query = query_map(&req);
    match (req.method().clone(), segments.as_slice()) {
        (Method::GET, ["healthz"]) => json_response(
            StatusCode::OK,
            &json!({ "status": if cp.is_shutting_down() { "stopping" } else { "ok" } }),
        ),
        (Method::GET, ["functions"]) => json_response(
            StatusCode::OK,
            &json!({ "functions": cp.functions().collect::<Vec<_>>() }),
        ),
        (Method::GET, ["billing"]) => {
            json_response(StatusCode::OK, &json!({ "functions": cp.billing() }))
        }
        (Method::GET, ["instances"]) => {
            json_response(StatusCode::OK, &json!({ "instances": cp.instances() }))
        }
        (Method::POST, ["instances", id, "reclaim"]) => {
            if cp.reclaim_instance(id).await {
                json_response(StatusCode::OK, &json!({ "reclaimed": [id] }))
            } else {
                fc_error_response(
                    StatusCode::NOT_FOUND,
                    "InstanceNotFound",
                    &format!("no live instance {id}; `fcemu ps` lists them"),
                    &ids::request_id(),
                )
            }
        }
        (Method::POST, ["functions", name, "reclaim"]) => match cp.reclaim_function(name).await {
            Some(n) => json_response(StatusCode::OK, &json!({ "function": name, "reclaimed": n })),
            None => fc_error_response(
                StatusCode::NOT_FOUND,
                "FunctionNotFound",
                &format!("function {name} does not exist in this project"),
                &ids::request_id(),
            ),
        },
        (Method::GET, ["events"]) => {
            let events = cp.events();
            let older = spilled(events.spilled(), |_| true);
            let mut all: Vec<serde_json::Value> = older;
            let (newer, cursor) = events.since(0);
            all.extend(newer.iter().filter_map(|e| serde_json::to_value(&**e).ok()));
            let history = futures_util::stream::iter(all);
            if is_true(query.get("follow")) {
                let live = events
                    .follow(cursor)
                    .map(|e| serde_json::to_value(&*e).unwrap_or_default());
                ndjson_response(ndjson_stream(history.chain(live)))
            } else {
                ndjson_response(ndjson_stream(history))
            }
        }
        (Method::GET, ["logs"]) => {
            let hook = match query.get("hook") {
                Some(h) => match HookKind::parse(h) {
                    Some(k) => Some(k),
                    None => {
                        return bad_request(&format!(
                            "hook `{h}` is not one of Initialize, Invoke, PreStop"
                        ));
                    }
                },
                None => None,
            };
            let q = LogQuery {
                function: query.get("function").cloned(),
                instance: query.get("instance").cloned(),
                request_id: query.get("requestId").cloned(),
                hook,
            };
            let logs = cp.logs();
            if is_true(query.get("follow")) {
                let lines = logs
                    .follow(0)
                    .filter(move |r| std::future::ready(q.matches(r)))
                    .map(|r| (*r).clone());
                ndjson_response(ndjson_stream(lines))
            } else {
                let lines: Vec<_> = logs.query(&q).iter().map(|r| (**r).clone()).collect();
                ndjson_response(ndjson_stream(futures_util::stream::iter(lines)))
            }
        }
        (method, _) => fc_error_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{method} /_fcemu/{rest} is not part of fcemu's control API"),
            &ids::request_id(),
        ),
    }
}

/// The entries of a spill file that pass `keep`.
fn spilled(
    file: Option<std::path::PathBuf>,
    keep: impl Fn(&serde_json::Value) -> bool,
) -> Vec<serde_json::Value> {
    let Some(text) = file.and_then(|f| std::fs::read_to_string(f).ok()) else {
        return vec![];
    };
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v| keep(v))
        .collect()
}

fn ndjson_response(body: Body) -> Response<Body> {
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .expect("a valid response")
}
