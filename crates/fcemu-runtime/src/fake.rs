//! An in-memory container runtime for tests: each "container" is an in-process HTTP server reached through
//! in-memory pipes, so tests run in milliseconds and tokio's paused clock works (no real I/O to wait on).
//!
//! The fake function reads the same `FIXTURE_*` environment variables as the real fixture image
//! (fixtures/function), so a scenario reads the same against both; `tests/contract.rs` runs one suite
//! against both runtimes so that they cannot drift apart.

mod controls;
mod function;

use crate::*;
use function::FakeFunction;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// What every fake container reports as its peak memory use: 21 MB.
pub const FAKE_MEMORY_PEAK: u64 = 21 * 1024 * 1024;

/// One fake container.
struct FakeContainer {
    spec: ContainerSpec,
    addr: SocketAddr,
    state: ContainerState,
    paused: watch::Sender<bool>,
    exit: watch::Sender<Option<ContainerExit>>,
    /// Set when the function's process is gone: its connections close (the container may not have exited).
    gone: watch::Sender<bool>,
    log_tx: mpsc::UnboundedSender<LogLine>,
    log_rx: Option<mpsc::UnboundedReceiver<LogLine>>,
    /// Present once the function listens: connections are handed to it.
    listener: Option<mpsc::UnboundedSender<tokio::io::DuplexStream>>,
    counters: Arc<FunctionCounters>,
}

impl FakeContainer {
    /// The container ended (stopped, crashed, OOM-killed): its process is gone and its exit is reported.
    fn exited(&mut self, exit: ContainerExit) {
        self.state = ContainerState::Exited;
        self.listener = None;
        self.gone.send_replace(true);
        self.exit.send_replace(Some(exit));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Paused,
    Exited,
    Removed,
}

/// What the fake function saw, for assertions.
#[derive(Debug, Default)]
pub struct FunctionCounters {
    pub initialize: AtomicU64,
    pub pre_stop: AtomicU64,
    pub pre_freeze: AtomicU64,
    pub requests: AtomicU64,
}

#[derive(Default)]
struct Inner {
    containers: HashMap<String, FakeContainer>,
    by_addr: HashMap<SocketAddr, String>,
    next: u32,
    /// Every operation in order (`create NAME`, `start ID`, `pause ID`, ...).
    calls: Vec<String>,
    /// Operations that fail on purpose, by name (`create`, `start`, `pause`, ...).
    failing: Vec<String>,
    /// Operations that take this long, by name, as a busy engine's would.
    slow: HashMap<String, Duration>,
}

/// The fake runtime. Cheap to clone; clones share the same containers.
#[derive(Clone, Default)]
pub struct FakeRuntime {
    inner: Arc<Mutex<Inner>>,
}

fn env_of(spec: &ContainerSpec, name: &str) -> Option<String> {
    spec.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn env_ms(spec: &ContainerSpec, name: &str) -> Duration {
    Duration::from_millis(env_of(spec, name).and_then(|v| v.parse().ok()).unwrap_or(0))
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn connect(&self, addr: SocketAddr) -> std::io::Result<Box<dyn Connection>> {
        let listener = {
            let inner = self.inner.lock().unwrap();
            inner
                .by_addr
                .get(&addr)
                .and_then(|id| inner.containers.get(id))
                .and_then(|c| c.listener.clone())
        };
        let refused = || {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "nothing listens there",
            )
        };
        let listener = listener.ok_or_else(refused)?;
        let (client, server) = tokio::io::duplex(64 * 1024);
        listener.send(server).map_err(|_| refused())?;
        Ok(Box::new(client))
    }

    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        self.take_time("create").await;
        self.record("create", &spec.name)
            .map_err(|source| RuntimeError::CreateContainer {
                image: spec.image.clone(),
                source,
            })?;
        let mut inner = self.inner.lock().unwrap();
        inner.next += 1;
        let n = inner.next;
        let id = format!("fake{n:04}");
        let addr = SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 99, (n / 250) as u8, (n % 250) as u8 + 1)),
            spec.port,
        );
        let (log_tx, log_rx) = mpsc::unbounded_channel();
        inner.by_addr.insert(addr, id.clone());
        inner.containers.insert(
            id.clone(),
            FakeContainer {
                spec: spec.clone(),
                addr,
                state: ContainerState::Created,
                paused: watch::channel(false).0,
                exit: watch::channel(None).0,
                gone: watch::channel(false).0,
                log_tx,
                log_rx: Some(log_rx),
                listener: None,
                counters: Arc::default(),
            },
        );
        Ok(id)
    }

    async fn start(&self, id: &str, _port: u16) -> Result<Started> {
        self.record("start", id)
            .map_err(|source| RuntimeError::StartContainer {
                id: id.into(),
                source,
            })?;
        let (spec, addr, function) = {
            let mut inner = self.inner.lock().unwrap();
            let c = inner
                .containers
                .get_mut(id)
                .ok_or_else(|| RuntimeError::StartContainer {
                    id: id.into(),
                    source: "no such container".into(),
                })?;
            c.state = ContainerState::Running;
            let function = FakeFunction {
                spec: c.spec.clone(),
                log: c.log_tx.clone(),
                paused: c.paused.subscribe(),
                gone: c.gone.subscribe(),
                counters: c.counters.clone(),
                runtime: self.clone(),
                id: id.to_string(),
                started: tokio::time::Instant::now(),
            };
            (c.spec.clone(), c.addr, function)
        };
        function.say(OutputStream::Stdout, "fixture starting");
        let exit_after = env_ms(&spec, "FIXTURE_EXIT_AFTER_MS");
        if !exit_after.is_zero() {
            // As the fixture does: the process exits by itself, with code 3.
            let (this, id, log) = (self.clone(), id.to_string(), function.log.clone());
            tokio::spawn(async move {
                tokio::time::sleep(exit_after).await;
                let _ = log.send(LogLine {
                    ts: SystemTime::now(),
                    stream: OutputStream::Stderr,
                    line: format!(
                        "fixture exiting by itself after {} ms",
                        exit_after.as_millis()
                    ),
                });
                this.kill(&id, 3, false);
            });
        }
        let this = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(env_ms(&spec, "FIXTURE_STARTUP_DELAY_MS")).await;
            let (tx, mut rx) = mpsc::unbounded_channel::<tokio::io::DuplexStream>();
            {
                let mut inner = this.inner.lock().unwrap();
                match inner.containers.get_mut(&id) {
                    Some(c)
                        if c.state == ContainerState::Running
                            || c.state == ContainerState::Paused =>
                    {
                        c.listener = Some(tx)
                    }
                    _ => return,
                }
            }
            function.say(OutputStream::Stdout, "fixture listening");
            let function = Arc::new(function);
            while let Some(conn) = rx.recv().await {
                let function = function.clone();
                let mut gone = function.gone.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let function = function.clone();
                        async move { function.handle(req).await.ok_or("the process died") }
                    });
                    let serve = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(conn), service);
                    // When the process ends, its connections die with it.
                    tokio::select! {
                        _ = serve => {}
                        _ = gone.wait_for(|gone| *gone) => {}
                    }
                });
            }
        });
        // The "process" begins within the call: all of Runtime Init is the function's own.
        Ok(Started {
            addr,
            engine_start: Some(Duration::ZERO),
        })
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.take_time("pause").await;
        self.record("pause", id)
            .map_err(|source| RuntimeError::PauseContainer {
                id: id.into(),
                source,
            })?;
        let mut inner = self.inner.lock().unwrap();
        let c = inner
            .containers
            .get_mut(id)
            .ok_or_else(|| RuntimeError::PauseContainer {
                id: id.into(),
                source: "no such container".into(),
            })?;
        c.state = ContainerState::Paused;
        c.paused.send_replace(true);
        Ok(())
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.take_time("unpause").await;
        self.record("unpause", id)
            .map_err(|source| RuntimeError::UnpauseContainer {
                id: id.into(),
                source,
            })?;
        let mut inner = self.inner.lock().unwrap();
        if let Some(c) = inner.containers.get_mut(id) {
            if c.state == ContainerState::Paused {
                c.state = ContainerState::Running;
            }
            c.paused.send_replace(false);
        }
        Ok(())
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        self.record("exec", id)
            .map_err(|source| RuntimeError::Exec {
                id: id.into(),
                command: command.to_vec(),
                source,
            })?;
        let running = self.state(id) == Some(ContainerState::Running);
        if !running {
            return Err(RuntimeError::Exec {
                id: id.into(),
                command: command.to_vec(),
                source: format!("container {id} is not running").into(),
            });
        }
        // The fake understands one shape: [.., "exit N"] exits with N and prints the rest to stderr.
        let script = command.last().cloned().unwrap_or_default();
        let exit_code = script
            .split_whitespace()
            .skip_while(|w| *w != "exit")
            .nth(1)
            .and_then(|n| n.trim_end_matches(';').parse().ok())
            .unwrap_or(0);
        Ok(ExecOutput {
            exit_code,
            stdout: String::new(),
            stderr: format!("ran: {script}"),
        })
    }

    fn logs(&self, id: &str) -> BoxStream<'static, Result<LogLine>> {
        let taken = self
            .inner
            .lock()
            .unwrap()
            .containers
            .get_mut(id)
            .and_then(|c| Some((c.log_rx.take()?, c.exit.subscribe())));
        let Some((rx, exit)) = taken else {
            return futures_util::StreamExt::boxed(futures_util::stream::empty());
        };
        // As the engine's follow: every line, and the end once the container has exited.
        futures_util::StreamExt::boxed(futures_util::stream::unfold(
            (rx, exit),
            |(mut rx, mut exit)| async move {
                let line = tokio::select! {
                    biased;
                    line = rx.recv() => line,
                    _ = exit.wait_for(|e| e.is_some()) => rx.try_recv().ok(),
                };
                line.map(|line| (Ok(line), (rx, exit)))
            },
        ))
    }

    async fn wait_exit(&self, id: &str) -> Result<ContainerExit> {
        let mut exit = {
            let inner = self.inner.lock().unwrap();
            let c = inner
                .containers
                .get(id)
                .ok_or_else(|| RuntimeError::WaitContainer {
                    id: id.into(),
                    source: "no such container".into(),
                })?;
            c.exit.subscribe()
        };
        loop {
            if let Some(e) = exit.borrow_and_update().clone() {
                return Ok(e);
            }
            if exit.changed().await.is_err() {
                return Ok(ContainerExit {
                    exit_code: -1,
                    oom_killed: false,
                });
            }
        }
    }

    async fn memory_peak(&self, _id: &str) -> Result<Option<u64>> {
        Ok(Some(FAKE_MEMORY_PEAK))
    }

    async fn stop(&self, id: &str, _grace: Duration) -> Result<()> {
        self.record("stop", id)
            .map_err(|source| RuntimeError::StopContainer {
                id: id.into(),
                source,
            })?;
        let mut inner = self.inner.lock().unwrap();
        if let Some(c) = inner.containers.get_mut(id) {
            c.exited(ContainerExit {
                exit_code: 143,
                oom_killed: false,
            });
            // The engine closes the log stream when the container stops.
            let (closed, _) = mpsc::unbounded_channel();
            c.log_tx = closed;
        }
        Ok(())
    }

    async fn remove(&self, id: &str) -> Result<()> {
        self.record("remove", id)
            .map_err(|source| RuntimeError::RemoveContainer {
                id: id.into(),
                source,
            })?;
        let mut inner = self.inner.lock().unwrap();
        if let Some(c) = inner.containers.get_mut(id) {
            c.state = ContainerState::Removed;
            c.listener = None;
            c.gone.send_replace(true);
            let (closed, _) = mpsc::unbounded_channel();
            c.log_tx = closed;
            if c.exit.borrow().is_none() {
                c.exit.send_replace(Some(ContainerExit {
                    exit_code: 137,
                    oom_killed: false,
                }));
            }
        }
        Ok(())
    }

    async fn list_managed(&self, labels: &[(String, String)]) -> Result<Vec<ManagedContainer>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .containers
            .iter()
            .filter(|(_, c)| c.state != ContainerState::Removed)
            .filter(|(_, c)| labels.iter().all(|(k, v)| c.spec.labels.get(k) == Some(v)))
            .map(|(id, c)| ManagedContainer {
                id: id.clone(),
                name: c.spec.name.clone(),
                labels: c.spec.labels.clone(),
                status: match c.state {
                    ContainerState::Created => ContainerStatus::Created,
                    ContainerState::Running => ContainerStatus::Running,
                    ContainerState::Paused => ContainerStatus::Paused,
                    ContainerState::Exited => ContainerStatus::Exited,
                    ContainerState::Removed => ContainerStatus::Removing,
                },
            })
            .collect())
    }
}
