//! `fcemu tasks`: the async tasks of a running `up` (functions with `asyncTask`), through ListAsyncTasks.

use crate::client::get_json;
use crate::commands::args::{Format, Reading};
use crate::failure::Failure;
use serde_json::Value;
use std::time::{Duration, UNIX_EPOCH};

/// List the async tasks of a running `up` with their states
#[derive(clap::Args)]
pub struct Args {
    /// Only this function's (default: every function's)
    function: Option<String>,
    /// Only tasks in this state (Enqueued, Running, Retrying, Succeeded, Failed, Stopping, Stopped, Expired)
    #[arg(long)]
    status: Option<String>,
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let (endpoint, format) = (&args.reading.endpoint, args.reading.format);
    let functions: Vec<String> = match args.function {
        Some(f) => vec![f],
        None => get_json(endpoint, "/_fcemu/functions").await?["functions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["name"].as_str().map(str::to_string))
            .collect(),
    };
    let mut tasks: Vec<Value> = Vec::new();
    for function in &functions {
        let mut next: Option<String> = None;
        loop {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("limit", "100");
            if let Some(status) = &args.status {
                query.append_pair("status", status);
            }
            if let Some(token) = &next {
                query.append_pair("nextToken", token);
            }
            let path = format!(
                "/2023-03-30/functions/{function}/async-tasks?{}",
                query.finish()
            );
            let page = get_json(endpoint, &path).await?;
            tasks.extend(page["tasks"].as_array().cloned().unwrap_or_default());
            next = page["nextToken"].as_str().map(str::to_string);
            if next.is_none() {
                break;
            }
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::json!({ "tasks": tasks }));
        return Ok(());
    }
    println!(
        "{:<36} {:<20} {:<10} {:>7} {:<24} {:>10}",
        "TASK", "FUNCTION", "STATUS", "RETRIED", "STARTED", "DURATION"
    );
    for t in &tasks {
        let s = |k: &str| t[k].as_str().unwrap_or("").to_string();
        let started = t["startedTime"]
            .as_u64()
            .map(|ms| {
                humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
            })
            .unwrap_or_default();
        let duration = t["durationMs"]
            .as_u64()
            .map_or_else(|| "-".to_string(), |ms| format!("{ms} ms"));
        println!(
            "{:<36} {:<20} {:<10} {:>7} {:<24} {:>10}",
            s("taskId"),
            s("functionName"),
            s("status"),
            t["alreadyRetriedTimes"].as_u64().unwrap_or(0),
            started,
            duration
        );
    }
    if tasks.is_empty() {
        crate::output::info(
            "(no async tasks: a function keeps them with asyncTask: true in its asyncInvokeConfig)",
        );
    }
    Ok(())
}
