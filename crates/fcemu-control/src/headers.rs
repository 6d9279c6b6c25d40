//! The headers FC sets on requests to instances and on responses. Names are parsed once (a name given as a
//! string is parsed and validated on every insert), and a function's common request headers are built once.

use fcemu_spec::FunctionSpec;
use http::header;
use http::{HeaderMap, HeaderName, HeaderValue};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-fc-request-id");
pub const INSTANCE_ID: HeaderName = HeaderName::from_static("x-fc-instance-id");
pub const CONTROL_PATH: HeaderName = HeaderName::from_static("x-fc-control-path");
pub const RETRY_COUNT: HeaderName = HeaderName::from_static("x-fc-retry-count");
pub const ERROR_TYPE: HeaderName = HeaderName::from_static("x-fc-error-type");
/// fcemu's own: a cold start's Init Duration in milliseconds.
pub const INIT_DURATION_MS: HeaderName = HeaderName::from_static("x-fcemu-init-duration-ms");
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The `x-fc-*` request headers that are the same for every request of one function.
pub struct FcHeaders(HeaderMap);

/// The handler of an HTTP hook, or "" when there is none (FC's header value for "no hook").
fn handler_of(hook: &Option<fcemu_spec::Hook>) -> &str {
    hook.as_ref().and_then(|h| h.handler()).unwrap_or("")
}

fn value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl FcHeaders {
    pub fn new(
        spec: &FunctionSpec,
        region: &str,
        account_id: &str,
        credentials: Option<&crate::options::Credentials>,
    ) -> Self {
        let mut h = HeaderMap::new();
        let mut set = |name: &'static str, text: &str| {
            h.insert(HeaderName::from_static(name), value(text));
        };
        set("x-fc-function-name", &spec.name);
        set("x-fc-function-memory", &spec.memory_size_mb.to_string());
        set("x-fc-function-timeout", &spec.timeout.as_secs().to_string());
        set("x-fc-function-handler", &spec.handler);
        set("x-fc-function-initializer", handler_of(&spec.initializer));
        let init_timeout = spec
            .initializer
            .as_ref()
            .map(|h| h.timeout.as_secs())
            .unwrap_or(0);
        set("x-fc-initialization-timeout", &init_timeout.to_string());
        set(
            "x-fc-instance-lifecycle-pre-stop-handler",
            handler_of(&spec.pre_stop),
        );
        set("x-fc-region", region);
        set("x-fc-account-id", account_id);
        set("x-fc-qualifier", "LATEST");
        set("x-fc-version-id", "LATEST");
        set("x-fc-retry-count", "0");
        // The role's temporary credentials, as FC passes them to a function with a role.
        if let Some(c) = credentials {
            set("x-fc-access-key-id", &c.access_key_id);
            set("x-fc-access-key-secret", &c.access_key_secret);
            set(
                "x-fc-security-token",
                c.security_token.as_deref().unwrap_or(""),
            );
        }
        FcHeaders(h)
    }

    /// FC's request headers for the instance: the function's, the request id and the control path. The
    /// map must hold no x-fc-* header already (a client's are removed first).
    pub fn set(&self, headers: &mut HeaderMap, request_id: &str, control_path: &'static str) {
        // Room for them all at once, rather than a rehash each time the map outgrows itself.
        headers.reserve(self.0.len() + 2);
        for (name, value) in &self.0 {
            headers.append(name.clone(), value.clone());
        }
        headers.insert(
            REQUEST_ID,
            HeaderValue::from_str(request_id).expect("ids are ASCII"),
        );
        headers.insert(CONTROL_PATH, HeaderValue::from_static(control_path));
    }
}

/// Hop-by-hop headers belong to one connection, never forwarded (RFC 9110 7.6.1).
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

fn is_hop_by_hop(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name) || name == "keep-alive" || name == "proxy-connection"
}

/// Removes the hop-by-hop headers, those the `Connection` header names, and those `also` picks. One pass
/// over the names finds them: most messages carry few or none, and then nothing is allocated or rehashed.
pub fn strip(headers: &mut HeaderMap, also: impl Fn(&HeaderName) -> bool) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| is_hop_by_hop(k) || named.contains(k) || also(k))
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}
