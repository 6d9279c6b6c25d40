//! Function updates against the fake runtime: the roll (requests in flight finish, then PreStop; a request
//! mid-roll goes to the new version), provisioned instances ready on the new version before the old go,
//! functions added and removed, unchanged ones untouched.

use fcemu_control::testing::{call, header, shut_down};
use fcemu_control::{Event, Options};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

mod common;

use common::{get, plane, project, settle};

fn events(cp: &fcemu_control::ControlPlane, name: &str) -> Vec<Arc<Event>> {
    cp.events()
        .snapshot()
        .into_iter()
        .filter(|e| e.event == name)
        .collect()
}

/// Waits (on the paused clock) until `done` holds.
async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..10_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what} did not happen");
}

#[tokio::test(start_paused = true)]
async fn a_roll_lets_requests_finish_then_retires_the_old_instance_through_pre_stop() {
    let (cp, fake) = plane(project("", &[("MODEL", "v1")]), Options::default());
    let first = get(&cp, "/warm").await;
    let old = header(&first, "x-fc-instance-id").to_string();

    // A request in flight on the old instance while the function changes.
    let in_flight = tokio::spawn({
        let cp = cp.clone();
        async move { get(&cp, "/sleep?ms=2000").await }
    });
    settle().await;
    let mut new_spec = cp.function("f").unwrap().spec.clone();
    new_spec
        .environment_variables
        .insert("MODEL".into(), "v2".into());
    let rolled = cp.update(cp.specs_with(new_spec), &BTreeMap::new()).await;
    assert_eq!(rolled.len(), 1);
    assert_eq!(rolled[0].version, 2);
    assert_eq!(rolled[0].changed, ["environmentVariables.MODEL"]);
    let updated = &events(&cp, "function.updated")[0];
    assert_eq!(updated.function_name.as_ref(), "f");

    // Mid-roll, a new request goes to a new instance on the new configuration.
    let next = get(&cp, "/env").await;
    let new = header(&next, "x-fc-instance-id").to_string();
    assert_ne!(new, old);
    let env = fake
        .live()
        .into_iter()
        .filter_map(|c| fake.spec(&c))
        .find(|s| s.labels["fcemu.instance-id"] == new)
        .expect("the new instance's container")
        .env;
    assert!(
        env.contains(&("MODEL".to_string(), "v2".to_string())),
        "{env:?}"
    );

    // The old one finishes its request, uncut, and only then runs PreStop.
    let done = in_flight.await.unwrap();
    assert_eq!(done.status(), 200);
    assert_eq!(header(&done, "x-fc-instance-id"), old);
    until("the old instance's destroy", || {
        !events(&cp, "instance.destroyed").is_empty()
    })
    .await;
    let destroyed = &events(&cp, "instance.destroyed")[0];
    assert_eq!(destroyed.instance_id.as_deref(), Some(old.as_str()));
    assert_eq!(destroyed.reason.as_deref(), Some("update"));
    let all = cp.events().snapshot();
    let at = |name: &str, id: &str| {
        all.iter()
            .position(|e| e.event == name && e.instance_id.as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no {name} for {id}"))
    };
    assert!(at("invoke.end", &old) < at("prestop.start", &old));
    assert!(cp.instances().iter().all(|i| i.instance_id != old));
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn provisioned_instances_are_ready_on_the_new_version_before_the_old_go() {
    let (cp, _fake) = plane(
        project("      provisionConfig: { defaultTarget: 1 }\n", &[]),
        Options::default(),
    );
    cp.start_provisioned().await;
    let old = cp.instances()[0].instance_id.clone();
    let mut new_spec = cp.function("f").unwrap().spec.clone();
    new_spec.memory_size_mb = 1024;
    cp.update(cp.specs_with(new_spec), &BTreeMap::new()).await;
    until("the old provisioned instance's destroy", || {
        !events(&cp, "instance.destroyed").is_empty()
    })
    .await;
    let all = cp.events().snapshot();
    let new_ready = all
        .iter()
        .position(|e| e.event == "instance.ready" && e.instance_id.as_deref() != Some(&old))
        .expect("a provisioned instance on the new version");
    let old_destroyed = all
        .iter()
        .position(|e| e.event == "instance.destroyed")
        .unwrap();
    assert!(new_ready < old_destroyed);
    assert_eq!(all[old_destroyed].reason.as_deref(), Some("update"));
    let live = cp.instances();
    assert_eq!(live.len(), 1);
    assert!(live[0].provisioned);
    shut_down(&cp, Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn functions_added_and_removed_while_unchanged_ones_keep_their_instances() {
    let two = "  g:\n    component: fc3\n    props:\n      functionName: g\n      runtime: custom-container\n      customContainerConfig: { image: \"fixture:latest\" }\n";
    let project_of = |extra: &str| {
        let mut p = project("", &[]);
        let more = fcemu_spec::parse_project(
            &format!("edition: 3.0.0\nname: t\nresources:\n{extra}"),
            std::path::Path::new("/t/s.yaml"),
            std::path::Path::new("/t"),
            &|_| None,
        )
        .unwrap();
        p.functions.extend(more.functions);
        p
    };
    let (cp, _fake) = plane(project_of(two), Options::default());
    let f_before = header(&get(&cp, "/").await, "x-fc-instance-id").to_string();
    let g = call(&cp, "g", "GET", "/", "").await;
    assert_eq!(g.status(), 200);
    let g_instance = header(&g, "x-fc-instance-id").to_string();

    // g goes, h comes, f stays as it was.
    let h = two
        .replace("  g:\n", "  h:\n")
        .replace("functionName: g", "functionName: h");
    let specs = project_of(&h).functions;
    let rolled = cp.update(specs, &BTreeMap::new()).await;
    let summary: Vec<(String, u32, Vec<String>)> = rolled
        .into_iter()
        .map(|r| (r.function_name, r.version, r.changed))
        .collect();
    assert_eq!(
        summary,
        [
            ("h".to_string(), 1, vec!["added".to_string()]),
            ("g".to_string(), 0, vec!["removed".to_string()])
        ]
    );
    assert_eq!(
        header(&get(&cp, "/").await, "x-fc-instance-id"),
        f_before,
        "an unchanged function keeps its instance"
    );
    assert_eq!(call(&cp, "h", "GET", "/", "").await.status(), 200);
    let gone = call(&cp, "g", "GET", "/", "").await;
    assert_eq!(gone.status(), 404);
    until("g's instance destroyed", || {
        events(&cp, "instance.destroyed").iter().any(|e| {
            e.instance_id.as_deref() == Some(&g_instance) && e.reason.as_deref() == Some("update")
        })
    })
    .await;
    // Code that changed under an unchanged spec is rolled when asked.
    let forced = BTreeMap::from([("f".to_string(), vec!["code".to_string()])]);
    let rolled = cp
        .update(
            cp.specs_with(cp.function("f").unwrap().spec.clone()),
            &forced,
        )
        .await;
    assert_eq!(rolled[0].changed, ["code"]);
    assert_ne!(header(&get(&cp, "/").await, "x-fc-instance-id"), f_before);
    shut_down(&cp, Duration::from_secs(1)).await;
}
