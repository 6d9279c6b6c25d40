//! `fcemu wait EVENT`: returns once lifecycle events have happened in a running `up` (those already past
//! count too), or fails after a timeout saying what happened instead. What a CI job asserts on hooks with.

use crate::client::Endpoint;
use crate::client::ndjson_until;
use crate::failure::Failure;
use fcemu_control::EventKind;
use std::collections::BTreeMap;
use std::time::Duration;

/// Wait until lifecycle events have happened in a running `up` (those already past count): exit 0, or 1
/// after --timeout saying what happened instead. E.g. `fcemu wait prestop.end --function api`
#[derive(clap::Args)]
pub struct Args {
    /// The event's name, e.g. instance.ready, initializer.end, prestop.end, function.updated
    event: String,
    #[arg(long)]
    function: Option<String>,
    #[arg(long)]
    instance: Option<String>,
    /// How many matching events
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    count: u32,
    /// Give up after this long (e.g. 30s, 2m)
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(wanted: Args) -> Result<(), Failure> {
    let endpoint = &wanted.endpoint;
    if EventKind::parse(&wanted.event).is_none() {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        return Err(Failure {
            code: 2,
            message: format!(
                "`{}` is not a lifecycle event; one of: {}",
                wanted.event,
                names.join(", ")
            ),
        });
    }
    let mut matched = 0;
    // What else happened to the function (or the instance) asked about, by event name.
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let follow = ndjson_until(endpoint, "/_fcemu/events?follow=true", |event| {
        let field = |k: &str| event.get(k).and_then(serde_json::Value::as_str);
        let ours = wanted
            .function
            .as_deref()
            .is_none_or(|f| field("functionName") == Some(f))
            && wanted
                .instance
                .as_deref()
                .is_none_or(|i| field("instanceId") == Some(i));
        if !ours {
            return true;
        }
        let name = field("event").unwrap_or_default();
        if name == wanted.event {
            matched += 1;
        } else {
            *seen.entry(name.to_string()).or_default() += 1;
        }
        matched < wanted.count
    });
    let outcome = tokio::time::timeout(wanted.timeout, follow).await;
    let what = describe(&wanted);
    let instead = || {
        let others: Vec<String> = seen.iter().map(|(k, n)| format!("{n} {k}")).collect();
        if others.is_empty() {
            "no other event".to_string()
        } else {
            others.join(", ")
        }
    };
    match outcome {
        Ok(Ok(true)) => {
            crate::output::info(&format!("{what}: happened"));
            Ok(())
        }
        Ok(Ok(false)) => Err(Failure::user(format!(
            "fcemu up stopped before {what} (seen {matched}; instead: {})",
            instead()
        ))),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Failure::user(format!(
            "timed out after {} waiting for {what}: seen {matched}; instead: {}",
            humantime::format_duration(wanted.timeout),
            instead()
        ))),
    }
}

fn describe(w: &Args) -> String {
    let mut what = format!("{} {}", w.count, w.event);
    if let Some(f) = &w.function {
        what.push_str(&format!(" of function {f}"));
    }
    if let Some(i) = &w.instance {
        what.push_str(&format!(" of instance {i}"));
    }
    what
}
