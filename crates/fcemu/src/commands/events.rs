//! `fcemu events`: the lifecycle event stream of a running `up`.

use crate::client::ndjson;
use crate::commands::args::Format;
use crate::commands::args::Reading;
use crate::failure::Failure;
use crate::output::event_line;

/// Print the lifecycle event stream of a running `up`
#[derive(clap::Args)]
pub struct Args {
    #[arg(short, long)]
    follow: bool,
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        follow,
        reading: Reading { format, endpoint },
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
