//! `fcemu doctor`: what fcemu needs on this machine, checked one by one, each failing check with what to
//! do: the engine and its API, how instances are reached, how they are frozen, whether Runtime Init can be
//! split, the GPUs, and (in a project folder) the images its functions run on. Exit 0 when every check
//! passes, 3 otherwise.

use crate::failure::Failure;
use crate::output::info;
use fcemu_runtime::{DockerRuntime, Reach};
use fcemu_spec::Runtime;
use std::path::PathBuf;

/// Check the engine, how instances are reached, the freezer, the GPUs and a project's images, each with
/// what to do when it fails
#[derive(clap::Args)]
pub struct Args {
    /// The project folder whose images are checked (default: the current folder, when it has an s.yaml)
    dir: Option<PathBuf>,
    #[arg(short = 't', long = "template")]
    template: Option<PathBuf>,
}

/// One check's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Works, with something worth knowing.
    Note,
    Fail,
}

#[derive(Debug)]
pub struct Check {
    pub what: &'static str,
    pub outcome: Outcome,
    pub said: String,
    /// What to do, for a check that did not pass.
    pub todo: Option<String>,
}

impl Check {
    fn ok(what: &'static str, said: impl Into<String>) -> Self {
        Check {
            what,
            outcome: Outcome::Ok,
            said: said.into(),
            todo: None,
        }
    }
    fn note(what: &'static str, said: impl Into<String>, todo: impl Into<String>) -> Self {
        Check {
            what,
            outcome: Outcome::Note,
            said: said.into(),
            todo: Some(todo.into()),
        }
    }
    fn fail(what: &'static str, said: impl Into<String>, todo: impl Into<String>) -> Self {
        Check {
            what,
            outcome: Outcome::Fail,
            said: said.into(),
            todo: Some(todo.into()),
        }
    }
    /// A failure whose message already says what to do.
    fn failed(what: &'static str, said: impl Into<String>) -> Self {
        Check {
            what,
            outcome: Outcome::Fail,
            said: said.into(),
            todo: None,
        }
    }
}

/// The report: a line a check, what to do under each that did not pass.
pub fn report(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Note => "note",
            Outcome::Fail => "FAIL",
        };
        out.push_str(&format!("{mark}  {:<10} {}\n", c.what, c.said));
        if let Some(todo) = &c.todo {
            out.push_str(&format!("      {:<10} what to do: {todo}\n", ""));
        }
    }
    out
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let checks = checks(&args).await;
    let text = report(&checks);
    info(text.trim_end());
    let failed = checks.iter().filter(|c| c.outcome == Outcome::Fail).count();
    if failed == 0 {
        return Ok(());
    }
    Err(Failure::environment(format!(
        "{failed} check{} failed (above)",
        if failed == 1 { "" } else { "s" }
    )))
}

async fn checks(args: &Args) -> Vec<Check> {
    let mut checks = Vec::new();
    let docker = match DockerRuntime::connect().await {
        Ok(docker) => docker,
        Err(e) => {
            checks.push(Check::failed("engine", fcemu_runtime::error_chain(&e)));
            return checks;
        }
    };
    let version = docker.engine_version();
    checks.push(Check::ok(
        "engine",
        format!("{}: {}", docker.host().describe(), version.describe()),
    ));
    checks.push(match docker.reach() {
        Reach::Bridge => Check::ok("reach", docker.reach().describe()),
        Reach::Published { .. } => Check::note(
            "reach",
            docker.reach().describe(),
            "nothing, unless requests do not reach instances: then give the address the engine's machine is reached at with `up --container-host HOST`",
        ),
    });
    let freeze = docker.freeze_method().describe();
    checks.push(if freeze.contains("cgroup freezer") {
        Check::ok("freezing", freeze)
    } else {
        Check::note(
            "freezing",
            freeze,
            "nothing: the engine's pause freezes as well, a thaw costs its unpause call",
        )
    });
    checks.push(if docker.splits_runtime_init() {
        Check::ok("cold start", "Runtime Init split into engine start and function start-up (the engine's clock is this machine's)")
    } else {
        Check::note("cold start", "Runtime Init shown whole: the engine's clock is another machine's", "nothing: each part of Creating is still timed")
    });
    checks.push(gpus(&docker).await);
    checks.extend(images(&docker, args).await);
    checks
}

async fn gpus(docker: &DockerRuntime) -> Check {
    match crate::gpu::nvml_cards().await {
        Ok(cards) if cards.is_empty() => Check::note(
            "gpus",
            "NVML answers, with no card",
            "GPU functions run with `up --gpu simulate`",
        ),
        Ok(cards) => match docker.engine_version().nvidia {
            true => Check::ok(
                "gpus",
                format!(
                    "{} NVIDIA card{}, and the engine has the NVIDIA runtime",
                    cards.len(),
                    if cards.len() == 1 { "" } else { "s" }
                ),
            ),
            false => Check::fail(
                "gpus",
                format!(
                    "{} NVIDIA card{}, but the engine has no NVIDIA runtime",
                    cards.len(),
                    if cards.len() == 1 { "" } else { "s" }
                ),
                "install the NVIDIA Container Toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`, then restart the engine",
            ),
        },
        Err(e) => Check::note(
            "gpus",
            e.to_string(),
            "GPU functions run with `up --gpu simulate` (or `--gpu off`)",
        ),
    }
}

/// Each image the project's functions run on: there, or how `up` makes it.
async fn images(docker: &DockerRuntime, args: &Args) -> Vec<Check> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    if args.dir.is_none()
        && args.template.is_none()
        && fcemu_spec::find_template(&dir, None).is_err()
    {
        return Vec::new();
    }
    let project = match crate::images::load(&dir, args.template.as_deref(), &[]) {
        Ok(project) => project,
        Err(e) => {
            return vec![Check::fail(
                "project",
                e.message,
                "fix what `fcemu validate` says",
            )];
        }
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut checks = Vec::new();
    for f in &project.functions {
        let image = &f.container.image;
        if !seen.insert(image.clone()) {
            continue;
        }
        let said = format!("{image} (function {})", f.name);
        checks.push(match docker.image_exists(image).await {
            Ok(true) => Check::ok("image", format!("{said}: present")),
            Ok(false) => match (&f.runtime, &f.container.build) {
                (Runtime::CustomContainer, Some(build)) => Check::note("image", format!("{said}: missing"), format!("nothing: `fcemu up` builds it from {}", build.context.display())),
                (Runtime::CustomContainer, None) => Check::fail("image", format!("{said}: missing, and nothing to build it from"), format!("build it (`docker build -t {image} .`) or load it (`docker load -i FILE`)")),
                _ => Check::note("image", format!("{said}: missing"), "`fcemu up` builds it from debian:bookworm-slim where a registry answers; without one, `bash scripts/build-runtime-images.sh` makes it with debootstrap"),
            },
            Err(e) => Check::fail("image", format!("{said}: {}", fcemu_runtime::error_chain(&e)), "check that the engine answers `docker image ls`"),
        });
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_is_a_line_and_what_to_do_follows_one_that_did_not_pass() {
        let text = report(&[
            Check::ok(
                "engine",
                "unix:///var/run/docker.sock: Docker 28.2, API 1.50",
            ),
            Check::note("gpus", "no NVIDIA GPU", "use --gpu simulate"),
            Check::failed("image", "fixture:latest: missing"),
        ]);
        assert_eq!(
            text,
            "ok    engine     unix:///var/run/docker.sock: Docker 28.2, API 1.50\n\
             note  gpus       no NVIDIA GPU\n\
             \x20                what to do: use --gpu simulate\n\
             FAIL  image      fixture:latest: missing\n"
        );
    }
}
