//! A function served under a debugger (`up --debug`), against the fake runtime (paused clock): one instance
//! however many requests come, never frozen, never reclaimed at the idle timeout, its timeout and its hooks'
//! lifted (kept with --debug-keep-timeouts), its debugger's port published and its language's debugger on its
//! command line.

mod common;

use common::*;
use fcemu_control::testing::{assert_unhandled, shut_down};
use fcemu_control::{ControlPlane, Debugged, Options};
use fcemu_runtime::fake::FakeRuntime;
use std::time::Duration;

fn debugged(keep_timeouts: bool) -> Options {
    Options {
        idle_timeout: Duration::from_secs(2),
        debug: [(
            "f".to_string(),
            Debugged {
                port: 5678,
                host: "127.0.0.1".into(),
                wait: false,
                keep_timeouts,
                args: vec!["--debugger".into(), "on".into()],
            },
        )]
        .into(),
        ..Options::default()
    }
}

fn count(cp: &ControlPlane, name: &str) -> usize {
    cp.events()
        .snapshot()
        .iter()
        .filter(|e| e.event == name)
        .count()
}

#[tokio::test(start_paused = true)]
async fn a_debugged_function_has_one_instance_never_frozen_nor_reclaimed() {
    let (cp, fake) = plane(project("", &[]), debugged(false));
    let (a, b, c) = tokio::join!(
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300"),
        get(&cp, "/sleep?ms=300")
    );
    assert!([a, b, c].iter().all(|r| r.status().is_success()));
    assert_eq!(
        count(&cp, "instance.creating"),
        1,
        "one instance served all three"
    );
    // Well past the idle timeout and any freeze: the instance is as the debugger left it.
    tokio::time::sleep(Duration::from_secs(30)).await;
    assert_eq!(count(&cp, "instance.frozen"), 0);
    assert_eq!(count(&cp, "instance.destroyed"), 0);
    assert_eq!(fake.live().len(), 1);
    // Its container publishes the debugger's port and runs the custom container's command with the
    // debugger's arguments.
    let spec = fake.spec(&fake.live()[0]).unwrap();
    let port = spec.debug_port.expect("the debugger's port is published");
    assert_eq!((port.port, port.host_ip.as_str()), (5678, "127.0.0.1"));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn timeouts_are_lifted_under_the_debugger_and_kept_when_asked() {
    // The function's timeout is 5 s: a handler held 8 s at a breakpoint is answered.
    let (cp, _fake) = plane(project("", &[]), debugged(false));
    let held = get(&cp, "/sleep?ms=8000").await;
    assert!(held.status().is_success(), "{:?}", held.status());
    assert_eq!(
        cp.function("f")
            .unwrap()
            .spec
            .initializer
            .as_ref()
            .unwrap()
            .timeout,
        fcemu_control::LIFTED_TIMEOUT
    );
    shut_down(&cp, Duration::from_secs(1)).await;

    let (cp, _fake) = plane(project("", &[]), debugged(true));
    let cut = get(&cp, "/sleep?ms=8000").await;
    assert_unhandled(&cut, "Function timed out after 5 seconds");
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_function_not_debugged_is_frozen_and_reclaimed_as_ever() {
    let mut options = debugged(false);
    options.debug.clear();
    let (cp, fake): (ControlPlane, FakeRuntime) = plane(project("", &[]), options);
    assert!(get(&cp, "/state").await.status().is_success());
    until(&cp, |cp| count(cp, "instance.destroyed") == 1).await;
    assert_eq!(count(&cp, "instance.frozen"), 1);
    assert!(fake.live().is_empty());
    shut_down(&cp, Duration::from_secs(1)).await;
}
