//! Projects shaped like the official Serverless Devs templates (`fixtures/templates/`), each served by
//! `fcemu build` then `fcemu up` with no edit: the Initializer once per instance, requests answered,
//! freezing between them, PreStop at shutdown, nothing left running. Also what goes wrong: a failing
//! action, a build with nothing changed, a layer fcemu cannot provide.

mod common;

use common::up::*;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const CUSTOM_IMAGE: &str = "fcemu-runtime-custom:bookworm";

async fn docker_with_custom_runtime() -> fcemu_runtime::DockerRuntime {
    docker_with(&[CUSTOM_IMAGE]).await
}

/// A copy of `fixtures/templates/NAME`, whole, in a project folder of its own.
fn template(name: &str) -> TestProject {
    TestProject::copy_of(&Path::new("templates").join(name))
}

fn build(project: &TestProject) -> std::process::Output {
    fcemu(&["build", &project.path().display().to_string()])
}

fn built(project: &TestProject) -> String {
    let out = build(project);
    assert!(
        out.status.success(),
        "fcemu build failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

async fn get_json(url: &str) -> serde_json::Value {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200, "{url}");
    r.json().await.unwrap()
}

/// Serves the built project and checks its whole lifecycle; `check` looks at the first answer.
async fn serves_with_its_lifecycle(
    project: &TestProject,
    marker: &str,
    check: impl Fn(&serde_json::Value),
) {
    let docker = docker_with_custom_runtime().await;
    let up = Up::start(project.path(), &[]);
    let first = get_json(&format!("{}/first", up.url)).await;
    assert_eq!(first["initialized"], 1, "{first}");
    check(&first);
    // Frozen once the request is done, thawed for the next, which the same instance serves.
    let deadline = Instant::now() + Duration::from_secs(10);
    while events_named(&up, "instance.frozen").await.is_empty() {
        assert!(Instant::now() < deadline, "the instance was never frozen");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = get_json(&format!("{}/second", up.url)).await;
    assert_eq!(
        second["initialized"], 1,
        "the Initializer ran once: {second}"
    );
    assert_eq!(events_named(&up, "instance.ready").await.len(), 1);
    let (code, printed) = up.stop();
    assert_eq!(code, 0, "{}", printed.join("\n"));
    let printed = printed.join("\n");
    assert_eq!(
        printed.matches(&format!("{marker} initialized 1")).count(),
        1,
        "{printed}"
    );
    assert!(printed.contains(&format!("{marker} pre-stop")), "{printed}");
    assert!(printed.contains("verdict: passed"), "{printed}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flask_function_on_custom_debian10_with_a_pip_action_and_the_python310_layer() {
    let project = template("python-web");
    let printed = built(&project);
    assert!(printed.contains("pre-deploy step 2: done"), "{printed}");
    assert!(project.path().join("code/python/flask").is_dir());
    serves_with_its_lifecycle(&project, "python-web", |answer| {
        assert_eq!(answer["flask_from"], "/code/python/flask", "{answer}");
        // The interpreter named by the layer's path, which leads to the image's own.
        assert_eq!(answer["python"], "/opt/python3.10/bin/python3", "{answer}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_on_the_nodejs20_layer_with_nothing_to_fetch() {
    let project = template("node-web");
    let printed = built(&project);
    assert!(printed.contains("nothing to build"), "{printed}");
    serves_with_its_lifecycle(&project, "node-web", |answer| {
        // Started through the layer's path (the s.yaml's PATH), which leads to the image's node.
        assert_eq!(answer["layerNode"], answer["execPath"], "{answer}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_web_server_built_by_a_go_build_action() {
    let project = template("go-web");
    built(&project);
    assert!(project.path().join("code/target/main").is_file());
    serves_with_its_lifecycle(&project, "go-web", |answer| {
        assert!(
            answer["go"].as_str().unwrap().starts_with("go1."),
            "{answer}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_container_is_built_from_the_dockerfile_in_its_code_folder() {
    let docker = docker_with_custom_runtime().await;
    let image = "registry.cn-hangzhou.aliyuncs.com/fcemu-demo/container-web:v1";
    let project = template("container-web");
    // A unique tag, so that this run builds it and removes it after.
    let tag = format!("{image}-e2e-{}", std::process::id());
    let yaml = std::fs::read_to_string(project.path().join("s.yaml"))
        .unwrap()
        .replace(image, &tag);
    std::fs::write(project.path().join("s.yaml"), yaml).unwrap();
    let printed = built(&project);
    assert!(printed.contains(&format!("built image {tag}")), "{printed}");
    assert!(docker.image_exists(&tag).await.unwrap());
    // The build context is its input: unchanged, nothing is built again.
    let again = built(&project);
    assert!(
        again.contains("up to date") && !again.contains("built image"),
        "{again}"
    );
    serves_with_its_lifecycle(&project, "container-web", |answer| {
        assert_eq!(answer["built"], "from code/Dockerfile", "{answer}");
    })
    .await;
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fc3_build_fetches_over_tls_inside_the_image_with_this_machines_ca_bundle() {
    let docker = docker_with_custom_runtime().await;
    let project = template("fc3-build");
    let printed = built(&project);
    assert!(
        printed.contains("`plugin: @serverless-devs/notify` skipped"),
        "{printed}"
    );
    let six = project.path().join("code/python/six.py");
    assert!(six.is_file(), "{printed}");
    // Written as whoever ran the build.
    use std::os::unix::fs::MetadataExt;
    // SAFETY: getuid cannot fail.
    assert_eq!(six.metadata().unwrap().uid(), unsafe { libc::getuid() });
    let up = Up::start(project.path(), &[]);
    let answer = get_json(&format!("{}/", up.url)).await;
    assert_eq!(answer["six"], "1.16.0", "{answer}");
    assert_eq!(answer["from"], "/code/python/six.py", "{answer}");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// A project whose one step logs each run outside its folder (so the log is not an input) and copies its
/// requirements into its output.
fn counting_project(step: &str) -> TestProject {
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: counting
resources:
  f:
    component: fc3
    actions:
      pre-local:
        - run: {step}
          path: ./code
    props:
      functionName: counted
      runtime: custom.debian12
      code: ./code
"#
    ));
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/requirements.txt"), "six\n").unwrap();
    project
}

fn runs(project: &TestProject) -> usize {
    std::fs::read_to_string(project.path().join("runs.log"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn a_second_build_with_nothing_changed_does_no_work_and_a_changed_requirements_txt_rebuilds() {
    // `mkdir` fails on a folder that is there: a rebuild starts without what the last build made.
    let project =
        counting_project("echo run >> ../runs.log && mkdir deps && cp requirements.txt deps/");
    built(&project);
    assert_eq!(runs(&project), 1);
    let again = built(&project);
    assert!(again.contains("up to date"), "{again}");
    assert_eq!(runs(&project), 1, "nothing changed: no step ran");
    std::fs::write(
        project.path().join("code/requirements.txt"),
        "six==1.16.0\n",
    )
    .unwrap();
    built(&project);
    assert_eq!(runs(&project), 2, "a changed requirements.txt rebuilds");
    // What the build wrote going away is a reason to build again too.
    std::fs::remove_dir_all(project.path().join("code/deps")).unwrap();
    built(&project);
    assert_eq!(runs(&project), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_action_stops_the_build_naming_its_step_and_nothing_is_served() {
    let docker = docker_with_custom_runtime().await;
    let project =
        counting_project("echo fetching the dependencies && echo 'no such package' >&2 && exit 3");
    let out = build(&project);
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(
        error.contains("function counted, pre-local step 1 failed"),
        "{error}"
    );
    assert!(error.contains("exited with 3"), "{error}");
    assert!(error.contains("| no such package"), "its output: {error}");
    // `up --build` serves nothing then: it exits with the same failure before any instance.
    let up = std::process::Command::new(FCEMU)
        .args(["up", "--build", "--listen", "127.0.0.1:0"])
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(up.status.code(), Some(1), "{}", text(&up.stdout));
    assert!(text(&up.stderr).contains("pre-local step 1 failed"));
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_fcemu_cannot_provide_is_named_with_the_flag_that_maps_it() {
    let docker = docker_with_custom_runtime().await;
    let arn = "acs:fc:cn-hangzhou:1234567890:layers/my-greeting/versions/4";
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: own-layer
resources:
  f:
    component: fc3
    actions:
      pre-deploy:
        - run: "true"
    props:
      functionName: greeter
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig:
        command: [python3, -u, -c, "import http.server as h; open('/opt/greeting.txt').read(); h.test(h.SimpleHTTPRequestHandler, port=9000, bind='0.0.0.0')"]
      layers: ["{arn}"]
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
"#
    ));
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/hello.txt"), "hello").unwrap();
    let out = std::process::Command::new(FCEMU)
        .args(["up", "--listen", "127.0.0.1:0"])
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = text(&out.stderr);
    assert!(
        error.contains(arn) && error.contains(&format!("--layer {arn}=DIR")),
        "{error}"
    );
    assert!(error.contains("x-fcemu-layers"), "{error}");
    assert!(
        error.contains("greeter has pre-deploy / pre-local actions that never ran here"),
        "{error}"
    );
    // Given with --layer, the layer's files are at /opt.
    let layer = tempfile::tempdir().unwrap();
    std::fs::write(layer.path().join("greeting.txt"), "hi").unwrap();
    let given = format!("{arn}={}", layer.path().display());
    let up = Up::start(project.path(), &["--layer", &given]);
    let r = reqwest::get(format!("{}/hello.txt", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
