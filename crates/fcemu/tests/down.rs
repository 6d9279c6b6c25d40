//! `fcemu down` removes every fcemu-managed container, and nothing else. It is alone in its test binary
//! because it removes other tests' containers too (cargo runs test binaries one after another).

mod common;

use common::*;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn down_removes_every_managed_container_and_leaves_the_rest() {
    docker().await;
    let run = |labels: &[&str]| {
        let mut cmd = Command::new("docker");
        cmd.args(["run", "-d"]);
        for l in labels {
            cmd.args(["--label", l]);
        }
        let out = cmd
            .args(["--entrypoint", "/bin/sleep", FIXTURE_IMAGE, "60"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let managed = run(&["fcemu.managed=true", "fcemu.project=/somewhere/else"]);
    let foreign = run(&["fcemu.managed=false"]);

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

    let exists = |id: &str| {
        Command::new("docker")
            .args(["inspect", id])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!exists(&managed), "the managed container is gone");
    assert!(
        exists(&foreign),
        "a container without fcemu.managed=true is never touched"
    );
    Command::new("docker")
        .args(["rm", "-f", &foreign])
        .output()
        .unwrap();
}
