//! `fcemu up`: serve a project's functions until Ctrl-C or SIGTERM, then destroy every instance through
//! PreStop and leave no container behind. In order: read and prepare the project (actions, images,
//! layers), sweep what an earlier run left, listen, provision, serve (printers and history writer on
//! threads of their own), and on a signal stop, with the billing table, the summary and the verdict.
//!
//! The parts: `banner.rs` (what it says), `files.rs` (what it keeps in `.fcemu/`), `printers.rs` (its
//! output threads), `signals.rs` (Ctrl-C and SIGTERM), `detach.rs` (`up -d` and the pid file), `watch.rs`
//! (`--watch`).

pub mod banner;
pub mod debug;
pub mod detach;
mod files;
mod printers;
mod signals;
mod watch;

use crate::client::{ENDPOINT_FILE, TOKEN_FILE};
use crate::commands::args::{
    Format, parse_container_host, parse_layer, parse_mount, parse_runtime_image, parse_size,
};
use crate::failure::Failure;
use crate::gpu::GpuSource;
use crate::output::{info, warning};
use crate::report;
use fcemu_control::{ControlPlane, Options};
use fcemu_gateway::{Access, ServeOptions, Token, TriggerAuthCheck};
use fcemu_runtime::{DockerRuntime, labels, sweep};
use fcemu_spec::Project;
use signals::wait_for_signal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long requests in flight at shutdown may take to finish before their instances are destroyed.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

/// Serve the functions of an s.yaml on localhost, with their whole lifecycle
#[derive(clap::Args)]
pub struct Args {
    /// The project folder holding s.yaml (default: the current folder)
    pub dir: Option<PathBuf>,
    /// The project file, as Serverless Devs' -t
    #[arg(short = 't', long = "template", env = "FCEMU_TEMPLATE")]
    pub template: Option<PathBuf>,
    /// Where to serve HTTP trigger traffic and the control API
    #[arg(long, env = "FCEMU_LISTEN", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// On a non-loopback --listen address, let anyone who reaches it reclaim instances and change
    /// provisioned targets (by default those calls need the token printed at start)
    #[arg(long, env = "FCEMU_NO_AUTH")]
    pub no_auth: bool,
    /// A client that has not sent a request's whole body within this is answered 408, and no instance is
    /// given the request
    #[arg(long, env = "FCEMU_BODY_READ_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub body_read_timeout: std::time::Duration,
    /// Reclaim an instance after this long without a request (e.g. 300s, 2m, 500ms)
    #[arg(long, env = "FCEMU_IDLE_TIMEOUT", default_value = "300s", value_parser = humantime::parse_duration)]
    pub idle_timeout: std::time::Duration,
    /// Wait this long after the last request before freezing an instance
    #[arg(long, env = "FCEMU_FREEZE_GRACE", default_value = "0ms", value_parser = humantime::parse_duration)]
    pub freeze_grace: std::time::Duration,
    /// Never freeze instances between requests
    #[arg(long, env = "FCEMU_NO_FREEZE")]
    pub no_freeze: bool,
    /// At most this many instances per function (the default is FC's default quota of on-demand instances);
    /// provisioned targets and asynchronous invocations count against it
    #[arg(long, env = "FCEMU_MAX_INSTANCES", default_value_t = fcemu_control::DEFAULT_MAX_INSTANCES,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_instances: u32,
    /// text: readable lines; json: the lifecycle event stream, one JSON object per line
    #[arg(long, env = "FCEMU_FORMAT", value_enum, default_value = "text")]
    pub format: Format,
    /// Where GPU functions get cards: auto (this machine's NVIDIA cards, through NVML), simulate (the cards
    /// of FCEMU_SIMULATED_GPUS, e.g. ada:49152,ada:49152; one 48 GB card when unset), or off (GPU functions
    /// run without a GPU)
    #[arg(long, env = "FCEMU_GPU", value_enum, default_value = "auto")]
    pub gpu: GpuSource,
    /// The local image a custom or built-in runtime runs on, e.g. custom.debian12=my-debian12-python or
    /// python3.10=my-python (an image with python3, or node for nodejs*; repeatable)
    #[arg(long = "runtime-image", value_name = "RUNTIME=IMAGE", value_parser = parse_runtime_image)]
    pub runtime_images: Vec<(String, String)>,
    /// Reach instances through ports the engine publishes on this address (an IP or a name), instead of
    /// at their bridge addresses: for an engine whose bridge is not routable from here that fcemu does not
    /// recognise as such (fcemu chooses by itself for Docker Desktop, rootless and remote engines)
    #[arg(long, env = "FCEMU_CONTAINER_HOST", value_name = "HOST", value_parser = parse_container_host)]
    pub container_host: Option<std::net::IpAddr>,
    /// Run `fcemu build` first (the s.yaml's pre-deploy / pre-local actions, missing images)
    #[arg(long, env = "FCEMU_BUILD")]
    pub build: bool,
    /// The folder or .zip that stands in for a layer fcemu cannot provide itself, e.g.
    /// acs:fc:cn-hangzhou:123:layers/mine/versions/1=./layers/mine (repeatable)
    #[arg(long = "layer", value_name = "ARN=DIR|ZIP", value_parser = parse_layer)]
    pub layers: Vec<(String, PathBuf)>,
    /// The folder that stands in for what a function mounts at MOUNTDIR (a mount point of nasConfig or
    /// ossMountConfig), instead of one under .fcemu/storage/, e.g. /mnt/nas=./models (repeatable)
    #[arg(long = "mount", value_name = "MOUNTDIR=DIR", value_parser = parse_mount)]
    pub mounts: Vec<(String, PathBuf)>,
    /// Send functions with a role no credentials (by default they get those of the s.yaml's access in
    /// ~/.s/access.yaml, or of ALIBABA_CLOUD_ACCESS_KEY_ID and _SECRET in the environment)
    #[arg(long, env = "FCEMU_NO_CREDENTIALS")]
    pub no_credentials: bool,
    /// Serve every HTTP trigger and custom domain as anonymous, whatever its authType (by default
    /// `function` needs a request signed with the access's AccessKey, and `jwt` a token its JWKS verifies)
    #[arg(long, env = "FCEMU_NO_TRIGGER_AUTH")]
    pub no_trigger_auth: bool,
    /// Fire no timer trigger on its schedule (`fcemu trigger FUNCTION TRIGGER` still fires one now)
    #[arg(long, env = "FCEMU_NO_TIMERS")]
    pub no_timers: bool,
    #[command(flatten)]
    pub debug: debug::DebugArgs,
    /// Serve in the background: return once serving and the provisioned instances are ready (output in
    /// .fcemu/up.log; `fcemu down` stops it)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Also write the hook runs as a JUnit XML report to FILE at shutdown
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// Apply changes as you save: re-read the s.yaml, code folders and build contexts, and roll each
    /// changed function (new requests go to new instances; the old ones finish, then run PreStop)
    #[arg(long, env = "FCEMU_WATCH")]
    pub watch: bool,
    /// Also list the s.yaml fields that are accepted but mean nothing locally
    #[arg(short, long)]
    pub verbose: bool,
    /// Log lines and events kept in memory (each); older ones are kept in .fcemu/*.jsonl
    #[arg(long, env = "FCEMU_HISTORY", default_value_t = fcemu_control::journal::DEFAULT_CAPACITY)]
    pub history: usize,
    /// How large the history files (.fcemu/logs.jsonl, events.jsonl and the files beside them) may grow
    /// together: past it the oldest lines go, and queries say where (e.g. 1GB, 500MB, 2GiB)
    #[arg(long, env = "FCEMU_HISTORY_LIMIT", default_value = "1GB", value_parser = parse_size)]
    pub history_limit: u64,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    if args.detach && !detach::is_detached_child() {
        return detach::start(&args).await;
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut project = match args.build {
        // What the build makes need not be there before it.
        true => crate::images::load_to_build(&dir, args.template.as_deref(), &args.runtime_images)?,
        false => crate::images::load(&dir, args.template.as_deref(), &args.runtime_images)?,
    };
    // A `.fcemu` a repository made a link is refused before anything is written.
    crate::state::dir(&project.dir).map_err(|e| Failure::user(e.to_string()))?;
    let _pid_file = match detach::is_detached_child() {
        true => Some(detach::PidFile::write(&project.dir)?),
        false => None,
    };
    if args.format == Format::Json {
        crate::output::people_on_stderr();
    }
    crate::output::say_warnings(&project, args.verbose);
    let gpus = crate::gpu::plan(&project, args.gpu).await?;
    for line in &gpus.warnings {
        warning(line);
    }
    let mut docker = DockerRuntime::connect()
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    if let Some(host) = args.container_host {
        docker.reach_through(host);
    }
    say_engine(&docker, args.no_freeze);
    let project_label = [(
        labels::PROJECT.to_string(),
        project.dir.display().to_string(),
    )];
    match sweep(&docker, &project_label).await {
        Ok(0) => {}
        Ok(n) => info(&format!(
            "removed {n} container{} left by an earlier run of this project",
            plural(n)
        )),
        Err(e) => return Err(Failure::environment(e.to_string())),
    }
    prepare(&docker, &mut project, &args).await?;
    crate::images::say_interpreters(&docker, &project, &project_label).await;

    let listener = TcpListener::bind(args.listen).await.map_err(|e| {
        Failure::environment(format!(
            "cannot listen on {}: {e}. Another program (perhaps another fcemu up) uses it: stop it, or pick another address with --listen 127.0.0.1:PORT",
            args.listen
        ))
    })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Failure::environment(e.to_string()))?;
    let url = format!("http://{addr}");
    let options = Options {
        max_instances: Some(args.max_instances),
        idle_timeout: args.idle_timeout,
        body_read_timeout: args.body_read_timeout,
        freeze: !args.no_freeze,
        freeze_grace: args.freeze_grace,
        history: args.history,
        gpus: gpus.cards,
        credentials: crate::credentials::find(&project, args.no_credentials),
        state_dir: Some(project.dir.join(crate::state::DIR)),
        timers: !args.no_timers,
        debug: debug::debugged(&project, &args.debug, addr)?,
        ..Options::default()
    };
    let trigger_auth = TriggerAuthCheck {
        keys: options.credentials.clone(),
        off: args.no_trigger_auth,
    };
    let access = access_for(&addr, args.no_auth)?;
    let debug_lines = debug::banner_lines(&options.debug);
    let cp = ControlPlane::new(project.clone(), Arc::new(docker.clone()), options);
    let state_file = project.dir.join(ENDPOINT_FILE);
    let token_file = project.dir.join(TOKEN_FILE);
    files::keep_history(&cp, &project.dir, args.history_limit);
    // Provisioned instances are ready (and frozen) before any request is served; connections that come
    // meanwhile wait in the listener's backlog.
    if let Err(failure) = provision(&cp, &project).await {
        cp.shutdown(SHUTDOWN_DRAIN).await;
        let _ = sweep(&docker, &project_label).await;
        return Err(failure);
    }
    if let Some(token) = access.token() {
        files::record_token(&token_file, token)?;
    }
    // What an earlier run left queued runs now, under the same rules.
    let resumed = cp.resume_async();
    if resumed > 0 {
        info(&format!(
            "resuming {resumed} asynchronous invocation{} an earlier run left queued (.fcemu/async/)",
            plural(resumed)
        ));
    }
    // Watching starts before the endpoint is recorded: whoever waits for it may edit at once.
    let _watch = watch::start(
        cp.clone(),
        docker.clone(),
        watch::Source {
            dir: dir.clone(),
            template: args.template.clone(),
            runtime_images: args.runtime_images.clone(),
            layers: args.layers.clone(),
            mounts: args.mounts.clone(),
            debug: args.debug.clone(),
        },
        &project,
        args.watch,
    )?;
    files::record_endpoint(&state_file, &url);
    info(&banner::banner(
        &project,
        &banner::Served {
            url: &url,
            gpus: &gpus.lines,
            max_instances: args.max_instances,
            timers: !args.no_timers,
            debugged: &debug_lines,
        },
    ));
    banner::say_trigger_auth(&project, &trigger_auth);
    for said in project
        .functions
        .iter()
        .filter_map(crate::output::sessions_said)
    {
        info(&format!("session affinity: {said}"));
    }
    banner::say_reach(addr, &access, &token_file, &url, args.format);

    let stop_printing = Arc::new(AtomicBool::new(false));
    // The printer drains what has come every few milliseconds rather than being woken for each line,
    // which would cost a cross-thread wake-up per request.
    let printer = {
        let (cp, stop) = (cp.clone(), stop_printing.clone());
        let format = args.format;
        std::thread::spawn(move || printers::print_stream(cp, format, &stop))
    };
    let spiller = {
        let (cp, stop) = (cp.clone(), stop_printing.clone());
        std::thread::spawn(move || printers::write_history(cp, &stop))
    };
    let (stop_serving, serving_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(fcemu_gateway::serve(
        listener,
        cp.clone(),
        async {
            let _ = serving_stopped.await;
        },
        ServeOptions {
            access,
            trigger_auth,
            ..ServeOptions::default()
        },
    ));

    wait_for_signal().await;
    let live = cp.instances().len();
    info(&format!(
        "stopping: destroying {live} instance{} through PreStop (Ctrl-C again to force)",
        plural(live)
    ));
    let graceful = async {
        cp.shutdown(SHUTDOWN_DRAIN).await;
        let _ = stop_serving.send(());
        let _ = server.await;
    };
    let forced = tokio::select! {
        _ = graceful => false,
        _ = wait_for_signal() => true,
    };
    // Whatever happened above, nothing of this project stays: a creation racing the shutdown included.
    let leftover = sweep(&docker, &project_label).await.unwrap_or(0);
    let _ = std::fs::remove_file(&state_file);
    let _ = std::fs::remove_file(&token_file);
    // The printer writes out the last lines (PreStop's among them) before the closing words.
    stop_printing.store(true, Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || (printer.join(), spiller.join())).await;
    if forced {
        info(&format!(
            "forced stop: removed {leftover} container{}",
            plural(leftover)
        ));
        return Err(Failure {
            code: 130,
            message: "stopped without PreStop (forced)".into(),
        });
    }
    say_stopped(&cp, &project, args.junit.as_deref()).await;
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Which engine serves (and how it was chosen), how it freezes instances, and whether Runtime Init can be
/// split in two.
fn say_engine(docker: &DockerRuntime, no_freeze: bool) {
    info(&format!(
        "engine: {}: {}; {}",
        docker.host().describe(),
        docker.engine_version().describe(),
        docker.reach().describe()
    ));
    if !no_freeze {
        info(&docker.freeze_method().describe());
    }
    info(if docker.splits_runtime_init() {
        "Runtime Init in two parts: engine start (this machine's engine starting the container, not in FC) and function start-up (your server, until its port accepts)"
    } else {
        "Runtime Init shown whole: the engine is remote, so its clock cannot be compared with this machine's to split it"
    });
}

/// What the project needs before it is served: its actions (with `--build`; said when they never ran),
/// its images, its layers and the libraries FC ships with its runtimes.
async fn prepare(
    docker: &DockerRuntime,
    project: &mut Project,
    args: &Args,
) -> Result<(), Failure> {
    if args.build {
        super::build::build(project).await?;
        if project.unbuilt.is_some() {
            // The code the build made is there now: the project is read again, with it.
            *project =
                crate::images::load(&project.dir, args.template.as_deref(), &args.runtime_images)?;
        }
    } else {
        let unbuilt = super::build::never_built(project);
        if !unbuilt.is_empty() {
            warning(&format!(
                "{} {} pre-deploy / pre-local actions that never ran here (they fetch dependencies): run `fcemu build` first, or `fcemu up --build`",
                unbuilt.join(", "),
                if unbuilt.len() == 1 { "has" } else { "have" }
            ));
        }
    }
    crate::images::ensure_images(docker, project).await?;
    debug::prepare_images(docker, project, &args.debug).await?;
    crate::layers::prepare(docker, project, &args.layers).await?;
    crate::storage::prepare(project, &args.mounts)?;
    crate::shipped::provide(docker, project).await;
    Ok(())
}

/// Creates the provisioned instances. A CI job that started `up -d` learns at once that one did not
/// come up: the detached `up` then fails.
async fn provision(cp: &ControlPlane, project: &Project) -> Result<(), Failure> {
    let wanted: u32 = project.functions.iter().map(|f| f.provision.target).sum();
    if wanted == 0 {
        return Ok(());
    }
    info(&format!(
        "provisioning {wanted} instance{}",
        plural(wanted as usize)
    ));
    cp.start_provisioned().await;
    match detach::is_detached_child() {
        true => provisioning_failed(cp)
            .await
            .map_or(Ok(()), |m| Err(Failure::user(m))),
        false => Ok(()),
    }
}

/// The closing words: the billing table, the summary file, the JUnit report and the verdict.
async fn say_stopped(cp: &ControlPlane, project: &Project, junit: Option<&std::path::Path>) {
    info(&banner::billing_table(cp));
    let summary = cp.summary().await;
    if let Err(e) = report::write_summary(&project.dir, &summary) {
        warning(&format!("cannot write {}: {e}", report::SUMMARY_FILE));
    }
    if let Some(junit) = junit {
        if let Err(e) = std::fs::write(junit, report::junit(&summary)) {
            warning(&format!("cannot write {}: {e}", junit.display()));
        }
    }
    for line in report::verdict_lines(&summary) {
        info(&line);
    }
    info("stopped: every instance destroyed");
}

/// Which functions are short of their provisioned instances after provisioning, and the hooks that failed.
async fn provisioning_failed(cp: &ControlPlane) -> Option<String> {
    let short: Vec<String> = cp
        .provision_statuses()
        .into_iter()
        .filter(|s| s.current < s.target)
        .map(|s| format!("{} ({} of {})", s.function_name, s.current, s.target))
        .collect();
    if short.is_empty() {
        return None;
    }
    let summary = cp.summary().await;
    let failed: String = summary
        .failed_hooks()
        .map(|h| format!("\n{}", report::failed_hook_line(h)))
        .collect();
    Some(format!(
        "provisioned instances did not come up: {}{failed}",
        short.join(", ")
    ))
}

/// On loopback anyone on this machine may change state, as with any local server; elsewhere, only who has
/// the token (unless `--no-auth`).
fn access_for(addr: &SocketAddr, no_auth: bool) -> Result<Access, Failure> {
    if no_auth || addr.ip().is_loopback() {
        return Ok(Access::open());
    }
    Token::generate().map(Access::with_token).map_err(|e| {
        Failure::environment(format!(
            "cannot make an access token for {addr}: the system's random source failed ({e}); listen on 127.0.0.1, or pass --no-auth"
        ))
    })
}
