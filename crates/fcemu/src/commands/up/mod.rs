//! `fcemu up`: serve a project's functions until Ctrl-C or SIGTERM, then destroy every instance through
//! PreStop and leave no container behind.

use super::detach;
use crate::client::{ENDPOINT_FILE, TOKEN_FILE};
use crate::output::{log_line, log_record_line};
use crate::report;
use crate::{Failure, Format, UpArgs};
use fcemu_control::journal::{Entry, Journal};
use fcemu_control::{ControlPlane, Options};
use fcemu_gateway::{Access, ServeOptions, Token};
use fcemu_runtime::{DockerRuntime, labels, sweep};
use fcemu_spec::Project;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;

/// How long requests in flight at shutdown may take to finish before their instances are destroyed.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(10);

pub async fn run(args: UpArgs) -> Result<(), Failure> {
    if args.detach && !detach::is_detached_child() {
        return detach::start(&args).await;
    }
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let mut project = crate::images::load(&dir, args.template.as_deref(), &args.runtime_images)?;
    // A `.fcemu` a repository made a link is refused before anything is written.
    crate::state::dir(&project.dir).map_err(|e| Failure::user(e.to_string()))?;
    let _pid_file = match detach::is_detached_child() {
        true => Some(detach::PidFile::write(&project.dir)?),
        false => None,
    };
    // In json mode stdout carries only the event stream; everything for people goes to stderr.
    let format = args.format;
    let say = move |line: &str| {
        if format == Format::Json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    crate::output::say_warnings(&project, args.verbose);
    let gpus = crate::gpu::plan(&project, args.gpu).await?;
    for warning in &gpus.warnings {
        eprintln!("warning: {warning}");
    }

    let docker = DockerRuntime::connect()
        .await
        .map_err(|e| Failure::environment(e.to_string()))?;
    if !args.no_freeze {
        say(&docker.freeze_method().describe());
    }
    say(if docker.splits_runtime_init() {
        "Runtime Init in two parts: engine start (this machine's engine starting the container, not in FC) and function start-up (your server, until its port accepts)"
    } else {
        "Runtime Init shown whole: the engine is remote, so its clock cannot be compared with this machine's to split it"
    });
    let project_label = [(
        labels::PROJECT.to_string(),
        project.dir.display().to_string(),
    )];
    match sweep(&docker, &project_label).await {
        Ok(0) => {}
        Ok(n) => say(&format!(
            "removed {n} container{} left by an earlier run of this project",
            if n == 1 { "" } else { "s" }
        )),
        Err(e) => return Err(Failure::environment(e.to_string())),
    }
    if args.build {
        super::build::build(&project, &say).await?;
    } else {
        let unbuilt = super::build::never_built(&project);
        if !unbuilt.is_empty() {
            eprintln!(
                "warning: {} {} pre-deploy / pre-local actions that never ran here (they fetch dependencies): run `fcemu build` first, or `fcemu up --build`",
                unbuilt.join(", "),
                if unbuilt.len() == 1 { "has" } else { "have" }
            );
        }
    }
    crate::images::ensure_images(&docker, &project, &say).await?;
    crate::layers::prepare(&docker, &mut project, &args.layers, &say).await?;
    crate::shipped::provide(&docker, &mut project, &say).await;
    crate::images::say_interpreters(&docker, &project, &project_label, &say).await;

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
        ..Options::default()
    };
    let access = access_for(&addr, args.no_auth)?;
    let cp = ControlPlane::new(project.clone(), Arc::new(docker.clone()), options);
    let state_file = project.dir.join(ENDPOINT_FILE);
    let token_file = project.dir.join(TOKEN_FILE);
    keep_history(&cp, &project.dir, args.history_limit);
    // Provisioned instances are ready (and frozen) before any request is served; connections that come
    // meanwhile wait in the listener's backlog.
    let wanted: u32 = project.functions.iter().map(|f| f.provision.target).sum();
    if wanted > 0 {
        say(&format!(
            "provisioning {wanted} instance{}",
            if wanted == 1 { "" } else { "s" }
        ));
        cp.start_provisioned().await;
        // A CI job that started `up -d` learns at once that a provisioned instance did not come up.
        if detach::is_detached_child() {
            if let Some(message) = provisioning_failed(&cp).await {
                cp.shutdown(SHUTDOWN_DRAIN).await;
                let _ = sweep(&docker, &project_label).await;
                return Err(Failure::user(message));
            }
        }
    }
    if let Some(token) = access.token() {
        record_token(&token_file, token)?;
    }
    // Watching starts before the endpoint is recorded: whoever waits for it may edit at once.
    let _watch = super::watch::start(
        cp.clone(),
        docker.clone(),
        super::watch::Source {
            dir: dir.clone(),
            template: args.template.clone(),
            runtime_images: args.runtime_images.clone(),
            layers: args.layers.clone(),
        },
        &project,
        args.watch,
        say,
    )?;
    record_endpoint(&state_file, &url);
    say(&banner(&project, &url, &gpus.lines, args.max_instances));
    match access.token() {
        Some(token) => {
            say(&format!(
                "warning: {addr} can be reached from other machines. Anyone who reaches it can call your functions; everything else (the functions' environment, logs, events, reclaiming, provisioning, updates) needs `Authorization: Bearer <token>`, kept in {} (fcemu's commands in this folder send it). --no-auth opens all of it.",
                token_file.display()
            ));
            // A secret goes to a person's terminal, never into a file or a CI log.
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) && format == Format::Text {
                say(&format!(
                    "  token                {}\n  ui with the token    {url}/_fcemu/ui#token={}",
                    token.as_str(),
                    token.as_str()
                ));
            }
        }
        None if !addr.ip().is_loopback() => say(&format!(
            "warning: {addr} can be reached from other machines, and --no-auth lets anyone who reaches it read the functions' environment and logs, reclaim instances, change provisioned targets and update functions"
        )),
        None => {}
    }

    let stop_printing = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The printer has a thread of its own, so a terminal or pipe that reads slowly blocks it, never the
    // requests; it drains what has come every few milliseconds rather than being woken for each line,
    // which would cost a cross-thread wake-up per request.
    let printer = {
        let (cp, stop) = (cp.clone(), stop_printing.clone());
        let format = args.format;
        std::thread::spawn(move || print_stream(cp, format, &stop))
    };
    // What leaves memory is written to the history files by a thread of its own too, so a slow reader of
    // `up`'s output cannot hold it back.
    let spiller = {
        let (cp, stop) = (cp.clone(), stop_printing.clone());
        std::thread::spawn(move || write_history(cp, &stop))
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
            ..ServeOptions::default()
        },
    ));

    wait_for_signal().await;
    let live = cp.instances().len();
    say(&format!(
        "stopping: destroying {live} instance{} through PreStop (Ctrl-C again to force)",
        if live == 1 { "" } else { "s" }
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
    stop_printing.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = tokio::task::spawn_blocking(move || (printer.join(), spiller.join())).await;
    if forced {
        say(&format!(
            "forced stop: removed {leftover} container{}",
            if leftover == 1 { "" } else { "s" }
        ));
        return Err(Failure {
            code: 130,
            message: "stopped without PreStop (forced)".into(),
        });
    }
    say(&billing_table(&cp));
    let summary = cp.summary().await;
    if let Err(e) = report::write_summary(&project.dir, &summary) {
        eprintln!("warning: cannot write {}: {e}", report::SUMMARY_FILE);
    }
    if let Some(junit) = &args.junit {
        if let Err(e) = std::fs::write(junit, report::junit(&summary)) {
            eprintln!("warning: cannot write {}: {e}", junit.display());
        }
    }
    for line in report::verdict_lines(&summary) {
        say(&line);
    }
    say("stopped: every instance destroyed");
    Ok(())
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

/// What FC would bill for this run, per function (frozen time is not billed; a provisioned GPU instance's
/// idle time is, at FC's lower idle rate).
fn billing_table(cp: &ControlPlane) -> String {
    let gpu = cp.functions().iter().any(|f| f.spec.gpu.is_some());
    let mut header = format!(
        "{:<20} {:>11} {:>9} {:>10} {:>10} {:>9} {:>9}",
        "FUNCTION", "INVOCATIONS", "HOOK RUNS", "ACTIVE s", "FROZEN s", "vCPU-s", "GB-s"
    );
    if gpu {
        header.push_str(&format!(" {:>10} {:>11}", "GPU GB-s", "GPU IDLE GB-s"));
    }
    let mut lines = vec![header];
    for b in cp.billing() {
        let mut line = format!(
            "{:<20} {:>11} {:>9} {:>10.3} {:>10.3} {:>9.3} {:>9.3}",
            b.function_name,
            b.invocations,
            b.hook_executions,
            b.active_seconds,
            b.frozen_seconds,
            b.vcpu_seconds,
            b.gb_seconds
        );
        if gpu {
            line.push_str(&format!(
                " {:>10.3} {:>13.3}",
                b.gpu_gb_seconds, b.gpu_idle_gb_seconds
            ));
        }
        lines.push(line);
    }
    lines.join("\n")
}

fn banner(project: &Project, url: &str, gpus: &[String], max_instances: u32) -> String {
    let mut lines = vec![format!(
        "fcemu serving {} ({})",
        project.name,
        project.template.display()
    )];
    let with_trigger: Vec<_> = project
        .functions
        .iter()
        .filter(|f| f.http_trigger.is_some())
        .collect();
    for f in &project.functions {
        let route = match (&f.http_trigger, with_trigger.len()) {
            (Some(t), 1) => format!("{url}/  [{}]", t.methods.join(", ")),
            (Some(t), _) => format!("{url}/{}/  [{}]", f.name, t.methods.join(", ")),
            (None, _) => "no HTTP trigger".to_string(),
        };
        let hooks = [
            f.initializer.as_ref().map(|_| "Initializer"),
            f.pre_stop.as_ref().map(|_| "PreStop"),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" + ");
        let gpu = f
            .gpu
            .as_ref()
            .map(|g| format!(", GPU {} MB of {}", g.gpu_memory_size_mb, g.gpu_type))
            .unwrap_or_default();
        lines.push(format!(
            "  {:<20} {route}  ({}, {} MB{gpu}, concurrency {}{})",
            f.name,
            f.container.image,
            f.memory_size_mb,
            f.instance_concurrency,
            if hooks.is_empty() {
                String::new()
            } else {
                format!(", {hooks}")
            }
        ));
    }
    lines.push(format!(
        "  invoke API           {url}/2023-03-30/functions/NAME/invocations"
    ));
    lines.push(format!(
        "  control              {url}/_fcemu/  (fcemu ps | logs | events)"
    ));
    lines.push(format!(
        "  ui                   {url}/_fcemu/ui  (the live lifecycle timeline, in a browser)"
    ));
    lines.push(format!(
        "  instances            at most {max_instances} per function (--max-instances)"
    ));
    lines.extend(gpus.iter().map(|line| format!("  {line}")));
    lines.push("Ctrl-C to stop".into());
    lines.join("\n")
}

/// Memory keeps the newest entries; older ones go to `.fcemu/logs.jsonl` and `.fcemu/events.jsonl`, so
/// the whole run stays queryable while fcemu's footprint stays bounded.
fn keep_history(cp: &ControlPlane, dir: &Path, limit: u64) {
    let state = match crate::state::dir(dir) {
        Ok(state) => state,
        Err(e) => {
            eprintln!("warning: {e}; only the newest entries stay queryable");
            return;
        }
    };
    // The two files share the limit: logs are nearly all of it.
    let events_limit = limit / 16;
    for result in [
        cp.logs().spill_to(
            &state.join("logs.jsonl"),
            limit - events_limit,
            fcemu_control::logs::gap_line,
        ),
        cp.events().spill_to(
            &state.join("events.jsonl"),
            events_limit,
            fcemu_control::events::gap_line,
        ),
    ] {
        if let Err(e) = result {
            eprintln!(
                "warning: cannot keep history in {}: {e}; only the newest entries stay queryable",
                state.display()
            );
        }
    }
}

/// On loopback anyone on this machine may change state, as with any local server; elsewhere, only who has
/// the token (unless `--no-auth`).
fn access_for(addr: &std::net::SocketAddr, no_auth: bool) -> Result<Access, Failure> {
    if no_auth || addr.ip().is_loopback() {
        return Ok(Access::open());
    }
    Token::generate().map(Access::with_token).map_err(|e| {
        Failure::environment(format!(
            "cannot make an access token for {addr}: the system's random source failed ({e}); listen on 127.0.0.1, or pass --no-auth"
        ))
    })
}

/// Keeps the token where fcemu's commands in this folder find it, readable by this user only.
fn record_token(file: &Path, token: &Token) -> Result<(), Failure> {
    crate::state::write(file, &format!("{}\n", token.as_str())).map_err(|e| {
        Failure::environment(format!(
            "cannot keep the access token in {}: {e}",
            file.display()
        ))
    })
}

fn record_endpoint(file: &Path, url: &str) {
    if let Some(parent) = file.parent() {
        // Keep the state folder out of the user's git without touching their .gitignore.
        crate::state::write_or_warn(&parent.join(".gitignore"), "*\n");
    }
    crate::state::write_or_warn(file, &format!("{url}\n"));
}

/// Prints instance logs and fcemu's lifecycle lines (text), or the event stream (json), as they come; once
/// `stop` is set, prints what is left and returns, so no line is lost.
fn print_stream(cp: ControlPlane, format: Format, stop: &AtomicBool) {
    match format {
        Format::Text => print_journal(
            cp.logs(),
            |entry| match entry {
                Entry::Kept(record) => log_record_line(record),
                Entry::Spilled(_) => log_line(&entry.to_value()),
            },
            stop,
        ),
        Format::Json => print_journal(cp.events(), Entry::json_line, stop),
    }
}

/// How often the printer and the history writer look for new entries.
const PRINT_EVERY: Duration = Duration::from_millis(15);

fn print_journal<T: serde::Serialize + Send + Sync + 'static>(
    journal: &Journal<T>,
    render: impl Fn(&Entry<T>) -> String,
    stop: &AtomicBool,
) {
    use std::io::Write;
    // Everything available is written in one go and flushed once: a write per line would cost a system
    // call per line. A printer that fell behind reads what left memory back from the history file.
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let mut printed = 0;
    loop {
        // Read the flag first: entries pushed before it was set are drained in this round.
        let stopping = stop.load(Ordering::SeqCst);
        // A page at a time, until caught up.
        loop {
            let (batch, next) = journal.read(printed);
            for entry in &batch {
                let _ = writeln!(out, "{}", render(entry));
            }
            let _ = out.flush();
            if next == printed {
                break;
            }
            printed = next;
        }
        if stopping {
            return;
        }
        std::thread::sleep(PRINT_EVERY);
    }
}

/// Writes what left memory to `.fcemu/logs.jsonl` and `.fcemu/events.jsonl` until `stop`, then the rest.
fn write_history(cp: ControlPlane, stop: &AtomicBool) {
    loop {
        let stopping = stop.load(Ordering::SeqCst);
        cp.logs().write_spill();
        cp.events().write_spill();
        if stopping {
            return;
        }
        std::thread::sleep(PRINT_EVERY);
    }
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
