//! `fcemu gpus`: the cards a running `up` places GPU functions on, and who holds which slice; without a
//! running `up`, the cards this machine has (NVML).

use crate::client::{named, try_get_json};
use crate::commands::args::Format;
use crate::commands::args::Reading;
use crate::failure::Failure;
use crate::gpu::nvml_cards;
use serde_json::{Value, json};

/// The GPUs seen (a running up's cards and who holds which slice; else this machine's, through NVML)
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    reading: Reading,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let (endpoint, format) = (&args.reading.endpoint, args.reading.format);
    let view = match try_get_json(endpoint, "/_fcemu/gpus").await? {
        Some(view) => view,
        None if named(endpoint) => {
            return Err(Failure::environment(format!(
                "no fcemu up answers at {}. Start one, or leave out --endpoint to list this machine's cards",
                endpoint.url()
            )));
        }
        None => match nvml_cards().await {
            Ok(cards) => json!({ "mode": "nvml", "cards": cards, "running": false }),
            Err(e) => {
                json!({ "mode": "none", "cards": [], "running": false, "reason": e.to_string() })
            }
        },
    };
    match format {
        Format::Json => println!("{view}"),
        Format::Text => print!("{}", text(&view)),
    }
    Ok(())
}

/// The view as lines: each card, then each slice under it.
fn text(view: &Value) -> String {
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    let mode = s(view, "mode");
    let running = view.get("running").and_then(Value::as_bool) != Some(false);
    let mut out = String::new();
    let cards = view["cards"].as_array().cloned().unwrap_or_default();
    match mode.as_str() {
        "none" => {
            out.push_str(&format!(
                "No GPUs: {}.\nGPU functions run with `fcemu up --gpu simulate` (cards from FCEMU_SIMULATED_GPUS, e.g. ada:49152,ada:49152) or `--gpu off` (without a GPU).\n",
                s(view, "reason")
            ));
            return out;
        }
        "off" => {
            out.push_str("The running fcemu up places no GPU (--gpu off, or no GPU function).\n");
            return out;
        }
        "simulated" => out.push_str("Simulated GPUs of the running fcemu up:\n"),
        _ if running => out.push_str("GPUs of the running fcemu up (NVML):\n"),
        _ if cards.is_empty() => out.push_str("NVML found no NVIDIA card on this machine.\n"),
        _ => out.push_str("GPUs on this machine (NVML; no fcemu up is running here):\n"),
    }
    for card in &cards {
        let simulated = if card["simulated"] == true {
            "simulated "
        } else {
            ""
        };
        out.push_str(&format!(
            "  #{} {simulated}{}  {}  {} MB",
            n(card, "index"),
            s(card, "name"),
            s(card, "uuid"),
            n(card, "memoryMb")
        ));
        if running {
            out.push_str(&format!("  allotted {} MB", n(card, "allottedMb")));
        }
        out.push('\n');
        for slice in card["slices"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "      {}  {}  {} MB\n",
                s(slice, "instanceId"),
                s(slice, "functionName"),
                n(slice, "memoryMb")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cards_and_their_slices_read_as_lines() {
        let view = json!({
            "mode": "simulated",
            "cards": [{
                "index": 0, "name": "NVIDIA ada", "uuid": "GPU-simulated-0", "memoryMb": 49152,
                "simulated": true, "allottedMb": 24576,
                "slices": [{ "instanceId": "c-1", "functionName": "sd", "memoryMb": 24576 }]
            }]
        });
        assert_eq!(
            text(&view),
            "Simulated GPUs of the running fcemu up:\n  #0 simulated NVIDIA ada  GPU-simulated-0  49152 MB  allotted 24576 MB\n      c-1  sd  24576 MB\n"
        );
        let none = json!({ "mode": "none", "cards": [], "running": false, "reason": "no driver" });
        assert!(text(&none).starts_with("No GPUs: no driver."));
    }
}
