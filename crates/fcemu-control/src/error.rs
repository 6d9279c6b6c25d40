//! What can go wrong in the lifecycle, as types that keep their causes. The FC error code a caller gets
//! (`InitializationError`, `FunctionNotStarted`, ...) is chosen from the variant where the response is made,
//! never written into a message.

use crate::client::BoxError;
use fcemu_runtime::RuntimeError;
use std::sync::Arc;
use std::time::Duration;

/// A hook call: which hook, and how it reached the function.
#[derive(Debug, Clone)]
pub enum HookCall {
    /// `POST /initialize`, `GET /pre-stop`, `GET /pre-freeze`.
    Http {
        name: &'static str,
        method: &'static str,
        path: &'static str,
    },
    /// An execute-instruction Initializer run in the container.
    Command(Vec<String>),
}

impl std::fmt::Display for HookCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookCall::Http { name, method, path } => write!(f, "{name} ({method} {path})"),
            HookCall::Command(command) => write!(f, "the Initializer command {command:?}"),
        }
    }
}

/// How a hook failed.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{call} answered HTTP {status}{body}")]
    Status {
        call: HookCall,
        status: u16,
        /// The start of the answer, `: `-prefixed, or empty.
        body: String,
    },
    #[error("{call} did not finish within its timeout of {} s", timeout.as_secs())]
    Timeout { call: HookCall, timeout: Duration },
    #[error("{call} could not be reached")]
    Unreachable {
        call: HookCall,
        #[source]
        source: BoxError,
    },
    #[error("{call} exited with code {code}{stderr}")]
    Exit {
        call: HookCall,
        code: i64,
        /// The end of what it wrote to stderr, `: `-prefixed, or empty.
        stderr: String,
    },
    #[error("{call} could not run")]
    Exec {
        call: HookCall,
        #[source]
        source: RuntimeError,
    },
}

impl HookError {
    /// The status or exit code, for the `.end` event.
    pub fn status(&self) -> Option<i64> {
        match self {
            HookError::Status { status, .. } => Some(i64::from(*status)),
            HookError::Exit { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// FC keeps an instance whose Initializer answered 400 or 404 and runs it again on the next request;
    /// every other failure destroys the instance.
    pub fn keeps_instance(&self) -> bool {
        matches!(
            self,
            HookError::Status {
                status: 400 | 404,
                ..
            }
        )
    }
}

/// Why an instance never came to serve (FC's `FunctionNotStarted`): the engine failed it, or its server
/// never became ready.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the instance's container could not be made")]
    Create(#[source] RuntimeError),
    #[error("the instance's container could not be started")]
    Start(#[source] RuntimeError),
    #[error(transparent)]
    NotReady(#[from] ReadinessError),
    #[error("the instance's process went away while its Initializer ran")]
    DiedInitializing,
}

/// Why Runtime Init ended without a ready server.
#[derive(Debug, thiserror::Error)]
pub enum ReadinessError {
    #[error(
        "the container exited with code {code} before its server was ready on port {port}; `fcemu logs --function {function}` shows what it printed"
    )]
    ExitedEarly {
        code: i64,
        port: u16,
        function: String,
    },
    #[error(
        "the function's server did not accept connections on port {port} within {} s: check that it listens on 0.0.0.0:{port}",
        timeout.as_secs()
    )]
    NotListening { port: u16, timeout: Duration },
    #[error("the health check GET {path} failed {failures} times in a row (last: {last})")]
    HealthCheck {
        path: String,
        failures: u32,
        last: ProbeFailure,
    },
}

/// How one health-check probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeFailure {
    #[error("HTTP {0}")]
    Status(u16),
    #[error("{}", fcemu_runtime::error_chain(&**.0))]
    Unreachable(BoxError),
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// Why a request could not be placed on an instance.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The Initializer failed for the instance this request was to run on (FC's `InitializationError`).
    #[error("{error}")]
    Initialization {
        instance: Arc<str>,
        #[source]
        error: HookError,
    },
    /// The instance made for this request could not be created, or its server never came up (FC's
    /// `FunctionNotStarted`).
    #[error("{error}")]
    NotStarted {
        instance: Arc<str>,
        #[source]
        error: StartError,
    },
    /// No instance could take the request (FC's `ResourceExhausted`).
    #[error("{0}")]
    Exhausted(Exhaustion),
    #[error("fcemu is shutting down")]
    ShuttingDown,
    /// A live session's instance has no room for another of its requests: FC throttles it (429) rather
    /// than send it elsewhere, where its state is not.
    #[error(
        "session {session} is held by instance {instance}, which is serving {concurrency} requests, the most an instance of a function with session affinity takes; send fewer requests of this session at once"
    )]
    SessionThrottled {
        session: Arc<str>,
        instance: Arc<str>,
        concurrency: u32,
    },
    /// The session expired, and the function does not let its id start another (`disableSessionIdReuse`).
    #[error(
        "session {0} has ended and this function's sessionAffinityConfig.disableSessionIdReuse is true: start a new session with a new id"
    )]
    SessionIdExpired(Arc<str>),
}

impl PlaceError {
    /// The instance the request was placed on, when it failed there (its Initializer failed, or it never
    /// came to serve).
    pub fn failed_on(&self) -> Option<&Arc<str>> {
        match self {
            PlaceError::Initialization { instance, .. }
            | PlaceError::NotStarted { instance, .. } => Some(instance),
            _ => None,
        }
    }
}

/// Why no instance could take a request.
#[derive(Debug)]
pub struct Exhaustion {
    pub function: String,
    /// Live instances, and the most there may be.
    pub instances: u32,
    pub cap: Option<u32>,
    pub why: ExhaustedBy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExhaustedBy {
    /// The wait queue was full.
    QueueFull { limit: usize },
    /// It waited its function's timeout for a free instance.
    Waited(Duration),
    /// A cold start was asked for, and no more instances may be created.
    NoNewInstance,
    /// Each instance it was placed on went away before it could serve the request.
    InstancesWentAway { placements: u32 },
    /// No card has the GPU memory a new instance needs (after waiting, or at once for a cold start).
    GpuMemory {
        waited: Option<Duration>,
        memory_mb: u32,
        /// Each card's free memory.
        free: String,
    },
}

impl std::fmt::Display for Exhaustion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Exhaustion {
            function,
            instances,
            cap,
            why,
        } = self;
        match why {
            ExhaustedBy::QueueFull { limit } => write!(
                f,
                "function {function} has no free instance: all {instances} are busy and the wait queue ({limit} requests) is full"
            )?,
            ExhaustedBy::Waited(waited) => write!(
                f,
                "function {function} had no free instance for {:.1} s, its timeout: all {instances} instances were busy",
                waited.as_secs_f64()
            )?,
            ExhaustedBy::NoNewInstance => write!(
                f,
                "function {function} may not have another instance for a cold start: it has {instances}"
            )?,
            ExhaustedBy::GpuMemory {
                waited,
                memory_mb,
                free,
            } => {
                match waited {
                    Some(waited) => write!(
                        f,
                        "function {function} had no GPU memory for a new instance for {:.1} s, its timeout",
                        waited.as_secs_f64()
                    )?,
                    None => write!(
                        f,
                        "function {function} has no GPU memory for a new instance"
                    )?,
                }
                write!(
                    f,
                    ": it needs {memory_mb} MB on one card, and the cards have {free} free; its {instances} instances are busy"
                )?
            }
            ExhaustedBy::InstancesWentAway { placements } => write!(
                f,
                "function {function}'s instances went away {placements} times before one could serve the request: see `fcemu logs --function {function}`"
            )?,
        }
        match cap {
            Some(cap) => write!(
                f,
                " (at most {cap}: --max-instances or reservedConcurrency); retry later, or raise the cap or instanceConcurrency"
            ),
            None => write!(f, "; retry later, or raise instanceConcurrency"),
        }
    }
}

/// How a request failed on its instance.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("Function timed out after {} seconds", timeout.as_secs())]
    Timeout { timeout: Duration },
    /// The connection broke after the function received the request.
    #[error("Process exited unexpectedly before completing request")]
    ProcessExited(#[source] BoxError),
    /// The client's request body was bad or too large: the client's fault, not the function's.
    #[error("the request body could not be read")]
    ClientBody(#[source] BoxError),
    /// Its instance's server accepted no connection within the function's timeout: its listen backlog
    /// stayed full. The function never got the request.
    #[error(
        "the function's server accepted no connection within {} (its listen backlog stayed full): the request never reached it; give the server a larger backlog, or more instances",
        humantime::format_duration(*timeout)
    )]
    NotAccepted { timeout: Duration },
    /// The client did not send its whole body in time (`--body-read-timeout`).
    #[error("the request body did not arrive within {}", humantime::format_duration(*limit))]
    ClientTooSlow { limit: Duration },
}
