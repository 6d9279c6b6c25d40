//! `/_fcemu/...`: fcemu's own control API (docs/contract.md), what `fcemu ps`, `logs`, `events` and `reclaim`
//! talk to.

use crate::{Call, json_response, ndjson_pages, ndjson_stream};
use fcemu_control::{Body, ControlPlane, FireRefused, HookKind, LogQuery, fc_error_response, ids};
use futures_util::StreamExt;
use http::{Method, Request, Response, StatusCode};
use serde_json::json;
use std::collections::HashMap;

fn query_map(req: &Request<Body>) -> HashMap<String, String> {
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

/// What a call under `/_fcemu/` does: everything that is not a GET changes state.
pub fn call(method: &Method, rest: &str) -> Call {
    match *method {
        Method::GET | Method::HEAD if crate::ui::is_asset(rest) => Call::Page,
        Method::GET | Method::HEAD => Call::Read,
        _ => Call::Change,
    }
}

pub async fn handle(cp: &ControlPlane, rest: &str, req: Request<Body>) -> Response<Body> {
    let segments: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    let query = query_map(&req);
    if req.method() == Method::GET {
        if let Some(page) = crate::ui::asset(rest) {
            return page;
        }
    }
    match (req.method().clone(), segments.as_slice()) {
        (Method::GET, ["healthz"]) => json_response(
            StatusCode::OK,
            &json!({ "status": if cp.is_shutting_down() { "stopping" } else { "ok" } }),
        ),
        (Method::GET, ["functions"]) => json_response(
            StatusCode::OK,
            &json!({ "functions": cp.functions().iter().map(|f| &f.spec).collect::<Vec<_>>() }),
        ),
        (Method::GET, ["gpus"]) => json_response(StatusCode::OK, &json!(cp.gpus())),
        (Method::GET, ["billing"]) => {
            json_response(StatusCode::OK, &json!({ "functions": cp.billing() }))
        }
        (Method::GET, ["instances"]) => {
            json_response(StatusCode::OK, &json!({ "instances": cp.instances() }))
        }
        (Method::GET, ["sessions"]) => json_response(
            StatusCode::OK,
            &json!({ "sessions": cp.live_sessions(query.get("function").map(String::as_str)) }),
        ),
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
        (Method::POST, ["functions", name, "triggers", trigger, "fire"]) => {
            fire(cp, name, trigger, query.get("data").cloned(), req).await
        }
        (Method::GET, ["events"]) => {
            let events = cp.events();
            if is_true(query.get("follow")) {
                ndjson_response(ndjson_stream(events.follow(0).map(|e| e.json_line())))
            } else {
                let pages = events
                    .pages(0)
                    .map(|page| page.iter().map(|e| e.json_line()).collect());
                ndjson_response(ndjson_pages(pages))
            }
        }
        (Method::GET, ["logs"]) => {
            let hook = match query.get("hook") {
                Some(h) => match HookKind::parse(h) {
                    Some(k) => Some(k),
                    None => {
                        return bad_request(&format!(
                            "hook `{h}` is not one of Initialize, Invoke, PreStop, PreFreeze"
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
                    .filter(move |e| std::future::ready(q.matches_entry(e)))
                    .map(|e| e.json_line());
                ndjson_response(ndjson_stream(lines))
            } else {
                let pages = logs
                    .query_pages(q)
                    .map(|page| page.iter().map(|e| e.json_line()).collect());
                ndjson_response(ndjson_pages(pages))
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

/// `fcemu trigger`: fires a timer or event-source trigger now; the body, when there is one, is the event.
async fn fire(
    cp: &ControlPlane,
    function: &str,
    trigger: &str,
    data: Option<String>,
    req: Request<Body>,
) -> Response<Body> {
    let event =
        match crate::openapi::read_event(req.into_body(), crate::openapi::EVENT_TOO_LARGE).await {
            Ok(event) => Some(event).filter(|e| !e.is_empty()),
            Err(refused) => return refused,
        };
    match cp.fire_trigger(function, trigger, event, data.as_deref()) {
        Ok(request_id) => json_response(
            StatusCode::ACCEPTED,
            &json!({ "functionName": function, "triggerName": trigger, "requestId": &*request_id }),
        ),
        Err(FireRefused::NoFunction) => fc_error_response(
            StatusCode::NOT_FOUND,
            "FunctionNotFound",
            &format!("function {function} does not exist in this project"),
            &ids::request_id(),
        ),
        Err(e @ FireRefused::NoTrigger { .. }) => fc_error_response(
            StatusCode::NOT_FOUND,
            "TriggerNotFound",
            &format!("trigger {trigger} of {function}: {e}"),
            &ids::request_id(),
        ),
        Err(e @ FireRefused::NotSent(_)) => bad_request(&e.to_string()),
    }
}

fn ndjson_response(body: Body) -> Response<Body> {
    Response::builder()
        .header(http::header::CONTENT_TYPE, "application/x-ndjson")
        .body(body)
        .expect("a valid response")
}
