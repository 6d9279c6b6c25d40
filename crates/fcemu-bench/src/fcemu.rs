//! A running `fcemu up` (the release binary, as a user runs it) on a project of its own, and the control-API
//! calls the cases make to it.

use crate::IMAGE;
use crate::load::Connection;
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `fcemu up` on a project of its own.
pub struct Fcemu {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A project of `functions` fixture functions named `f`, `f1`, `f2`, ... (one: just `f`), each with
/// `instanceConcurrency: concurrency` and an HTTP trigger.
pub fn project_yaml(functions: usize, concurrency: u32) -> String {
    let mut yaml = String::from("edition: 3.0.0\nname: bench\nresources:\n");
    for n in 0..functions {
        let name = function_name(n);
        yaml.push_str(&format!(
            "  {name}:
    component: fc3
    props:
      functionName: {name}
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
        ));
    }
    yaml
}

/// The `n`th function of [`project_yaml`].
pub fn function_name(n: usize) -> String {
    if n == 0 { "f".into() } else { format!("f{n}") }
}

impl Fcemu {
    /// `fcemu up` on the project `yaml`, in a folder of its own.
    pub fn start(binary: &Path, yaml: &str, flags: &[&str]) -> Result<Fcemu> {
        let dir = tempfile::Builder::new().prefix("fcemu-bench-").tempdir()?;
        std::fs::write(dir.path().join("s.yaml"), yaml)?;
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
    pub async fn control(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
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

    pub async fn instances(&self) -> Result<Vec<Value>> {
        Ok(
            self.control("GET", "/_fcemu/instances", None).await?["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        )
    }

    pub async fn wait_instances(&self, pred: impl Fn(&[Value]) -> bool) -> Result<Vec<Value>> {
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

    pub fn rss_mb(&self) -> Result<f64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let kb: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .context("no VmRSS")?;
        Ok(kb / 1024.0)
    }

    pub fn stop(mut self) -> Result<()> {
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
