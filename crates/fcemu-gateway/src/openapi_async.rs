//! The OpenAPI's asynchronous invocation configuration: PutAsyncInvokeConfig, GetAsyncInvokeConfig,
//! DeleteAsyncInvokeConfig and ListAsyncInvokeConfigs, in FC's shapes and with its errors. What they set
//! applies to the next try of every queued event.

use crate::{invalid_argument, json_response, not_found};
use fcemu_control::{Body, ControlPlane, StoredAsyncConfig, fc_error_response, ids};
use http::{Request, Response, StatusCode};

/// The calls under `functions/{name}/async-invoke-config` and `async-invoke-configs`; None for any other.
pub async fn handle(
    cp: &ControlPlane,
    segments: &[&str],
    req: Request<Body>,
) -> Option<Response<Body>> {
    let response = match (req.method().as_str(), segments) {
        ("GET", ["async-invoke-configs"]) => {
            let wanted = crate::query_param(req.uri(), "functionName");
            let configs: Vec<_> = cp
                .async_invoke_configs()
                .iter()
                .filter(|(name, _)| wanted.as_ref().is_none_or(|w| w == name))
                .map(|(name, stored)| shape(cp, name, stored))
                .collect();
            json_response(StatusCode::OK, &serde_json::json!({ "configs": configs }))
        }
        (method, ["functions", name, "async-invoke-config"]) => {
            let name = name.to_string();
            if cp.function(&name).is_none() {
                return Some(not_found(&name));
            }
            match method {
                "GET" => match cp.async_invoke_config(&name) {
                    Some(stored) => json_response(StatusCode::OK, &shape(cp, &name, &stored)),
                    None => no_config(&name),
                },
                "DELETE" => match cp.delete_async_invoke_config(&name) {
                    true => Response::builder()
                        .status(StatusCode::NO_CONTENT)
                        .body(fcemu_control::empty_body())
                        .expect("a valid response"),
                    false => no_config(&name),
                },
                "PUT" => put(cp, &name, req).await,
                _ => return None,
            }
        }
        _ => return None,
    };
    Some(response)
}

async fn put(cp: &ControlPlane, name: &str, req: Request<Body>) -> Response<Body> {
    // An async invoke config is a few hundred bytes of JSON.
    let body = match crate::collect_limited(req.into_body(), 64 * 1024).await {
        Ok(c) => c.to_bytes(),
        Err(e) => return invalid_argument(&format!("reading the body failed: {e}")),
    };
    let json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return invalid_argument(&format!("the body is not JSON: {e}")),
    };
    match fcemu_spec::parse_async_invoke_config(&json) {
        Ok(config) => {
            let stored = cp.put_async_invoke_config(name, config);
            json_response(StatusCode::OK, &shape(cp, name, &stored))
        }
        Err(why) => invalid_argument(&why),
    }
}

/// FC's AsyncConfig: the config, the function's ARN, and when it was made and last changed.
fn shape(cp: &ControlPlane, name: &str, stored: &StoredAsyncConfig) -> serde_json::Value {
    let mut v = fcemu_spec::async_invoke_props(&stored.config);
    v["functionArn"] = cp.function_arn(name).into();
    v["createdTime"] = humantime::format_rfc3339_seconds(stored.created)
        .to_string()
        .into();
    v["lastModifiedTime"] = humantime::format_rfc3339_seconds(stored.modified)
        .to_string()
        .into();
    v
}

fn no_config(name: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::NOT_FOUND,
        "AsyncConfigNotExists",
        &format!(
            "function {name} has no async invoke config: PUT one first (or set asyncInvokeConfig in the s.yaml)"
        ),
        &ids::request_id(),
    )
}
