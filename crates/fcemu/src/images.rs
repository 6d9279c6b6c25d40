//! A project as `up` serves it, read and made ready on this machine: the s.yaml loaded with
//! `--runtime-image` applied, code zips and fcemu's runtimes in place, every image there (built when it can
//! be), and the interpreter each built-in runtime name runs on said. `up` does this at start, and again on
//! each change under `--watch`.

use crate::failure::Failure;
use crate::output::info;
use fcemu_runtime::DockerRuntime;
use fcemu_spec::{Language, Project, Runtime};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads the project and readies what is on this machine's disk (not the engine's images).
pub fn load(
    dir: &Path,
    template: Option<&Path>,
    runtime_images: &[(String, String)],
) -> Result<Project, Failure> {
    let project = load_to_build(dir, template, runtime_images)?;
    match &project.unbuilt {
        Some(unbuilt) => Err(Failure::user(unbuilt.to_string())),
        None => Ok(project),
    }
}

/// As `load`, for `fcemu build`: code that the functions' actions make need not be there yet.
pub fn load_to_build(
    dir: &Path,
    template: Option<&Path>,
    runtime_images: &[(String, String)],
) -> Result<Project, Failure> {
    let mut project =
        fcemu_spec::load_project(dir, template).map_err(|e| Failure::user(e.to_string()))?;
    apply_runtime_images(&mut project, runtime_images);
    crate::builtin::prepare(&mut project)?;
    Ok(project)
}

/// `--runtime-image custom.debian12=IMAGE`, `python3.10=IMAGE`: the local image each custom or built-in
/// runtime runs on.
fn apply_runtime_images(project: &mut Project, images: &[(String, String)]) {
    for f in &mut project.functions {
        if matches!(f.runtime, Runtime::CustomContainer) {
            continue;
        }
        let runtime = f.runtime.name();
        if let Some((_, image)) = images.iter().rev().find(|(r, _)| r == runtime) {
            f.container.image = image.clone();
        }
    }
}

/// Makes sure every function's image exists locally: built from `x-fcemu-build` when missing, and for a
/// built-in runtime from Debian's interpreter.
pub async fn ensure_images(docker: &DockerRuntime, project: &Project) -> Result<(), Failure> {
    let mut done = std::collections::BTreeSet::new();
    for f in &project.functions {
        let image = &f.container.image;
        if !done.insert(image.clone()) {
            continue;
        }
        if docker
            .image_exists(image)
            .await
            .map_err(|e| Failure::environment(e.to_string()))?
        {
            continue;
        }
        match &f.runtime {
            Runtime::BuiltIn { language, name } if *image == language.default_image() => {
                build_language_image(docker, *language, name)
                    .await
                    .map_err(|e| {
                        Failure::user(format!("runtime {name} of function {}{e}", f.name))
                    })?;
            }
            Runtime::BuiltIn { language, name } => {
                return Err(Failure::user(format!(
                    "image {image} (--runtime-image {name}={image}) of function {} is not available locally, and no registry is used. Build or load it: it needs {} on its PATH; fcemu mounts its runtime and your code.",
                    f.name,
                    language.interpreter()
                )));
            }
            Runtime::Custom(runtime) if image == fcemu_spec::CUSTOM_RUNTIME_IMAGE => {
                build_custom_runtime_image(docker).await.map_err(|e| {
                    Failure::user(format!(
                        "runtime {runtime} of function {} runs on {e}; or pass --runtime-image {runtime}=IMAGE with a local Debian image that has what your code needs.",
                        f.name
                    ))
                })?;
            }
            Runtime::Custom(runtime) => {
                return Err(Failure::user(format!(
                    "runtime {runtime} of function {} needs a base image, and {image} is not available locally (no registry is used). Pass --runtime-image {runtime}=IMAGE with a local Debian image that has what your code needs (an interpreter, libraries); the code folder is mounted at /code.",
                    f.name
                )));
            }
            Runtime::CustomContainer => {
                let Some(build) = &f.container.build else {
                    return Err(Failure::user(format!(
                        "image {image} of function {} is not available locally, and no registry is used. Build it (`docker build -t {image} .`), load it (`docker load -i FILE`), or add `x-fcemu-build: {{ context: . }}` under customContainerConfig so fcemu builds it.",
                        f.name
                    )));
                };
                build_image(docker, &build.context, &build.dockerfile, image)
                    .await
                    .map_err(|e| {
                        Failure::user(format!(
                            "{e}. Fix the Dockerfile in {}, then run fcemu up again.",
                            build.context.display()
                        ))
                    })?;
            }
        }
    }
    // Java's runtime compiles in its language's image, whatever image the functions run on.
    if project
        .functions
        .iter()
        .any(|f| f.runtime.language() == Some(Language::Java))
    {
        ensure_language_image(docker, Language::Java, "java8").await?;
    }
    crate::java::compile_runtimes(docker, project).await
}

/// Makes sure a language's own image is here (built from Debian's packages when it is not).
pub async fn ensure_language_image(
    docker: &DockerRuntime,
    language: Language,
    runtime: &str,
) -> Result<(), Failure> {
    match docker.image_exists(&language.default_image()).await {
        Ok(true) => Ok(()),
        Ok(false) => build_language_image(docker, language, runtime)
            .await
            .map_err(|e| Failure::user(format!("fcemu's {} runtime{e}", language.name()))),
        Err(e) => Err(Failure::environment(e.to_string())),
    }
}

/// Builds a language's image from debian:bookworm-slim; the error, after what it is for, says how else.
async fn build_language_image(
    docker: &DockerRuntime,
    language: Language,
    runtime: &str,
) -> Result<(), String> {
    let image = language.default_image();
    let context = tempfile::tempdir().map_err(|e| e.to_string())?;
    std::fs::write(
        context.path().join("Dockerfile"),
        crate::builtin::language_dockerfile(language),
    )
    .map_err(|e| e.to_string())?;
    build_image(docker, context.path(), "Dockerfile", &image)
        .await
        .map_err(|e| {
            format!(
                " runs on {image}, which is not here, and building it from debian:bookworm-slim failed ({e}). Without a registry, make it from Debian packages: `bash scripts/build-runtime-images.sh` (debootstrap); or pass --runtime-image {runtime}=IMAGE with a local image that has {}.",
                language.interpreter()
            )
        })
}

/// Makes sure FC's custom runtime environment image is here: the custom runtimes run on it, and builds
/// (fc3 build, library layers, what FC's runtimes ship) run pip in it.
pub async fn ensure_custom_runtime_image(docker: &DockerRuntime) -> Result<(), Failure> {
    let image = fcemu_spec::CUSTOM_RUNTIME_IMAGE;
    match docker.image_exists(image).await {
        Ok(true) => Ok(()),
        Ok(false) => build_custom_runtime_image(docker).await,
        Err(e) => Err(Failure::environment(e.to_string())),
    }
}

/// Builds the custom runtime environment image from `debian:bookworm-slim`; the error says what to do
/// where no registry answers.
async fn build_custom_runtime_image(docker: &DockerRuntime) -> Result<(), Failure> {
    let image = fcemu_spec::CUSTOM_RUNTIME_IMAGE;
    let no_context = |e: std::io::Error| {
        Failure::environment(format!("cannot make a build context for {image}: {e}"))
    };
    let context = tempfile::tempdir().map_err(no_context)?;
    std::fs::write(
        context.path().join("Dockerfile"),
        crate::custom::dockerfile(),
    )
    .and_then(|()| {
        std::fs::write(
            context.path().join("fc-paths.sh"),
            crate::custom::FC_PATHS_SCRIPT,
        )
    })
    .map_err(no_context)?;
    build_image(docker, context.path(), "Dockerfile", image)
        .await
        .map_err(|e| {
            Failure::environment(format!(
                "{image}, FC's custom runtime environment made locally, which is not here, and building it from debian:bookworm-slim failed ({e}). Without a registry, make it from Debian packages: `bash scripts/build-runtime-images.sh` (debootstrap)"
            ))
        })
}

/// A spinner that shows `prefix: ` and the latest line on a terminal, and nothing elsewhere (where the
/// caller says what happens line by line instead).
pub fn spinner(prefix: &str) -> ProgressBar {
    let bar = if std::io::stdout().is_terminal() {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden())
    };
    bar.set_style(
        ProgressStyle::with_template("{spinner} {prefix}: {wide_msg}").expect("a valid template"),
    );
    bar.set_prefix(prefix.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Builds an image with a spinner on a terminal (a line otherwise), and says how long it took.
pub async fn build_image(
    docker: &DockerRuntime,
    context: &Path,
    dockerfile: &str,
    image: &str,
) -> Result<(), fcemu_runtime::RuntimeError> {
    let started = Instant::now();
    let bar = spinner(&format!("building {image}"));
    if bar.is_hidden() {
        info(&format!(
            "building image {image} from {}",
            context.display()
        ));
    }
    let mut progress = |line: &str| bar.set_message(line.to_string());
    let result = docker
        .build_image(context, dockerfile, image, &mut progress)
        .await;
    bar.finish_and_clear();
    result?;
    info(&format!(
        "built image {image} in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Says once which interpreter runs each built-in runtime name, and which ones stand behind a custom
/// runtime's FC paths: the local ones may differ from the names.
pub async fn say_interpreters(
    docker: &DockerRuntime,
    project: &Project,
    project_label: &[(String, String)],
) {
    let mut said = std::collections::BTreeSet::new();
    for f in &project.functions {
        let image = &f.container.image;
        if !said.insert((f.runtime.name().to_string(), image.clone())) {
            continue;
        }
        let (language, name) = match &f.runtime {
            Runtime::BuiltIn { language, name } => (language, name),
            Runtime::Custom(name) => {
                if let Some(versions) = crate::custom::versions(docker, image, project_label).await
                {
                    info(&format!(
                        "runtime {name} runs on {image}: {}",
                        versions.join("; ")
                    ));
                }
                continue;
            }
            Runtime::CustomContainer => continue,
        };
        match crate::builtin::interpreter_version(docker, image, *language, project_label).await {
            Some(version) => info(&format!("runtime {name} runs on {version} ({image})")),
            None => info(&format!(
                "runtime {name} runs on {image} (its {} did not say its version)",
                language.interpreter()
            )),
        }
    }
}
