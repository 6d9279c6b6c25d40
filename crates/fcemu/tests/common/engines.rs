//! Engines other than this machine's Docker, each started by a script that writes how to reach it:
//! - `scripts/remote-engine.sh up`: a dockerd (and an sshd) in a network namespace of its own
//!   (`/run/fcemu-remote/env`); its containers' addresses are not routable from here and its disk is not
//!   fcemu's.
//! - `scripts/podman-engine.sh up`: Podman's Docker-compatible API on a socket of its own
//!   (`/run/fcemu-podman/env`).

use super::up::*;
use super::*;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

pub struct TestEngine {
    /// `tcp://ADDRESS:2375` (the remote engine's).
    pub tcp: String,
    /// `ssh://root@ADDRESS:2222` (the remote engine's).
    pub ssh: String,
    /// The ssh_config that holds the key and the known host (for FCEMU_SSH_CONFIG).
    pub ssh_config: String,
    /// The engine's own socket, for the test's own look at it (fcemu uses it only for Podman).
    pub socket: String,
    /// Whether it is on another machine, as far as fcemu can tell: published ports, volumes, its pause,
    /// Runtime Init shown whole.
    pub remote: bool,
}

/// What a script wrote about the engine it started; without it the test fails saying how to start it.
fn read_env(file: &str, script: &str) -> HashMap<String, String> {
    let env = std::fs::read_to_string(file).unwrap_or_else(|e| {
        panic!(
            "these tests need the engine `bash scripts/{script} up` starts ({file}: {e}); scripts/test.sh starts it"
        )
    });
    env.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The dockerd in its own network namespace.
pub fn remote_engine() -> TestEngine {
    let vars = read_env("/run/fcemu-remote/env", "remote-engine.sh");
    let var = |name: &str| vars.get(name).cloned().unwrap_or_default();
    TestEngine {
        tcp: var("FCEMU_REMOTE_TCP"),
        ssh: var("FCEMU_REMOTE_SSH"),
        ssh_config: var("FCEMU_REMOTE_SSH_CONFIG"),
        socket: var("FCEMU_REMOTE_SOCKET"),
        remote: true,
    }
    .answering("remote-engine.sh")
}

/// Podman, rootful, through its Docker-compatible socket.
pub fn podman_engine() -> TestEngine {
    let vars = read_env("/run/fcemu-podman/env", "podman-engine.sh");
    TestEngine {
        tcp: String::new(),
        ssh: String::new(),
        ssh_config: String::new(),
        socket: vars.get("FCEMU_PODMAN_SOCKET").cloned().unwrap_or_default(),
        remote: false,
    }
    .answering("podman-engine.sh")
}

impl TestEngine {
    fn answering(self, script: &str) -> Self {
        let info = self.docker(&["version", "--format", "{{.Server.Version}}"]);
        assert!(
            info.status.success(),
            "the engine at {} does not answer ({}): restart it with `bash scripts/{script} down; bash scripts/{script} up`",
            self.socket,
            text(&info.stderr)
        );
        self
    }

    /// The address of the engine's machine, as the tcp URL names it.
    pub fn address(&self) -> &str {
        let rest = self.tcp.trim_start_matches("tcp://");
        rest.split(':').next().unwrap()
    }

    /// The docker CLI against that engine.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .env("DOCKER_HOST", &self.socket)
            .env_remove("DOCKER_CONTEXT")
            .args(args)
            .output()
            .unwrap()
    }

    /// The project's containers on that engine, running or not.
    pub fn containers(&self, project: &Path) -> Vec<String> {
        let filter = format!("label=fcemu.project={}", project.display());
        let out = self.docker(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
        text(&out.stdout).lines().map(str::to_string).collect()
    }

    /// One field of a container's inspect there.
    pub fn inspect(&self, id: &str, format: &str) -> String {
        let out = self.docker(&["inspect", "-f", format, id]);
        text(&out.stdout).trim().to_string()
    }

    /// Removes whatever the project left there: a test that fails half-way leaves nothing running.
    pub fn sweep(&self, project: &Path) {
        let ids = self.containers(project);
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids.iter().map(String::as_str));
            self.docker(&args);
        }
        let filter = format!("label=fcemu.project={}", project.display());
        self.docker(&["network", "prune", "-f", "--filter", &filter]);
        self.docker(&["volume", "prune", "-f", "--filter", &filter]);
    }
}

/// The project's containers on the remote engine go when the test does, whether it passed or not.
pub struct SweepOnDrop<'a>(pub &'a TestEngine, pub &'a Path);

impl Drop for SweepOnDrop<'_> {
    fn drop(&mut self) {
        self.0.sweep(self.1);
    }
}

/// The ssh client processes of this machine that hold a master connection to `address` (`ssh -M`).
pub fn ssh_masters(address: &str) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|cmdline| {
            cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
        })
        .filter(|args| {
            args.first().is_some_and(|a| a.ends_with("ssh"))
                && args.iter().any(|a| a == "-M")
                && args.iter().any(|a| a == address)
        })
        .count()
}

/// Cold start, Initializer once, a request, freezing through the engine's pause, thaw, logs, idle
/// reclamation through PreStop, a second cold start, and PreStop at shutdown, against `engine` reached
/// through `env`; nothing is left on it or on this machine's engine.
pub async fn the_lifecycle_on(engine: &TestEngine, env: &[(&str, &str)], engine_line: &str) {
    let local = docker().await;
    let project = TestProject::fixture(&[], "");
    let _sweep = SweepOnDrop(engine, project.path());
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        env,
        &["--idle-timeout", "3s"],
    );
    wait_for_output(&up, engine_line).await;
    let said: Vec<String> = if engine.remote {
        vec![
            format!(
                "instances reached through ports published on {}",
                engine.address()
            ),
            "freezing through the engine's pause".into(),
            "Runtime Init shown whole: the engine is remote".into(),
        ]
    } else {
        vec![
            "instances reached at their bridge addresses".into(),
            "freezing through the engine's pause".into(),
        ]
    };
    for said in said {
        assert!(up.printed(&said), "{said:?} not in {:#?}", up.output());
    }
    let http = reqwest::Client::new();

    let first = http
        .post(format!("{}/some/path", up.url))
        .body("payload")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200, "{:#?}", up.output());
    let instance = first.headers()["x-fc-instance-id"]
        .to_str()
        .unwrap()
        .to_string();
    let request_id = first.headers()["x-fc-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let timing = first.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        server_timing(&timing, "runtime-init").is_some()
            && server_timing(&timing, "function-start").is_none() == engine.remote,
        "Runtime Init whole only where the clock is not ours: {timing}"
    );
    let echoed: serde_json::Value = first.json().await.unwrap();
    assert_eq!(echoed["body"], "payload");

    // The instance lives on that engine, not this machine's; a remote one's at an address this machine
    // cannot route to.
    assert!(containers_of(&local, project.path()).await.is_empty());
    let ids = engine.containers(project.path());
    assert_eq!(ids.len(), 1, "{ids:?}");
    if engine.remote {
        assert_unroutable(engine, &ids[0]).await;
    }

    // Idle, it is paused by the engine.
    let mut paused = false;
    for _ in 0..200 {
        paused = engine.inspect(&ids[0], "{{.State.Paused}}") == "true";
        if paused {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(paused, "never frozen: {:#?}", up.output());
    // Thawed for the next request, on the same instance, which was initialized once.
    let state: serde_json::Value = http
        .get(format!("{}/state", up.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["initialize"], 1, "{state}");
    // One request so far: the readiness probe is not one.
    assert_eq!(state["requests"], 1, "{state}");

    // What the function printed came back through the engine's log stream (in its own time), once, kept
    // with its request.
    // (On Podman 4 the follow brings lines late and stamps them to the second: a line may miss its
    // request's window, so there it is checked once in up's output only.)
    wait_for_output(&up, "invoke POST /some/path").await;
    let logs = match engine.remote {
        true => fcemu(&["logs", "--endpoint", &up.url, "--request-id", &request_id]),
        false => fcemu(&["logs", "--endpoint", &up.url]),
    };
    let printed = text(&logs.stdout);
    assert_eq!(
        printed.matches("invoke POST /some/path").count(),
        1,
        "{printed}"
    );

    // Idle past --idle-timeout, it is reclaimed through PreStop; the next request starts another.
    wait_for_output_within(&up, "Reason: idle", Duration::from_secs(30)).await;
    wait_for_output(&up, "pre-stop called (1)").await;
    let again = http.get(format!("{}/state", up.url)).send().await.unwrap();
    assert_eq!(again.status(), 200);
    assert_ne!(again.headers()["x-fc-instance-id"], instance.as_str());

    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert_eq!(
        output
            .iter()
            .filter(|l| l.contains("pre-stop called (1)"))
            .count(),
        2,
        "PreStop once at reclamation, once at shutdown: {output:#?}"
    );
    assert!(engine.containers(project.path()).is_empty());
    assert!(containers_of(&local, project.path()).await.is_empty());
}

/// The container's bridge address does not answer from here, and nothing of this disk is mounted in it.
async fn assert_unroutable(engine: &TestEngine, id: &str) {
    let bridge_ip = engine.inspect(
        id,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    );
    let bridge = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::net::TcpStream::connect((bridge_ip.as_str(), 9000)),
    )
    .await;
    assert!(
        !matches!(bridge, Ok(Ok(_))),
        "the container's bridge address {bridge_ip} answered from here: the test engine is not remote"
    );
    // Nothing of this machine's disk is mounted there.
    assert_eq!(engine.inspect(id, "{{len .Mounts}}"), "0");
}
