//! `just bench`: fcemu measured side by side with the floor it stands on, in the same run.
//!
//! - warm: one warm instance hit directly on its container address and through fcemu's gateway;
//! - thaw: a request to a frozen instance through fcemu vs `docker unpause` + the same direct request, and vs
//!   the cgroup freezer written directly + the same request (the physical floor);
//! - cold: a cold start through fcemu vs the same create, start, connect-poll, /initialize, request done
//!   straight on the Docker API;
//! - burst: 32 simultaneous requests to a function with no instance and instanceConcurrency 1, against the
//!   same 32 cold starts at once on the Docker API;
//! - scale: fcemu's resident memory with 200 live instances (20 functions of 10), and a warm request's
//!   latency among them against among one.
//!
//! fcemu runs as the release binary, as a user runs it. Results go to a table and target/bench/report.json.

mod bare_proxy;
mod cold;
mod fcemu;
mod floor;
mod load;
mod scale;
mod table;

use anyhow::{Context, Result};
use bollard::Docker;
use clap::Parser;
use fcemu::{Fcemu, project_yaml};
use floor::{container_addr, floor_container, remove, wait_listening};
use load::{Connection, histogram, ms};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const IMAGE: &str = "fcemu-fixture:latest";
const PATH: &str = "/state";

#[derive(Parser)]
struct Args {
    /// A quick pass with few rounds, to keep the benchmark from rotting (CI)
    #[arg(long)]
    short: bool,
    /// The fcemu binary to measure
    #[arg(long, default_value = "target/release/fcemu")]
    fcemu: PathBuf,
    #[arg(long, default_value = "target/bench/report.json")]
    out: PathBuf,
    /// Serve only the proxy floor in front of this address, on --bare-proxy-listen, until killed (the
    /// warm case runs it so; by hand, to profile it next to fcemu)
    #[arg(long, hide = true)]
    bare_proxy: Option<SocketAddr>,
    #[arg(long, hide = true, default_value = "127.0.0.1:0")]
    bare_proxy_listen: SocketAddr,
    /// Only these cases (comma-separated), to look at one of them closely
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Case>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Case {
    Warm,
    Cold,
    Thaw,
    Burst,
    Scale,
    /// The warm and cold cases again, with instances reached through published ports.
    Published,
}

/// How much of each case to run.
struct Plan {
    latency_requests: usize,
    rounds: usize,
    rps_span: Duration,
    thaw_rounds: usize,
    cold_rounds: usize,
    burst: usize,
    burst_rounds: usize,
    scale_functions: usize,
    scale_instances_per_function: u32,
}

impl Plan {
    fn new(short: bool) -> Plan {
        if short {
            Plan {
                latency_requests: 300,
                rounds: 1,
                rps_span: Duration::from_millis(500),
                thaw_rounds: 3,
                cold_rounds: 2,
                burst: 8,
                burst_rounds: 1,
                scale_functions: 4,
                scale_instances_per_function: 2,
            }
        } else {
            Plan {
                latency_requests: 3000,
                rounds: 3,
                rps_span: Duration::from_secs(3),
                thaw_rounds: 30,
                cold_rounds: 12,
                burst: 32,
                burst_rounds: 3,
                scale_functions: 20,
                scale_instances_per_function: 10,
            }
        }
    }
}

fn p50(samples: &mut [f64]) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    samples.get(samples.len() / 2).copied().unwrap_or(0.0)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

async fn warm(docker: &Docker, fcemu: &Fcemu, plan: &Plan) -> Result<Value> {
    // One instance takes every request, kept warm (--no-freeze) so both sides hit the same process.
    let mut first = Connection::open(fcemu.addr).await?;
    first.get(PATH, &[]).await?;
    let instances = fcemu.instances().await?;
    let direct = container_addr(
        docker,
        instances[0]["containerId"]
            .as_str()
            .context("no container id")?,
    )
    .await?;

    let floor = bare_proxy::BareProxy::spawn(direct)?;
    let hop = floor.addr;

    let (mut via, mut straight, mut bare) = (histogram(), histogram(), histogram());
    for _ in 0..plan.rounds {
        // Interleaved rounds, so drift on the machine touches every side alike.
        load::latency(direct, &[PATH], 200, plan.latency_requests, &mut straight).await?;
        load::latency(hop, &[PATH], 200, plan.latency_requests, &mut bare).await?;
        load::latency(fcemu.addr, &[PATH], 200, plan.latency_requests, &mut via).await?;
    }
    let (mut rps_via, mut rps_direct, mut rps_bare) = (vec![], vec![], vec![]);
    for _ in 0..plan.rounds {
        rps_direct.push(load::throughput(direct, PATH, 32, plan.rps_span).await?);
        rps_bare.push(load::throughput(hop, PATH, 32, plan.rps_span).await?);
        rps_via.push(load::throughput(fcemu.addr, PATH, 32, plan.rps_span).await?);
    }
    let (fcemu_rps, direct_rps) = (p50(&mut rps_via), p50(&mut rps_direct));
    Ok(json!({
        "fcemu_p50_ms": ms(&via, 0.5), "direct_p50_ms": ms(&straight, 0.5),
        "fcemu_p99_ms": ms(&via, 0.99), "direct_p99_ms": ms(&straight, 0.99),
        "p50_overhead_ms": round3(ms(&via, 0.5) - ms(&straight, 0.5)),
        "fcemu_rps": fcemu_rps.round(), "direct_rps": direct_rps.round(),
        "rps_ratio": round2(fcemu_rps / direct_rps),
        // What any proxy hop costs here: the least a hyper reverse proxy adds, measured alongside.
        "bare_proxy": {
            "p50_ms": ms(&bare, 0.5), "p99_ms": ms(&bare, 0.99),
            "p50_overhead_ms": round3(ms(&bare, 0.5) - ms(&straight, 0.5)),
            "rps": p50(&mut rps_bare).round(),
        },
    }))
}

async fn thaw(docker: &Docker, binary: &Path, plan: &Plan) -> Result<Value> {
    let fcemu = Fcemu::start(binary, &project_yaml(1, 1), &[])?;
    let mut conn = Connection::open(fcemu.addr).await?;
    conn.get(PATH, &[]).await?;
    let mut via = histogram();
    for _ in 0..plan.thaw_rounds {
        fcemu
            .wait_instances(|l| l.iter().all(|i| i["state"] == "frozen"))
            .await?;
        let started = Instant::now();
        conn.get(PATH, &[]).await?;
        via.record(started.elapsed().as_micros() as u64)?;
    }
    let label = fcemu.dir.path().display().to_string();
    fcemu.stop()?;

    // The floor: a paused container of the same image, unpaused through the Docker API, then the request.
    let id = floor_container(docker, &label).await?;
    docker.start_container(&id, None).await?;
    let addr = container_addr(docker, &id).await?;
    wait_listening(addr).await?;
    let mut floor = histogram();
    let mut direct = Connection::open(addr).await?;
    direct.get(PATH, &[]).await?;
    for _ in 0..plan.thaw_rounds {
        docker.pause_container(&id).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        docker.unpause_container(&id).await?;
        direct.get(PATH, &[]).await?;
        floor.record(started.elapsed().as_micros() as u64)?;
    }
    // The physical floor: the same container frozen and thawed by writing its cgroup, as fcemu does where
    // it can, then the request.
    let runtime = fcemu_runtime::DockerRuntime::connect().await?;
    let mut cgroup = histogram();
    for _ in 0..plan.thaw_rounds {
        match runtime.set_frozen_by_cgroup(&id, true).await {
            Some(frozen) => frozen?,
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let started = Instant::now();
        if let Some(thawed) = runtime.set_frozen_by_cgroup(&id, false).await {
            thawed?;
        }
        direct.get(PATH, &[]).await?;
        cgroup.record(started.elapsed().as_micros() as u64)?;
    }
    remove(docker, &id).await;
    let method = if cgroup.is_empty() {
        "engine"
    } else {
        "cgroup"
    };
    let cgroup_floor = (!cgroup.is_empty()).then(|| ms(&cgroup, 0.5));
    Ok(json!({
        "fcemu_p50_ms": ms(&via, 0.5), "floor_p50_ms": ms(&floor, 0.5),
        "overhead_ms": round2(ms(&via, 0.5) - ms(&floor, 0.5)),
        "method": method,
        "cgroup_floor_p50_ms": cgroup_floor,
        "cgroup_overhead_ms": cgroup_floor.map(|c| round2(ms(&via, 0.5) - c)),
    }))
}

// One thread: the generator shares the machine with fcemu and the function, and worker threads of its
// own would compete with both for the cores and blur what is measured (as wrk, a single thread, does not).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(upstream) = args.bare_proxy {
        return bare_proxy::run(args.bare_proxy_listen, upstream).await;
    }
    let plan = Plan::new(args.short);
    let docker = Docker::connect_with_defaults()?
        .negotiate_version()
        .await
        .context("Docker is not reachable")?;
    docker
        .inspect_image(IMAGE)
        .await
        .context("the fixture image is missing: run scripts/build-fixtures.sh")?;
    floor::prepare_network(&docker).await?;

    let runs = |case: Case| args.only.is_empty() || args.only.contains(&case);
    let mut report = json!({ "short": args.short });

    if runs(Case::Warm) || runs(Case::Cold) {
        let main = Fcemu::start(&args.fcemu, &project_yaml(1, 100), &["--no-freeze"])?;
        if runs(Case::Warm) {
            eprintln!("warm: one instance, direct vs a bare proxy vs through fcemu");
            report["warm"] = warm(&docker, &main, &plan).await?;
        }
        if runs(Case::Cold) {
            eprintln!("cold: fcemu vs create/start/poll/initialize/request on the Docker API");
            report["cold"] = cold::cold(&docker, &main, &plan).await?;
        }
        main.stop()?;
    }
    if runs(Case::Published) {
        eprintln!(
            "published: the warm and cold cases with instances reached through ports published on 127.0.0.1"
        );
        let published = Fcemu::start(
            &args.fcemu,
            &project_yaml(1, 100),
            &["--no-freeze", "--container-host", "127.0.0.1"],
        )?;
        report["published"] = json!({
            "warm": warm(&docker, &published, &plan).await?,
            "cold": cold::cold(&docker, &published, &plan).await?,
        });
        published.stop()?;
    }
    if runs(Case::Thaw) {
        eprintln!("thaw: a frozen instance through fcemu vs docker unpause + the direct request");
        report["thaw"] = thaw(&docker, &args.fcemu, &plan).await?;
    }
    if runs(Case::Burst) {
        eprintln!(
            "burst: {} simultaneous requests, no instance, concurrency 1",
            plan.burst
        );
        let one_cold_ms = report["cold"]["fcemu_p50_ms"].as_f64();
        report["burst"] = cold::burst(&docker, &args.fcemu, &plan, one_cold_ms).await?;
    }
    if runs(Case::Scale) {
        eprintln!(
            "scale: {} functions of {} provisioned instances",
            plan.scale_functions, plan.scale_instances_per_function
        );
        let scale = scale::scale(&args.fcemu, &plan).await?;
        report[format!("rss_mb_{}_instances", scale["instances"])] = scale["rss_mb"].clone();
        report["scale"] = scale;
    }

    let _ = docker.remove_network(floor::NETWORK).await;
    table::print_table(&report);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("\nwrote {}", args.out.display());
    Ok(())
}
