//! `fcemu up` on bad days, on real Docker: a burst in which requests crash their process, a container killed
//! behind fcemu's back, 200,000 log lines from one instance, clients that send half a request, and a listen
//! address other machines reach. Each of these lost requests or lines once.

mod common;

use common::up::*;
use common::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The fixture with two requests at a time per instance (a crash takes a neighbour with it).
fn concurrent_fixture() -> TestProject {
    TestProject::fixture(&[], "      instanceConcurrency: 2\n")
}

/// What [`send_all`] puts in the body of an answer whose body broke off after its head.
const CUT: &str = "the body was cut";

struct Answer {
    path: String,
    status: u16,
    error_type: String,
    body: String,
}

async fn send_all(url: &str, paths: Vec<String>) -> Vec<Answer> {
    let http = reqwest::Client::new();
    let calls = paths.into_iter().map(|path| {
        let http = http.clone();
        let url = format!("{url}{path}");
        async move {
            let header = |r: &reqwest::Response, name: &str| {
                r.headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            match http.get(&url).send().await {
                // A body that breaks off after its head is no answer: FC never sends one.
                Ok(r) => Answer {
                    path,
                    status: r.status().as_u16(),
                    error_type: header(&r, "x-fc-error-type"),
                    body: r.text().await.unwrap_or_else(|e| format!("{CUT} ({e})")),
                },
                Err(e) => Answer {
                    path,
                    status: 0,
                    error_type: String::new(),
                    body: e.to_string(),
                },
            }
        }
    });
    futures_util::future::join_all(calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_in_which_requests_crash_their_process_loses_only_what_the_crashes_took() {
    let docker = docker().await;
    let project = concurrent_fixture();
    let up = Up::start(project.path(), &["--max-instances", "8"]);
    // 300 at once, every tenth crashing its process.
    let paths: Vec<String> = (0..300)
        .map(|i| {
            if i % 10 == 0 {
                "/crash".to_string()
            } else {
                format!("/ok/{i}")
            }
        })
        .collect();
    let answers = send_all(&up.url, paths).await;
    let unanswered: Vec<String> = answers
        .iter()
        .filter(|a| a.status == 0 || a.body.starts_with(CUT))
        .map(|a| format!("{} {}: {}", a.path, a.status, a.body))
        .collect();
    assert!(
        unanswered.is_empty(),
        "every request gets a whole answer, a crash's neighbour a function error: {unanswered:#?}"
    );
    // On a machine busy enough that 16 slots cannot take 300 requests within the function's 10 s timeout,
    // the rest are throttled, as FC does: that is an answer, not a loss.
    let throttled = |a: &Answer| {
        a.status == 429 && a.body.contains("ResourceExhausted") && a.body.contains("its timeout")
    };
    let (crashes, others): (Vec<&Answer>, Vec<&Answer>) = answers
        .iter()
        .filter(|a| !throttled(a))
        .partition(|a| a.path == "/crash");
    for a in &crashes {
        assert_eq!(a.error_type, "UnhandledInvocationError", "{}", a.body);
    }
    let lost: Vec<&&Answer> = others.iter().filter(|a| a.status != 200).collect();
    println!(
        "300 requests, {} crashing, {} throttled: {} of the other {} failed",
        crashes.len(),
        answers.iter().filter(|a| throttled(a)).count(),
        lost.len(),
        others.len()
    );
    // What is lost is only what was inside a process when it crashed: with two requests per instance,
    // at most one neighbour per crash. Nothing is sent to a process known to be gone.
    assert!(
        lost.len() <= crashes.len(),
        "{} failed besides the crashes",
        lost.len()
    );
    for a in &lost {
        assert_eq!(a.error_type, "UnhandledInvocationError", "{}", a.body);
        assert!(
            a.body.contains("Process exited unexpectedly") && !a.body.contains("refused"),
            "{}",
            a.body
        );
    }

    // Killed behind fcemu's back: the next requests are served by other instances.
    let live = containers_of(&docker, project.path()).await;
    assert!(!live.is_empty());
    let victim = up.get_json("/_fcemu/instances").await["instances"][0]["containerId"]
        .as_str()
        .unwrap()
        .to_string();
    let killed = std::process::Command::new("docker")
        .args(["kill", &victim])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    let after = send_all(&up.url, (0..40).map(|i| format!("/after/{i}")).collect()).await;
    for a in &after {
        assert_eq!(a.status, 200, "{}: {}", a.path, a.body);
    }

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_thousand_lines_from_one_instance_are_kept_once_and_queryable() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    // Memory keeps 5,000 lines: the rest is read back from .fcemu/logs.jsonl.
    let up = Up::start(project.path(), &["--history", "5000"]);
    const LINES: usize = 200_000;
    let r = reqwest::get(format!("{}/flood?lines={LINES}", up.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-fc-request-id"].to_str().unwrap().to_string();
    let query = format!("{}/_fcemu/logs?requestId={rid}", up.url);
    let deadline = Instant::now() + Duration::from_secs(120);
    let numbers = loop {
        let text = reqwest::get(&query).await.unwrap().text().await.unwrap();
        let numbers: Vec<usize> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                let line = v["line"].as_str()?.to_string();
                line.strip_prefix(&format!("flood {rid} "))?.parse().ok()
            })
            .collect();
        if numbers.len() >= LINES || Instant::now() > deadline {
            break numbers;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let distinct: BTreeSet<usize> = numbers.iter().copied().collect();
    assert_eq!(
        (numbers.len(), distinct.len()),
        (LINES, LINES),
        "every line kept, once"
    );
    assert_eq!(numbers, (0..LINES).collect::<Vec<_>>(), "in order");
    // A query of the whole run reads it from disk a page at a time: up's memory never holds it (the lines
    // alone are over 40 MB as strings). The peak is measured from here (writing 5 to clear_refs resets it).
    std::fs::write(format!("/proc/{}/clear_refs", up.child.id()), "5").unwrap();
    let before = memory_kb(&up, "VmRSS");
    for _ in 0..2 {
        let whole = reqwest::get(format!("{}/_fcemu/logs", up.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(whole.lines().count() > LINES);
    }
    let peak = memory_kb(&up, "VmHWM");
    println!("fcemu up while queried: {before} kB before, {peak} kB at its peak");
    assert!(
        peak < before + 16 * 1024,
        "up's memory went from {before} kB to a peak of {peak} kB while the whole run was queried"
    );
    // `fcemu logs` answers from the whole run too.
    let out = fcemu(&[
        "logs",
        "--request-id",
        &rid,
        "--format",
        "json",
        "--endpoint",
        &up.url,
    ]);
    assert!(out.status.success());
    assert_eq!(
        text(&out.stdout)
            .lines()
            .filter(|l| l.contains(&format!("flood {rid} ")))
            .count(),
        LINES
    );
    // Piped into a reader that stops early (`| head -1`), it ends quietly, without a panic.
    let mut logs = std::process::Command::new(FCEMU)
        .args(["logs", "--request-id", &rid, "--endpoint", &up.url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(logs.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(logs.stdout.take());
    let out = logs.wait_with_output().unwrap();
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_instance_of_a_churning_run_is_recorded_from_creating_to_destroyed() {
    // Instances come and go for a while (idle reclamation after half a second, crashes, reclaims, a
    // shutdown with requests in flight); `up --format json` prints the whole event stream, and it has each
    // instance's life from instance.creating to one instance.destroyed, and each request's end.
    let docker = docker().await;
    let project = concurrent_fixture();
    let up = Up::start(
        project.path(),
        &[
            "--idle-timeout",
            "500ms",
            "--history",
            "200",
            "--format",
            "json",
        ],
    );
    let started = Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(15) {
        let paths: Vec<String> = (0..20)
            .map(|i| match i {
                0 => "/crash".to_string(),
                1 => "/sleep?ms=300".to_string(),
                _ => format!("/churn/{i}"),
            })
            .collect();
        let answers = send_all(&up.url, paths).await;
        for a in &answers {
            assert_ne!(a.status, 0, "every request is answered: {}", a.body);
        }
        rounds += 1;
        if rounds % 5 == 0 {
            assert!(
                fcemu(&["reclaim", "--all", "--endpoint", &up.url])
                    .status
                    .success()
            );
        }
        // Quiet for longer than the idle timeout: every instance is reclaimed.
        until_no_instance(&up).await;
    }
    // Requests still in flight when the shutdown comes.
    let started = |up: &Up| {
        up.output()
            .iter()
            .filter(|l| l.contains("\"event\":\"invoke.start\""))
            .count()
    };
    let before = started(&up);
    let url = up.url.clone();
    let in_flight =
        tokio::spawn(async move { send_all(&url, vec!["/sleep?ms=500".into(); 4]).await });
    let deadline = Instant::now() + Duration::from_secs(30);
    while started(&up) < before + 4 {
        assert!(Instant::now() < deadline, "the last requests never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    for a in in_flight.await.unwrap() {
        assert_eq!(
            a.status, 200,
            "drained before the instances were destroyed: {}",
            a.body
        );
    }
    let events: Vec<serde_json::Value> = output
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut lives: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut requests: BTreeMap<String, (u32, u32)> = BTreeMap::new();
    for e in &events {
        let name = e["event"].as_str().unwrap().to_string();
        if let Some(id) = e["instanceId"]
            .as_str()
            .filter(|_| name.starts_with("instance."))
        {
            lives.entry(id.to_string()).or_default().push(name.clone());
        }
        if let Some(rid) = e["requestId"].as_str() {
            let counts = requests.entry(rid.to_string()).or_default();
            match name.as_str() {
                "invoke.start" => counts.0 += 1,
                "invoke.end" | "invoke.retried" => counts.1 += 1,
                _ => {}
            }
        }
    }
    assert!(
        lives.len() > 10,
        "the run churned: {} instances",
        lives.len()
    );
    for (id, life) in &lives {
        assert_eq!(
            life.first().map(String::as_str),
            Some("instance.creating"),
            "{id}: {life:?}"
        );
        assert_eq!(
            life.last().map(String::as_str),
            Some("instance.destroyed"),
            "{id}: {life:?}"
        );
        assert_eq!(
            life.iter().filter(|e| *e == "instance.destroyed").count(),
            1,
            "{id}: {life:?}"
        );
    }
    for (rid, (starts, ends)) in &requests {
        assert_eq!(starts, ends, "request {rid}: each start has its end");
    }
    assert_no_containers_left(&docker, project.path()).await;
}

/// Waits until `up` has no live instance.
async fn until_no_instance(up: &Up) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !up.get_json("/_fcemu/instances").await["instances"]
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "instances were not reclaimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_send_half_a_request_do_not_hold_up_or_its_shutdown() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    let addr = up.url.trim_start_matches("http://").to_string();
    let halves: Vec<std::net::TcpStream> = (0..400)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(&addr).unwrap();
            std::io::Write::write_all(&mut stream, b"GET /x HT").unwrap();
            stream
        })
        .collect();
    // The server still serves everyone else.
    let r = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let stopping = Instant::now();
    let (code, output) = up.stop();
    let took = stopping.elapsed();
    assert_eq!(code, 0, "{output:#?}");
    // It took 7 s when hyper held half-sent requests for its grace; 0.4 s on a quiet machine now (PreStop,
    // stop and remove of the instance included), and a CPU-starved one may take a little longer.
    assert!(
        took < Duration::from_secs(3),
        "400 half-sent requests held the shutdown for {took:?}"
    );
    drop(halves);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_only_the_token_changes_state_and_traffic_stays_open() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start_on(project.path(), "0.0.0.0:0", &[]);
    let port = up.url.rsplit(':').next().unwrap().to_string();
    let url = format!("http://127.0.0.1:{port}");
    let token_file = project.path().join(".fcemu/token");
    let token = std::fs::read_to_string(&token_file)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(token.len(), 64);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    wait_for_output(&up, "can be reached from other machines").await;
    assert!(
        !up.printed(&token),
        "the token is printed only to a terminal, and this output is a pipe"
    );

    let http = reqwest::Client::new();
    assert_eq!(
        reqwest::get(format!("{url}/hello")).await.unwrap().status(),
        200,
        "trigger traffic needs no token"
    );
    let reclaim = format!("{url}/_fcemu/functions/fixture/reclaim");
    let refused = http.post(&reclaim).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    let provision = format!("{url}/2023-03-30/functions/fixture/provision-config");
    let refused = http
        .put(&provision)
        .json(&serde_json::json!({ "target": 1 }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let allowed = http
        .post(&reclaim)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    // fcemu's own commands, run in the project folder, send the token they find there.
    let out = std::process::Command::new(FCEMU)
        .args(["provision", "fixture", "--target", "1", "--endpoint", &url])
        .current_dir(project.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let elsewhere = std::process::Command::new(FCEMU)
        .args(["reclaim", "--all", "--endpoint", &url])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(
        !elsewhere.status.success(),
        "without the token it is refused"
    );
    assert!(
        text(&elsewhere.stderr).contains("Bearer"),
        "{}",
        text(&elsewhere.stderr)
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert!(!token_file.exists(), "the token goes with the run");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_while_starting_fails_its_waiting_request_at_once() {
    let docker = docker().await;
    // The server would listen only after 60 s: the kill comes long before.
    let project = TestProject::fixture(&[("FIXTURE_STARTUP_DELAY_MS", "60000")], "");
    let up = Up::start(project.path(), &[]);
    let url = format!("{}/", up.url);
    let waiting = tokio::spawn(async move {
        reqwest::Client::new()
            .get(url)
            // Far above the exit's report, far below the kernel's SYN retries to an address that is gone.
            .timeout(Duration::from_secs(10))
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while events_named(&up, "instance.created").await.is_empty() {
        assert!(Instant::now() < deadline, "no instance was created");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for id in container_ids(project.path()) {
        std::process::Command::new("docker")
            .args(["kill", &id])
            .output()
            .unwrap();
    }
    let answer = waiting
        .await
        .unwrap()
        .expect("the request is answered as soon as the engine reports the exit");
    assert_eq!(answer.status(), 502);
    assert!(
        answer
            .text()
            .await
            .unwrap()
            .contains("exited with code 137"),
        "the instance's death is the answer"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_cut_by_its_instances_death_is_never_a_success() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    // A small body (11 bytes declared, 5 sent, then the process exits): held until whole, so the client
    // gets FC's function error and not a 200 with half a body.
    let r = reqwest::get(format!("{}/cut", up.url)).await.unwrap();
    assert_eq!(r.status(), 502);
    assert_eq!(r.headers()["x-fc-error-type"], "UnhandledInvocationError");
    let rid = r.headers()["x-fc-request-id"].to_str().unwrap().to_string();
    let body = r.text().await.unwrap();
    assert!(body.contains("Process exited unexpectedly"), "{body}");
    // A large one streams as it comes: once cut, the client's connection ends with an error, never a
    // clean end, and invoke.end says it failed.
    let r = reqwest::get(format!("{}/cut?bytes=200000", up.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the head went out before the cut");
    let streamed_rid = r.headers()["x-fc-request-id"].to_str().unwrap().to_string();
    assert!(r.bytes().await.is_err(), "a cut body reads as an error");
    for request_id in [&rid, &streamed_rid] {
        let deadline = Instant::now() + Duration::from_secs(5);
        let end = loop {
            let ends = events_named(&up, "invoke.end").await;
            if let Some(end) = ends.into_iter().find(|e| e["requestId"] == **request_id) {
                break end;
            }
            assert!(Instant::now() < deadline, "no invoke.end for {request_id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(end["status"], 502, "{end}");
        assert!(
            end["error"]
                .as_str()
                .unwrap_or("")
                .contains("Process exited unexpectedly"),
            "{end}"
        );
    }
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_answered_408_and_its_connection_freed_without_an_instance() {
    use std::io::{Read, Write};
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &["--body-read-timeout", "1s"]);
    let addr = up.url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "POST /body HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100\r\n\r\nten bytes!"
    )
    .unwrap();
    let mut answer = String::new();
    // The answer comes, then the connection is closed (the rest of the body will never be read).
    let _ = stream.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer.contains("RequestTimeout") && answer.contains("--body-read-timeout"),
        "{answer}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        containers_of(&docker, project.path()).await.is_empty(),
        "no instance was made for it"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// A `/proc/PID/status` figure of the `up` process, in kB (`VmRSS` now, `VmHWM` its peak so far).
fn memory_kb(up: &Up, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", up.child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} for up"))
}

/// A small tmpfs mounted over a project's `.fcemu`, unmounted when dropped.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(at: &std::path::Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "this test mounts a tmpfs (as root): {}",
            text(&out.stderr)
        );
        SmallDisk(at.to_path_buf())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_during_a_log_flood_is_said_once_and_shifts_no_query() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let _disk = SmallDisk::mount(&project.path().join(".fcemu"), "256k");
    let up = Up::start(project.path(), &["--history", "500"]);
    const LINES: usize = 20_000;
    let r = reqwest::get(format!("{}/flood?lines={LINES}", up.url))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let rid = r.headers()["x-fc-request-id"].to_str().unwrap().to_string();
    let query = format!("{}/_fcemu/logs?requestId={rid}", up.url);
    let flood_line = |v: &serde_json::Value| -> Option<usize> {
        v["line"]
            .as_str()?
            .strip_prefix(&format!("flood {rid} "))?
            .parse()
            .ok()
    };
    // Until the last line has come (memory keeps the newest), read what the run has.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (numbers, gaps) = loop {
        let text = reqwest::get(&query).await.unwrap().text().await.unwrap();
        let values: Vec<serde_json::Value> = text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        let numbers: Vec<usize> = values.iter().filter_map(flood_line).collect();
        let gaps: Vec<String> = values
            .iter()
            .filter(|v| v["stream"] == "gap")
            .map(|v| v["line"].as_str().unwrap_or("").to_string())
            .collect();
        if numbers.last() == Some(&(LINES - 1)) {
            break (numbers, gaps);
        }
        assert!(
            Instant::now() < deadline,
            "the flood's last line never came"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // What is there is right: in order, each once, the newest all kept; where lines are missing, the
    // query says so, and how many.
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "in order, once");
    assert!(numbers.len() < LINES, "the disk could not hold them all");
    assert!(numbers.ends_with(&((LINES - 400)..LINES).collect::<Vec<_>>()));
    assert!(
        gaps.iter()
            .any(|g| g.contains("writing them to the history failed")),
        "{gaps:?}"
    );
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    let said = output
        .iter()
        .filter(|l| l.contains("writing history to") && l.contains("logs.jsonl"))
        .count();
    assert_eq!(said, 1, "said once: {output:#?}");
    assert!(
        output.iter().any(
            |l| l.starts_with("history: ") && l.contains("log lines that could not be written")
        ),
        "{output:#?}"
    );
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soak_with_crashes_and_kills_answers_every_request_and_never_with_a_cut_success() {
    // 12 clients for 15 s, 3 % of requests crashing their process, a `docker kill` every 4 s, instances
    // reclaimed after 3 s idle: every request gets a whole answer; a success is never cut short.
    let docker = docker().await;
    let project = concurrent_fixture();
    let up = Up::start(
        project.path(),
        &["--max-instances", "8", "--idle-timeout", "3s"],
    );
    let until = Instant::now() + Duration::from_secs(15);
    let clients = (0..12).map(|client| {
        let url = up.url.clone();
        tokio::spawn(async move {
            let mut answers = Vec::new();
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let path = if (n * 7 + client) % 33 == 0 {
                    "/crash".to_string()
                } else {
                    format!("/soak/{client}/{n}")
                };
                answers.extend(send_all(&url, vec![path]).await);
            }
            answers
        })
    });
    let killer = {
        let project = project.path().to_path_buf();
        tokio::spawn(async move {
            let mut kills = 0;
            while Instant::now() < until {
                tokio::time::sleep(Duration::from_secs(4)).await;
                if let Some(id) = container_ids(&project).first() {
                    let killed = std::process::Command::new("docker")
                        .args(["kill", id])
                        .output();
                    kills += usize::from(killed.is_ok_and(|o| o.status.success()));
                }
            }
            kills
        })
    };
    let mut answers = Vec::new();
    for client in clients {
        answers.extend(client.await.unwrap());
    }
    let kills = killer.await.unwrap();
    let count = |f: &dyn Fn(&Answer) -> bool| answers.iter().filter(|a| f(a)).count();
    let served = count(&|a| a.status == 200 && !a.body.starts_with(CUT));
    let unhandled = count(&|a| a.error_type == "UnhandledInvocationError");
    let cut = count(&|a| a.body.starts_with(CUT));
    let unanswered = count(&|a| a.status == 0);
    println!(
        "soak: {} requests, {served} served, {unhandled} UnhandledInvocationError, {cut} cut, {unanswered} unanswered, {kills} kills",
        answers.len()
    );
    let odd: Vec<String> = answers
        .iter()
        .filter(|a| a.status == 0 || a.body.starts_with(CUT))
        .map(|a| format!("{} {}: {}", a.path, a.status, a.body))
        .collect();
    assert!(odd.is_empty(), "{odd:#?}");
    // A function error for a crash's neighbour or a killed instance's request (FunctionNotStarted when the
    // kill came while it was being created), or a throttle: each an answer.
    for a in answers.iter().filter(|a| a.status != 200) {
        assert!(
            matches!(
                a.error_type.as_str(),
                "UnhandledInvocationError" | "FunctionNotStarted"
            ) || a.status == 429,
            "{} {}: {}",
            a.path,
            a.status,
            a.body
        );
    }
    assert!(served > answers.len() / 2, "most requests are served");
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}
