//! Helpers for tests that run against the real Docker engine and the fixture image.
//!
//! These tests need Docker and `fcemu-fixture:latest` (scripts/build-fixtures.sh builds it). Without them
//! they fail with a message that says so: they never skip.
#![allow(dead_code)]

pub mod calls;
pub mod engines;
pub mod example_walk;
pub mod up;

use fcemu_runtime::{ContainerRuntime, DockerRuntime, labels};
use std::path::{Path, PathBuf};

pub const FIXTURE_IMAGE: &str = "fcemu-fixture:latest";

pub async fn docker() -> DockerRuntime {
    docker_with(&[FIXTURE_IMAGE]).await
}

/// Docker, with these images there (scripts/build-fixtures.sh builds them all).
pub async fn docker_with(images: &[&str]) -> DockerRuntime {
    let docker = DockerRuntime::connect()
        .await
        .unwrap_or_else(|e| panic!("these tests need a running Docker engine: {e}"));
    for image in [FIXTURE_IMAGE].iter().chain(images) {
        assert!(
            docker.image_exists(image).await.unwrap(),
            "the image {image} is missing: run scripts/build-fixtures.sh first"
        );
    }
    docker
}

/// A project folder of its own (so its label is unique) with an s.yaml serving the fixture.
pub struct TestProject {
    pub dir: tempfile::TempDir,
}

impl TestProject {
    /// One fixture function `fixture`; `env` goes into its environment, `extra` into its props.
    pub fn fixture(env: &[(&str, &str)], extra: &str) -> Self {
        let env: String = env
            .iter()
            .map(|(k, v)| format!("        {k}: \"{v}\"\n"))
            .collect();
        Self::with_yaml(&format!(
            r#"edition: 3.0.0
name: fcemu-test
resources:
  fixture:
    component: fc3
    props:
      functionName: fixture
      runtime: custom-container
      memorySize: 128
      cpu: 0.5
      timeout: 10
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      environmentVariables:
        TEST_MARK: "yes"
{env}      instanceLifecycleConfig:
        initializer: {{ handler: index.initialize, timeout: 2 }}
        preStop: {{ handler: index.preStop, timeout: 2 }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET, POST] }} }}
{extra}
"#
        ))
    }

    pub fn with_yaml(yaml: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("fcemu-test-")
            .tempdir()
            .unwrap();
        std::fs::write(dir.path().join("s.yaml"), yaml).unwrap();
        TestProject { dir }
    }

    /// A copy of one of `fixtures/`'s example projects whose image gets a tag of its own, so the test also
    /// builds it from `x-fcemu-build`. Returns the project and the tag (to remove the image after).
    pub fn example(name: &str, files: &[&str], image: &str) -> (Self, String) {
        let example = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name);
        let project = TestProject::with_yaml("");
        for file in files.iter().chain(["s.yaml"].iter()) {
            std::fs::copy(example.join(file), project.path().join(file)).unwrap();
        }
        let tag = format!(
            "{}:e2e-{}",
            image.split(':').next().unwrap(),
            std::process::id()
        );
        let yaml = std::fs::read_to_string(project.path().join("s.yaml"))
            .unwrap()
            .replace(image, &tag);
        std::fs::write(project.path().join("s.yaml"), yaml).unwrap();
        (project, tag)
    }

    /// A copy of `fixtures/NAME` (a folder under it), whole, in a project folder of its own.
    pub fn copy_of(name: &Path) -> Self {
        fn copy(from: &Path, to: &Path) {
            for entry in std::fs::read_dir(from).unwrap() {
                let entry = entry.unwrap();
                let target = to.join(entry.file_name());
                if entry.file_type().unwrap().is_dir() {
                    std::fs::create_dir_all(&target).unwrap();
                    copy(&entry.path(), &target);
                } else {
                    std::fs::copy(entry.path(), target).unwrap();
                }
            }
        }
        let from = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures")
            .join(name);
        let project = TestProject::with_yaml("");
        copy(&from, project.path());
        project
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn load(&self) -> fcemu_spec::Project {
        fcemu_spec::load_project(self.path(), None).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// A test that fails half-way must not leave containers behind: whatever its project still has goes when the
/// project does. (A passing test asserts that nothing was left before this runs.)
impl Drop for TestProject {
    fn drop(&mut self) {
        let dir = self.path().display().to_string();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(docker) = DockerRuntime::connect().await {
                    let _ =
                        fcemu_runtime::sweep(&docker, &[(labels::PROJECT.to_string(), dir)]).await;
                }
            });
        })
        .join();
    }
}

/// Containers of this project still there (running or not).
pub async fn containers_of(docker: &DockerRuntime, project_dir: &Path) -> Vec<String> {
    let dir = std::path::absolute(project_dir).unwrap_or_else(|_| PathBuf::from(project_dir));
    docker
        .list_managed(&[(labels::PROJECT.to_string(), dir.display().to_string())])
        .await
        .unwrap()
        .into_iter()
        .map(|c| format!("{} ({:?})", c.name, c.status))
        .collect()
}

/// The Python with the official FC 3.0 SDK (alibabacloud-fc20230330, from PyPI) that `scripts/sdk-venv.sh`
/// makes; its path is in FCEMU_SDK_PYTHON under scripts/test.sh.
pub fn sdk_python() -> String {
    let python = std::env::var("FCEMU_SDK_PYTHON").unwrap_or_else(|_| {
        format!(
            "{}/../../target/sdk-venv/bin/python",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    assert!(
        Path::new(&python).exists(),
        "the official SDK's Python is not at {python}: run `bash scripts/sdk-venv.sh` (scripts/test.sh does)"
    );
    python
}

/// A home folder whose Serverless Devs access file (`.s/access.yaml`) holds `access_yaml`, and its path.
pub fn home_with_access(access_yaml: &str) -> (tempfile::TempDir, String) {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".s")).unwrap();
    std::fs::write(home.path().join(".s/access.yaml"), access_yaml).unwrap();
    let path = home.path().display().to_string();
    (home, path)
}

pub async fn assert_no_containers_left(docker: &DockerRuntime, project_dir: &Path) {
    let left = containers_of(docker, project_dir).await;
    assert!(left.is_empty(), "containers left behind: {left:?}");
}
