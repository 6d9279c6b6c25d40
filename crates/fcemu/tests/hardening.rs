//! What a cloned repository, a function's output, a stale file, a client or another container can do to the
//! machine fcemu runs on: none of it reaches past fcemu's own state folder, its own processes, its caps, its
//! instances' network or the terminal's text.

mod common;

use common::up::*;
use common::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_escape_sequence_a_function_prints_reaches_the_terminal_escaped() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    // Clear the screen, set the window title, then a carriage return that would hide what came before.
    let printed = reqwest::get(format!(
        "{}/print?line=before%1b%5b2J%1b%5d0%3bpwned%07%0dhidden",
        up.url
    ))
    .await
    .unwrap();
    assert_eq!(printed.status(), 200, "{:?}", printed.text().await);
    wait_for_output(&up, "hidden").await;
    let line = up
        .output()
        .into_iter()
        .find(|l| l.contains("hidden"))
        .unwrap();
    assert!(
        line.ends_with(r"before\x1b[2J\x1b]0;pwned\x07\rhidden"),
        "{line:?}"
    );
    assert!(!line.contains('\u{1b}') && !line.contains('\r'), "{line:?}");
    // `fcemu logs` shows it the same way; the JSON keeps the line as printed.
    let logs = fcemu(&["logs", "--endpoint", &up.url]);
    let shown = text(&logs.stdout);
    assert!(
        shown.contains(r"\x1b[2J") && !shown.contains('\u{1b}'),
        "{shown:?}"
    );
    let lines = up.get_json_lines("/_fcemu/logs").await.join("\n");
    assert!(lines.contains(r"before\u001b[2J"), "{lines}");
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_files_a_repository_committed_as_links_are_never_written_through() {
    let docker = docker().await;
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join(".bashrc");
    std::fs::write(&victim, "the user's own\n").unwrap();

    // `.fcemu/up.log -> ~/.bashrc`: `up -d` refuses to write its output there.
    let project = TestProject::fixture(&[], "");
    let state = project.path().join(".fcemu");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::symlink(&victim, state.join("up.log")).unwrap();
    let out = fcemu_in(project.path(), &["up", "-d", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the user's own\n"
    );

    // The history and summary files as links: each is refused and said, the run goes on, nothing written.
    std::fs::remove_file(state.join("up.log")).unwrap();
    for name in ["logs.jsonl", "events.jsonl", "summary.json", ".gitignore"] {
        std::os::unix::fs::symlink(&victim, state.join(name)).unwrap();
    }
    let up = Up::start(project.path(), &["--history", "10"]);
    for _ in 0..20 {
        let r = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    assert!(
        output
            .iter()
            .any(|l| l.contains("logs.jsonl is a symbolic link")),
        "{output:#?}"
    );
    assert!(
        output
            .iter()
            .any(|l| l.contains("summary.json is a symbolic link")),
        "{output:#?}"
    );
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the user's own\n"
    );

    // `.fcemu` itself a link to the home folder: refused before anything is written.
    let linked = TestProject::fixture(&[], "");
    std::os::unix::fs::symlink(victim_dir.path(), linked.path().join(".fcemu")).unwrap();
    let out = fcemu_in(linked.path(), &["up", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_dir(victim_dir.path()).unwrap().count(), 1);
    assert_no_containers_left(&docker, project.path()).await;
    assert_no_containers_left(&docker, linked.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_detached_the_token_stays_out_of_the_log_and_reads_need_it() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let port = free_port();
    let out = fcemu_in(
        project.path(),
        &["up", "-d", "--listen", &format!("0.0.0.0:{port}")],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = project.path().join(".fcemu");
    let token = std::fs::read_to_string(state.join("token")).unwrap();
    let token = token.trim();
    let url = format!("http://127.0.0.1:{port}");
    let r = reqwest::get(format!("{url}/hello")).await.unwrap();
    assert_eq!(r.status(), 200, "trigger traffic is open");
    for path in [
        "/_fcemu/functions",
        "/_fcemu/logs",
        "/_fcemu/events",
        "/2023-03-30/functions",
    ] {
        let r = reqwest::get(format!("{url}{path}")).await.unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let ps = fcemu_in(project.path(), &["ps", "--endpoint", &url]);
    assert!(
        ps.status.success(),
        "fcemu's commands send the token: {}",
        text(&ps.stderr)
    );

    let log = std::fs::read_to_string(state.join("up.log")).unwrap();
    assert!(
        !log.contains(token),
        "the token is printed only to a terminal:\n{log}"
    );
    assert!(log.contains(".fcemu/token"), "{log}");
    assert_eq!(mode(&state), 0o700);
    for name in [
        "up.log",
        "token",
        "endpoint",
        "up.pid",
        "logs.jsonl",
        "events.jsonl",
    ] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
    let down = fcemu_in(project.path(), &["down"]);
    assert!(down.status.success(), "{}", text(&down.stderr));
    assert_eq!(mode(&state.join("summary.json")), 0o600);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provisioned_target_past_the_instance_cap_is_refused_with_nothing_created() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let up = Up::start(project.path(), &[]);
    // The banner comes just after the endpoint that Up::start waits for.
    wait_for_output(&up, "at most 100 per function (--max-instances)").await;
    let provision = format!("{}/2023-03-30/functions/fixture/provision-config", up.url);
    let http = reqwest::Client::new();
    let r = http
        .put(&provision)
        .json(&serde_json::json!({ "target": 4294967295u32 }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let answer: serde_json::Value = r.json().await.unwrap();
    assert_eq!(answer["Code"], "InvalidArgument");
    assert!(
        answer["Message"]
            .as_str()
            .unwrap()
            .contains("over the 100 instances"),
        "{answer}"
    );
    assert!(containers_of(&docker, project.path()).await.is_empty());
    let out = fcemu(&[
        "provision",
        "fixture",
        "--target",
        "101",
        "--endpoint",
        &up.url,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--max-instances"),
        "{}",
        text(&out.stderr)
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// `GET /hello` sent to `ip:9000` from a throwaway container on `network` (the engine's default when None),
/// labelled as this project's: the status line it got, if any.
fn reach_from_a_container(project: &std::path::Path, network: Option<&str>, ip: &str) -> String {
    let mut docker = std::process::Command::new("docker");
    docker.args([
        "run",
        "--rm",
        "--label",
        "fcemu.managed=true",
        "--label",
        &format!("fcemu.project={}", project.display()),
    ]);
    if let Some(network) = network {
        docker.args(["--network", network]);
    }
    let out = docker
        .args(["--entrypoint", "/bin/sh", FIXTURE_IMAGE, "-c"])
        .arg(format!(
            "printf 'GET /hello HTTP/1.0\\r\\nx-fc-request-id: forged\\r\\n\\r\\n' | timeout 5 nc -w 3 {ip} 9000 | head -1"
        ))
        .output()
        .unwrap();
    text(&out.stdout).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_run_unprivileged_on_a_network_other_containers_cannot_reach() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    // Not frozen between requests: a frozen instance answers nobody, which would prove nothing here.
    let up = Up::start(project.path(), &["--no-freeze"]);
    let r = reqwest::get(format!("{}/hello", up.url)).await.unwrap();
    assert_eq!(r.status(), 200);
    let id = up.get_json("/_fcemu/instances").await["instances"][0]["containerId"]
        .as_str()
        .unwrap()
        .to_string();
    let inspect = |format: &str| {
        let out = std::process::Command::new("docker")
            .args(["inspect", "-f", format, &id])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(
        inspect("{{json .HostConfig.SecurityOpt}}"),
        r#"["no-new-privileges"]"#
    );
    assert_eq!(inspect("{{.HostConfig.PidsLimit}}"), "4096");
    let network = inspect("{{range $k, $v := .NetworkSettings.Networks}}{{$k}}{{end}}");
    assert_eq!(network, fcemu_runtime::network_name(project.path()));
    let ip = inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    // From the engine's default bridge, where every other container of the machine is: nothing answers.
    assert_eq!(reach_from_a_container(project.path(), None, &ip), "");
    // From the project's own network the same call is answered: what stops the one above is the network.
    assert_eq!(
        reach_from_a_container(project.path(), Some(&network), &ip),
        "HTTP/1.0 200 OK"
    );
    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
    let networks = std::process::Command::new("docker")
        .args([
            "network",
            "ls",
            "-q",
            "--filter",
            &format!("name={network}"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        text(&networks.stdout).trim(),
        "",
        "the project's network goes with its run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_context_leaves_out_what_dockerignore_names_and_the_home_folder_is_never_handed_over()
 {
    let docker = docker().await;
    let tag = format!("fcemu-context-test:{}", std::process::id());
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: context-test
resources:
  f:
    component: fc3
    props:
      functionName: f
      runtime: custom-container
      customContainerConfig:
        image: "{tag}"
        port: 9000
        x-fcemu-build: {{ context: ., dockerfile: Dockerfile }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
"#
    ));
    for (file, content) in [
        (
            "Dockerfile",
            format!("FROM {FIXTURE_IMAGE}\nCOPY . /ctx/\n"),
        ),
        (".dockerignore", ".env\nsecrets/\n".to_string()),
        (".env", "API_KEY=do-not-ship\n".to_string()),
        ("secrets/key.pem", "-----BEGIN KEY-----\n".to_string()),
        ("app.txt", "the app\n".to_string()),
    ] {
        let path = project.path().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let up = Up::start(project.path(), &[]);
    let (code, output) = up.stop();
    assert_eq!(code, 0, "{output:#?}");
    let listed = std::process::Command::new("docker")
        .args([
            "run",
            "--rm",
            "--label",
            "fcemu.managed=true",
            "--entrypoint",
            "/bin/ls",
            &tag,
            "-a",
            "/ctx",
        ])
        .output()
        .unwrap();
    let _ = std::process::Command::new("docker")
        .args(["rmi", "-f", &tag])
        .output();
    let listed = text(&listed.stdout);
    assert!(
        listed.contains("app.txt") && listed.contains("Dockerfile"),
        "{listed}"
    );
    assert!(
        !listed.contains(".env") && !listed.contains("secrets"),
        "{listed}"
    );
    assert!(
        !listed.contains(".fcemu"),
        "fcemu's own state never goes in: {listed}"
    );

    // An s.yaml that hands the home folder to a container is refused, naming it.
    let home = tempfile::tempdir().unwrap();
    let greedy = TestProject::with_yaml(
        "edition: 3.0.0\nresources:\n  f:\n    component: fc3\n    props:\n      functionName: f\n      runtime: custom.debian12\n      code: ${env('HOME')}\n",
    );
    let out = std::process::Command::new(FCEMU)
        .arg("validate")
        .arg(greedy.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("the home folder"),
        "{}",
        text(&out.stderr)
    );
    assert_no_containers_left(&docker, project.path()).await;
}
