//! Scale: fcemu's resident memory with many live instances (20 functions of 10 in the full run), and what
//! placing a request costs among them against among one: the same requests to the same function, first
//! with its one instance the only one live, then with every function's instances live. (Placement fills
//! the busiest instance with room, so one request at a time is served by one instance either way, and the
//! difference is fcemu's, not the containers'.)

use crate::fcemu::{Fcemu, function_name, project_yaml};
use crate::load::{self, histogram, ms};
use crate::{PATH, Plan, round2, round3};
use anyhow::Result;
use serde_json::{Value, json};
use std::path::Path;

pub async fn scale(binary: &Path, plan: &Plan) -> Result<Value> {
    let (functions, per_function) = (plan.scale_functions, plan.scale_instances_per_function);
    // Unfrozen and one request per instance at a time: a request is placed among every instance of its
    // function, and never thaws one.
    let fcemu = Fcemu::start(binary, &project_yaml(functions, 1), &["--no-freeze"])?;
    // One live instance: the first function's, made by its first request.
    let first = format!("/{}{PATH}", function_name(0));
    let mut one = histogram();
    load::latency(fcemu.addr, &[&first], 200, plan.latency_requests, &mut one).await?;

    // Every function provisioned, then the same requests.
    for n in 0..functions {
        fcemu
            .control(
                "PUT",
                &format!(
                    "/2023-03-30/functions/{}/provision-config",
                    function_name(n)
                ),
                Some(json!({ "target": per_function })),
            )
            .await?;
    }
    let total = functions * per_function as usize;
    fcemu
        .wait_instances(|l| {
            l.iter()
                .filter(|i| {
                    i["provisioned"] == true
                        && i["state"] != "creating"
                        && i["state"] != "initializing"
                })
                .count()
                >= total
        })
        .await?;
    let mut many = histogram();
    load::latency(fcemu.addr, &[&first], 200, plan.latency_requests, &mut many).await?;
    let rss = fcemu.rss_mb()?;
    fcemu.stop()?;
    Ok(json!({
        "functions": functions, "instances": total, "rss_mb": round2(rss),
        "placement": {
            "p50_ms_1_instance": ms(&one, 0.5),
            "p50_ms_all_instances": ms(&many, 0.5),
            "difference_ms": round3(ms(&many, 0.5) - ms(&one, 0.5)),
        },
    }))
}
