//! `fcemu provision`: provisioned instance adjustment on a running `up` (PutProvisionConfig).

use crate::client::Endpoint;
use crate::client::{http, send};
use crate::failure::Failure;
use crate::output::info;

/// Provisioned instance adjustment: keep N instances of a function created and initialized
#[derive(clap::Args)]
pub struct Args {
    function: String,
    #[arg(long)]
    target: u32,
    #[command(flatten)]
    endpoint: Endpoint,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let Args {
        function,
        target,
        endpoint,
    } = args;
    let url = format!(
        "{}/2023-03-30/functions/{function}/provision-config",
        endpoint.url()
    );
    let response = send(
        &endpoint,
        http()
            .put(url)
            .json(&serde_json::json!({ "target": target })),
    )
    .await?;
    let status: serde_json::Value = response.json().await.unwrap_or_default();
    info(&format!(
        "{function}: {} provisioned instance{} (target {})",
        status["current"],
        if status["current"] == 1 { "" } else { "s" },
        status["target"]
    ));
    Ok(())
}
