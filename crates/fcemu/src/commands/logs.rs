//! `fcemu logs`: the kept logs of a running `up`, by function, instance, request id or hook.

use crate::client::ndjson;
use crate::commands::args::Format;
use crate::commands::args::Reading;
use crate::failure::Failure;
use crate::output::log_line;

/// Query the kept logs of a running `up`
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    function: Option<String>,
    #[arg(long)]
    instance: Option<String>,
    #[arg(long = "request-id")]
    request_id: Option<String>,
    /// Initialize, Invoke or PreStop
    #[arg(long)]
    hook: Option<String>,
    #[arg(short, long)]
    follow: bool,
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(q: Args) -> Result<(), Failure> {
    let (follow, format) = (q.follow, q.reading.format);
    let mut params = form_urlencoded::Serializer::new(String::new());
    for (key, value) in [
        ("function", &q.function),
        ("instance", &q.instance),
        ("requestId", &q.request_id),
        ("hook", &q.hook),
    ] {
        if let Some(v) = value {
            params.append_pair(key, v);
        }
    }
    if follow {
        params.append_pair("follow", "true");
    }
    let path = format!("/_fcemu/logs?{}", params.finish());
    ndjson(&q.reading.endpoint, &path, |record| match format {
        Format::Json => println!("{record}"),
        Format::Text => println!("{}", log_line(&record)),
    })
    .await
}
