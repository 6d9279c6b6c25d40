//! `fcemu events`: the lifecycle event stream of a running `up`.

use crate::client::ndjson;
use crate::output::event_line;
use crate::{Endpoint, Failure, Format};

pub async fn run(endpoint: &Endpoint, follow: bool, format: Format) -> Result<(), Failure> {
    let path = if follow {
        "/_fcemu/events?follow=true"
    } else {
        "/_fcemu/events"
    };
    ndjson(endpoint, path, |event| match format {
        Format::Json => println!("{event}"),
        Format::Text => println!("{}", event_line(&event)),
    })
    .await
}
