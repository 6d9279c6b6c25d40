//! What `up` says when it serves and when it stops: the banner (each function's route, image, memory,
//! concurrency and hooks; the API and the page), who can reach it, and the billing table.

use crate::commands::args::Format;
use crate::output::info;
use fcemu_control::ControlPlane;
use fcemu_gateway::Access;
use fcemu_spec::Project;
use std::net::SocketAddr;
use std::path::Path;
use std::time::SystemTime;

/// What FC would bill for this run, per function (frozen time is not billed; a provisioned GPU instance's
/// idle time is, at FC's lower idle rate).
pub fn billing_table(cp: &ControlPlane) -> String {
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

/// What `banner` says besides the project.
pub struct Served<'a> {
    pub url: &'a str,
    pub gpus: &'a [String],
    pub max_instances: u32,
    /// Whether timers fire on their schedule (not with --no-timers).
    pub timers: bool,
    /// What is said of each function served under a debugger.
    pub debugged: &'a [String],
}

pub fn banner(project: &Project, served: &Served) -> String {
    let Served {
        url,
        gpus,
        max_instances,
        timers,
        debugged,
    } = *served;
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
    let routed = |name: &str| {
        project
            .domains
            .iter()
            .flat_map(|d| &d.routes)
            .any(|r| r.function_name == name)
    };
    for f in &project.functions {
        let route = match (&f.http_trigger, with_trigger.len()) {
            _ if routed(&f.name) => "through the custom domain's routes (below)".to_string(),
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
    lines.extend(domain_lines(project, url));
    lines.extend(trigger_lines(project, timers, SystemTime::now()));
    lines.extend(debugged.iter().cloned());
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

/// Each timer with its next fire time, and each event-source trigger with how to fire it.
fn trigger_lines(project: &Project, timers: bool, now: SystemTime) -> Vec<String> {
    let mut lines = Vec::new();
    for f in &project.functions {
        for t in &f.event_triggers {
            let what = match &t.timer {
                Some(timer) if !timer.enable => {
                    format!("{}  off (enable: false)", timer.cron_expression)
                }
                Some(timer) if !timers => format!("{}  off (--no-timers)", timer.cron_expression),
                Some(timer) => {
                    let next = timer.schedule.next_after(now, now).map_or_else(
                        || "never again".to_string(),
                        |t| format!("next {}", humantime::format_rfc3339_seconds(t)),
                    );
                    format!("{}  {next}", timer.cron_expression)
                }
                None => format!("fired by `fcemu trigger {} {}`", f.name, t.name),
            };
            lines.push(format!(
                "  {:<20} {} trigger {}: {what}",
                f.name, t.trigger_type, t.name
            ));
        }
    }
    lines
}

/// Each custom domain's routes, which take trigger traffic first (in FC's order: exact paths, then the
/// longest prefix).
fn domain_lines(project: &Project, url: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let several = project.domains.len() > 1;
    for d in &project.domains {
        let only = match url.split_once("://") {
            Some((scheme, authority)) if several && d.domain_name != "auto" => format!(
                "; its routes alone with Host: {0}, or {scheme}://{0}.localhost:{1}/",
                d.domain_name.trim_start_matches("*."),
                authority.rsplit_once(':').map_or("80", |(_, port)| port)
            ),
            _ => String::new(),
        };
        lines.push(format!(
            "  custom domain        {} ({}){only}",
            d.domain_name, d.resource
        ));
        for r in &d.routes {
            let methods = if r.methods.is_empty() {
                String::new()
            } else {
                format!("  [{}]", r.methods.join(", "))
            };
            let rewrite = if r.rewrite.is_empty() {
                ""
            } else {
                "  (path rewritten by its rewriteConfig)"
            };
            lines.push(format!(
                "    {url}{:<16} -> {}{methods}{rewrite}",
                r.path, r.function_name
            ));
        }
    }
    lines
}

/// What checks each protected trigger and domain: its authType, or nothing with --no-trigger-auth.
pub fn say_trigger_auth(project: &Project, check: &fcemu_gateway::TriggerAuthCheck) {
    let protected = crate::output::protected(project);
    if protected.is_empty() {
        return;
    }
    if check.off {
        let names: Vec<&str> = protected.iter().map(|(what, _)| what.as_str()).collect();
        info(&format!(
            "trigger auth: none (--no-trigger-auth): {} served as anonymous",
            names.join(", ")
        ));
        return;
    }
    // A domain's routes are guarded by the domain's authConfig, not by the trigger of the function they
    // reach: say so where the two differ, so an open route to a protected function is no surprise.
    for d in &project.domains {
        for f in &project.functions {
            let trigger_auth = f.http_trigger.as_ref().map(|t| &t.auth);
            let reached = d.routes.iter().any(|r| r.function_name == f.name);
            if reached && trigger_auth.is_some_and(|a| *a != d.auth) {
                info(&format!(
                    "trigger auth: custom domain {} routes to {}, whose trigger's authType differs: requests through the domain are checked by the domain's authConfig ({}), as on FC",
                    d.domain_name,
                    f.name,
                    match d.auth {
                        fcemu_spec::TriggerAuth::Anonymous => "anonymous",
                        fcemu_spec::TriggerAuth::Function => "function",
                        fcemu_spec::TriggerAuth::Jwt(_) => "jwt",
                    }
                ));
            }
        }
    }
    for (what, auth) in &protected {
        let keys = match (auth, &check.keys) {
            (fcemu_spec::TriggerAuth::Function, Some(keys)) => format!(" (key {})", keys.key_hint()),
            (fcemu_spec::TriggerAuth::Function, None) => {
                "; no AccessKey is known, so every request is refused: give the access's keys, or --no-trigger-auth".into()
            }
            _ => String::new(),
        };
        info(&format!(
            "trigger auth: {what}: {}{keys}",
            crate::output::auth_said(auth)
        ));
    }
}

/// Who can reach `addr`, and what they need: off loopback a warning, and the token (on a terminal only: a
/// secret never goes into a file or a CI log).
pub fn say_reach(addr: SocketAddr, access: &Access, token_file: &Path, url: &str, format: Format) {
    match access.token() {
        Some(token) => {
            crate::output::warning(&format!(
                "{addr} can be reached from other machines. Anyone who reaches it can call your functions; everything else (the functions' environment, logs, events, reclaiming, provisioning, updates) needs `Authorization: Bearer <token>`, kept in {} (fcemu's commands in this folder send it). --no-auth opens all of it.",
                token_file.display()
            ));
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) && format == Format::Text {
                info(&format!(
                    "  token                {}\n  ui with the token    {url}/_fcemu/ui#token={}",
                    token.as_str(),
                    token.as_str()
                ));
            }
        }
        None if !addr.ip().is_loopback() => crate::output::warning(&format!(
            "{addr} can be reached from other machines, and --no-auth lets anyone who reaches it read the functions' environment and logs, reclaim instances, change provisioned targets and update functions"
        )),
        None => {}
    }
}
