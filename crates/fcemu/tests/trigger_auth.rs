//! HTTP trigger `authType` with `fcemu up` on Docker: `function` refuses an unsigned request with FC's 403
//! and serves one the official SDK (alibabacloud-fc20230330, from PyPI) signs with the access's AccessKey;
//! `jwt` serves a token its inline JWKS verifies (passing a claim on) and refuses an expired one;
//! `--no-trigger-auth` serves them all.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;
use std::process::Command;

const SECRET: &str = "trigger-secret-4b1d";

/// An ES256 key: its JWK (public) and what signs tokens with it.
fn es256_key() -> (Value, jsonwebtoken::EncodingKey) {
    use base64::Engine;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let point = pair.public_key().as_ref();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwk = serde_json::json!({
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": "k1",
        "x": b64(&point[1..33]), "y": b64(&point[33..65]),
    });
    (jwk, jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref()))
}

fn token(key: &jsonwebtoken::EncodingKey, exp_from_now: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    let claims = serde_json::json!({ "uid": "user-42", "exp": now + exp_from_now });
    jsonwebtoken::encode(&header, &claims, key).unwrap()
}

fn yaml(jwk: &Value) -> String {
    format!(
        r#"edition: 3.0.0
name: trigger-auth
access: ci
resources:
  signed:
    component: fc3
    props:
      functionName: signed
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ authType: function, methods: [GET, POST] }} }}
  tokened:
    component: fc3
    props:
      functionName: tokened
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      triggers:
        - triggerName: http
          triggerType: http
          triggerConfig:
            authType: jwt
            methods: [GET]
            authConfig:
              jwks: {{ keys: [{jwk}] }}
              tokenLookup: header:Authorization:Bearer
              claimPassBy: header:uid:x-user-id
"#
    )
}

/// Calls the trigger at `path` with the official SDK's client, signed with `secret`: the status and body.
fn sdk_call(up: &Up, path: &str, secret: &str) -> (u16, Value) {
    let python = sdk_python();
    let script = r#"
import json, sys
from alibabacloud_fc20230330.client import Client
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_tea_util.models import RuntimeOptions
endpoint, path, key_id, secret = sys.argv[1:5]
client = Client(open_api_models.Config(access_key_id=key_id, access_key_secret=secret,
                                       endpoint=endpoint, protocol="http"))
params = open_api_models.Params(action="HttpTrigger", version="2023-03-30", protocol="HTTP",
                                pathname=path, method="POST", auth_type="AK", style="ROA",
                                req_body_type="json", body_type="json")
request = open_api_models.OpenApiRequest(query={"page": "2"}, body={"order": 7})
try:
    r = client.call_api(params, request, RuntimeOptions())
    print(json.dumps({"status": r["statusCode"], "body": r["body"]}))
except ClientException as e:
    print(json.dumps({"status": e.status_code or 0, "body": {"Code": e.code, "Message": e.message}}))
"#;
    let endpoint = up.url.trim_start_matches("http://");
    let out = Command::new(&python)
        .args(["-c", script, endpoint, path, "LTAIsdkcallerKEYS", secret])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (v["status"].as_u64().unwrap() as u16, v["body"].clone())
}

async fn call(up: &Up, path: &str, authorization: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", up.url));
    if let Some(a) = authorization {
        req = req.header("authorization", a);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_and_jwt_triggers_refuse_what_fc_refuses_and_serve_what_it_serves() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let (jwk, signing) = es256_key();
    let project = TestProject::with_yaml(&yaml(&jwk));
    let (_home, home_dir) = home_with_access(&format!(
        "ci:\n  AccessKeyID: LTAIsdkcallerKEYS\n  AccessKeySecret: {SECRET}\n"
    ));
    let up = Up::start_with(project.path(), "127.0.0.1:0", &[("HOME", &home_dir)], &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("trigger auth: function signed's HTTP trigger http: authType function")
            && up.printed("(key …KEYS)"),
        "{:#?}",
        up.output()
    );
    assert!(up.printed("trigger auth: function tokened's HTTP trigger http: authType jwt: a token in header authorization must verify against its 1 JWKS key"));

    // authType function: unsigned, wrongly signed, signed by the SDK.
    let (status, error) = call(&up, "/signed/echo", None).await;
    assert_eq!(status, 403, "{error}");
    assert_eq!(error["Code"], "AccessDenied", "{error}");
    let (status, error) = sdk_call(&up, "/signed/echo", "not-the-secret");
    assert_eq!(
        (status, &error["Code"]),
        (403, &Value::from("SignatureNotMatch")),
        "{error}"
    );
    let (status, seen) = sdk_call(&up, "/signed/echo", SECRET);
    assert_eq!(status, 200, "{seen}");
    assert_eq!(
        (&seen["method"], &seen["path"], &seen["query"]),
        (
            &Value::from("POST"),
            &Value::from("/echo"),
            &Value::from("page=2")
        ),
        "{seen}"
    );
    assert!(
        seen["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("ACS3-HMAC-SHA256 Credential=LTAIsdkcallerKEYS,"),
        "{seen}"
    );

    // authType jwt: no token, an expired one, a good one (its uid passed on; a forged x-user-id is not).
    let (status, error) = call(&up, "/tokened/echo", None).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["Message"].as_str().unwrap().contains("send a token"),
        "{error}"
    );
    let expired = format!("Bearer {}", token(&signing, -3600));
    let (status, error) = call(&up, "/tokened/echo", Some(&expired)).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["Message"].as_str().unwrap().contains("expired"),
        "{error}"
    );
    let good = format!("Bearer {}", token(&signing, 3600));
    let (status, seen) = call(&up, "/tokened/echo", Some(&good)).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen["headers"]["x-user-id"], "user-42", "{seen}");
    let (_, other_key) = es256_key();
    let forged = format!("Bearer {}", token(&other_key, 3600));
    let (status, error) = call(&up, "/tokened/echo", Some(&forged)).await;
    assert_eq!(status, 403, "{error}");
    assert!(
        error["Message"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{error}"
    );
    let refused: Vec<_> = events_named(&up, "invoke.end").await;
    assert_eq!(
        refused.len(),
        2,
        "only the two requests let through ran: {refused:?}"
    );
    assert_eq!(up.stop().0, 0);

    // --no-trigger-auth: both served unsigned, and said so.
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("HOME", &home_dir)],
        &["--no-trigger-auth"],
    );
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("trigger auth: none (--no-trigger-auth)"),
        "{:#?}",
        up.output()
    );
    for path in ["/signed/echo", "/tokened/echo"] {
        let (status, seen) = call(&up, path, None).await;
        assert_eq!(status, 200, "{path}: {seen}");
    }
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
