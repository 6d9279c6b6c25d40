//! Custom domain routes with `fcemu up` on Docker: an `fc3-domain` with `/api/*` to one function and `/*`
//! to another (which has no HTTP trigger, as the web-framework templates write it), methods limited on one,
//! an exact path, a rewrite, a second domain picked by `Host`, and the banner that lists them.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;

const PYTHON_IMAGE: &str = "fcemu-runtime-python:bookworm";

fn yaml() -> String {
    format!(
        r#"edition: 3.0.0
name: domains
resources:
  api:
    component: fc3
    props:
      functionName: api
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ authType: anonymous, methods: [GET] }} }}
  web:
    component: fc3
    props:
      functionName: web
      runtime: python3.10
      handler: index.handler
      code: ./code
  shop:
    component: fc3-domain
    props:
      region: cn-hangzhou
      domainName: shop.example.com
      protocol: HTTP
      routeConfig:
        routes:
          - {{ path: /api/*, functionName: api, methods: [GET, POST], qualifier: LATEST }}
          - path: /v2/*
            functionName: api
            rewriteConfig:
              wildcardRules: [{{ match: /v2/*, replacement: /echo/$1 }}]
          - {{ path: /health, functionName: api }}
          - {{ path: /*, functionName: web }}
  admin:
    component: fc3-domain
    props:
      domainName: admin.example.com
      routeConfig:
        routes:
          - {{ path: /*, functionName: api }}
"#
    )
}

/// What the Python function saw of the HTTP request.
const HANDLER: &str = r#"import json

def handler(event, context):
    e = json.loads(event)
    return {"statusCode": 200, "body": json.dumps({"function": "web", "path": e["rawPath"],
            "method": e["requestContext"]["http"]["method"]})}
"#;

async fn call(up: &Up, method: &str, path: &str, host: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut req = client.request(method.parse().unwrap(), format!("{}{path}", up.url));
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// The function a request reached and the path it saw: the fixture (api) echoes its headers and path.
fn reached(seen: &Value) -> (String, String) {
    match seen["headers"]["x-fc-function-name"].as_str() {
        Some(f) => (
            f.to_string(),
            seen["path"].as_str().unwrap_or("").to_string(),
        ),
        None => (
            seen["function"].as_str().unwrap_or("?").to_string(),
            seen["path"].as_str().unwrap_or("").to_string(),
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_domain_routes_paths_to_functions_in_fcs_order() {
    let docker = docker_with(&[PYTHON_IMAGE, FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml());
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/index.py"), HANDLER).unwrap();
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;
    let url = &up.url;
    for line in [
        "custom domain        shop.example.com (shop); its routes alone with Host: shop.example.com".to_string(),
        format!("{url}{:<16} -> api  [GET, POST]", "/api/*"),
        format!("{url}{:<16} -> api  (path rewritten by its rewriteConfig)", "/v2/*"),
        format!("{url}{:<16} -> web", "/*"),
    ] {
        assert!(up.printed(&line), "{line:?} not in {:#?}", up.output());
    }

    for (method, path, host, function, seen_path) in [
        ("GET", "/api/items?x=1", None, "api", "/api/items"),
        ("POST", "/api/items", None, "api", "/api/items"),
        ("GET", "/v2/items", None, "api", "/echo/items"),
        ("GET", "/health", None, "api", "/health"),
        // `/health` is exact: `/health/more` is the catch-all's.
        ("GET", "/health/more", None, "web", "/health/more"),
        ("GET", "/", None, "web", "/"),
        ("PUT", "/page", None, "web", "/page"),
        ("GET", "/page", Some("admin.example.com"), "api", "/page"),
    ] {
        let (status, seen) = call(&up, method, path, host).await;
        assert_eq!(status, 200, "{method} {path}: {seen}");
        assert_eq!(
            reached(&seen),
            (function.to_string(), seen_path.to_string()),
            "{method} {path} {host:?}: {seen}"
        );
    }
    let (_, seen) = call(&up, "GET", "/api/items?x=1", None).await;
    assert_eq!(seen["query"], "x=1", "{seen}");
    let (_, seen) = call(&up, "PUT", "/page", None).await;
    assert_eq!(seen["method"], "PUT", "{seen}");

    // /api/* takes GET and POST only: FC's 405, and no function ran for it.
    let (status, error) = call(&up, "DELETE", "/api/items", None).await;
    assert_eq!(status, 405, "{error}");
    assert_eq!(error["Code"], "MethodNotAllowed", "{error}");
    let ends = events_named(&up, "invoke.end").await.len();
    assert_eq!(ends, 10, "one invoke.end per request served");

    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
