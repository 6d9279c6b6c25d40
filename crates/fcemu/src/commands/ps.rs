//! `fcemu ps`: the live instances of a running `up`.

use crate::client::get_json;
use crate::commands::args::Format;
use crate::commands::args::Reading;
use crate::failure::Failure;
use serde_json::Value;
use std::time::SystemTime;

/// Seconds since an RFC 3339 timestamp, as `12s`, `3m4s`.
fn since(ts: Option<&str>) -> String {
    let Some(t) = ts.and_then(|t| humantime::parse_rfc3339_weak(t).ok()) else {
        return "-".into();
    };
    let secs = SystemTime::now()
        .duration_since(t)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_secs(secs))
        .to_string()
        .replace(' ', "")
}

/// `  #0 24576 MB` (`(simulated)` after a simulated card's), or nothing.
fn gpu_slice(slice: Option<&Value>) -> String {
    let Some(slice) = slice else {
        return String::new();
    };
    let simulated = if slice["simulated"] == true {
        " (simulated)"
    } else {
        ""
    };
    format!(
        "  #{} {} MB{simulated}",
        slice["card"].as_u64().unwrap_or(0),
        slice["memoryMb"].as_u64().unwrap_or(0)
    )
}

/// List the live instances of a running `up`
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let (endpoint, format) = (&args.reading.endpoint, args.reading.format);
    let body = get_json(endpoint, "/_fcemu/instances").await?;
    if format == Format::Json {
        println!("{body}");
        return Ok(());
    }
    let instances = body["instances"].as_array().cloned().unwrap_or_default();
    // A GPU column when some instance holds a slice of a card.
    let gpu = instances.iter().any(|i| i.get("gpu").is_some());
    print!(
        "{:<38} {:<20} {:<13} {:>9} {:>8} {:>9}",
        "INSTANCE", "FUNCTION", "STATE", "IN-FLIGHT", "AGE", "IDLE FOR"
    );
    println!("{}", if gpu { "  GPU" } else { "" });
    for i in &instances {
        let s = |k: &str| i.get(k).and_then(Value::as_str).unwrap_or("");
        let state = if i["provisioned"].as_bool() == Some(true) {
            format!("{} (prov)", s("state"))
        } else {
            s("state").to_string()
        };
        let idle = if i["inFlight"].as_u64().unwrap_or(0) > 0 {
            "-".to_string()
        } else {
            since(i["lastRequestAt"].as_str().or(i["createdAt"].as_str()))
        };
        print!(
            "{:<38} {:<20} {:<13} {:>9} {:>8} {:>9}",
            s("instanceId"),
            s("functionName"),
            state,
            i["inFlight"].as_u64().unwrap_or(0),
            since(i["createdAt"].as_str()),
            idle
        );
        println!("{}", gpu_slice(i.get("gpu")));
    }
    if instances.is_empty() {
        crate::output::info("(no live instances: the first request to a function creates one)");
    }
    Ok(())
}
