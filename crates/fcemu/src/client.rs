//! Talking to a running `fcemu up` over its control API.

use crate::failure::Failure;
use futures_util::StreamExt;
use std::path::Path;

/// Where a client command finds the running `up`.
#[derive(clap::Args, Clone)]
pub struct Endpoint {
    /// The running `fcemu up` to talk to (default: the one recorded in ./.fcemu/, else http://127.0.0.1:9000)
    #[arg(long, env = "FCEMU_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The token an `up` on a non-loopback address asks for (default: the one recorded in ./.fcemu/token)
    #[arg(long, env = "FCEMU_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Where `up` records its address, so client commands run in the project folder find it.
pub const ENDPOINT_FILE: &str = ".fcemu/endpoint";
/// Where `up` on a non-loopback address records the token that calls changing state need.
pub const TOKEN_FILE: &str = ".fcemu/token";

impl Endpoint {
    pub fn url(&self) -> String {
        if let Some(e) = &self.endpoint {
            return e.trim_end_matches('/').to_string();
        }
        // Only a file this user's `up` wrote: one a repository committed is not followed.
        if let Some(recorded) = crate::state::read_own(Path::new(ENDPOINT_FILE)) {
            let recorded = recorded.trim();
            if !recorded.is_empty() {
                return recorded.trim_end_matches('/').to_string();
            }
        }
        "http://127.0.0.1:9000".into()
    }

    /// The token to send: `--token`, or the one the `up` of this folder recorded.
    fn token(&self) -> Option<String> {
        self.token.clone().or_else(|| {
            crate::state::read_own(Path::new(TOKEN_FILE))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
        })
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .build()
        .expect("a plain HTTP client")
}

fn unreachable(url: &str, e: &reqwest::Error) -> Failure {
    Failure::environment(format!(
        "no fcemu up answers at {url} ({e}). Start one with `fcemu up` in the project folder, or point --endpoint (FCEMU_ENDPOINT) at it."
    ))
}

/// Sends a request and turns an FC-shaped error answer into a user failure.
pub async fn send(
    endpoint: &Endpoint,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, Failure> {
    let url = endpoint.url();
    let request = match endpoint.token() {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.map_err(|e| unreachable(&url, &e))?;
    if response.status().is_client_error() || response.status().is_server_error() {
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let message = body
            .get("Message")
            .and_then(|m| m.as_str())
            .unwrap_or("no message");
        return Err(Failure::user(format!("{message} (HTTP {status})")));
    }
    Ok(response)
}

/// Whether the endpoint was named (`--endpoint`, FCEMU_ENDPOINT) rather than found or defaulted.
pub fn named(endpoint: &Endpoint) -> bool {
    endpoint.endpoint.is_some()
}

/// GET a JSON path of a running `up`; None when no `up` answers there.
pub async fn try_get_json(
    endpoint: &Endpoint,
    path: &str,
) -> Result<Option<serde_json::Value>, Failure> {
    let url = format!("{}{path}", endpoint.url());
    match http().get(&url).send().await {
        Err(e) if e.is_connect() => Ok(None),
        _ => get_json(endpoint, path).await.map(Some),
    }
}

pub async fn get_json(endpoint: &Endpoint, path: &str) -> Result<serde_json::Value, Failure> {
    let url = format!("{}{path}", endpoint.url());
    let response = send(endpoint, http().get(&url)).await?;
    response.json().await.map_err(|e| {
        Failure::environment(format!(
            "{url} answered with something that is not JSON: {e}"
        ))
    })
}

/// Reads a newline-delimited JSON stream, calling `each` with every value as it arrives.
pub async fn ndjson(
    endpoint: &Endpoint,
    path: &str,
    mut each: impl FnMut(serde_json::Value),
) -> Result<(), Failure> {
    ndjson_until(endpoint, path, |value| {
        each(value);
        true
    })
    .await
    .map(|_| ())
}

/// [`ndjson`] that stops as soon as `each` returns false; whether it did (false: the stream ended first).
pub async fn ndjson_until(
    endpoint: &Endpoint,
    path: &str,
    mut each: impl FnMut(serde_json::Value) -> bool,
) -> Result<bool, Failure> {
    let url = format!("{}{path}", endpoint.url());
    let response = send(endpoint, http().get(&url)).await?;
    let mut stream = response.bytes_stream();
    let mut buffer = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|e| Failure::environment(format!("the stream from {url} broke off: {e}")))?;
        buffer.extend_from_slice(&chunk);
        while let Some(pos) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=pos).collect();
            if let Ok(value) = serde_json::from_slice(&line) {
                if !each(value) {
                    return Ok(true);
                }
            }
        }
    }
    Ok(false)
}
