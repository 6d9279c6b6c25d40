//! Cold starts: one at a time through fcemu against the same create, start, connect-poll, `/initialize` and
//! request on the Docker API, phase by phase; and a burst of them at once.

use crate::fcemu::{Fcemu, project_yaml};
use crate::floor::{floor_cold_start, remove};
use crate::load::Connection;
use crate::{PATH, Plan, p50, round2, round3};
use anyhow::{Context, Result, bail};
use bollard::Docker;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Milliseconds of each metric of a `Server-Timing` header, by name (its `desc` left out).
fn phases(header: &str) -> HashMap<String, f64> {
    header
        .split(',')
        .filter_map(|metric| {
            let mut params = metric.trim().split(';');
            let name = params.next()?.to_string();
            let dur = params.find_map(|p| p.trim().strip_prefix("dur=")?.parse().ok())?;
            Some((name, dur))
        })
        .collect()
}

/// The fixture's own start-up (from its process's start until it listened), in milliseconds, out of its
/// `GET /startup` answer.
fn fixture_start_up(body: &[u8]) -> Result<f64> {
    let own: Value = serde_json::from_slice(body)?;
    let at = |key: &str| {
        own[key]
            .as_f64()
            .with_context(|| format!("no {key} in {own}"))
    };
    Ok((at("listeningAtNs")? - at("processStartedAtNs")?) / 1e6)
}

/// Lets the engine finish what the last round left it (fcemu's after-request memory reading, log follow,
/// a removal), so neither side's start pays for the other's round.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Milliseconds samples by phase name, reported as p50s named `<phase>_ms`.
#[derive(Default)]
struct PhaseSamples(HashMap<String, Vec<f64>>);

impl PhaseSamples {
    fn add(&mut self, phases: impl IntoIterator<Item = (String, f64)>) {
        for (name, ms) in phases {
            self.0.entry(name).or_default().push(ms);
        }
    }

    fn p50s(self) -> Value {
        let mut out = serde_json::Map::new();
        for (name, mut samples) in self.0 {
            out.insert(
                name.replace('-', "_") + "_ms",
                json!(round2(p50(&mut samples))),
            );
        }
        Value::Object(out)
    }
}

pub async fn cold(docker: &Docker, fcemu: &Fcemu, plan: &Plan) -> Result<Value> {
    let label = fcemu.dir.path().display().to_string();
    let (mut via, mut floor) = (vec![], vec![]);
    let (mut fixture, mut agreement) = (vec![], vec![]);
    let (mut via_phases, mut floor_phases) = (PhaseSamples::default(), PhaseSamples::default());
    // Interleaved rounds, so drift on the machine and in the engine touches both sides alike.
    for _ in 0..plan.cold_rounds {
        fcemu
            .control("POST", "/_fcemu/functions/f/reclaim", None)
            .await?;
        fcemu.wait_instances(|l| l.is_empty()).await?;
        settle().await;
        let mut conn = Connection::open(fcemu.addr).await?;
        let started = Instant::now();
        let (status, headers) = conn.get(PATH, &[]).await?;
        via.push(started.elapsed().as_secs_f64() * 1000.0);
        if status != 200 {
            bail!("a cold request answered {status}");
        }
        let timing = headers
            .get("server-timing")
            .and_then(|v| v.to_str().ok())
            .context("no Server-Timing on a cold start")?;
        let timing = phases(timing);
        // The same instance answers when its process began and when it listened, by its own clock.
        let (_, _, body) = conn.request("GET", "/startup", &[], Bytes::new()).await?;
        let own = fixture_start_up(&body)?;
        if let Some(function) = timing.get("function-start") {
            fixture.push(own);
            agreement.push(function - own);
        }
        via_phases.add(timing);

        // The floor: the same sequence, straight on the Docker API.
        settle().await;
        let started = Instant::now();
        let (id, phases) = floor_cold_start(docker, &label).await?;
        floor.push(started.elapsed().as_secs_f64() * 1000.0);
        floor_phases.add(phases);
        remove(docker, &id).await;
    }
    let (fcemu_p50, floor_p50) = (p50(&mut via), p50(&mut floor));
    Ok(json!({
        "fcemu_p50_ms": round2(fcemu_p50), "floor_p50_ms": round2(floor_p50),
        "overhead_ms": round2(fcemu_p50 - floor_p50),
        "phases": via_phases.p50s(), "floor_phases": floor_phases.p50s(),
        // Runtime Init's second part against the fixture's own measurement of its start-up (absent where
        // fcemu shows Runtime Init whole).
        "fixture_function_start_ms": (!fixture.is_empty()).then(|| round2(p50(&mut fixture))),
        "function_start_vs_fixture_ms": (!agreement.is_empty()).then(|| round2(p50(&mut agreement))),
    }))
}

/// `plan.burst` requests at once to a function with no instance (and room for one request each): how long
/// until all are answered, in fcemu's own run. Returns the time, how many were answered, and by how many
/// instances.
async fn burst_through(binary: &Path, plan: &Plan) -> Result<(f64, usize, usize)> {
    let fcemu = Fcemu::start(binary, &project_yaml(1, 1), &["--no-freeze"])?;
    let started = Instant::now();
    let requests: Vec<_> = (0..plan.burst)
        .map(|_| {
            let addr = fcemu.addr;
            tokio::spawn(async move {
                let mut c = Connection::open(addr).await?;
                let (status, headers) = c.get(PATH, &[]).await?;
                let instance = headers
                    .get("x-fc-instance-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                anyhow::Ok((status, instance))
            })
        })
        .collect();
    let mut answered = 0;
    let mut instances = std::collections::BTreeSet::new();
    for r in requests {
        if let Ok(Ok((200, instance))) = r.await {
            answered += 1;
            instances.insert(instance);
        }
    }
    let total_ms = started.elapsed().as_secs_f64() * 1000.0;
    fcemu.stop()?;
    Ok((total_ms, answered, instances.len()))
}

/// The floor of a burst: the same cold starts, all at once, straight on the Docker API.
async fn burst_floor(docker: &Docker, plan: &Plan, label: &str) -> Result<f64> {
    let started = Instant::now();
    let starts =
        futures_util::future::join_all((0..plan.burst).map(|_| floor_cold_start(docker, label)))
            .await;
    let floor_ms = started.elapsed().as_secs_f64() * 1000.0;
    for (id, _) in starts.iter().flatten() {
        remove(docker, id).await;
    }
    if let Some(Err(e)) = starts.into_iter().find(Result::is_err) {
        return Err(e.context("a cold start of the floor's burst failed"));
    }
    Ok(floor_ms)
}

/// `one_cold_ms`: one cold start through fcemu, for the sequential estimate; measured here when absent.
/// Rounds alternate fcemu and the floor, each from a settled engine, and the p50s are compared: a burst
/// leaves the engine a second or more of clean-up that would otherwise land on whichever side runs next.
pub async fn burst(
    docker: &Docker,
    binary: &Path,
    plan: &Plan,
    one_cold_ms: Option<f64>,
) -> Result<Value> {
    let label = format!("fcemu-bench-burst-{}", std::process::id());
    let (mut via, mut floor) = (vec![], vec![]);
    let (mut answered, mut instances) = (0, 0);
    for _ in 0..plan.burst_rounds {
        settle().await;
        let (ms, a, i) = burst_through(binary, plan).await?;
        via.push(ms);
        answered += a;
        instances = instances.max(i);
        settle().await;
        floor.push(burst_floor(docker, plan, &label).await?);
    }
    let requests = plan.burst * plan.burst_rounds;
    let (total_ms, floor_ms) = (p50(&mut via), p50(&mut floor));
    let one_cold_ms = match one_cold_ms {
        Some(ms) => ms,
        None => {
            let started = Instant::now();
            let (id, _) = floor_cold_start(docker, &label).await?;
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            remove(docker, &id).await;
            ms
        }
    };
    let sequential = one_cold_ms * plan.burst as f64;
    Ok(json!({
        "requests": plan.burst, "rounds": plan.burst_rounds,
        "answered": answered, "lost": requests - answered, "instances": instances,
        "total_ms": round2(total_ms), "floor_total_ms": round2(floor_ms),
        "rounds_ms": via.iter().map(|m| round2(*m)).collect::<Vec<_>>(),
        "floor_rounds_ms": floor.iter().map(|m| round2(*m)).collect::<Vec<_>>(),
        "sequential_estimate_ms": round2(sequential), "speedup": round2(sequential / total_ms),
        "over_floor": round3(total_ms / floor_ms - 1.0),
    }))
}
