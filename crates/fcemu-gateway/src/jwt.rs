//! `authType: jwt`: the request's token (read where `tokenLookup` says) must verify against the trigger's
//! JSON Web Key Set (the key its `kid` names, or any key when it names none, as FC allows) and be within its
//! `exp` and `nbf`; the claims `claimPassBy` names go on to the function as headers, query parameters or
//! cookies.

use crate::signature::Refused;
use fcemu_spec::{JwtAuth, ParamKind};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};

/// Checks the token in `parts`; on success adds the claims it passes on.
pub(crate) fn verify(parts: &mut http::request::Parts, auth: &JwtAuth) -> Result<(), Refused> {
    let token = auth
        .token_lookup
        .iter()
        .find_map(|source| {
            let raw = match source.kind {
                ParamKind::Header => header(parts, &source.name),
                ParamKind::Query => crate::query_param(&parts.uri, &source.name),
                ParamKind::Cookie => cookie(parts, &source.name),
            }?;
            let token = match source.prefix.as_str() {
                "" => raw.as_str(),
                prefix => strip_prefix_ignoring_case(&raw, prefix)?.trim_start(),
            };
            Some(token.to_string())
        })
        .ok_or_else(|| {
            denied(format!(
                "this HTTP trigger's authType is jwt: send a token in {}",
                auth.token_lookup
                    .iter()
                    .map(|s| match s.prefix.as_str() {
                        "" => format!("{:?} {}", s.kind, s.name),
                        p => format!("{:?} {} ({p} TOKEN)", s.kind, s.name),
                    })
                    .collect::<Vec<_>>()
                    .join(" or ")
                    .to_lowercase()
            ))
        })?;
    let claims = claims(&token, auth)?;
    // What a claim is passed as is the claim's alone: a client cannot send it for a claim the token lacks.
    for pass in auth
        .claim_pass_by
        .iter()
        .filter(|p| p.kind == ParamKind::Header)
    {
        parts.headers.remove(pass.mapped_name.as_str());
    }
    for pass in &auth.claim_pass_by {
        let Some(value) = claims.get(&pass.claim) else {
            continue;
        };
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        add(parts, pass.kind, &pass.mapped_name, &text);
    }
    Ok(())
}

fn claims(
    token: &str,
    auth: &JwtAuth,
) -> Result<serde_json::Map<String, serde_json::Value>, Refused> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| denied(format!("the token is not a JSON Web Token: {e}")))?;
    let set: JwkSet = serde_json::from_value(auth.jwks.clone())
        .map_err(|e| denied(format!("the trigger's jwks is not a JSON Web Key Set: {e}")))?;
    let candidates: Vec<_> = set
        .keys
        .iter()
        .filter(|k| header.kid.is_none() || k.common.key_id == header.kid)
        // A key that says its algorithm is used for that one only.
        .filter(|k| {
            k.common
                .key_algorithm
                .is_none_or(|a| format!("{a:?}") == format!("{:?}", header.alg))
        })
        .collect();
    if candidates.is_empty() {
        return Err(denied(format!(
            "no key of the trigger's jwks verifies {:?} tokens{}",
            header.alg,
            header
                .kid
                .as_deref()
                .map(|k| format!(" with kid {k}"))
                .unwrap_or_default()
        )));
    }
    let mut validation = Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    let mut last = None;
    for jwk in candidates {
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        match jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(
            token,
            &key,
            &validation,
        ) {
            Ok(data) => return Ok(data.claims),
            Err(e) => last = Some(e),
        }
    }
    let why = match last.as_ref().map(|e| e.kind()) {
        Some(jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
            "the token has expired (exp)".into()
        }
        Some(jsonwebtoken::errors::ErrorKind::ImmatureSignature) => {
            "the token is not valid yet (nbf)".into()
        }
        Some(jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
            "the token's signature does not verify with the trigger's jwks".into()
        }
        Some(other) => format!("the token does not verify: {other:?}"),
        None => "no key of the trigger's jwks can be used".into(),
    };
    Err(denied(why))
}

fn denied(message: String) -> Refused {
    Refused {
        code: "AccessDenied",
        message,
    }
}

fn header(parts: &http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn cookie(parts: &http::request::Parts, name: &str) -> Option<String> {
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn strip_prefix_ignoring_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// A claim passed on: a header (replacing one the client sent), a query parameter or a cookie.
fn add(parts: &mut http::request::Parts, kind: ParamKind, name: &str, value: &str) {
    match kind {
        ParamKind::Header => {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(name),
                http::HeaderValue::try_from(value),
            ) {
                parts.headers.insert(name, value);
            }
        }
        ParamKind::Query => {
            let pair: String = form_urlencoded::Serializer::new(String::new())
                .append_pair(name, value)
                .finish();
            let path = parts.uri.path();
            let uri = match parts.uri.query() {
                Some(q) if !q.is_empty() => format!("{path}?{q}&{pair}"),
                _ => format!("{path}?{pair}"),
            };
            if let Ok(uri) = uri.parse() {
                parts.uri = uri;
            }
        }
        ParamKind::Cookie => {
            let cookie = match parts
                .headers
                .get(http::header::COOKIE)
                .and_then(|v| v.to_str().ok())
            {
                Some(existing) => format!("{existing}; {name}={value}"),
                None => format!("{name}={value}"),
            };
            if let Ok(v) = http::HeaderValue::try_from(cookie) {
                parts.headers.insert(http::header::COOKIE, v);
            }
        }
    }
}
