//! How `up` was asked to run, with the defaults it runs with, and FC's limits on a synchronous request.

use crate::gpu::GpuMode;
use crate::journal;
use fcemu_spec::FunctionSpec;
use std::time::Duration;

/// FC's limits on a synchronous request, checked before any instance is touched.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
pub const MAX_PATH_BYTES: usize = 4 * 1024;
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// How `up` was asked to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cap on instances per function (`--max-instances`); `concurrencyConfig.reservedConcurrency` also caps.
    pub max_instances: Option<u32>,
    /// Requests that may wait for a free instance, per function, before 429 `ResourceExhausted`.
    pub queue_limit: usize,
    /// How long a client may take to send a request's whole body before it is answered 408.
    pub body_read_timeout: Duration,
    /// How long Runtime Init waits for the port (FC gives a server 120 s).
    pub runtime_init_timeout: Duration,
    /// SIGTERM-to-SIGKILL grace when an instance is stopped.
    pub stop_grace: Duration,
    /// Instances with no request for this long are destroyed (never provisioned ones).
    pub idle_timeout: Duration,
    /// Freeze instances between requests (`docker pause`); false with `--no-freeze`.
    pub freeze: bool,
    /// How long an instance stays thawed after its last request.
    pub freeze_grace: Duration,
    pub region_override: Option<String>,
    pub account_id: String,
    /// Log lines and events kept in memory (each); older ones go to the spill files when there are any.
    pub history: usize,
    /// The cards GPU functions' instances are placed on.
    pub gpus: GpuMode,
    /// What stands in for the temporary credentials of a function's role: every request of a function with
    /// a `role` carries them, as FC's do. None with `--no-credentials`, or when none were found.
    pub credentials: Option<Credentials>,
    /// The project's `.fcemu/`: asynchronous invocations are queued under `async/` there (so a restart
    /// resumes them), and deliveries to destinations that do not run locally go to `destinations/`. None:
    /// the queue is in memory only.
    pub state_dir: Option<std::path::PathBuf>,
    /// Timer triggers fire on their schedule; false with `--no-timers` (`fcemu trigger` still fires them).
    pub timers: bool,
    /// The functions served under a debugger (`up --debug`), by name.
    pub debug: std::collections::BTreeMap<String, Debugged>,
}

/// How a function is served under a debugger (`up --debug FUNCTION[=PORT]`): by one instance that is never
/// frozen nor reclaimed, whose timeouts are lifted, with the debugger's port published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debugged {
    /// The debugger's port inside the container, published at the same number on `host`.
    pub port: u16,
    /// The address of this machine the port is published on (the listen address's).
    pub host: String,
    /// Hold the function's process until a debugger attaches (`--debug-wait`).
    pub wait: bool,
    /// Keep FC's cut-offs: the function's timeout, its hooks' and Runtime Init's (`--debug-keep-timeouts`).
    pub keep_timeouts: bool,
    /// Appended to a custom container's or custom runtime's command (`--debug-args`).
    pub args: Vec<String>,
}

/// What a lifted timeout is: a day, FC's longest.
pub const LIFTED_TIMEOUT: Duration = Duration::from_secs(86_400);

/// An AccessKey pair, with its STS token when it is temporary. Never printed: its Debug shows the key id's
/// last four characters only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub security_token: Option<String>,
}

impl Credentials {
    /// `…ABCD`: enough to tell keys apart, nothing to use.
    pub fn key_hint(&self) -> String {
        let chars: Vec<char> = self.access_key_id.chars().collect();
        let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        format!("…{tail}")
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(key {})", self.key_hint())
    }
}

impl Options {
    /// The credentials a function's requests carry: those standing in for its role's, when it has one.
    pub fn credentials_of(&self, spec: &FunctionSpec) -> Option<&Credentials> {
        self.credentials.as_ref().filter(|_| spec.role.is_some())
    }

    /// How the function is debugged, when it is.
    pub fn debugged(&self, function: &str) -> Option<&Debugged> {
        self.debug.get(function)
    }

    /// Whether the function's timeouts are lifted (debugged, without `--debug-keep-timeouts`).
    pub fn lifts_timeouts(&self, function: &str) -> bool {
        self.debugged(function).is_some_and(|d| !d.keep_timeouts)
    }

    /// The region a function's instances see: `--region`'s override, or the function's own.
    pub fn region_of(&self, spec: &FunctionSpec) -> String {
        self.region_override
            .clone()
            .unwrap_or_else(|| spec.region.clone())
    }
}

/// How long a client may take to send a request's whole body unless `--body-read-timeout` says otherwise:
/// FC's 32 MB at about 1 MB/s.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Instances per function unless `--max-instances` says otherwise: FC's default quota of on-demand instances
/// for an account in a region. Without a cap one client could start a container per request.
pub const DEFAULT_MAX_INSTANCES: u32 = 100;

impl Default for Options {
    fn default() -> Self {
        Options {
            max_instances: Some(DEFAULT_MAX_INSTANCES),
            queue_limit: 1000,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            runtime_init_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(2),
            idle_timeout: Duration::from_secs(300),
            freeze: true,
            freeze_grace: Duration::ZERO,
            region_override: None,
            account_id: std::env::var("FCEMU_ACCOUNT_ID")
                .unwrap_or_else(|_| fcemu_spec::LOCAL_ACCOUNT_ID.into()),
            history: journal::DEFAULT_CAPACITY,
            gpus: GpuMode::Off,
            credentials: None,
            state_dir: None,
            timers: true,
            debug: Default::default(),
        }
    }
}
