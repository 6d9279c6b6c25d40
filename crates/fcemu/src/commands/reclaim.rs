//! `fcemu reclaim`: destroy instances now, through PreStop, as idle reclamation would.

use crate::client::Endpoint;
use crate::client::{get_json, http, send};
use crate::failure::Failure;

/// Destroy instances now, through PreStop, as idle reclamation would
#[derive(clap::Args)]
pub struct Args {
    instance_id: Option<String>,
    #[arg(long, conflicts_with = "instance_id")]
    function: Option<String>,
    #[arg(long, conflicts_with_all = ["instance_id", "function"])]
    all: bool,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        instance_id: instance,
        function,
        all,
        endpoint,
    } = args;
    let endpoint = &endpoint;
    let base = endpoint.url();
    let paths: Vec<String> = match (instance, function, all) {
        (Some(id), _, _) => vec![format!("/_fcemu/instances/{id}/reclaim")],
        (None, Some(f), _) => vec![format!("/_fcemu/functions/{f}/reclaim")],
        (None, None, true) => {
            let functions = get_json(endpoint, "/_fcemu/functions").await?;
            functions["functions"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["name"].as_str())
                .map(|name| format!("/_fcemu/functions/{name}/reclaim"))
                .collect()
        }
        (None, None, false) => {
            return Err(Failure {
                code: 2,
                message: "say what to reclaim: an INSTANCE_ID, --function F, or --all".into(),
            });
        }
    };
    for path in paths {
        let response = send(endpoint, http().post(format!("{base}{path}"))).await?;
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        println!("{body}");
    }
    Ok(())
}
