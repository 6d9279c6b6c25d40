//! The gateway against the fake runtime: routing, FC's limits, who may change state; over a real socket
//! in `tests/wire.rs`.

use super::*;
use fcemu_control::Options;
use fcemu_runtime::fake::FakeRuntime;
use fcemu_spec::parse_project;
use std::io::{Read, Write};
use std::path::Path;

/// `api` (GET, POST), `web` (GET) and `worker` (no trigger).
const THREE: &str = r#"
edition: 3.0.0
name: gw
resources:
  api:
    component: fc3
    props:
      functionName: api
      runtime: custom-container
      customContainerConfig: { image: "fixture:latest", port: 9000 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET, POST] } }
  web:
    component: fc3
    props:
      functionName: web
      runtime: custom-container
      customContainerConfig: { image: "fixture:latest", port: 9000 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      customContainerConfig: { image: "fixture:latest", port: 9000 }
"#;

fn plane(yaml: &str) -> (ControlPlane, FakeRuntime) {
    let project = parse_project(yaml, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    let fake = FakeRuntime::new();
    (
        ControlPlane::new(project, Arc::new(fake.clone()), Options::default()),
        fake,
    )
}

fn gateway(access: Access) -> (Gateway, ControlPlane, FakeRuntime) {
    let (cp, fake) = plane(THREE);
    (Gateway::new(cp.clone(), access), cp, fake)
}

fn request(method: &str, uri: &str) -> http::request::Builder {
    Request::builder().method(method).uri(uri)
}

async fn send(
    g: &Gateway,
    req: Request<String>,
) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    let response = g.handle(req.map(http_body_util::Full::<Bytes>::from)).await;
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (parts.status, parts.headers, json)
}

async fn get(g: &Gateway, uri: &str) -> (StatusCode, http::HeaderMap, serde_json::Value) {
    send(g, request("GET", uri).body(String::new()).unwrap()).await
}

#[tokio::test(start_paused = true)]
async fn the_timeline_page_and_its_scripts_are_served_from_the_binary() {
    let (g, _, _) = gateway(Access::open());
    for (uri, content_type, holds) in [
        ("/_fcemu/ui", "text/html", "<canvas id=\"timeline\""),
        ("/_fcemu/ui/", "text/html", "/_fcemu/ui/app.js"),
        ("/_fcemu/ui/model.js", "text/javascript", "class Model"),
        (
            "/_fcemu/ui/app.js",
            "text/javascript",
            "/_fcemu/events?follow=true",
        ),
    ] {
        let req = request("GET", uri).body(http_body_util::Full::<Bytes>::from(String::new()));
        let response = g.handle(req.unwrap()).await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        let header = response.headers()[http::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(header.starts_with(content_type), "{uri}: {header}");
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains(holds), "{uri}");
    }
    let (status, _, body) = get(&g, "/_fcemu/ui/other.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test(start_paused = true)]
async fn the_first_path_segment_names_the_function_and_the_rest_reaches_it() {
    let (g, cp, _fake) = gateway(Access::open());
    let (status, headers, seen) = get(&g, "/api/items/7?x=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["path"], "/items/7");
    assert_eq!(seen["headers"]["x-fc-function-name"], "api");
    assert!(headers.contains_key("x-fc-instance-id"));
    let (_, _, seen) = get(&g, "/web").await;
    assert_eq!(seen["path"], "/");
    assert_eq!(seen["headers"]["x-fc-function-name"], "web");
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_segment_that_names_no_triggered_function_is_404_listing_the_routes() {
    let (g, _cp, fake) = gateway(Access::open());
    for uri in ["/nope/x", "/worker/x"] {
        let (status, _, body) = get(&g, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_eq!(body["Code"], "FunctionNotFound");
        let message = body["Message"].as_str().unwrap();
        assert!(message.contains("/api/, /web/"), "{message}");
    }
    assert_eq!(fake.count("create"), 0);
}

#[tokio::test(start_paused = true)]
async fn with_one_trigger_every_path_goes_to_its_function() {
    let one = THREE.split("  web:").next().unwrap();
    let (cp, _fake) = plane(one);
    let g = Gateway::new(cp.clone(), Access::open());
    let (status, _, seen) = get(&g, "/api/items").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(seen["path"], "/api/items", "the path is not cut");
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_method_the_trigger_does_not_accept_is_405() {
    let (g, _cp, fake) = gateway(Access::open());
    let (status, _, body) = send(&g, request("POST", "/web/x").body(String::new()).unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["Code"], "MethodNotAllowed");
    assert_eq!(fake.count("create"), 0);
}

#[tokio::test(start_paused = true)]
async fn requests_over_fc_limits_are_refused_before_any_instance() {
    let (g, _cp, fake) = gateway(Access::open());
    let big_header = request("GET", "/api/x")
        .header("x-big", "a".repeat(MAX_HEADER_BYTES))
        .body(String::new())
        .unwrap();
    let long_path = format!("/api/{}", "p".repeat(MAX_PATH_BYTES));
    let declared = request("POST", "/api/x")
        .header("content-length", (MAX_BODY_BYTES + 1).to_string())
        .body(String::new())
        .unwrap();
    let cases = [
        (big_header, "request headers take"),
        (
            request("GET", &long_path).body(String::new()).unwrap(),
            "request path takes",
        ),
        (declared, "request body is"),
    ];
    for (req, needle) in cases {
        let (status, _, body) = send(&g, req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["Code"], "InvalidArgument");
        assert!(body["Message"].as_str().unwrap().contains(needle), "{body}");
    }
    assert_eq!(fake.count("create"), 0, "no instance was touched");
}

#[tokio::test(start_paused = true)]
async fn the_control_api_and_the_openapi_subset_answer_in_fc_shape() {
    let (g, _cp, _fake) = gateway(Access::open());
    let expected = [
        ("/_fcemu/healthz", StatusCode::OK, "status", "ok"),
        (
            "/_fcemu/nothing-here",
            StatusCode::NOT_FOUND,
            "Code",
            "NotFound",
        ),
        (
            "/_fcemu/logs?hook=Sleep",
            StatusCode::BAD_REQUEST,
            "Code",
            "InvalidArgument",
        ),
        (
            "/2023-03-30/functions/nope",
            StatusCode::NOT_FOUND,
            "Code",
            "FunctionNotFound",
        ),
        (
            "/2023-03-30/layers",
            StatusCode::NOT_FOUND,
            "Code",
            "NotFound",
        ),
    ];
    for (path, status, field, value) in expected {
        let (got, _, body) = get(&g, path).await;
        assert_eq!((got, body[field].as_str()), (status, Some(value)), "{path}");
    }
    let (status, _, body) = get(&g, "/2023-03-30/functions").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["functions"].as_array().unwrap().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn with_a_token_only_its_holder_may_change_state_and_traffic_stays_open() {
    let token = Token::new("s3cret");
    let (g, cp, _fake) = gateway(Access::with_token(token.clone()));
    let call = |method: &str, uri: &str, bearer: Option<&str>, body: &str| {
        let mut req = request(method, uri);
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.body(body.to_string()).unwrap()
    };
    let changes = [
        ("POST", "/_fcemu/functions/api/reclaim", ""),
        (
            "PUT",
            "/2023-03-30/functions/api/provision-config",
            r#"{"target": 1}"#,
        ),
        ("DELETE", "/2023-03-30/functions/api/provision-config", ""),
    ];
    for (method, uri, body) in changes {
        for bearer in [None, Some("wrong"), Some("s3cre")] {
            let (status, headers, answer) = send(&g, call(method, uri, bearer, body)).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} with {bearer:?}"
            );
            assert_eq!(answer["Code"], "Unauthorized");
            assert_eq!(headers["www-authenticate"], "Bearer");
        }
        let (status, _, answer) = send(&g, call(method, uri, Some("s3cret"), body)).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {answer}");
    }
    // Reading needs it too: the functions' environment, their logs and events are not for anyone.
    for uri in [
        "/_fcemu/instances",
        "/_fcemu/functions",
        "/_fcemu/logs",
        "/_fcemu/events",
        "/_fcemu/billing",
        "/2023-03-30/functions",
        "/2023-03-30/functions/api/provision-config",
    ] {
        let (status, _, _) = send(&g, call("GET", uri, None, "")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "GET {uri}");
        let (status, _, answer) = send(&g, call("GET", uri, Some("s3cret"), "")).await;
        assert_eq!(status, StatusCode::OK, "GET {uri}: {answer}");
    }
    // Trigger traffic, InvokeFunction and the timeline page's own files need no token.
    for (method, uri) in [
        ("GET", "/api/hello"),
        ("POST", "/2023-03-30/functions/api/invocations"),
        ("GET", "/_fcemu/ui"),
        ("GET", "/_fcemu/ui/app.js"),
    ] {
        let (status, _, answer) = send(&g, call(method, uri, None, "")).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {answer}");
    }
    cp.shutdown(Duration::from_secs(1)).await;
}

mod domains;
mod wire;
