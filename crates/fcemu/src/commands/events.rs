//! `fcemu events`: the lifecycle event stream of a running `up`.

use crate::client::Endpoint;
use crate::client::ndjson;
use crate::commands::args::Format;
use crate::failure::Failure;
use crate::output::event_line;

/// Print the lifecycle event stream of a running `up`
#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    follow: bool,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        follow,
        format,
        endpoint,
    } = args;
    let path = if follow {
        "/_fcemu/events?follow=true"
    } else {
        "/_fcemu/events"
    };
    ndjson(&endpoint, path, |event| match format {
        Format::Json => println!("{event}"),
        Format::Text => println!("{}", event_line(&event)),
    })
    .await
}
