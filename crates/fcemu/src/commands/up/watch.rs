//! `up --watch`: the edit-run loop. The project folder (the s.yaml and the files it reads), each function's
//! code and each `x-fcemu-build` context are watched; on a change, after a quiet moment, the s.yaml is read
//! again, a changed build context is rebuilt, and each function whose configuration, image or code changed
//! is rolled as FC rolls an update (`ControlPlane::update`). A bad edit or a failed build is reported and
//! changes nothing: the last good configuration keeps serving.
//!
//! Without `--watch`, only the s.yaml is watched, to say once that a change is not picked up.

use crate::failure::Failure;
use crate::images;
use crate::output::info;
use fcemu_control::ControlPlane;
use fcemu_runtime::DockerRuntime;
use fcemu_spec::Project;
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the files must be quiet before a change is applied (an editor's save is several events).
const QUIET: Duration = Duration::from_millis(300);

/// Folders that never hold what a function runs: fcemu's own state, VCS data, build output.
const IGNORED: [&str; 3] = [".fcemu", ".git", "target"];

/// What a reload needs to read the project again as `up` read it.
pub struct Source {
    pub dir: PathBuf,
    pub template: Option<PathBuf>,
    pub runtime_images: Vec<(String, String)>,
    pub layers: Vec<(String, PathBuf)>,
    pub mounts: Vec<(String, PathBuf)>,
    /// `--debug`'s functions: a debugged Python function runs on its debugpy image after a reload too.
    pub debug: super::debug::DebugArgs,
}

/// Keeps the watch going; dropping it stops it.
pub struct Watch {
    _watcher: RecommendedWatcher,
}

/// Watches what `project` is made of; applies each change (with `apply`) or, without it, says once that
/// `--watch` would.
pub fn start(
    cp: ControlPlane,
    docker: DockerRuntime,
    source: Source,
    project: &Project,
    apply: bool,
) -> Result<Watch, Failure> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
        // Reading a file is an event too (fcemu reads the s.yaml, the engine reads the code): only
        // changes count, and not those to what fcemu writes itself.
        if let Ok(event) = result {
            if !matches!(event.kind, EventKind::Access(_))
                && !event.paths.iter().all(|p| ignored(p))
            {
                let _ = tx.send(());
            }
        }
    })
    .map_err(|e| Failure::environment(format!("cannot watch the project's files: {e}")))?;
    let roots = if apply {
        roots(project)
    } else {
        vec![(project.template.clone(), RecursiveMode::NonRecursive)]
    };
    for (path, mode) in &roots {
        watcher.watch(path, *mode).map_err(|e| {
            Failure::environment(format!(
                "cannot watch {}: {e}. On Linux, raise fs.inotify.max_user_watches, or run without --watch",
                path.display()
            ))
        })?;
    }
    let mut state = Reloader {
        cp,
        docker,
        source,
        prints: Prints::of(project),
        failed: false,
    };
    tokio::spawn(async move {
        if !apply {
            if rx.recv().await.is_some() {
                info(
                    "s.yaml changed: this run keeps the configuration it started with (`fcemu up --watch` applies changes as you save)",
                );
            }
            return;
        }
        while rx.recv().await.is_some() {
            // An editor's save is several events: wait for the files to be quiet.
            while let Ok(Some(())) = tokio::time::timeout(QUIET, rx.recv()).await {}
            if state.cp.is_shutting_down() {
                return;
            }
            state.reload().await;
        }
    });
    Ok(Watch { _watcher: watcher })
}

fn ignored(path: &Path) -> bool {
    path.components()
        .any(|c| IGNORED.iter().any(|i| c.as_os_str() == *i))
}

/// The project folder, and each code folder and build context outside it.
fn roots(project: &Project) -> Vec<(PathBuf, RecursiveMode)> {
    let mut roots = vec![(project.dir.clone(), RecursiveMode::Recursive)];
    let template_dir = project.template.parent().map(Path::to_path_buf);
    for dir in template_dir.into_iter().chain(
        project
            .functions
            .iter()
            .flat_map(|f| {
                [
                    f.container.code.clone(),
                    f.container.build.as_ref().map(|b| b.context.clone()),
                ]
            })
            .flatten(),
    ) {
        if !roots.iter().any(|(root, _)| dir.starts_with(root)) && dir.exists() {
            roots.push((dir, RecursiveMode::Recursive));
        }
    }
    roots
}

/// A fingerprint of each function's code folder and build context: what changed under an unchanged spec.
#[derive(Default, Clone)]
struct Prints {
    code: BTreeMap<String, u64>,
    build: BTreeMap<String, u64>,
}

impl Prints {
    fn of(project: &Project) -> Self {
        let mut prints = Prints::default();
        for f in &project.functions {
            if let Some(code) = &f.container.code {
                prints.code.insert(f.name.clone(), fingerprint(code));
            }
            if let Some(build) = &f.container.build {
                prints
                    .build
                    .insert(f.name.clone(), fingerprint(&build.context));
            }
        }
        prints
    }
}

/// Every file's path, size and modification time under `dir`, hashed.
fn fingerprint(dir: &Path) -> u64 {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if IGNORED.iter().any(|i| entry.file_name() == *i) {
                continue;
            }
            match entry.metadata() {
                Ok(m) if m.is_dir() => stack.push(path),
                Ok(m) => files.push((path, m.len(), m.modified().ok())),
                Err(_) => {}
            }
        }
    }
    files.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut hasher);
    hasher.finish()
}

struct Reloader {
    cp: ControlPlane,
    docker: DockerRuntime,
    source: Source,
    /// As of the configuration serving now.
    prints: Prints,
    /// The last change was not applied: the next good one says so even when it changes nothing.
    failed: bool,
}

impl Reloader {
    /// Reads the project again and rolls what changed; a bad s.yaml or a failed build changes nothing.
    async fn reload(&mut self) {
        let applied = self.try_reload().await;
        if applied == Some(0) && self.failed {
            info("applied: the project is as it was before the edit that was not applied");
        }
        self.failed = applied.is_none();
    }

    /// How many functions changed (the routes counting as one), or None when the change was not applied.
    async fn try_reload(&mut self) -> Option<usize> {
        let mut project = match images::load(
            &self.source.dir,
            self.source.template.as_deref(),
            &self.source.runtime_images,
        ) {
            Ok(project) => project,
            Err(e) => {
                info(&format!(
                    "not applied, the functions serve as before: {}",
                    e.message.trim_end()
                ));
                return None;
            }
        };
        let now = Prints::of(&project);
        let mut forced: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in &project.functions {
            let (Some(build), Some(print)) = (&f.container.build, now.build.get(&f.name)) else {
                continue;
            };
            if self.prints.build.get(&f.name) == Some(print) {
                continue;
            }
            let built = images::build_image(
                &self.docker,
                &build.context,
                &build.dockerfile,
                &f.container.image,
            )
            .await;
            if let Err(e) = built {
                info(&format!(
                    "not applied, the functions serve as before: {} (fix the Dockerfile in {} and save again)",
                    fcemu_runtime::error_chain(&e),
                    build.context.display()
                ));
                return None;
            }
            forced
                .entry(f.name.clone())
                .or_default()
                .push("image rebuilt".into());
        }
        let ready = async {
            images::ensure_images(&self.docker, &project).await?;
            super::debug::prepare_images(&self.docker, &mut project, &self.source.debug).await?;
            crate::layers::prepare(&self.docker, &mut project, &self.source.layers).await?;
            crate::storage::prepare(&mut project, &self.source.mounts)
        }
        .await;
        if ready.is_ok() {
            crate::shipped::provide(&self.docker, &mut project).await;
        }
        if let Err(e) = ready {
            info(&format!(
                "not applied, the functions serve as before: {}",
                e.message
            ));
            return None;
        }
        for f in &project.functions {
            let changed = match (now.code.get(&f.name), self.prints.code.get(&f.name)) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            if changed {
                forced
                    .entry(f.name.clone())
                    .or_default()
                    .push("code".into());
            }
        }
        let functions = std::mem::take(&mut project.functions);
        let rolled = self.cp.update(functions, &forced).await;
        let domains_changed = routes_of(&self.cp.domains()) != routes_of(&project.domains);
        if domains_changed {
            info("custom domain routes changed: requests are routed by the new ones");
            self.cp.set_domains(project.domains.clone());
        }
        self.prints = now;
        if !rolled.is_empty() {
            crate::output::say_warnings(&project, false);
        }
        for r in &rolled {
            let what = r.changed.join(", ");
            info(&match r.version {
                0 => format!(
                    "removed {}: its instances go through PreStop",
                    r.function_name
                ),
                1 => format!("added {}", r.function_name),
                v => format!(
                    "updated {} to version {v} ({what}): new requests go to new instances, the old ones go through PreStop",
                    r.function_name
                ),
            });
        }
        Some(rolled.len() + usize::from(domains_changed))
    }
}

/// What routes where, to tell whether a re-read s.yaml changed it.
fn routes_of(domains: &[fcemu_spec::CustomDomain]) -> String {
    serde_json::to_string(domains).unwrap_or_default()
}
