//! `fcemu invoke`: one event to a function of a running `up` (InvokeFunction), its response printed.

use crate::client::{http, send};
use crate::{Endpoint, Failure};
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

pub async fn run(
    endpoint: &Endpoint,
    function: &str,
    event: Option<String>,
    event_file: Option<PathBuf>,
) -> Result<(), Failure> {
    let payload = match (event, event_file) {
        (Some(e), _) => e.into_bytes(),
        (None, Some(path)) => std::fs::read(&path).map_err(|e| {
            Failure::user(format!(
                "cannot read the event file {}: {e}",
                path.display()
            ))
        })?,
        (None, None) if !std::io::stdin().is_terminal() => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::user(format!("cannot read the event from stdin: {e}")))?;
            buf
        }
        (None, None) => Vec::new(),
    };
    let url = format!(
        "{}/2023-03-30/functions/{function}/invocations",
        endpoint.url()
    );
    let response = send(
        endpoint,
        http()
            .post(url)
            .header("x-fc-invocation-type", "Sync")
            .body(payload),
    )
    .await?;
    let error_type = response
        .headers()
        .get("x-fc-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let request_id = response
        .headers()
        .get("x-fc-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = response
        .bytes()
        .await
        .map_err(|e| Failure::environment(format!("reading the response failed: {e}")))?;
    let mut out = std::io::stdout();
    let _ = out.write_all(&body);
    if !body.ends_with(b"\n") {
        let _ = out.write_all(b"\n");
    }
    match error_type {
        Some(t) => Err(Failure::user(format!(
            "the invocation failed with {t} (request {request_id})"
        ))),
        None => Ok(()),
    }
}
