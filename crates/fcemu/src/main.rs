//! fcemu: Function Compute's instance lifecycle, locally, on Docker.

mod build_env;
mod builtin;
mod client;
mod commands;
mod custom;
mod gpu;
mod images;
mod layers;
mod output;
mod report;
mod shipped;
mod state;

// Every request allocates and frees many small buffers (headers, records), some of them freed on the
// printer's thread: mimalloc's thread-local free lists make that a fraction of glibc malloc's cost.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fcemu",
    version,
    about = "Run Alibaba Cloud Function Compute functions locally, with their real lifecycle"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GpuMode {
    Auto,
    Off,
    Simulate,
}

#[derive(clap::Args, Clone)]
pub struct Endpoint {
    /// The running `fcemu up` to talk to (default: the one recorded in ./.fcemu/, else http://127.0.0.1:9000)
    #[arg(long, env = "FCEMU_ENDPOINT")]
    endpoint: Option<String>,
    /// The token an `up` on a non-loopback address asks for (default: the one recorded in ./.fcemu/token)
    #[arg(long, env = "FCEMU_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// The project folder holding s.yaml (default: the current folder)
    dir: Option<PathBuf>,
    /// The project file, as Serverless Devs' -t
    #[arg(short = 't', long = "template", env = "FCEMU_TEMPLATE")]
    template: Option<PathBuf>,
    /// Where to serve HTTP trigger traffic and the control API
    #[arg(long, env = "FCEMU_LISTEN", default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// On a non-loopback --listen address, let anyone who reaches it reclaim instances and change
    /// provisioned targets (by default those calls need the token printed at start)
    #[arg(long, env = "FCEMU_NO_AUTH")]
    no_auth: bool,
    /// A client that has not sent a request's whole body within this is answered 408, and no instance is
    /// given the request
    #[arg(long, env = "FCEMU_BODY_READ_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    body_read_timeout: std::time::Duration,
    /// Reclaim an instance after this long without a request (e.g. 300s, 2m, 500ms)
    #[arg(long, env = "FCEMU_IDLE_TIMEOUT", default_value = "300s", value_parser = humantime::parse_duration)]
    idle_timeout: std::time::Duration,
    /// Wait this long after the last request before freezing an instance
    #[arg(long, env = "FCEMU_FREEZE_GRACE", default_value = "0ms", value_parser = humantime::parse_duration)]
    freeze_grace: std::time::Duration,
    /// Never freeze instances between requests
    #[arg(long, env = "FCEMU_NO_FREEZE")]
    no_freeze: bool,
    /// At most this many instances per function (the default is FC's default quota of on-demand instances);
    /// provisioned targets and asynchronous invocations count against it
    #[arg(long, env = "FCEMU_MAX_INSTANCES", default_value_t = fcemu_control::DEFAULT_MAX_INSTANCES,
          value_parser = clap::value_parser!(u32).range(1..))]
    max_instances: u32,
    /// text: readable lines; json: the lifecycle event stream, one JSON object per line
    #[arg(long, env = "FCEMU_FORMAT", value_enum, default_value = "text")]
    format: Format,
    /// Where GPU functions get cards: auto (this machine's NVIDIA cards, through NVML), simulate (the cards
    /// of FCEMU_SIMULATED_GPUS, e.g. ada:49152,ada:49152; one 48 GB card when unset), or off (GPU functions
    /// run without a GPU)
    #[arg(long, env = "FCEMU_GPU", value_enum, default_value = "auto")]
    gpu: GpuMode,
    /// The local image a custom or built-in runtime runs on, e.g. custom.debian12=my-debian12-python or
    /// python3.10=my-python (an image with python3, or node for nodejs*; repeatable)
    #[arg(long = "runtime-image", value_name = "RUNTIME=IMAGE", value_parser = parse_runtime_image)]
    runtime_images: Vec<(String, String)>,
    /// Run `fcemu build` first (the s.yaml's pre-deploy / pre-local actions, missing images)
    #[arg(long, env = "FCEMU_BUILD")]
    build: bool,
    /// The folder or .zip that stands in for a layer fcemu cannot provide itself, e.g.
    /// acs:fc:cn-hangzhou:123:layers/mine/versions/1=./layers/mine (repeatable)
    #[arg(long = "layer", value_name = "ARN=DIR|ZIP", value_parser = parse_layer)]
    layers: Vec<(String, PathBuf)>,
    /// Serve in the background: return once serving and the provisioned instances are ready (output in
    /// .fcemu/up.log; `fcemu down` stops it)
    #[arg(short = 'd', long)]
    detach: bool,
    /// Also write the hook runs as a JUnit XML report to FILE at shutdown
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,
    /// Apply changes as you save: re-read the s.yaml, code folders and build contexts, and roll each
    /// changed function (new requests go to new instances; the old ones finish, then run PreStop)
    #[arg(long, env = "FCEMU_WATCH")]
    watch: bool,
    /// Also list the s.yaml fields that are accepted but mean nothing locally
    #[arg(short, long)]
    verbose: bool,
    /// Log lines and events kept in memory (each); older ones are kept in .fcemu/*.jsonl
    #[arg(long, env = "FCEMU_HISTORY", default_value_t = fcemu_control::journal::DEFAULT_CAPACITY)]
    history: usize,
    /// How large the history files (.fcemu/logs.jsonl, events.jsonl and the files beside them) may grow
    /// together: past it the oldest lines go, and queries say where (e.g. 1GB, 500MB, 2GiB)
    #[arg(long, env = "FCEMU_HISTORY_LIMIT", default_value = "1GB", value_parser = parse_size)]
    history_limit: u64,
}

fn parse_layer(s: &str) -> Result<(String, PathBuf), String> {
    // An ARN holds colons but no `=`.
    match s.split_once('=') {
        Some((arn, path)) if !arn.is_empty() && !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.exists() {
                Ok((arn.to_string(), path))
            } else {
                Err(format!(
                    "{} does not exist: give the folder (or .zip) with the layer's files",
                    path.display()
                ))
            }
        }
        _ => Err(format!("`{s}` is not ARN=DIR or ARN=ZIP")),
    }
}

fn parse_runtime_image(s: &str) -> Result<(String, String), String> {
    let runtimes = || {
        [
            &fcemu_spec::CUSTOM_RUNTIMES[1..],
            &fcemu_spec::PYTHON_RUNTIMES[..],
            &fcemu_spec::NODEJS_RUNTIMES[..],
        ]
        .concat()
    };
    match s.split_once('=') {
        Some((runtime, image)) if runtimes().contains(&runtime) && !image.is_empty() => {
            Ok((runtime.to_string(), image.to_string()))
        }
        _ => Err(format!(
            "`{s}` is not RUNTIME=IMAGE with RUNTIME one of {}",
            runtimes().join(", ")
        )),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the functions of an s.yaml on localhost, with their whole lifecycle
    Up(UpArgs),
    /// Run the s.yaml's Serverless Devs actions (pre-deploy / pre-local `run:` steps, `component: fc3
    /// build`) and build missing custom-container images, as `s build` would before a deploy
    Build {
        /// The project folder holding s.yaml (default: the current folder)
        dir: Option<PathBuf>,
        #[arg(short = 't', long = "template", env = "FCEMU_TEMPLATE")]
        template: Option<PathBuf>,
        /// The local image a custom runtime builds in, as `up --runtime-image`
        #[arg(long = "runtime-image", value_name = "RUNTIME=IMAGE", value_parser = parse_runtime_image)]
        runtime_images: Vec<(String, String)>,
    },
    /// Send one event to a function of a running `up` and print the response
    Invoke {
        function: String,
        /// The event, inline
        #[arg(short = 'e', long = "event")]
        event: Option<String>,
        /// Read the event from a file
        #[arg(long = "event-file", conflicts_with = "event")]
        event_file: Option<PathBuf>,
        /// Force a new instance and print its cold-start breakdown
        #[arg(long)]
        cold: bool,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// List the live instances of a running `up`
    Ps {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Query the kept logs of a running `up`
    Logs {
        #[arg(long)]
        function: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        #[arg(long = "request-id")]
        request_id: Option<String>,
        /// Initialize, Invoke or PreStop
        #[arg(long)]
        hook: Option<String>,
        #[arg(short, long)]
        follow: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Print the lifecycle event stream of a running `up`
    Events {
        #[arg(short, long)]
        follow: bool,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Wait until lifecycle events have happened in a running `up` (those already past count): exit 0, or 1
    /// after --timeout saying what happened instead. E.g. `fcemu wait prestop.end --function api`
    Wait {
        /// The event's name, e.g. instance.ready, initializer.end, prestop.end, function.updated
        event: String,
        #[arg(long)]
        function: Option<String>,
        #[arg(long)]
        instance: Option<String>,
        /// How many matching events
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        count: u32,
        /// Give up after this long (e.g. 30s, 2m)
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Destroy instances now, through PreStop, as idle reclamation would
    Reclaim {
        instance_id: Option<String>,
        #[arg(long, conflicts_with = "instance_id")]
        function: Option<String>,
        #[arg(long, conflicts_with_all = ["instance_id", "function"])]
        all: bool,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Provisioned instance adjustment: keep N instances of a function created and initialized
    Provision {
        function: String,
        #[arg(long)]
        target: u32,
        #[command(flatten)]
        endpoint: Endpoint,
    },
    /// Check an s.yaml and print the functions it resolves to
    Validate {
        dir: Option<PathBuf>,
        #[arg(short = 't', long = "template")]
        template: Option<PathBuf>,
        /// Also list the fields that are accepted but mean nothing locally
        #[arg(short, long)]
        verbose: bool,
    },
    /// Stop the `up` running detached in a project folder (PreStop on every instance) and exit with its
    /// verdict; with none running, remove every container fcemu left behind, for any project
    Down {
        /// The project folder (default: the current folder)
        dir: Option<PathBuf>,
        /// Exit 0 even when a hook failed or a request was lost
        #[arg(long)]
        no_verdict: bool,
        /// Also write the hook runs as a JUnit XML report to FILE
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// The GPUs seen (a running up's cards and who holds which slice; else this machine's, through NVML)
    Gpus {
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        #[command(flatten)]
        endpoint: Endpoint,
    },
}

/// A failure with its exit code (interface.md): 1 the user's input, 3 the environment.
/// A size in bytes: a number with an optional unit (KB, MB, GB; KiB, MiB, GiB; powers of 1024 either way).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| {
        format!("`{text}` is not a size: give a number with a unit, e.g. 1GB or 500MB")
    })?;
    let shift = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        other => return Err(format!("`{other}` is not a unit of size: use KB, MB or GB")),
    };
    number
        .checked_mul(1 << shift)
        .filter(|bytes| *bytes >= 64 * 1024)
        .ok_or_else(|| {
            format!("`{text}` is not a size fcemu can keep a history in: give at least 64KB")
        })
}

#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn user(message: impl Into<String>) -> Self {
        Failure {
            code: 1,
            message: message.into(),
        }
    }

    pub fn environment(message: impl Into<String>) -> Self {
        Failure {
            code: 3,
            message: message.into(),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FCEMU_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Up(_)) {
        // A client command piped into `head` ends quietly when the reader goes, as command-line tools do
        // (Rust ignores SIGPIPE, and printing would panic). Not `up`: it must outlive a closed pipe to
        // destroy its instances.
        // SAFETY: no other thread exists yet; SIG_DFL is a valid disposition for SIGPIPE.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // One worker by default: fcemu's work is I/O, and on a small machine that the client and the functions
    // share, every wake-up across worker threads is a context switch on the request path.
    let workers = std::env::var("FCEMU_WORKER_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    // With one worker, the current-thread scheduler: a wake-up is a queue push, with none of the
    // multi-thread scheduler's cross-thread bookkeeping on every request.
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(workers);
        b
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fcemu: cannot start its async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Up(args) => commands::up::run(args).await,
            Command::Build {
                dir,
                template,
                runtime_images,
            } => commands::build::run(dir, template, &runtime_images).await,
            Command::Invoke {
                function,
                event,
                event_file,
                cold,
                endpoint,
            } => commands::invoke::run(&endpoint, &function, event, event_file, cold).await,
            Command::Ps { format, endpoint } => commands::ps::run(&endpoint, format).await,
            Command::Logs {
                function,
                instance,
                request_id,
                hook,
                follow,
                format,
                endpoint,
            } => {
                let query = commands::logs::Query {
                    function,
                    instance,
                    request_id,
                    hook,
                };
                commands::logs::run(&endpoint, query, follow, format).await
            }
            Command::Events {
                follow,
                format,
                endpoint,
            } => commands::events::run(&endpoint, follow, format).await,
            Command::Wait {
                event,
                function,
                instance,
                count,
                timeout,
                endpoint,
            } => {
                let wanted = commands::wait::Wanted {
                    event,
                    function,
                    instance,
                    count,
                    timeout,
                };
                commands::wait::run(&endpoint, wanted).await
            }
            Command::Reclaim {
                instance_id,
                function,
                all,
                endpoint,
            } => commands::reclaim::run(&endpoint, instance_id, function, all).await,
            Command::Provision {
                function,
                target,
                endpoint,
            } => commands::provision::run(&endpoint, &function, target).await,
            Command::Validate {
                dir,
                template,
                verbose,
            } => commands::validate::run(dir, template, verbose),
            Command::Down {
                dir,
                no_verdict,
                junit,
            } => commands::down::run(dir, no_verdict, junit).await,
            Command::Gpus { format, endpoint } => commands::gpus::run(&endpoint, format).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("fcemu: {}", failure.message.trim_end());
            ExitCode::from(failure.code)
        }
    }
}
