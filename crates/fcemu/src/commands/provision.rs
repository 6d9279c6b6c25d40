//! `fcemu provision`: provisioned instance adjustment on a running `up` (PutProvisionConfig).

use crate::client::{http, send};
use crate::{Endpoint, Failure};

pub async fn run(endpoint: &Endpoint, function: &str, target: u32) -> Result<(), Failure> {
    let url = format!(
        "{}/2023-03-30/functions/{function}/provision-config",
        endpoint.url()
    );
    let response = send(
        endpoint,
        http()
            .put(url)
            .json(&serde_json::json!({ "target": target })),
    )
    .await?;
    let status: serde_json::Value = response.json().await.unwrap_or_default();
    println!(
        "{function}: {} provisioned instance{} (target {})",
        status["current"],
        if status["current"] == 1 { "" } else { "s" },
        status["target"]
    );
    Ok(())
}
