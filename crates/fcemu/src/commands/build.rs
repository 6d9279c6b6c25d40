//! `fcemu build`: Serverless Devs' preparation done locally, so that a project from the official templates
//! runs unchanged. Each function's preparing `actions` run in order: a `run:` step by this machine's shell
//! in its `path:` (as `s` runs it), `component: fc3 build` as `s build` does it (Python requirements into
//! `code/python`, a Node.js `package.json` into `node_modules`) inside the image the function runs on, so
//! that native packages match its interpreter. Custom containers whose image is missing are built from
//! the Dockerfile in their code folder.
//!
//! A function whose inputs did not change since its last build is skipped: the fingerprint (each file's
//! path, size and time of change, and the steps) is kept in `.fcemu/build.json`, with what the build wrote,
//! which is not an input.

mod inputs;

use crate::build_env::{BuildEnv, Tail};
use crate::commands::args::parse_runtime_image;
use crate::failure::Failure;
use crate::output::info;
use fcemu_runtime::{DockerRuntime, Mount, Task, labels};
use fcemu_spec::{ActionStep, Actions, Project, Runtime};
use indicatif::ProgressBar;
use inputs::{Built, RECORD, Record, fingerprint, snapshot, write_record, written};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Run the s.yaml's Serverless Devs actions (pre-deploy / pre-local `run:` steps, `component: fc3
/// build`) and build missing custom-container images, as `s build` would before a deploy
#[derive(clap::Args)]
pub struct Args {
    /// The project folder holding s.yaml (default: the current folder)
    dir: Option<PathBuf>,
    #[arg(short = 't', long = "template", env = "FCEMU_TEMPLATE")]
    template: Option<PathBuf>,
    /// The local image a custom runtime builds in, as `up --runtime-image`
    #[arg(long = "runtime-image", value_name = "RUNTIME=IMAGE", value_parser = parse_runtime_image)]
    runtime_images: Vec<(String, String)>,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let dir = args.dir.unwrap_or_else(|| PathBuf::from("."));
    let project =
        crate::images::load_to_build(&dir, args.template.as_deref(), &args.runtime_images)?;
    build(&project).await
}

/// Builds what `project` needs before it can be served; an error names the step that failed.
pub async fn build(project: &Project) -> Result<(), Failure> {
    let state = crate::state::dir(&project.dir).map_err(|e| Failure::user(e.to_string()))?;
    let record_file = state.join(RECORD);
    let mut record: Record = crate::state::read_own(&record_file)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    // The engine is reached only when a step needs it: `run:` steps do not.
    let engine = tokio::sync::OnceCell::new();
    let mut did = 0;
    for f in &project.functions {
        let Some(actions) = project.actions.get(&f.name) else {
            continue;
        };
        let folders = folders(f, actions, &project.dir);
        let known = record.functions.get(&f.name);
        let inputs = fingerprint(actions, &folders, known.map(|b| &b.outputs));
        if let Some(built) = known.filter(|b| b.fingerprint == inputs) {
            if built.outputs.iter().all(|p| p.exists()) {
                info(&format!(
                    "function {}: up to date (nothing changed since its last build)",
                    f.name
                ));
                continue;
            }
        }
        // The function starts from nothing built: a failure below leaves it unbuilt, never half-built.
        if let Some(old) = record.functions.remove(&f.name) {
            // Only what lies inside the build's own folders: the record is a file in the project, and
            // a repository could bring one naming anything.
            let inside = |p: &Path| {
                folders.iter().any(|f| p.starts_with(f) && p != f)
                    && !p.components().any(|c| c == std::path::Component::ParentDir)
            };
            for path in old.made.iter().filter(|p| inside(p)) {
                let gone = match path.symlink_metadata() {
                    Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
                    Ok(_) => std::fs::remove_file(path),
                    Err(_) => Ok(()),
                };
                gone.map_err(|e| {
                    Failure::environment(format!(
                        "function {}: cannot remove {}, which its last build made: {e}",
                        f.name,
                        path.display()
                    ))
                })?;
            }
        }
        write_record(&record_file, &record)?;
        let before = snapshot(&folders);
        for a in actions {
            for (i, step) in a.steps.iter().enumerate() {
                let at = format!("function {}, {} step {}", f.name, a.hook, i + 1);
                match step {
                    ActionStep::Run {
                        command,
                        folder,
                        allow_failure,
                    } => run_step(&at, command, folder, *allow_failure, project)?,
                    ActionStep::Fc3Build { args } => {
                        let docker = engine.get_or_try_init(connect).await?;
                        match image_build(f, args, &project.dir) {
                            // A custom container's `fc3 build` is its image, built again as `s build` does.
                            Some(build) => build_image_of(docker, f, &build, &at).await?,
                            None => {
                                crate::images::ensure_images(docker, &one(project, f)).await?;
                                fc3_build(docker, &at, f, project).await?;
                            }
                        }
                    }
                    ActionStep::Skipped { what } => {
                        info(&format!("{at}: `{what}` skipped: it does nothing locally"))
                    }
                }
            }
        }
        let after = snapshot(&folders);
        let (outputs, made) = written(&before, &after);
        let fingerprint = fingerprint(actions, &folders, Some(&outputs));
        record.functions.insert(
            f.name.clone(),
            Built {
                fingerprint,
                outputs,
                made,
            },
        );
        write_record(&record_file, &record)?;
        did += 1;
        info(&format!("function {}: built", f.name));
    }
    for f in &project.functions {
        let Some(build) = &f.container.build else {
            continue;
        };
        let docker = engine.get_or_try_init(connect).await?;
        if !docker
            .image_exists(&f.container.image)
            .await
            .map_err(|e| Failure::environment(e.to_string()))?
        {
            build_image_of(docker, f, build, &format!("function {}", f.name)).await?;
            did += 1;
        }
    }
    if did == 0 && project.actions.is_empty() {
        info(
            "nothing to build: no function has pre-deploy or pre-local actions, and every image is there",
        );
    }
    Ok(())
}

/// Whether `up` should say that `project` has actions that never ran here.
pub fn never_built(project: &Project) -> Vec<String> {
    let record: Record = crate::state::dir(&project.dir)
        .ok()
        .and_then(|state| crate::state::read_own(&state.join(RECORD)))
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    project
        .actions
        .keys()
        .filter(|name| !record.functions.contains_key(*name))
        .cloned()
        .collect()
}

async fn build_image_of(
    docker: &DockerRuntime,
    f: &fcemu_spec::FunctionSpec,
    build: &fcemu_spec::ImageBuild,
    at: &str,
) -> Result<(), Failure> {
    crate::images::build_image(
        docker,
        &build.context,
        &build.dockerfile,
        &f.container.image,
    )
    .await
    .map_err(|e| Failure::user(format!("{at} failed: {e}")))
}

async fn connect() -> Result<DockerRuntime, Failure> {
    DockerRuntime::connect()
        .await
        .map_err(|e| Failure::environment(e.to_string()))
}

/// The project with only `f`, to ready its image alone.
fn one(project: &Project, f: &fcemu_spec::FunctionSpec) -> Project {
    Project {
        functions: vec![f.clone()],
        ..project.clone()
    }
}

/// A custom container's image build for `fc3 build`: its `--dockerfile PATH` (relative to the s.yaml's
/// folder, its folder the context), else the one the s.yaml gives or its code folder's Dockerfile.
fn image_build(
    f: &fcemu_spec::FunctionSpec,
    args: &[String],
    project_dir: &Path,
) -> Option<fcemu_spec::ImageBuild> {
    if !matches!(f.runtime, Runtime::CustomContainer) {
        return None;
    }
    let given =
        args.iter()
            .enumerate()
            .find_map(|(i, arg)| match arg.strip_prefix("--dockerfile") {
                Some("") => args.get(i + 1).cloned(),
                Some(rest) => rest.strip_prefix('=').map(str::to_string),
                None => None,
            });
    match given {
        Some(path) => {
            let file: PathBuf = project_dir.join(path).components().collect();
            Some(fcemu_spec::ImageBuild {
                context: file.parent()?.to_path_buf(),
                dockerfile: file.file_name()?.to_string_lossy().into_owned(),
            })
        }
        None => f.container.build.clone(),
    }
}

/// Where a function's build reads and writes: each `run:` step's folder and, for fc3 build, the code (or
/// a custom container's build context).
fn folders(f: &fcemu_spec::FunctionSpec, actions: &[Actions], project_dir: &Path) -> Vec<PathBuf> {
    let mut out = BTreeSet::new();
    for step in actions.iter().flat_map(|a| &a.steps) {
        match step {
            ActionStep::Run { folder, .. } => {
                out.insert(folder.clone());
            }
            ActionStep::Fc3Build { args } => match image_build(f, args, project_dir) {
                Some(build) => {
                    out.insert(build.context);
                }
                None => out.extend(f.container.code.clone()),
            },
            ActionStep::Skipped { .. } => {}
        }
    }
    out.into_iter().collect()
}

/// A spinner with the step's last line on a terminal; each line as it comes otherwise.
struct Progress {
    bar: ProgressBar,
}

impl Progress {
    fn new(at: &str, what: &str) -> Progress {
        let bar = crate::images::spinner(at);
        info(&format!("{at}: {what}"));
        Progress { bar }
    }

    fn line(&self, line: &str) {
        if self.bar.is_hidden() {
            println!("  | {}", crate::output::printable(line));
        } else {
            self.bar
                .set_message(crate::output::printable(line).into_owned());
        }
    }
}

fn run_step(
    at: &str,
    command: &str,
    folder: &Path,
    allow_failure: bool,
    project: &Project,
) -> Result<(), Failure> {
    use std::io::BufRead;
    let shown = folder.strip_prefix(&project.dir).unwrap_or(folder);
    let progress = Progress::new(at, &format!("`{command}` in ./{}", shown.display()));
    let started = Instant::now();
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", &format!("exec 2>&1; {command}")])
        .current_dir(folder)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Failure::environment(format!("{at}: cannot start /bin/sh: {e}")))?;
    let mut tail = Tail::default();
    let stdout = child.stdout.take().expect("piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        progress.line(&line);
        tail.push(&line);
    }
    let status = child
        .wait()
        .map_err(|e| Failure::environment(format!("{at}: {e}")))?;
    progress.bar.finish_and_clear();
    if status.success() {
        info(&format!(
            "{at}: done in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        return Ok(());
    }
    let code = status
        .code()
        .map_or_else(|| "was killed".to_string(), |c| format!("exited with {c}"));
    if allow_failure {
        info(&format!(
            "{at}: `{command}` {code}; allow_failure is set, so the build goes on"
        ));
        return Ok(());
    }
    Err(Failure::user(format!(
        "{at} failed: `{command}` in ./{} {code}. Its last lines:\n{}\nFix it and run fcemu build again; nothing is served half-built.",
        shown.display(),
        tail.text()
    )))
}

/// `s build` for one function: its dependencies fetched inside the image it runs on, into its code folder.
async fn fc3_build(
    docker: &DockerRuntime,
    at: &str,
    f: &fcemu_spec::FunctionSpec,
    project: &Project,
) -> Result<(), Failure> {
    let Some(code) = &f.container.code else {
        info(&format!(
            "{at}: `fc3 build` of a custom container without a Dockerfile: its image {} is used as it is",
            f.container.image
        ));
        return Ok(());
    };
    let language = match &f.runtime {
        Runtime::BuiltIn { language, .. } => Some(language.name()),
        _ => None,
    };
    let script = if code.join("requirements.txt").is_file() && language != Some("nodejs") {
        "python3 -m pip install --disable-pip-version-check --no-cache-dir -r requirements.txt -t ./python"
    } else if code.join("package.json").is_file() && language != Some("python") {
        "command -v npm >/dev/null || { echo 'npm is not in this image: install the dependencies into node_modules yourself, or pass --runtime-image with an image that has npm'; exit 127; }; npm install --production"
    } else {
        info(&format!(
            "{at}: `fc3 build` found no requirements.txt or package.json in the code folder: nothing to fetch"
        ));
        return Ok(());
    };
    // A built-in runtime's image holds only the interpreter: the build runs on the custom runtime image,
    // the same Debian and interpreter, with pip.
    let image = match &f.runtime {
        Runtime::Custom(_) => f.container.image.clone(),
        _ => fcemu_spec::CUSTOM_RUNTIME_IMAGE.to_string(),
    };
    if image != f.container.image {
        crate::images::ensure_custom_runtime_image(docker)
            .await
            .map_err(|e| Failure::user(format!("{at}: fc3 build runs on {e}")))?;
    }
    let env = BuildEnv::of_this_machine();
    let task = Task {
        image: image.clone(),
        command: vec![
            "/bin/sh".into(),
            "-c".into(),
            format!("exec 2>&1; {script}"),
        ],
        env: env.variables(),
        mounts: env
            .mounts()
            .into_iter()
            .chain([Mount {
                host: code.clone(),
                container: "/code".into(),
                read_only: false,
            }])
            .collect(),
        working_dir: Some("/code".into()),
        labels: vec![(
            labels::PROJECT.to_string(),
            project.dir.display().to_string(),
        )],
        network_host: env.needs_host_network(),
        user: env.user(),
    };
    let progress = Progress::new(at, &format!("fc3 build in {image}: `{script}`"));
    let started = Instant::now();
    let mut tail = Tail::default();
    let code = docker
        .run_task(&task, &mut |line| {
            progress.line(line);
            tail.push(line);
        })
        .await
        .map_err(|e| Failure::environment(format!("{at}: {e}")))?;
    progress.bar.finish_and_clear();
    if code != 0 {
        return Err(Failure::user(format!(
            "{at} failed: fc3 build in {image} exited with {code}. Its last lines:\n{}\nFix it and run fcemu build again; nothing is served half-built.",
            tail.text()
        )));
    }
    info(&format!(
        "{at}: done in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
