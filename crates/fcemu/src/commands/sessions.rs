//! `fcemu sessions`: the live sessions of a running `up` (functions with session affinity), each with the
//! instance that holds it.

use crate::client::get_json;
use crate::commands::args::{Format, Reading};
use crate::failure::Failure;

/// List the live sessions of a running `up` and the instance holding each
#[derive(clap::Args)]
pub struct Args {
    /// Only this function's (default: every function's)
    function: Option<String>,
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let (endpoint, format) = (&args.reading.endpoint, args.reading.format);
    let mut path = "/_fcemu/sessions".to_string();
    if let Some(f) = &args.function {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("function", f)
            .finish();
        path = format!("{path}?{query}");
    }
    let body = get_json(endpoint, &path).await?;
    if format == Format::Json {
        println!("{body}");
        return Ok(());
    }
    let sessions = body["sessions"].as_array().cloned().unwrap_or_default();
    println!(
        "{:<34} {:<20} {:<17} {:<38} {:<24} {:>6} {:>6}",
        "SESSION", "FUNCTION", "AFFINITY", "INSTANCE", "STARTED", "TTL", "IDLE"
    );
    for s in &sessions {
        let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
        let secs = |k: &str| format!("{}s", s[k].as_u64().unwrap_or(0));
        println!(
            "{:<34} {:<20} {:<17} {:<38} {:<24} {:>6} {:>6}",
            text("sessionId"),
            text("functionName"),
            text("sessionAffinityType"),
            text("containerId"),
            text("createdTime"),
            secs("sessionTTLInSeconds"),
            secs("sessionIdleTimeoutInSeconds"),
        );
    }
    if sessions.is_empty() {
        crate::output::info(
            "(no live sessions: a function routes by session with sessionAffinity in its s.yaml)",
        );
    }
    Ok(())
}
