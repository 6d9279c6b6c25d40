//! Who may call an HTTP trigger (`triggerConfig.authType` and `authConfig`) or a custom domain
//! (`authConfig.authType` and `authInfo`): anyone (`anonymous`), a caller who signs the request with an
//! AccessKey (`function`), or one with a JSON Web Token the configured key set verifies (`jwt`). Checking a
//! request is the gateway's; this reads and validates the configuration.

use crate::fields::{Cx, Fields, describe};
use crate::vars;
use serde::Serialize;
use serde_yaml::Value;

/// A trigger's or domain's authentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(tag = "authType", rename_all = "lowercase")]
pub enum TriggerAuth {
    /// Served to anyone: what a trigger without `authType` is here (FC's API would make it `function`).
    #[default]
    Anonymous,
    /// An FC signature (`Authorization: FC id:signature`) or the SDKs' `ACS3-HMAC-SHA256` one.
    Function,
    Jwt(JwtAuth),
}

/// `authType: jwt`: the key set tokens are verified with, where the token is read from, and which claims
/// go on to the function as what.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuth {
    /// The JSON Web Key Set (`{"keys": [...]}`); not shown, as a symmetric key in it is a secret.
    #[serde(skip)]
    pub jwks: serde_json::Value,
    pub token_lookup: Vec<TokenSource>,
    pub claim_pass_by: Vec<ClaimPass>,
}

/// Where a request carries its token: `header:Authorization:Bearer`, `query:token`, `cookie:jwt`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TokenSource {
    pub kind: ParamKind,
    pub name: String,
    /// What comes before the token (`Bearer`), without the space after it.
    pub prefix: String,
}

/// A claim passed on to the function: `header:uid:x-user-id` puts the token's `uid` in `x-user-id`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClaimPass {
    pub kind: ParamKind,
    pub claim: String,
    pub mapped_name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    Header,
    Query,
    Cookie,
}

impl ParamKind {
    fn written(self) -> &'static str {
        match self {
            ParamKind::Header => "header",
            ParamKind::Query => "query",
            ParamKind::Cookie => "cookie",
        }
    }
}

/// `auth` as a triggerConfig writes it: its `authType` and, for jwt, its `authConfig`.
pub(crate) fn write_auth(auth: &TriggerAuth, config: &mut serde_json::Value) {
    match auth {
        TriggerAuth::Anonymous => {}
        TriggerAuth::Function => config["authType"] = "function".into(),
        TriggerAuth::Jwt(jwt) => {
            config["authType"] = "jwt".into();
            config["authConfig"] = serde_json::json!({
                "jwks": jwt.jwks,
                "tokenLookup": jwt.token_lookup.iter()
                    .map(|t| format!("{}:{}:{}", t.kind.written(), t.name, t.prefix))
                    .collect::<Vec<_>>(),
                "claimPassBy": jwt.claim_pass_by.iter()
                    .map(|c| format!("{}:{}:{}", c.kind.written(), c.claim, c.mapped_name))
                    .collect::<Vec<_>>(),
            });
        }
    }
}

/// `authType` with its `authConfig` (a mapping, or the JSON string FC's API takes), from `config`.
pub(crate) fn trigger_auth(
    cx: &mut Cx,
    config: &Fields,
    type_key: &str,
    config_key: &str,
) -> TriggerAuth {
    let kind = config.string(cx, type_key).unwrap_or_default();
    match kind.to_ascii_lowercase().as_str() {
        "" | "anonymous" => TriggerAuth::Anonymous,
        "function" => TriggerAuth::Function,
        "jwt" => jwt(cx, config.get(config_key), &config.field(config_key)),
        other => {
            cx.error(
                &config.field(type_key),
                format!("is {other}, allowed: anonymous, function, jwt"),
            );
            TriggerAuth::Anonymous
        }
    }
}

fn jwt(cx: &mut Cx, value: Option<&Value>, path: &str) -> TriggerAuth {
    let parsed;
    let value = match value {
        Some(Value::String(text)) => match serde_yaml::from_str::<Value>(text) {
            Ok(v) => {
                parsed = v;
                Some(&parsed)
            }
            Err(e) => {
                cx.error(path, format!("is not JSON: {e}"));
                return TriggerAuth::Anonymous;
            }
        },
        other => other,
    };
    let config = Fields::new(cx, value, path.to_string());
    if config.map.is_none() {
        cx.error(
            path,
            "is required with authType jwt: {jwks: {keys: [...]}, tokenLookup: header:Authorization:Bearer}".into(),
        );
        return TriggerAuth::Anonymous;
    }
    let jwks = jwks(cx, config.get("jwks"), &config.field("jwks"));
    let token_lookup = params(cx, &config, "tokenLookup")
        .into_iter()
        .map(|(kind, name, prefix)| TokenSource { kind, name, prefix })
        .collect::<Vec<_>>();
    let claim_pass_by = params(cx, &config, "claimPassBy")
        .into_iter()
        .map(|(kind, claim, mapped)| ClaimPass {
            kind,
            mapped_name: if mapped.is_empty() {
                claim.clone()
            } else {
                mapped
            },
            claim,
        })
        .collect();
    TriggerAuth::Jwt(JwtAuth {
        jwks,
        token_lookup: if token_lookup.is_empty() {
            vec![TokenSource {
                kind: ParamKind::Header,
                name: "Authorization".into(),
                prefix: "Bearer".into(),
            }]
        } else {
            token_lookup
        },
        claim_pass_by,
    })
}

/// The key set, as JSON, once it has at least one key with a `kty`.
fn jwks(cx: &mut Cx, value: Option<&Value>, path: &str) -> serde_json::Value {
    let value = match value {
        Some(Value::String(text)) => serde_yaml::from_str::<Value>(text).ok(),
        other => other.cloned(),
    };
    let json = value
        .as_ref()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(serde_json::Value::Null);
    let keys = json.get("keys").and_then(serde_json::Value::as_array);
    let usable = keys.is_some_and(|k| !k.is_empty() && k.iter().all(|k| k.get("kty").is_some()));
    if !usable {
        cx.error(
            path,
            "is required with authType jwt: a JSON Web Key Set, {keys: [{kty: RSA, n: ..., e: AQAB, alg: RS256}]}, each key with its kty".into(),
        );
    }
    json
}

/// `TYPE:NAME[:THIRD]` items, comma-separated in one string or as a list.
fn params(cx: &mut Cx, config: &Fields, key: &str) -> Vec<(ParamKind, String, String)> {
    let path = config.field(key);
    let items: Vec<String> = match config.get(key) {
        None => return Vec::new(),
        Some(Value::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(Value::Sequence(items)) => items.iter().map(vars::scalar_text).collect(),
        Some(other) => {
            cx.error(
                &path,
                format!(
                    "must be a string such as header:Authorization:Bearer, found {}",
                    describe(other)
                ),
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for item in items.iter().filter(|i| !i.is_empty()) {
        let mut parts = item.splitn(3, ':');
        let (kind, name, third) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or_default().trim(),
            parts.next().unwrap_or_default().trim(),
        );
        let kind = match kind.trim().to_ascii_lowercase().as_str() {
            "header" => ParamKind::Header,
            "query" => ParamKind::Query,
            "cookie" => ParamKind::Cookie,
            other => {
                cx.error(
                    &path,
                    format!("has `{item}`, whose type {other} is not one fcemu reads, allowed: header, query, cookie"),
                );
                continue;
            }
        };
        if name.is_empty() {
            cx.error(
                &path,
                format!("has `{item}`, which names nothing: TYPE:NAME"),
            );
            continue;
        }
        out.push((kind, name.to_string(), third.to_string()));
    }
    out
}
