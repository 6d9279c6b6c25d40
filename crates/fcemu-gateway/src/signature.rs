//! `authType: function`: a request must be signed with the AccessKey that stands in for the account's (the
//! s.yaml's access, or the environment's: the same keys functions with a role get). Two signatures are
//! accepted, as FC accepts them:
//! - FC's own, `Authorization: FC <id>:<base64 HMAC-SHA256>` over the method, Content-MD5, Content-Type,
//!   Date, the `x-fc-*` headers and the decoded path with its sorted query (FC 2.0's SDKs send it);
//! - the SDKs' `ACS3-HMAC-SHA256 Credential=<id>,SignedHeaders=...,Signature=<hex>` over the canonical
//!   request (method, path, sorted query, the signed headers, the body's SHA-256), dated by `x-acs-date`
//!   (what FC 3.0 documents for HTTP triggers).
//!
//! Either must be dated within 15 minutes of now, as on FC.

use fcemu_control::Credentials;
use http::HeaderMap;
use ring::{digest, hmac};
use std::time::{Duration, SystemTime};

/// How far a signed request's date may be from now.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a request is refused: FC's error code and what to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    pub code: &'static str,
    pub message: String,
}

fn refused(code: &'static str, message: impl Into<String>) -> Refused {
    Refused {
        code,
        message: message.into(),
    }
}

/// What of a request its signature covers.
pub(crate) struct Signed<'a> {
    pub method: &'a str,
    /// As sent (percent-encoded), without the query.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

pub(crate) fn verify(r: &Signed, keys: &Credentials, now: SystemTime) -> Result<(), Refused> {
    let authorization = header(r.headers, "authorization").ok_or_else(|| {
        refused(
            "AccessDenied",
            "this HTTP trigger's authType is function: sign the request with the AccessKey fcemu stands in with (Authorization: FC <id>:<signature>, or ACS3-HMAC-SHA256 as the Alibaba Cloud SDKs sign), or serve it with --no-trigger-auth",
        )
    })?;
    if let Some(rest) = authorization.strip_prefix("FC ") {
        verify_fc(r, rest, keys, now)
    } else if let Some(rest) = authorization.strip_prefix("ACS3-HMAC-SHA256 ") {
        verify_acs3(r, rest, keys, now)
    } else {
        Err(refused(
            "AccessDenied",
            "the Authorization header is neither `FC <id>:<signature>` nor `ACS3-HMAC-SHA256 Credential=...`",
        ))
    }
}

fn verify_fc(r: &Signed, value: &str, keys: &Credentials, now: SystemTime) -> Result<(), Refused> {
    let (id, signature) = value
        .split_once(':')
        .ok_or_else(|| refused("AccessDenied", "Authorization: FC takes <id>:<signature>"))?;
    known_key(id, keys)?;
    let date = header(r.headers, "date").ok_or_else(|| {
        refused(
            "AccessDenied",
            "required HTTP header Date was not specified",
        )
    })?;
    let when = httpdate::parse_http_date(date).map_err(|_| {
        refused(
            "AccessDenied",
            format!("the Date header is \"{date}\", not an HTTP date such as Mon, 02 Jan 2006 15:04:05 GMT"),
        )
    })?;
    within_skew(when, now)?;
    let mut fc_headers: Vec<(String, String)> = r
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-fc-"))
        .map(|k| (k.as_str().to_string(), values(r.headers, k.as_str())))
        .collect();
    fc_headers.sort();
    let canonical_headers: String = fc_headers
        .iter()
        .map(|(k, v)| format!("{k}:{v}\n"))
        .collect();
    let path = decoded(r.path);
    let mut params: Vec<String> = r
        .query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| format!("{k}={v}"))
                .collect()
        })
        .unwrap_or_default();
    params.sort();
    // Without a query, FC's SDKs differ on whether the path is followed by an empty line: either will do.
    let resources = if params.is_empty() {
        vec![path.clone(), format!("{path}\n")]
    } else {
        vec![format!("{path}\n{}", params.join("\n"))]
    };
    let given = base64_decode(signature)
        .ok_or_else(|| refused("SignatureNotMatch", "the signature is not base64"))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, keys.access_key_secret.as_bytes());
    let head = format!(
        "{}\n{}\n{}\n{date}\n{canonical_headers}",
        r.method,
        header(r.headers, "content-md5").unwrap_or(""),
        header(r.headers, "content-type").unwrap_or(""),
    );
    if resources
        .iter()
        .any(|resource| hmac::verify(&key, format!("{head}{resource}").as_bytes(), &given).is_ok())
    {
        Ok(())
    } else {
        Err(mismatch())
    }
}

fn verify_acs3(
    r: &Signed,
    value: &str,
    keys: &Credentials,
    now: SystemTime,
) -> Result<(), Refused> {
    let field = |name: &str| {
        value
            .split(',')
            .filter_map(|part| part.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    };
    let (Some(id), Some(signed_headers), Some(signature)) = (
        field("Credential"),
        field("SignedHeaders"),
        field("Signature"),
    ) else {
        return Err(refused(
            "AccessDenied",
            "ACS3-HMAC-SHA256 takes Credential=<id>,SignedHeaders=<names>,Signature=<hex>",
        ));
    };
    known_key(id, keys)?;
    let date = header(r.headers, "x-acs-date").ok_or_else(|| {
        refused(
            "AccessDenied",
            "required HTTP header x-acs-date was not specified",
        )
    })?;
    let when = humantime::parse_rfc3339_weak(date).map_err(|_| {
        refused(
            "AccessDenied",
            format!("x-acs-date is \"{date}\", not a time such as 2006-01-02T15:04:05Z"),
        )
    })?;
    within_skew(when, now)?;
    if let Some(token) = &keys.security_token {
        if header(r.headers, "x-acs-security-token") != Some(token.as_str()) {
            return Err(refused(
                "InvalidSecurityToken",
                "the AccessKey is temporary: x-acs-security-token must carry its security token",
            ));
        }
    }
    let body_hash = hex(digest::digest(&digest::SHA256, r.body).as_ref());
    let payload = match header(r.headers, "x-acs-content-sha256") {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_string(),
        Some(claimed) if !claimed.eq_ignore_ascii_case(&body_hash) => {
            return Err(refused(
                "SignatureNotMatch",
                "x-acs-content-sha256 is not the SHA-256 of the body that came",
            ));
        }
        _ => body_hash,
    };
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';').filter(|n| !n.is_empty()) {
        let name = name.to_ascii_lowercase();
        let mut vals: Vec<&str> = r
            .headers
            .get_all(name.as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::trim)
            .collect();
        if vals.is_empty() {
            return Err(refused(
                "SignatureNotMatch",
                format!("SignedHeaders names {name}, which the request does not carry"),
            ));
        }
        vals.sort_unstable();
        canonical_headers.push_str(&format!("{name}:{}\n", vals.join(",")));
    }
    let canonical = format!(
        "{}\n{}\n{}\n{canonical_headers}\n{}\n{payload}",
        r.method,
        if r.path.is_empty() { "/" } else { r.path },
        canonical_query(r.query),
        signed_headers.to_ascii_lowercase(),
    );
    let string_to_sign = format!(
        "ACS3-HMAC-SHA256\n{}",
        hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
    );
    let given = unhex(signature).ok_or_else(mismatch)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, keys.access_key_secret.as_bytes());
    hmac::verify(&key, string_to_sign.as_bytes(), &given).map_err(|_| mismatch())
}

fn mismatch() -> Refused {
    refused(
        "SignatureNotMatch",
        "the request signature does not match: sign it with the AccessKey fcemu stands in with, over the request as sent",
    )
}

fn known_key(id: &str, keys: &Credentials) -> Result<(), Refused> {
    if id == keys.access_key_id {
        return Ok(());
    }
    Err(refused(
        "InvalidAccessKeyId",
        format!(
            "the request is signed with an AccessKey this fcemu does not stand in with; it checks signatures against key {}",
            keys.key_hint()
        ),
    ))
}

fn within_skew(when: SystemTime, now: SystemTime) -> Result<(), Refused> {
    let skew = now
        .duration_since(when)
        .or_else(|e| Ok::<_, ()>(e.duration()))
        .unwrap_or_default();
    if skew > MAX_SKEW {
        return Err(refused(
            "RequestTimeTooSkewed",
            format!(
                "the request is dated {}s from now, allowed: at most 15 minutes",
                skew.as_secs()
            ),
        ));
    }
    Ok(())
}

/// The SDKs' canonical query: sorted by (decoded) name, each value percent-encoded but for `-_.~`.
fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .map(|q| {
            q.split('&')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=').unwrap_or((p, ""));
                    (decoded(k), encoded(&decoded(v)))
                })
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn values(headers: &HeaderMap, name: &str) -> String {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",")
}

/// `%XX` decoded (a `+` stays a `+`: this is a path or an SDK-encoded query, not a form).
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex_pair = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex_pair) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn encoded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

#[cfg(test)]
#[path = "signature_tests.rs"]
mod tests;
