//! `fcemu up` run as a process, as a user runs it, with its output collected line by line.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const FCEMU: &str = env!("CARGO_BIN_EXE_fcemu");

/// A running `fcemu up`, its output collected line by line.
pub struct Up {
    pub child: Child,
    pub url: String,
    pub stdout: Arc<Mutex<Vec<String>>>,
    /// The threads that read stdout and stderr: they end when the process has closed both.
    readers: Vec<std::thread::JoinHandle<()>>,
}

pub fn collect(
    stream: impl std::io::Read + Send + 'static,
    into: Arc<Mutex<Vec<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            into.lock().unwrap().push(line);
        }
    })
}

impl Up {
    pub fn start(dir: &Path, extra: &[&str]) -> Up {
        Self::start_on(dir, "127.0.0.1:0", extra)
    }

    /// `fcemu up` listening on `listen`.
    pub fn start_on(dir: &Path, listen: &str, extra: &[&str]) -> Up {
        Self::start_with(dir, listen, &[], extra)
    }

    /// `fcemu up` listening on `listen`, with `env` set for it.
    pub fn start_with(dir: &Path, listen: &str, env: &[(&str, &str)], extra: &[&str]) -> Up {
        let endpoint_file = dir.join(".fcemu/endpoint");
        let _ = std::fs::remove_file(&endpoint_file);
        let mut child = Command::new(FCEMU)
            .arg("up")
            .arg(dir)
            .args(["--listen", listen])
            .args(extra)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let readers = vec![
            collect(child.stdout.take().unwrap(), stdout.clone()),
            collect(child.stderr.take().unwrap(), stdout.clone()),
        ];
        // The endpoint is recorded once the gateway listens (after any image build).
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(url) = std::fs::read_to_string(&endpoint_file) {
                if !url.trim().is_empty() {
                    return Up {
                        child,
                        url: url.trim().to_string(),
                        stdout,
                        readers,
                    };
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "fcemu up exited with {status}: {:#?}",
                    stdout.lock().unwrap()
                );
            }
            assert!(
                Instant::now() < deadline,
                "fcemu up did not come up: {:#?}",
                stdout.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code and everything printed.
    pub fn stop(mut self) -> (i32, Vec<String>) {
        self.signal("TERM");
        self.wait(Duration::from_secs(60))
    }

    pub fn wait(&mut self, limit: Duration) -> (i32, Vec<String>) {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let output = self.read_to_end();
                assert!(
                    !output
                        .iter()
                        .any(|l| l.contains("illegal instance transition")),
                    "the state machine refused a transition: {output:#?}"
                );
                return (status.code().unwrap_or(-1), output);
            }
            assert!(
                Instant::now() < deadline,
                "fcemu up did not exit: {:#?}",
                self.stdout.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything printed, once the process has exited and both its streams are read to their end.
    fn read_to_end(&mut self) -> Vec<String> {
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        self.stdout.lock().unwrap().clone()
    }

    /// GET a control-API path of this `up` and parse the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// GET a newline-delimited JSON path of this `up` (`/_fcemu/events`, `/_fcemu/logs`): its lines.
    pub async fn get_json_lines(&self, path: &str) -> Vec<String> {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Whether `up` has printed a line holding `needle`.
    pub fn printed(&self, needle: &str) -> bool {
        self.stdout
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn output(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn fcemu(args: &[&str]) -> std::process::Output {
    Command::new(FCEMU).args(args).output().unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub async fn wait_for_output(up: &Up, needle: &str) {
    wait_for_output_within(up, needle, Duration::from_secs(5)).await;
}

/// [`wait_for_output`] for what takes longer (an image build).
pub async fn wait_for_output_within(up: &Up, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if up.printed(needle) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fcemu up never printed {needle:?}: {:#?}", up.output());
}

/// The full ids of the project's containers, running or not.
pub fn container_ids(project: &Path) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--no-trunc",
            "--filter",
            &format!("label=fcemu.project={}", project.display()),
        ])
        .output()
        .unwrap();
    text(&out.stdout).lines().map(str::to_string).collect()
}

/// Docker's own view of a container's pause (`State.Paused`), which a cgroup freeze does not change.
pub fn engine_paused(id: &str) -> bool {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.State.Paused}}", id])
        .output()
        .unwrap();
    text(&out.stdout).trim() == "true"
}

/// Whether each container of the project is frozen: by its cgroup's freezer (what fcemu writes where it can;
/// the engine does not know) or by the engine's pause.
pub fn paused_states(project: &Path) -> Vec<bool> {
    container_ids(project)
        .iter()
        .map(|id| {
            let freezer = format!("/sys/fs/cgroup/freezer/docker/{id}/freezer.state");
            std::fs::read_to_string(&freezer).is_ok_and(|s| s.trim() == "FROZEN")
                || engine_paused(id)
        })
        .collect()
}

/// A `Server-Timing` metric's duration.
pub fn server_timing(header: &str, name: &str) -> Option<f64> {
    fcemu_control::parse_server_timing(header)
        .into_iter()
        .find(|m| m.name == name)
        .map(|m| m.dur)
}

/// The events of one name that `up` has published so far.
pub async fn events_named(up: &Up, name: &str) -> Vec<serde_json::Value> {
    up.get_json_lines("/_fcemu/events")
        .await
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|e| e["event"] == name)
        .collect()
}

/// Polls until `up` has published at least `count` events of this name (at most a minute); returns them.
pub async fn until_events(up: &Up, name: &str, count: usize) -> Vec<serde_json::Value> {
    for _ in 0..600 {
        let found = events_named(up, name).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {count} {name} events: {:#?}", up.output());
}

/// `fcemu invoke FUNCTION --cold` against `up`: asserts it succeeded and returns the cold-start breakdown it
/// printed (stderr).
pub fn invoke_cold(up: &Up, function: &str) -> String {
    let cold = fcemu(&[
        "invoke",
        function,
        "--cold",
        "-e",
        "{}",
        "--endpoint",
        &up.url,
    ]);
    assert!(cold.status.success(), "{}", text(&cold.stderr));
    text(&cold.stderr)
}

/// `fcemu ARGS` run in `dir`.
pub fn fcemu_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(FCEMU)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The detached `up`'s pid from what `up -d` printed.
pub fn pid_of(printed: &str) -> u32 {
    printed
        .split("(pid ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {printed:?}"))
}

/// Whether the process exists and has not ended.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        !s.lines()
            .any(|l| l.starts_with("State:") && l.contains('Z'))
    })
}

/// Runs `script` (Python, with `client` made for `up`) under the official SDK; what it prints, as JSON.
pub fn sdk(up: &Up, script: &str) -> serde_json::Value {
    let python = super::sdk_python();
    let prelude = r#"
import io, json, sys
from alibabacloud_fc20230330.client import Client
from alibabacloud_fc20230330 import models as fc
from alibabacloud_tea_openapi import models as open_api_models
from alibabacloud_tea_openapi.exceptions import ClientException
client = Client(open_api_models.Config(access_key_id="LTAIanyKEY", access_key_secret="any",
                                       endpoint=sys.argv[1], protocol="http"))
"#;
    let out = Command::new(&python)
        .args([
            "-c",
            &format!("{prelude}{script}"),
            up.url.trim_start_matches("http://"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}
