//! Signatures made by the Alibaba Cloud SDK's own signer (`alibabacloud_tea_openapi.utils.Utils.
//! get_authorization`) and by FC's documented algorithm, and what each refusal says.

use super::*;
use std::time::UNIX_EPOCH;

fn keys() -> Credentials {
    Credentials {
        access_key_id: "LTAItestkeyid".into(),
        access_key_secret: "testsecret".into(),
        security_token: None,
    }
}

/// 2026-12-03T16:40:00Z, when the requests below were signed.
fn signed_at() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_796_316_000)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(k, v)| {
            (
                http::HeaderName::try_from(*k).unwrap(),
                http::HeaderValue::try_from(*v).unwrap(),
            )
        })
        .collect()
}

const BODY: &[u8] = br#"{"n":1}"#;

fn acs3_headers(signature: &str, body_sha256: &str) -> HeaderMap {
    headers(&[
        ("host", "127.0.0.1:9000"),
        ("x-acs-date", "2026-12-03T16:40:00Z"),
        ("x-acs-content-sha256", body_sha256),
        ("content-type", "application/json"),
        ("authorization", signature),
    ])
}

/// What the SDK's signer made for POST /api/items?b=2%20x&a=1 with the body `{"n":1}`.
const SDK_SIGNATURE: &str = "ACS3-HMAC-SHA256 Credential=LTAItestkeyid,SignedHeaders=content-type;host;x-acs-content-sha256;x-acs-date,Signature=92e27c9e51190f62cc58426ad73e95eb30e249c46f3b7d969fc29daa096e9f84";

fn check(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    at: SystemTime,
) -> Result<(), Refused> {
    let signed = Signed {
        method,
        path,
        query,
        headers,
        body,
    };
    verify(&signed, &keys(), at)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, bytes).as_ref())
}

#[test]
fn the_sdks_acs3_signature_verifies_and_any_change_breaks_it() {
    let hash = sha256_hex(BODY);
    let h = acs3_headers(SDK_SIGNATURE, &hash);
    let query = Some("b=2%20x&a=1");
    assert_eq!(
        check("POST", "/api/items", query, &h, BODY, signed_at()),
        Ok(())
    );
    // Another method, path, query or body: refused.
    for (method, path, q, body) in [
        ("PUT", "/api/items", query, BODY),
        ("POST", "/api/other", query, BODY),
        ("POST", "/api/items", Some("b=3&a=1"), BODY),
    ] {
        let refused = check(method, path, q, &h, body, signed_at()).unwrap_err();
        assert_eq!(refused.code, "SignatureNotMatch", "{method} {path} {q:?}");
    }
    let refused = check("POST", "/api/items", query, &h, b"{}", signed_at()).unwrap_err();
    assert!(
        refused.message.contains("x-acs-content-sha256"),
        "{}",
        refused.message
    );
    // Too late, and by another key.
    let late = signed_at() + Duration::from_secs(16 * 60);
    let refused = check("POST", "/api/items", query, &h, BODY, late).unwrap_err();
    assert_eq!(refused.code, "RequestTimeTooSkewed");
    let other = acs3_headers(&SDK_SIGNATURE.replace("LTAItestkeyid", "LTAIother"), &hash);
    let refused = check("POST", "/api/items", query, &other, BODY, signed_at()).unwrap_err();
    assert_eq!(refused.code, "InvalidAccessKeyId");
    assert!(refused.message.contains("…eyid"), "{}", refused.message);
}

#[test]
fn fcs_own_signature_verifies_over_the_fc_headers_and_the_sorted_query() {
    // Base64 HMAC-SHA256 with `testsecret` of
    // "GET\n\napplication/json\nThu, 03 Dec 2026 16:40:00 GMT\nx-fc-trace:abc\n/api/items\na=1\nb=2".
    let h = headers(&[
        ("content-type", "application/json"),
        ("date", "Thu, 03 Dec 2026 16:40:00 GMT"),
        ("x-fc-trace", "abc"),
        (
            "authorization",
            "FC LTAItestkeyid:mchaoxePwuzm6C1MMKmXsz3sT7+bdhXxBl7AvyDGl8k=",
        ),
    ]);
    assert_eq!(
        check("GET", "/api/items", Some("b=2&a=1"), &h, b"", signed_at()),
        Ok(())
    );
    let refused = check("GET", "/api/items", Some("b=2&a=9"), &h, b"", signed_at()).unwrap_err();
    assert_eq!(refused.code, "SignatureNotMatch");
    let mut no_date = h.clone();
    no_date.remove("date");
    let refused = check(
        "GET",
        "/api/items",
        Some("b=2&a=1"),
        &no_date,
        b"",
        signed_at(),
    )
    .unwrap_err();
    assert!(refused.message.contains("Date"), "{}", refused.message);
}

#[test]
fn an_unsigned_request_is_told_how_to_sign() {
    let refused = check("GET", "/", None, &HeaderMap::new(), b"", signed_at()).unwrap_err();
    assert_eq!(refused.code, "AccessDenied");
    assert!(
        refused.message.contains("--no-trigger-auth"),
        "{}",
        refused.message
    );
    let h = headers(&[("authorization", "Bearer abc")]);
    assert_eq!(
        check("GET", "/", None, &h, b"", signed_at())
            .unwrap_err()
            .code,
        "AccessDenied"
    );
}

#[test]
fn the_canonical_query_sorts_names_and_encodes_values_as_the_sdks_do() {
    assert_eq!(
        canonical_query(Some("b=2%20x&a=1&c=%7E%2F")),
        "a=1&b=2%20x&c=~%2F"
    );
    assert_eq!(canonical_query(None), "");
}
