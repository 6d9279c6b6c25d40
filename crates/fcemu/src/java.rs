//! fcemu's Java runtime, compiled: its sources (builtin.rs writes them into the cache) compile once per
//! content into the folder beside them that Java functions mount, in the Java runtime's image.

use crate::failure::Failure;
use fcemu_runtime::DockerRuntime;
use fcemu_spec::{Language, Project};
use std::io;

/// Compiles fcemu's Java runtime for the project's Java functions where it is not compiled yet: its
/// compile.sh, in the Java runtime's own image (its JDK, Debian's Jackson and Servlet API), whatever image
/// the functions run on (Java 8 class files run on any JDK from 8 on), which is here by now (`images`).
pub async fn compile_runtimes(docker: &DockerRuntime, project: &Project) -> Result<(), Failure> {
    let compiled = project
        .functions
        .iter()
        .filter(|f| f.runtime.language() == Some(Language::Java))
        .filter_map(|f| f.container.runtime_files.clone())
        .collect::<std::collections::BTreeSet<_>>();
    for dir in compiled.into_iter().filter(|d| !d.is_dir()) {
        let image = Language::Java.default_image();
        let sources = crate::builtin::java_sources(&dir);
        let parent = dir.parent().expect("a cache entry has a parent");
        let cannot_write = |e: io::Error| {
            Failure::environment(format!(
                "cannot write fcemu's Java runtime into {}: {e}. Set FCEMU_CACHE_DIR to a folder you can write",
                parent.display()
            ))
        };
        let staging = tempfile::Builder::new()
            .prefix(".staging-")
            .tempdir_in(parent)
            .map_err(cannot_write)?;
        let task = fcemu_runtime::Task {
            image: image.clone(),
            command: ["sh", "/src/compile.sh", "/src", "/out"]
                .map(String::from)
                .into(),
            mounts: vec![
                fcemu_runtime::Mount {
                    host: sources,
                    container: "/src".into(),
                    read_only: true,
                },
                fcemu_runtime::Mount {
                    host: staging.path().to_path_buf(),
                    container: "/out".into(),
                    read_only: false,
                },
            ],
            user: crate::build_env::BuildEnv::of_this_machine().user(),
            ..Default::default()
        };
        // Seconds, once per version of the runtime: said, so that the pause is not a mystery.
        crate::output::info(&format!(
            "compiling fcemu's Java runtime in {image} (once per version of it)"
        ));
        crate::builtin::run_to_success(docker, &task, &format!("compiling fcemu's Java runtime in {image}"))
            .await
            .map_err(|e| {
                Failure::environment(format!(
                    "{e}\nRebuild the image (`docker rmi {image}`, then `bash scripts/build-runtime-images.sh`): it needs a JDK, libjackson2-databind-java and libservlet-api-java"
                ))
            })?;
        crate::builtin::put_in_place(staging, &dir).map_err(cannot_write)?;
    }
    Ok(())
}
