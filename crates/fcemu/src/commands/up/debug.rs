//! `up --debug FUNCTION[=PORT]`: which functions are served under a debugger, on which port, and what the
//! banner says of each.

use crate::failure::Failure;
use fcemu_control::{Debugged, debug_unsupported, default_debug_port};
use fcemu_runtime::DockerRuntime;
use fcemu_spec::{Language, Project};
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The flags of `up` that say how functions are debugged.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct DebugArgs {
    /// Serve FUNCTION under its language's debugger, its port (default per language: Python's debugpy 5678,
    /// Node.js 9229, Java 5005, Go's Delve 2345) published on the listen address's host: one instance, never frozen nor reclaimed, timeouts
    /// lifted (repeatable)
    #[arg(
        long = "debug",
        value_name = "FUNCTION[=PORT]",
        env = "FCEMU_DEBUG",
        value_delimiter = ','
    )]
    pub functions: Vec<String>,
    /// Hold the function's process until a debugger attaches
    #[arg(long, env = "FCEMU_DEBUG_WAIT")]
    pub debug_wait: bool,
    /// What a custom container's or custom runtime's command gets appended to start its own debugger
    #[arg(long, value_name = "ARGS", allow_hyphen_values = true)]
    pub debug_args: Option<String>,
    /// Keep FC's cut-offs under the debugger: the function's timeout, its hooks' and Runtime Init's
    #[arg(long)]
    pub debug_keep_timeouts: bool,
}

/// The debugged functions, each checked against the project; a function that is not there, a port that is
/// not one, or a runtime whose debugger fcemu cannot start is refused, saying which.
pub fn debugged(
    project: &Project,
    args: &DebugArgs,
    listen: SocketAddr,
) -> Result<BTreeMap<String, Debugged>, Failure> {
    let mut out = BTreeMap::new();
    for asked in &args.functions {
        let (name, port) = match asked.split_once('=') {
            Some((name, port)) => (name, Some(port)),
            None => (asked.as_str(), None),
        };
        let Some(spec) = project.functions.iter().find(|f| f.name == name) else {
            let names: Vec<&str> = project.functions.iter().map(|f| f.name.as_str()).collect();
            return Err(Failure::user(format!(
                "--debug {name}: no such function in this project, allowed: {}",
                names.join(", ")
            )));
        };
        let port = match port {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                Failure::user(format!(
                    "--debug {asked}: `{p}` is not a port, allowed: 1 to 65535"
                ))
            })?,
            None => default_debug_port(spec).ok_or_else(|| {
                Failure::user(format!(
                    "--debug {name}: say the port its debugger listens on, --debug {name}=PORT"
                ))
            })?,
        };
        let debug = Debugged {
            port,
            host: listen.ip().to_string(),
            wait: args.debug_wait,
            keep_timeouts: args.debug_keep_timeouts,
            args: args
                .debug_args
                .as_deref()
                .map(|a| a.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
        };
        if let Some(why) = debug_unsupported(spec, &debug) {
            return Err(Failure::user(format!("--debug {why}")));
        }
        out.insert(name.to_string(), debug);
    }
    Ok(out)
}

/// A Python function's debugger (debugpy) and a Go function's (Delve) are Debian's packages, in an image made
/// once from the function's own (`IMAGE-debugpy`, `IMAGE-delve`, its tag kept): the function then runs on it,
/// the user's code untouched.
pub async fn prepare_images(
    docker: &DockerRuntime,
    project: &mut Project,
    args: &DebugArgs,
) -> Result<(), Failure> {
    for asked in &args.functions {
        let name = asked
            .split_once('=')
            .map_or(asked.as_str(), |(name, _)| name);
        let Some(f) = project.functions.iter_mut().find(|f| f.name == name) else {
            continue; // refused, with the list, once the options are made
        };
        let debug_args: Vec<String> = args
            .debug_args
            .as_deref()
            .map(|a| a.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        let python = fcemu_control::custom_python(f, &debug_args);
        let language = python.map_or(f.runtime.language(), |_| Some(Language::Python));
        let Some((name, package)) = debugger_package(language) else {
            continue;
        };
        let image = debugger_image(&f.container.image, name);
        let here = docker
            .image_exists(&image)
            .await
            .map_err(|e| Failure::environment(e.to_string()))?;
        if !here {
            build_debugger_image(docker, &f.container.image, &image, package).await?;
        }
        f.container.image = image;
    }
    Ok(())
}

/// The debugger a language's image lacks, and the Debian package that has it: debugpy for Python, Delve for
/// Go (Node.js and Java carry theirs).
fn debugger_package(language: Option<Language>) -> Option<(&'static str, &'static str)> {
    match language? {
        Language::Python => Some(("debugpy", "python3-debugpy")),
        Language::Go => Some(("delve", "delve")),
        _ => None,
    }
}

/// `repo:tag` -> `repo-NAME:tag` (a registry's port is not a tag).
fn debugger_image(image: &str, name: &str) -> String {
    match image.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
        Some((repo, tag)) => format!("{repo}-{name}:{tag}"),
        None => format!("{image}-{name}:latest"),
    }
}

async fn build_debugger_image(
    docker: &DockerRuntime,
    from: &str,
    image: &str,
    package: &str,
) -> Result<(), Failure> {
    let context = tempfile::tempdir().map_err(|e| Failure::environment(e.to_string()))?;
    let dockerfile = format!(
        "FROM {from}\nRUN apt-get update && apt-get install -y --no-install-recommends {package} && rm -rf /var/lib/apt/lists/*\nLABEL {}=true\n",
        fcemu_runtime::labels::MANAGED
    );
    std::fs::write(context.path().join("Dockerfile"), dockerfile)
        .map_err(|e| Failure::environment(e.to_string()))?;
    crate::images::build_image(docker, context.path(), "Dockerfile", image)
        .await
        .map_err(|e| {
            Failure::user(format!(
                "the function's debugger comes from Debian's {package}, installed into {image} (made from {from}), and that build failed: {e}. It needs a Debian mirror; or give an image of yours with it through --runtime-image"
            ))
        })
}

/// What the banner says of each debugged function.
pub fn banner_lines(debug: &BTreeMap<String, Debugged>) -> Vec<String> {
    debug
        .iter()
        .map(|(name, d)| {
            let timeouts = match d.keep_timeouts {
                true => "timeouts kept (--debug-keep-timeouts)",
                false => "timeouts lifted",
            };
            let wait = if d.wait { "; waits for the debugger to attach" } else { "" };
            format!(
                "  {name:<20} under a debugger at {}:{}: one instance, never frozen nor reclaimed, {timeouts}{wait}",
                d.host, d.port
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_debugger_image_keeps_the_tag_and_is_named_after_the_image() {
        assert_eq!(
            super::debugger_image("fcemu-runtime-python:bookworm", "debugpy"),
            "fcemu-runtime-python-debugpy:bookworm"
        );
        assert_eq!(
            super::debugger_image("registry:5000/team/go", "delve"),
            "registry:5000/team/go-delve:latest"
        );
    }
}
