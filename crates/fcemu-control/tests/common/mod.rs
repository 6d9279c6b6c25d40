//! What the tests against the fake runtime share: a one-function project, a control plane on the fake,
//! and small ways to drive and read it.
#![allow(dead_code)]

use bytes::Bytes;
use fcemu_control::testing::call;
use fcemu_control::{ControlPlane, Options};
use fcemu_runtime::fake::FakeRuntime;
use fcemu_spec::{Project, parse_project};
use http::Response;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A project with one function; `extra` is spliced into its props, `env` into its environment.
pub fn project(extra: &str, env: &[(&str, &str)]) -> Project {
    let env: String = env
        .iter()
        .map(|(k, v)| format!("        {k}: \"{v}\"\n"))
        .collect();
    let text = format!(
        r#"
edition: 3.0.0
name: test
resources:
  f:
    component: fc3
    props:
      functionName: f
      runtime: custom-container
      timeout: 5
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
      environmentVariables:
        KEEP: "1"
{env}      instanceLifecycleConfig:
        initializer: {{ handler: index.init, timeout: 2 }}
        preStop: {{ handler: index.preStop, timeout: 1 }}
{extra}
"#
    );
    parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// The one-function project, served as a built-in runtime (the fake serves it as any other).
pub fn built_in_project() -> Project {
    let mut p = project("", &[]);
    p.functions[0].runtime = fcemu_spec::Runtime::parse("python3.10").unwrap();
    p
}

pub fn plane(project: Project, options: Options) -> (ControlPlane, FakeRuntime) {
    let fake = FakeRuntime::new();
    (
        ControlPlane::new(project, Arc::new(fake.clone()), options),
        fake,
    )
}

pub async fn get(cp: &ControlPlane, path: &str) -> Response<Bytes> {
    call_function(cp, "f", path).await
}

/// A GET to another function of the project.
pub async fn call_function(cp: &ControlPlane, function: &str, path: &str) -> Response<Bytes> {
    call(cp, function, "GET", path, "").await
}

/// Lets spawned tasks (freezes, log pumps) run; with the paused clock this takes no real time.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// Waits (on the paused clock) until `done` says so, at most 10 minutes of it.
pub async fn until(cp: &ControlPlane, done: impl Fn(&ControlPlane) -> bool) {
    for _ in 0..6000 {
        if done(cp) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not reached; events: {:?}", cp.events().snapshot());
}
