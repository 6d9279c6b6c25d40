//! FC 3.0's stateful functions: `sessionAffinity` (how a request names its session), `sessionAffinityConfig`
//! (how long a session lives and how many share an instance) and `instanceIsolationMode` (a session or a
//! request to an instance of its own). Read as FC's API takes them: the config a mapping, or the JSON string
//! CreateFunction carries.

use crate::fields::{Cx, Fields, describe};
use crate::model::Runtime;
use serde::Serialize;
use serde_yaml::Value;
use std::time::Duration;

/// FC's defaults and bounds for a session.
pub const DEFAULT_SESSION_TTL_SECS: u64 = 21_600;
pub const DEFAULT_SESSION_IDLE_TIMEOUT_SECS: u64 = 1_800;
pub const DEFAULT_SESSIONS_PER_INSTANCE: u32 = 20;
/// The instance concurrency FC sets, and lets no one change, once a function has session affinity.
pub const AFFINITY_INSTANCE_CONCURRENCY: u32 = 200;
/// The cookie FC sets for `GENERATED_COOKIE` affinity.
pub const SESSION_COOKIE: &str = "x-fc-cookie-session-id";
/// The header an MCP Streamable HTTP server names its session in (MCP 2025-03-26 and 2025-06-18).
pub const MCP_SESSION_HEADER: &str = "mcp-session-id";

/// How a request names the session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AffinityKind {
    /// The id in a request header the function names; FC makes one and sends it back when a request has
    /// none.
    HeaderField {
        #[serde(rename = "affinityHeaderFieldName")]
        header: String,
    },
    /// FC's cookie, `x-fc-cookie-session-id`, set on the first response.
    GeneratedCookie,
    /// An MCP server over SSE: the session id is read from the stream's `endpoint` event, and the message
    /// endpoint's requests carry it in their query.
    McpSse {
        #[serde(rename = "sseEndpointPath")]
        sse_path: String,
    },
    /// An MCP server over Streamable HTTP: the `Mcp-Session-Id` its answer to `initialize` carries binds
    /// the session; `DELETE` ends it.
    McpStreamable,
}

impl AffinityKind {
    /// FC's name for it, as `sessionAffinity` and the sessions API write it.
    pub fn fc_name(&self) -> &'static str {
        match self {
            AffinityKind::HeaderField { .. } => "HEADER_FIELD",
            AffinityKind::GeneratedCookie => "GENERATED_COOKIE",
            AffinityKind::McpSse { .. } => "MCP_SSE",
            AffinityKind::McpStreamable => "MCP_STREAMABLE",
        }
    }

    /// Whether the sessions API manages this kind's sessions (FC: header and cookie affinity only).
    pub fn has_sessions_api(&self) -> bool {
        matches!(
            self,
            AffinityKind::HeaderField { .. } | AffinityKind::GeneratedCookie
        )
    }
}

/// `sessionAffinity` with its `sessionAffinityConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAffinity {
    #[serde(flatten)]
    pub kind: AffinityKind,
    /// A session ends this long after it began, whatever it does (MCP SSE: the function's timeout).
    #[serde(with = "crate::model::duration_secs", rename = "sessionTTLInSeconds")]
    pub ttl: Duration,
    /// A session ends after this long without a request; zero: never for idleness.
    #[serde(
        with = "crate::model::duration_secs",
        rename = "sessionIdleTimeoutInSeconds"
    )]
    pub idle_timeout: Duration,
    /// Sessions one instance holds at once; a new session past that goes to another instance.
    #[serde(rename = "sessionConcurrencyPerInstance")]
    pub per_instance: u32,
    /// An ended session's id cannot start a new session.
    pub disable_session_id_reuse: bool,
}

/// `instanceIsolationMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IsolationMode {
    /// Requests and sessions share instances (FC's default).
    #[default]
    Share,
    /// One request at a time per instance, and an instance serves one request only.
    RequestExclusive,
    /// One session per instance, which serves that session only.
    SessionExclusive,
}

impl IsolationMode {
    pub fn is_share(&self) -> bool {
        *self == IsolationMode::Share
    }
}

/// What a function's props say of sessions, once checked.
pub(crate) struct Sessions {
    pub affinity: Option<SessionAffinity>,
    pub isolation: IsolationMode,
}

/// Reads `sessionAffinity`, `sessionAffinityConfig` and `instanceIsolationMode`, and says what they change
/// of the function's instance concurrency (FC's rules: 200 with affinity, 1 for a built-in runtime or
/// request isolation).
pub(crate) fn sessions(
    cx: &mut Cx,
    f: &Fields,
    runtime: Option<&Runtime>,
    timeout: Duration,
    concurrency: &mut u32,
) -> Sessions {
    let isolation = match f.string(cx, "instanceIsolationMode").as_deref() {
        None | Some("") | Some("SHARE") => IsolationMode::Share,
        Some("REQUEST_EXCLUSIVE") => IsolationMode::RequestExclusive,
        Some("SESSION_EXCLUSIVE") => IsolationMode::SessionExclusive,
        Some(other) => {
            cx.error(
                &f.field("instanceIsolationMode"),
                format!("is {other}, allowed: SHARE, REQUEST_EXCLUSIVE, SESSION_EXCLUSIVE"),
            );
            IsolationMode::Share
        }
    };
    let affinity = affinity(cx, f, runtime, timeout);
    let built_in = runtime.is_some_and(|r| r.language().is_some());
    match (&affinity, isolation) {
        (Some(_), IsolationMode::RequestExclusive) => cx.error(
            &f.field("sessionAffinity"),
            "cannot be set with instanceIsolationMode REQUEST_EXCLUSIVE: FC offers no session affinity under request isolation; remove one of them".into(),
        ),
        (None, IsolationMode::SessionExclusive) => cx.error(
            &f.field("instanceIsolationMode"),
            "is SESSION_EXCLUSIVE, which needs sessionAffinity: HEADER_FIELD, GENERATED_COOKIE, MCP_SSE or MCP_STREAMABLE to know a request's session".into(),
        ),
        _ => {}
    }
    if isolation == IsolationMode::RequestExclusive {
        *concurrency = 1;
    } else if affinity.is_some() && !built_in {
        if f.get("instanceConcurrency").is_some() && *concurrency != AFFINITY_INSTANCE_CONCURRENCY {
            cx.warnings.push(format!(
                "{}: is {concurrency}, but FC sets it to {AFFINITY_INSTANCE_CONCURRENCY} for a function with session affinity, shared by the sessions of an instance; fcemu does the same",
                f.field("instanceConcurrency")
            ));
        }
        *concurrency = AFFINITY_INSTANCE_CONCURRENCY;
    }
    let affinity = affinity.map(|mut a| {
        if isolation == IsolationMode::SessionExclusive || built_in {
            // (A built-in runtime's count, when written, was said in `affinity`.)
            a.per_instance = 1;
        } else if a.per_instance > *concurrency && isolation != IsolationMode::RequestExclusive {
            cx.error(
                &format!(
                    "{}.sessionConcurrencyPerInstance",
                    f.field("sessionAffinityConfig")
                ),
                format!(
                    "is {}, allowed: at most the instance's concurrency, {concurrency}",
                    a.per_instance
                ),
            );
        }
        a
    });
    Sessions {
        affinity,
        isolation,
    }
}

fn affinity(
    cx: &mut Cx,
    f: &Fields,
    runtime: Option<&Runtime>,
    timeout: Duration,
) -> Option<SessionAffinity> {
    let name = f.string(cx, "sessionAffinity").unwrap_or_default();
    let config_path = f.field("sessionAffinityConfig");
    let parsed;
    let config_value = match f.get("sessionAffinityConfig") {
        // FC's API takes the config as a JSON string; s.yaml files copy it as they find it.
        Some(Value::String(text)) => match serde_yaml::from_str::<Value>(text) {
            Ok(v) => {
                parsed = v;
                Some(&parsed)
            }
            Err(e) => {
                cx.error(&config_path, format!("is not JSON: {e}"));
                return None;
            }
        },
        other => other,
    };
    let config = Fields::new(cx, config_value, config_path.clone());
    let kind = match name.as_str() {
        "" | "NONE" => {
            if config.map.is_some() {
                cx.warnings.push(format!(
                    "{config_path}: has no effect without sessionAffinity (HEADER_FIELD, GENERATED_COOKIE, MCP_SSE or MCP_STREAMABLE)"
                ));
            }
            return None;
        }
        // A bad header name is said, and the rest of the config is still read for its own mistakes.
        "HEADER_FIELD" => AffinityKind::HeaderField {
            header: header_name(cx, &config).unwrap_or_default(),
        },
        "GENERATED_COOKIE" => AffinityKind::GeneratedCookie,
        "MCP_SSE" => {
            if runtime.is_some_and(|r| r.language().is_some()) {
                cx.error(
                    &f.field("sessionAffinity"),
                    "is MCP_SSE, which FC does not offer on a built-in runtime: serve the MCP server from a custom runtime or container".into(),
                );
            }
            let sse_path = config
                .string(cx, "sseEndpointPath")
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "/sse".into());
            if !sse_path.starts_with('/') {
                cx.error(
                    &config.field("sseEndpointPath"),
                    format!("is {sse_path}, a path starting with /, e.g. /sse"),
                );
            }
            AffinityKind::McpSse { sse_path }
        }
        "MCP_STREAMABLE" | "MCP_STREAMABLE_HTTP" => AffinityKind::McpStreamable,
        other => {
            cx.error(
                &f.field("sessionAffinity"),
                format!(
                    "is {other}, allowed: NONE, HEADER_FIELD, GENERATED_COOKIE, MCP_SSE, MCP_STREAMABLE"
                ),
            );
            return None;
        }
    };
    let per_instance = config.integer(
        cx,
        "sessionConcurrencyPerInstance",
        (1, 200),
        DEFAULT_SESSIONS_PER_INSTANCE as u64,
    ) as u32;
    let built_in = runtime.is_some_and(|r| r.language().is_some());
    if built_in && per_instance > 1 && config.get("sessionConcurrencyPerInstance").is_some() {
        cx.warnings.push(format!(
            "{}: is {per_instance}, but a built-in runtime's instance serves one request at a time and FC allows it one session; fcemu uses 1",
            config.field("sessionConcurrencyPerInstance")
        ));
    }
    // An MCP SSE session lives as long as its stream, which FC holds open for the function's timeout.
    let (ttl, idle_timeout) = if matches!(kind, AffinityKind::McpSse { .. }) {
        (timeout, Duration::ZERO)
    } else {
        let ttl = config.integer(
            cx,
            "sessionTTLInSeconds",
            (1, 21_600),
            DEFAULT_SESSION_TTL_SECS,
        );
        let idle = config.integer(
            cx,
            "sessionIdleTimeoutInSeconds",
            (0, 21_600),
            DEFAULT_SESSION_IDLE_TIMEOUT_SECS.min(ttl),
        );
        if idle > ttl {
            cx.error(
                &config.field("sessionIdleTimeoutInSeconds"),
                format!("is {idle}, allowed: at most the session's TTL, {ttl} s"),
            );
        }
        (Duration::from_secs(ttl), Duration::from_secs(idle.min(ttl)))
    };
    if kind
        == (AffinityKind::HeaderField {
            header: String::new(),
        })
    {
        return None;
    }
    Some(SessionAffinity {
        kind,
        ttl,
        idle_timeout,
        per_instance,
        disable_session_id_reuse: config.boolean(cx, "disableSessionIdReuse", false),
    })
}

/// `sessionAffinity`, `sessionAffinityConfig` and `instanceIsolationMode` as FC 3.0's props write them.
pub(crate) fn write_props(spec: &crate::FunctionSpec, props: &mut serde_json::Value) {
    if !spec.instance_isolation_mode.is_share() {
        props["instanceIsolationMode"] = serde_json::json!(spec.instance_isolation_mode);
    }
    let Some(a) = &spec.session_affinity else {
        return;
    };
    props["sessionAffinity"] = a.kind.fc_name().into();
    let mut config = serde_json::json!({
        "sessionConcurrencyPerInstance": a.per_instance,
        "disableSessionIdReuse": a.disable_session_id_reuse,
    });
    match &a.kind {
        AffinityKind::McpSse { sse_path } => config["sseEndpointPath"] = sse_path.as_str().into(),
        kind => {
            if let AffinityKind::HeaderField { header } = kind {
                config["affinityHeaderFieldName"] = header.as_str().into();
            }
            config["sessionTTLInSeconds"] = a.ttl.as_secs().into();
            config["sessionIdleTimeoutInSeconds"] = a.idle_timeout.as_secs().into();
        }
    }
    props["sessionAffinityConfig"] = config;
}

/// What FC asks of the HTTP trigger of an MCP server: Streamable HTTP needs GET, POST and DELETE (a client
/// ends its session with DELETE), SSE needs GET and POST.
pub(crate) fn check_trigger(
    cx: &mut Cx,
    function: &Fields,
    affinity: &SessionAffinity,
    trigger: &crate::HttpTrigger,
) {
    let needed: &[&str] = match affinity.kind {
        AffinityKind::McpStreamable => &["GET", "POST", "DELETE"],
        AffinityKind::McpSse { .. } => &["GET", "POST"],
        _ => return,
    };
    let missing: Vec<&str> = needed
        .iter()
        .copied()
        .filter(|m| !trigger.allows(m))
        .collect();
    if !missing.is_empty() {
        cx.warnings.push(format!(
            "{}: HTTP trigger {} allows {}, but sessionAffinity {} needs {}: requests by {} are refused with 405 here and on FC",
            function.field("triggers"),
            trigger.name,
            trigger.methods.join(", "),
            affinity.kind.fc_name(),
            needed.join(", "),
            missing.join(", ")
        ));
    }
}

/// `affinityHeaderFieldName`: FC's rule, 5 to 40 characters, a letter first, then letters, digits, `-`
/// and `_`, and not one of FC's own `x-fc-` headers. Kept lowercase, as HTTP/1.1 headers compare.
fn header_name(cx: &mut Cx, config: &Fields) -> Option<String> {
    let key = "affinityHeaderFieldName";
    let Some(name) = config.string(cx, key).filter(|n| !n.is_empty()) else {
        let shown = config.get(key).map(describe);
        cx.error(
            &config.field(key),
            format!(
                "is {}, required with sessionAffinity HEADER_FIELD: the request header that names the session, e.g. x-session-id",
                shown.as_deref().unwrap_or("missing")
            ),
        );
        return None;
    };
    let well_formed = (5..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed || name.to_ascii_lowercase().starts_with("x-fc-") {
        cx.error(
            &config.field(key),
            format!(
                "is {name}, allowed: 5 to 40 letters, digits, - and _, starting with a letter, not starting with x-fc-"
            ),
        );
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// A session id a client may send: FC's rule for HEADER_FIELD, 1 to 64 characters, a letter, digit or `_`
/// first, then letters, digits, `_` and `-`. Cookie and MCP ids are held to it too, since they name files
/// nowhere but lines, events and URLs everywhere.
pub fn valid_session_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_follow_fcs_rule() {
        for good in ["a", "_x", "9abc-def_1", &"a".repeat(64)] {
            assert!(valid_session_id(good), "{good}");
        }
        for bad in ["", "-a", "a b", "a/b", "é", &"a".repeat(65), "a\r\nb"] {
            assert!(!valid_session_id(bad), "{bad}");
        }
    }
}
