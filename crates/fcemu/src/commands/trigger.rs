//! `fcemu trigger`: fires a timer or event-source trigger of a running `up` now, as its source would: an
//! asynchronous invocation with the event in that source's FC shape (or the one a file holds).

use crate::client::Endpoint;
use crate::client::{http, send};
use crate::failure::Failure;
use std::path::PathBuf;

/// Fire a timer or event-source trigger now, with the event its source sends
#[derive(clap::Args)]
pub struct Args {
    function: String,
    /// The trigger's `triggerName`
    trigger: String,
    /// The event to send instead of the one fcemu shapes from the trigger's configuration
    #[arg(long = "event-file")]
    event_file: Option<PathBuf>,
    /// What the shaped event carries: the OSS object's key, the MNS message, the EventBridge data (JSON),
    /// the Tablestore row's key, the CDN object's path
    #[arg(long, conflicts_with = "event_file")]
    data: Option<String>,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        function,
        trigger,
        event_file,
        data,
        endpoint,
    } = args;
    let event = match &event_file {
        Some(path) => std::fs::read(path).map_err(|e| {
            Failure::user(format!(
                "cannot read the event file {}: {e}",
                path.display()
            ))
        })?,
        None => Vec::new(),
    };
    if event_file.is_some() && event.is_empty() {
        return Err(Failure::user(
            "the event file is empty: give it the event to send, or leave --event-file out for the event fcemu shapes"
                .to_string(),
        ));
    }
    let mut url = format!(
        "{}/_fcemu/functions/{function}/triggers/{trigger}/fire",
        endpoint.url()
    );
    if let Some(data) = &data {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("data", data)
            .finish();
        url = format!("{url}?{query}");
    }
    let response = send(&endpoint, http().post(url).body(event)).await?;
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let request_id = body["requestId"].as_str().unwrap_or_default();
    println!("{request_id}");
    crate::output::aside(&format!(
        "queued {function}/{trigger} as request {request_id}; `fcemu logs --request-id {request_id}` shows its lines"
    ));
    Ok(())
}
