//! `fcemu down` removes every fcemu-managed container, and nothing else. Its tests are alone in their test
//! binary because `down` removes other tests' containers too (cargo runs test binaries one after another),
//! and they take turns with each other for the same reason.

mod common;

use common::up::{alive, fcemu_in, text};
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Held by each test here: one's `fcemu down` would sweep the other's containers.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_removes_every_managed_container_and_leaves_the_rest() {
    let _turn = ONE_AT_A_TIME.lock().await;
    docker().await;
    // `docker ARGS`, which must succeed: what it printed.
    let docker_ok = |args: &[&str]| {
        let out = Command::new("docker").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let run = |label: &[&str]| {
        let mut args = vec!["run", "-d"];
        for l in label {
            args.extend(["--label", l]);
        }
        docker_ok(
            &[
                &args[..],
                &["--entrypoint", "/bin/sleep", FIXTURE_IMAGE, "60"],
            ]
            .concat(),
        )
    };
    let managed = run(&["fcemu.managed=true", "fcemu.project=/somewhere/else"]);
    let foreign = run(&["fcemu.managed=false"]);
    let network = |name: &str, label: &str| {
        docker_ok(&["network", "create", "--label", label, name]);
        name.to_string()
    };
    let managed_network = network(
        &format!("fcemu-down-test-{}", std::process::id()),
        "fcemu.managed=true",
    );
    let foreign_network = network(
        &format!("other-down-test-{}", std::process::id()),
        "fcemu.managed=false",
    );

    let out = Command::new(env!("CARGO_BIN_EXE_fcemu"))
        .arg("down")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("removed"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // `docker inspect` (or `docker network inspect`) of a name succeeds while it exists.
    let exists = |what: &[&str]| {
        Command::new("docker")
            .args(what)
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(
        !exists(&["inspect", &managed]),
        "the managed container is gone"
    );
    assert!(
        !exists(&["network", "inspect", &managed_network]),
        "fcemu's network is gone"
    );
    assert!(
        exists(&["network", "inspect", &foreign_network]),
        "another network is never touched"
    );
    Command::new("docker")
        .args(["network", "rm", &foreign_network])
        .output()
        .unwrap();
    assert!(
        exists(&["inspect", &foreign]),
        "a container without fcemu.managed=true is never touched"
    );
    Command::new("docker")
        .args(["rm", "-f", &foreign])
        .output()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_never_signals_a_process_a_stale_or_committed_pid_file_names() {
    let _turn = ONE_AT_A_TIME.lock().await;
    docker().await;
    let project = TestProject::fixture(&[], "");
    let state = project.path().join(".fcemu");
    std::fs::create_dir(&state).unwrap();
    let mut bystander = Command::new("sleep").arg("600").spawn().unwrap();
    let pid = bystander.id();
    // The pid alone (as the file used to hold), its start time too, and pid 1; written 0600 as fcemu would,
    // and 0644 as a checkout would.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let started = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .nth(19)
        .unwrap()
        .to_string();
    for (content, file_mode) in [
        (format!("{pid}\n"), 0o600),
        (format!("{pid} {started}\n"), 0o600),
        (format!("{pid} {started}\n"), 0o644),
        ("1\n".to_string(), 0o600),
    ] {
        let pid_file = state.join("up.pid");
        std::fs::write(&pid_file, &content).unwrap();
        std::fs::set_permissions(&pid_file, std::fs::Permissions::from_mode(file_mode)).unwrap();
        let out = fcemu_in(project.path(), &["down"]);
        assert!(out.status.success(), "{content:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("labelled fcemu.managed=true"),
            "{content:?}: {}",
            text(&out.stdout)
        );
        assert!(
            alive(pid),
            "fcemu down signalled the process {content:?} named"
        );
    }
    bystander.kill().unwrap();
    bystander.wait().unwrap();
}
