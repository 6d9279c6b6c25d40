//! `just bench`: fcemu measured side by side with the floor it stands on, in the same run.
//!
//! - warm: one warm instance hit directly on its container address and through fcemu's gateway;
//! - thaw: a request to a frozen instance through fcemu vs `docker unpause` + the same direct request, and vs
//!   the cgroup freezer written directly + the same request (the physical floor);
//! - cold: a cold start through fcemu vs the same create, start, connect-poll, /initialize, request done
//!   straight on the Docker API;
//! - burst: 32 simultaneous requests to a function with no instance and instanceConcurrency 1;
//! - footprint: fcemu's resident memory with 50 live instances.
//!
//! fcemu runs as the release binary, as a user runs it. Results go to a table and target/bench/report.json.

mod bare_proxy;
mod load;

use anyhow::{Context, Result, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use clap::Parser;
use load::{Connection, histogram, ms};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    Footprint,
    Thaw,
    Burst,
}

/// How much of each case to run.
struct Plan {
    latency_requests: usize,
    rounds: usize,
    rps_span: Duration,
    thaw_rounds: usize,
    cold_rounds: usize,
    burst: usize,
    footprint_instances: u32,
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
                footprint_instances: 10,
            }
        } else {
            Plan {
                latency_requests: 3000,
                rounds: 3,
                rps_span: Duration::from_secs(3),
                thaw_rounds: 30,
                cold_rounds: 12,
                burst: 32,
                footprint_instances: 50,
            }
        }
    }
}

/// A running `fcemu up` on a project of its own.
struct Fcemu {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

fn project_yaml(concurrency: u32) -> String {
    format!(
        "edition: 3.0.0
name: bench
resources:
  f:
    component: fc3
    props:
      functionName: f
      runtime: custom-container
      memorySize: 128
      cpu: 1
      timeout: 30
      instanceConcurrency: {concurrency}
      customContainerConfig: {{ image: \"{IMAGE}\", port: 9000 }}
      instanceLifecycleConfig:
        initializer: {{ handler: index.initialize, timeout: 10 }}
      provisionConfig: {{ alwaysAllocateCPU: false }}
      triggers: [{{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET, POST] }} }}]
"
    )
}

impl Fcemu {
    fn start(binary: &Path, concurrency: u32, flags: &[&str]) -> Result<Fcemu> {
        let dir = tempfile::Builder::new().prefix("fcemu-bench-").tempdir()?;
        std::fs::write(dir.path().join("s.yaml"), project_yaml(concurrency))?;
        let child = Command::new(binary)
            .arg("up")
            .arg(dir.path())
            .args(["--listen", "127.0.0.1:0"])
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let endpoint = dir.path().join(".fcemu/endpoint");
        let started = Instant::now();
        loop {
            if let Ok(url) = std::fs::read_to_string(&endpoint) {
                let url = url.trim().to_string();
                if !url.is_empty() {
                    let addr = url.trim_start_matches("http://").parse()?;
                    return Ok(Fcemu { child, addr, dir });
                }
            }
            if started.elapsed() > Duration::from_secs(60) {
                bail!("fcemu up did not come up");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A call to the control API or the OpenAPI subset, answered in JSON.
    async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let mut conn = Connection::open(self.addr).await?;
        let body = body
            .map(|b| bytes::Bytes::from(b.to_string()))
            .unwrap_or_default();
        let (status, _, answer) = conn
            .request(method, path, &[("content-type", "application/json")], body)
            .await?;
        if status >= 400 {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    async fn instances(&self) -> Result<Vec<Value>> {
        Ok(
            self.control("GET", "/_fcemu/instances", None).await?["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
    }

    async fn wait_instances(&self, pred: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
        let started = Instant::now();
        loop {
            let list = self.instances().await?;
            if pred(&list) {
                return Ok(list);
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("instances never reached the wanted state: {list:?}");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn rss_mb(&self) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kb / 1024.0)
    }

    fn stop(mut self) -> Result<()> {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()?;
        let started = Instant::now();
        while self.child.try_wait()?.is_none() {
            if started.elapsed() > Duration::from_secs(120) {
                self.child.kill()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(self.dir);
        Ok(())
    }
}

async fn container_addr(docker: &Docker, id: &str) -> Result<SocketAddr> {
    let info = docker.inspect_container(id, None).await?;
    let ip = info
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| {
            n.into_values()
                .find_map(|e| e.ip_address.filter(|ip| !ip.is_empty()))
        })
        .context("the container has no IP")?;
    Ok(format!("{ip}:9000").parse()?)
}

/// A container of the fixture made straight on the Docker API, labelled so `fcemu down` can sweep it.
async fn floor_container(docker: &Docker, label_dir: &str) -> Result<String> {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        env: Some(vec!["FC_CUSTOM_LISTEN_PORT=9000".into()]),
        // As fcemu creates its instances, so the engine does the same work for both.
        exposed_ports: Some(vec!["9000/tcp".into()]),
        labels: Some(HashMap::from([
            ("fcemu.managed".into(), "true".into()),
            ("fcemu.project".into(), label_dir.into()),
        ])),
        host_config: Some(HostConfig {
            memory: Some(128 * 1024 * 1024),
            memory_swap: Some(128 * 1024 * 1024),
            nano_cpus: Some(1_000_000_000),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    Ok(docker
        .create_container(None::<CreateContainerOptions>, body)
        .await?
        .id)
}

async fn remove(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await;
}

async fn wait_listening(addr: SocketAddr) -> Result<()> {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if started.elapsed() > Duration::from_secs(60) {
            bail!("{addr} never listened");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(())
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
        load::latency(direct, PATH, 200, plan.latency_requests, &mut straight).await?;
        load::latency(hop, PATH, 200, plan.latency_requests, &mut bare).await?;
        load::latency(fcemu.addr, PATH, 200, plan.latency_requests, &mut via).await?;
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
    let fcemu = Fcemu::start(binary, 1, &[])?;
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

/// Milliseconds of each phase out of a `Server-Timing` header.
fn phases(header: &str) -> HashMap<String, f64> {
    header
        .split(',')
        .filter_map(|m| {
            let (name, rest) = m.trim().split_once(';')?;
            Some((
                name.to_string(),
                rest.trim().strip_prefix("dur=")?.parse().ok()?,
            ))
        })
        .collect()
}

/// A cold start with no emulator: create, start, poll the port every millisecond, `POST /initialize`, the
/// request. Returns the container, for removal, and its phases timed under fcemu's names (milliseconds).
async fn floor_cold_start(docker: &Docker, label: &str) -> Result<(String, Vec<(String, f64)>)> {
    let mut phases = vec![];
    let mut lap = Instant::now();
    let mut phase = |name: &str| {
        phases.push((name.to_string(), lap.elapsed().as_secs_f64() * 1000.0));
        lap = Instant::now();
    };
    let id = floor_container(docker, label).await?;
    phase("instance-create");
    docker.start_container(&id, None).await?;
    let addr = container_addr(docker, &id).await?;
    wait_listening(addr).await?;
    phase("runtime-init");
    let mut conn = Connection::open(addr).await?;
    let (status, _, _) = conn
        .request("POST", "/initialize", &[], bytes::Bytes::new())
        .await?;
    if status != 200 {
        bail!("the floor's POST /initialize answered {status}");
    }
    phase("init-hook");
    conn.get(PATH, &[]).await?;
    Ok((id, phases))
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

async fn cold(docker: &Docker, fcemu: &Fcemu, plan: &Plan) -> Result<Value> {
    let label = fcemu.dir.path().display().to_string();
    let (mut via, mut floor) = (vec![], vec![]);
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
        via_phases.add(phases(timing));

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
    }))
}

/// `one_cold_ms`: one cold start through fcemu, for the sequential estimate; measured here when absent.
async fn burst(
    docker: &Docker,
    binary: &Path,
    plan: &Plan,
    one_cold_ms: Option<f64>,
) -> Result<Value> {
    let fcemu = Fcemu::start(binary, 1, &["--no-freeze"])?;
    let label = fcemu.dir.path().display().to_string();
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
    // The floor: the same cold starts, all at once, straight on the Docker API.
    let started = Instant::now();
    let starts =
        futures_util::future::join_all((0..plan.burst).map(|_| floor_cold_start(docker, &label)))
            .await;
    let floor_ms = started.elapsed().as_secs_f64() * 1000.0;
    for (id, _) in starts.iter().flatten() {
        remove(docker, id).await;
    }
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
        "requests": plan.burst, "answered": answered, "lost": plan.burst - answered,
        "instances": instances.len(), "total_ms": round2(total_ms), "floor_total_ms": round2(floor_ms),
        "sequential_estimate_ms": round2(sequential), "speedup": round2(sequential / total_ms),
    }))
}

async fn footprint(fcemu: &Fcemu, plan: &Plan) -> Result<f64> {
    let n = plan.footprint_instances;
    fcemu
        .control(
            "PUT",
            "/2023-03-30/functions/f/provision-config",
            Some(json!({ "target": n })),
        )
        .await?;
    fcemu
        .wait_instances(|l| {
            l.iter()
                .filter(|i| {
                    i["provisioned"] == true
                        && i["state"] != "creating"
                        && i["state"] != "initializing"
                })
                .count()
                >= n as usize
        })
        .await?;
    // A few requests, so the gateway's and pools' steady state is in the figure.
    let mut c = Connection::open(fcemu.addr).await?;
    for _ in 0..100 {
        c.get(PATH, &[]).await?;
    }
    fcemu.rss_mb()
}

fn verdict(ok: bool) -> &'static str {
    if ok { "ok" } else { "MISSED" }
}

fn print_table(r: &Value, instances: u32) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    if r["short"] == true {
        println!(
            "\n--short: a few rounds each, to keep the benchmark working; the verdicts need the full run"
        );
    }
    println!(
        "\n{:<34} {:>12} {:>12} {:>12}  target",
        "", "fcemu", "floor", "difference"
    );
    let w = &r["warm"];
    if !w.is_null() {
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +0.1 ms  {}",
            "warm p50 (1 connection)",
            f(&w["fcemu_p50_ms"]),
            f(&w["direct_p50_ms"]),
            f(&w["p50_overhead_ms"]),
            verdict(f(&w["p50_overhead_ms"]) <= 0.1)
        );
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms",
            "warm p99 (1 connection)",
            f(&w["fcemu_p99_ms"]),
            f(&w["direct_p99_ms"])
        );
        println!(
            "{:<34} {:>10.0}/s {:>10.0}/s {:>11.2}x  >= 0.70x    {}",
            "warm throughput (32 connections)",
            f(&w["fcemu_rps"]),
            f(&w["direct_rps"]),
            f(&w["rps_ratio"]),
            verdict(f(&w["rps_ratio"]) >= 0.70)
        );
        let bare = &w["bare_proxy"];
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  (any proxy hop; {:.0}/s at 32 connections)",
            "  a bare hyper proxy, p50",
            f(&bare["p50_ms"]),
            f(&w["direct_p50_ms"]),
            f(&bare["p50_overhead_ms"]),
            f(&bare["rps"])
        );
    }
    let t = &r["thaw"];
    if !t.is_null() {
        println!(
            "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +2 ms    {}",
            "thaw p50",
            f(&t["fcemu_p50_ms"]),
            f(&t["floor_p50_ms"]),
            f(&t["overhead_ms"]),
            verdict(f(&t["overhead_ms"]) <= 2.0)
        );
        if t["method"] == "cgroup" {
            println!(
                "{:<34} {:>9.3} ms {:>9.3} ms {:>+9.3} ms  <= +1 ms    {}",
                "  vs the cgroup write, p50",
                f(&t["fcemu_p50_ms"]),
                f(&t["cgroup_floor_p50_ms"]),
                f(&t["cgroup_overhead_ms"]),
                verdict(f(&t["cgroup_overhead_ms"]) <= 1.0)
            );
        }
    }
    let c = &r["cold"];
    if !c.is_null() {
        println!(
            "{:<34} {:>9.2} ms {:>9.2} ms {:>+9.2} ms  <= +10 ms   {}",
            "cold start p50",
            f(&c["fcemu_p50_ms"]),
            f(&c["floor_p50_ms"]),
            f(&c["overhead_ms"]),
            verdict(f(&c["overhead_ms"]) <= 10.0)
        );
        for phase in ["instance_create_ms", "runtime_init_ms", "init_hook_ms"] {
            println!(
                "{:<34} {:>9.2} ms {:>9.2} ms {:>+9.2} ms",
                format!(
                    "  {} (p50)",
                    phase.trim_end_matches("_ms").replace('_', " ")
                ),
                f(&c["phases"][phase]),
                f(&c["floor_phases"][phase]),
                f(&c["phases"][phase]) - f(&c["floor_phases"][phase]),
            );
        }
    }
    let b = &r["burst"];
    if !b.is_null() {
        println!(
            "{:<34} {:>9.0} ms {:>9.0} ms {:>+9.0} ms  all answered, in parallel  {}",
            format!(
                "burst: {} at once ({} answered)",
                b["requests"], b["answered"]
            ),
            f(&b["total_ms"]),
            f(&b["floor_total_ms"]),
            f(&b["total_ms"]) - f(&b["floor_total_ms"]),
            verdict(b["lost"] == 0 && f(&b["total_ms"]) < f(&b["sequential_estimate_ms"]))
        );
        println!(
            "{:<34} {} instances; one after another would take ~{:.0} ms ({:.1}x)",
            "",
            b["instances"],
            f(&b["sequential_estimate_ms"]),
            f(&b["speedup"])
        );
    }
    if let Some(rss) = r["rss_mb_50_instances"].as_f64() {
        println!(
            "{:<34} {rss:>9.1} MB  ({instances} instances)  < 50 MB  {}",
            "fcemu resident memory",
            verdict(rss < 50.0)
        );
    }
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

    let runs = |case: Case| args.only.is_empty() || args.only.contains(&case);
    let mut report =
        json!({ "short": args.short, "footprint_instances": plan.footprint_instances });

    if runs(Case::Warm) || runs(Case::Cold) || runs(Case::Footprint) {
        let main = Fcemu::start(&args.fcemu, 100, &["--no-freeze"])?;
        if runs(Case::Warm) {
            eprintln!("warm: one instance, direct vs a bare proxy vs through fcemu");
            report["warm"] = warm(&docker, &main, &plan).await?;
        }
        if runs(Case::Cold) {
            eprintln!("cold: fcemu vs create/start/poll/initialize/request on the Docker API");
            report["cold"] = cold(&docker, &main, &plan).await?;
        }
        if runs(Case::Footprint) {
            eprintln!(
                "footprint: {} provisioned instances",
                plan.footprint_instances
            );
            report["rss_mb_50_instances"] = json!(round2(footprint(&main, &plan).await?));
        }
        main.stop()?;
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
        report["burst"] = burst(&docker, &args.fcemu, &plan, one_cold_ms).await?;
    }

    print_table(&report, plan.footprint_instances);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")?;
    eprintln!("\nwrote {}", args.out.display());
    Ok(())
}
