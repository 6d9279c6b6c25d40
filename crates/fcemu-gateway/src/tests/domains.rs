//! Custom domain routes against the fake runtime: FC's precedence, methods, the `Host` that picks a domain,
//! rewrites, and the trigger rule for what no route matches.

use super::*;

/// `api` (its own trigger, GET) and `web` (none), behind two domains.
const ROUTED: &str = r#"
edition: 3.0.0
name: routed
resources:
  api:
    component: fc3
    props:
      functionName: api
      runtime: custom-container
      customContainerConfig: { image: "fixture:latest", port: 9000 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }
  web:
    component: fc3
    props:
      functionName: web
      runtime: custom-container
      customContainerConfig: { image: "fixture:latest", port: 9000 }
  shop:
    component: fc3-domain
    props:
      domainName: shop.example.com
      routeConfig:
        routes:
          - { path: /api/*, functionName: api, methods: [GET, POST] }
          - { path: /api/v2/*, functionName: web, rewriteConfig: { wildcardRules: [{ match: /api/v2/*, replacement: /$1 }] } }
          - { path: /login, functionName: api }
          - { path: /*, functionName: web, methods: [GET] }
          - { path: /gone/*, functionName: not-declared }
  admin:
    component: fc3-domain
    props:
      domainName: admin.example.com
      routeConfig:
        routes:
          - { path: /*, functionName: api }
"#;

async fn call(g: &Gateway, method: &str, uri: &str, host: &str) -> (StatusCode, serde_json::Value) {
    let req = request(method, uri)
        .header(http::header::HOST, host)
        .body(String::new())
        .unwrap();
    let (status, _, body) = send(g, req).await;
    (status, body)
}

fn reached(body: &serde_json::Value) -> (&str, &str) {
    (
        body["headers"]["x-fc-function-name"]
            .as_str()
            .unwrap_or("-"),
        body["path"].as_str().unwrap_or("-"),
    )
}

#[tokio::test(start_paused = true)]
async fn routes_reach_functions_in_fcs_order_with_the_path_as_sent() {
    let (cp, _fake) = plane(ROUTED);
    let g = Gateway::new(cp.clone(), Access::open());
    let local = "127.0.0.1:9000";
    for (method, uri, function, path) in [
        ("GET", "/api/users?page=2", "api", "/api/users"),
        ("POST", "/api/users", "api", "/api/users"),
        ("GET", "/api/v2/items", "web", "/items"),
        ("GET", "/login", "api", "/login"),
        ("GET", "/login/more", "web", "/login/more"),
        ("GET", "/", "web", "/"),
    ] {
        let (status, body) = call(&g, method, uri, local).await;
        assert_eq!(status, StatusCode::OK, "{method} {uri}: {body}");
        assert_eq!(reached(&body), (function, path), "{method} {uri}");
    }
    let (_, body) = call(&g, "GET", "/api/users?page=2", local).await;
    assert_eq!(body["query"], "page=2", "{body}");
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn the_closest_routes_methods_apply_with_fcs_405() {
    let (cp, _fake) = plane(ROUTED);
    let g = Gateway::new(cp.clone(), Access::open());
    let (status, body) = call(&g, "DELETE", "/api/users", "localhost:9000").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
    assert_eq!(body["Code"], "MethodNotAllowed");
    let message = body["Message"].as_str().unwrap();
    assert!(
        message.contains("/api/*") && message.contains("GET, POST"),
        "{message}"
    );
    // `/*` takes only GET: a POST elsewhere does not fall to another route.
    let (status, _) = call(&g, "POST", "/page", "localhost:9000").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_host_that_names_a_domain_gets_that_domains_routes() {
    let (cp, _fake) = plane(ROUTED);
    let g = Gateway::new(cp.clone(), Access::open());
    for host in ["admin.example.com", "admin.example.com.localhost:9000"] {
        let (status, body) = call(&g, "GET", "/page", host).await;
        assert_eq!(status, StatusCode::OK, "{host}: {body}");
        assert_eq!(reached(&body), ("api", "/page"), "{host}");
    }
    let (_, body) = call(&g, "GET", "/page", "shop.example.com").await;
    assert_eq!(reached(&body), ("web", "/page"));
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_route_to_an_undeclared_function_is_404_function_not_found() {
    let (cp, fake) = plane(ROUTED);
    let g = Gateway::new(cp.clone(), Access::open());
    let (status, body) = call(&g, "GET", "/gone/x", "localhost").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["Code"], "FunctionNotFound");
    assert!(body["Message"].as_str().unwrap().contains("not-declared"));
    assert_eq!(fake.count("create"), 0);
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn what_no_route_matches_follows_the_trigger_rule() {
    // Only /api/* is routed: /web/... reaches web by its first segment, as without a domain.
    let yaml = ROUTED.replace(
        "          - { path: /*, functionName: web, methods: [GET] }\n",
        "",
    );
    let yaml = yaml.split("  admin:").next().unwrap();
    let (cp, _fake) = plane(yaml);
    let g = Gateway::new(cp.clone(), Access::open());
    let (status, body) = call(&g, "GET", "/web/page", "localhost").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(reached(&body), ("web", "/page"));
    let (status, body) = call(&g, "GET", "/nothing", "localhost").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let message = body["Message"].as_str().unwrap();
    assert!(message.contains("/api/* -> api"), "{message}");
    cp.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_domains_auth_config_guards_its_routes_and_jwt_claims_pass_as_asked() {
    use base64::Engine;
    let secret = b"a-shared-secret-of-32-bytes-long";
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let yaml = format!(
        r#"
edition: 3.0.0
name: guarded
resources:
  api:
    component: fc3
    props:
      functionName: api
      runtime: custom-container
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
  signed:
    component: fc3-domain
    props:
      domainName: signed.example.com
      authConfig: {{ authType: function }}
      routeConfig: {{ routes: [{{ path: /*, functionName: api }}] }}
  tokened:
    component: fc3-domain
    props:
      domainName: tokened.example.com
      authConfig:
        authType: jwt
        authInfo: '{{"jwks": {{"keys": [{{"kty": "oct", "k": "{k}", "alg": "HS256"}}]}}, "tokenLookup": "query:token,cookie:jwt", "claimPassBy": "query:uid:user"}}'
      routeConfig: {{ routes: [{{ path: /*, functionName: api }}] }}
"#
    );
    let (cp, _fake) = plane(&yaml);
    let g = Gateway::new(cp.clone(), Access::open());
    let (status, body) = call(&g, "GET", "/x", "signed.example.com").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("no AccessKey"),
        "{body}"
    );

    let claims = serde_json::json!({ "uid": "u-7", "exp": 4_102_444_800u64 });
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap();
    let (status, body) = call(
        &g,
        "GET",
        &format!("/x?token={token}"),
        "tokened.example.com",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["query"].as_str().unwrap().ends_with("&user=u-7"),
        "{body}"
    );
    let req = request("GET", "/x")
        .header(http::header::HOST, "tokened.example.com")
        .header(http::header::COOKIE, format!("a=1; jwt={token}"))
        .body(String::new())
        .unwrap();
    let (status, _, body) = send(&g, req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = call(&g, "GET", "/x?token=not.a.token", "tokened.example.com").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    cp.shutdown(Duration::from_secs(1)).await;
}
