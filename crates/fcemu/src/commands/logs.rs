//! `fcemu logs`: the kept logs of a running `up`, by function, instance, request id or hook.

use crate::client::ndjson;
use crate::output::log_line;
use crate::{Endpoint, Failure, Format};

pub struct Query {
    pub function: Option<String>,
    pub instance: Option<String>,
    pub request_id: Option<String>,
    pub hook: Option<String>,
}

pub async fn run(
    endpoint: &Endpoint,
    q: Query,
    follow: bool,
    format: Format,
) -> Result<(), Failure> {
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
    ndjson(endpoint, &path, |record| match format {
        Format::Json => println!("{record}"),
        Format::Text => println!("{}", log_line(&record)),
    })
    .await
}
