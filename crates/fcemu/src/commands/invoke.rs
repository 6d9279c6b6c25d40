//! `fcemu invoke`: one event to a function of a running `up` (InvokeFunction), its response printed.

use crate::client::Endpoint;
use crate::client::{http, send};
use crate::failure::Failure;
use fcemu_control::TimingMetric;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

/// Send one event to a function of a running `up` and print the response
#[derive(clap::Args)]
pub struct Args {
    function: String,
    /// The event, inline
    #[arg(short = 'e', long = "event")]
    event: Option<String>,
    /// Read the event from a file
    #[arg(long = "event-file", conflicts_with = "event")]
    event_file: Option<PathBuf>,
    /// Force a new instance and print its cold-start breakdown
    #[arg(long)]
    cold: bool,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        function,
        event,
        event_file,
        cold,
        endpoint,
    } = args;
    let (endpoint, function) = (&endpoint, function.as_str());
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
    let mut request = http()
        .post(url)
        .header("x-fc-invocation-type", "Sync")
        .body(payload);
    if cold {
        request = request.header(fcemu_control::COLD_START_HEADER, "true");
    }
    let response = send(endpoint, request).await?;
    if let Some(timing) = response
        .headers()
        .get("server-timing")
        .and_then(|v| v.to_str().ok())
    {
        crate::output::aside(&cold_start_breakdown(timing));
    }
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

/// The cold start of a `Server-Timing` header (`instance-create;dur=12.3, runtime-init;dur=...`), as a table:
/// the three phases, and under Runtime Init its two parts with whose time each is.
fn cold_start_breakdown(server_timing: &str) -> String {
    let metrics = fcemu_control::parse_server_timing(server_timing);
    let phases = [
        ("instance-create", "Instance Create"),
        ("runtime-init", "Runtime Init"),
        ("init-hook", "Init Hook"),
    ];
    let parts = [
        ("engine-start", "engine start"),
        ("function-start", "function start-up"),
    ];
    let find = |name: &str| metrics.iter().find(|m| m.name == name);
    let total: f64 = phases
        .iter()
        .filter_map(|(name, _)| find(name))
        .map(|m| m.dur)
        .sum();
    let mut out = format!("cold start: Init Duration {total:.2} ms");
    for (name, label) in phases {
        let Some(&TimingMetric { dur, .. }) = find(name) else {
            continue;
        };
        out.push_str(&format!("\n  {label:<19} {dur:>9.2} ms"));
        if name == "runtime-init" {
            for (part, label) in parts {
                if let Some(&TimingMetric { dur, desc, .. }) = find(part) {
                    let whose = desc.map(|d| format!("  {d}")).unwrap_or_default();
                    out.push_str(&format!("\n    {label:<17} {dur:>9.2} ms{whose}"));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_breakdown_reads_the_three_phases() {
        let text = super::cold_start_breakdown(
            "instance-create;dur=12.500, runtime-init;dur=300.250, init-hook;dur=200.000",
        );
        assert_eq!(
            text,
            "cold start: Init Duration 512.75 ms\n  Instance Create         12.50 ms\n  Runtime Init           300.25 ms\n  Init Hook              200.00 ms"
        );
    }

    #[test]
    fn runtime_init_shows_its_two_parts_and_whose_time_each_is() {
        let text = super::cold_start_breakdown(
            "instance-create;dur=12.500, runtime-init;dur=538.260, init-hook;dur=200.000, \
             engine-start;dur=199.800;desc=\"local-only engine overhead\", function-start;dur=338.460;desc=\"your server\"",
        );
        assert_eq!(
            text,
            "cold start: Init Duration 750.76 ms\n  Instance Create         12.50 ms\n  Runtime Init           538.26 ms\n    \
             engine start         199.80 ms  local-only engine overhead\n    function start-up    338.46 ms  your server\n  \
             Init Hook              200.00 ms"
        );
    }
}
