//! The engine that is not this machine's: `scripts/remote-engine.sh up` starts a dockerd (and an sshd) in a
//! network namespace of its own and writes how to reach it to `/run/fcemu-remote/env`. Its containers'
//! addresses are not routable from here and its disk is not fcemu's.

use super::up::text;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const ENV_FILE: &str = "/run/fcemu-remote/env";

pub struct RemoteEngine {
    /// `tcp://ADDRESS:2375`.
    pub tcp: String,
    /// `ssh://root@ADDRESS:2222`.
    pub ssh: String,
    /// The ssh_config that holds the key and the known host (for FCEMU_SSH_CONFIG).
    pub ssh_config: String,
    /// The engine's own socket, for the test's own look at it (fcemu never uses it).
    socket: String,
}

/// The remote engine the scripts started; without it the test fails saying how to start it.
pub fn remote_engine() -> RemoteEngine {
    let env = std::fs::read_to_string(ENV_FILE).unwrap_or_else(|e| {
        panic!(
            "these tests need the engine in its own network namespace ({ENV_FILE}: {e}): start it with `bash scripts/remote-engine.sh up` (scripts/test.sh does)"
        )
    });
    let vars: HashMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    let var = |name: &str| {
        vars.get(name)
            .unwrap_or_else(|| panic!("{ENV_FILE} has no {name}: {env}"))
            .to_string()
    };
    let engine = RemoteEngine {
        tcp: var("FCEMU_REMOTE_TCP"),
        ssh: var("FCEMU_REMOTE_SSH"),
        ssh_config: var("FCEMU_REMOTE_SSH_CONFIG"),
        socket: var("FCEMU_REMOTE_SOCKET"),
    };
    let info = engine.docker(&["info", "--format", "{{.Name}}"]);
    assert!(
        info.status.success(),
        "the remote engine does not answer ({}): restart it with `bash scripts/remote-engine.sh down; bash scripts/remote-engine.sh up`",
        text(&info.stderr)
    );
    engine
}

impl RemoteEngine {
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
pub struct SweepOnDrop<'a>(pub &'a RemoteEngine, pub &'a Path);

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
