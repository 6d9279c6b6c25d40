//! Timer and event-source triggers against the fake runtime (paused clock): a timer fires on its schedule
//! with FC's timer event, `--no-timers` and `enable: false` stop the schedule but not a firing asked for,
//! and a firing that cannot be made says why.

mod common;

use common::*;
use fcemu_control::testing::shut_down;
use fcemu_control::{ControlPlane, FireRefused, Options};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// `worker` with these triggers; what it is sent goes (as the request payload of FC's destination event)
/// to the MNS sink under the run's `.fcemu/`.
fn project_with(triggers: &str) -> fcemu_spec::Project {
    let text = format!(
        r#"
edition: 3.0.0
name: timers
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      customContainerConfig: {{ image: "fixture:latest", port: 9000 }}
      asyncInvokeConfig:
        destinationConfig: {{ onSuccess: {{ destination: "acs:mns:cn-hangzhou:1:/queues/done/messages" }} }}
      triggers:
{triggers}"#
    );
    fcemu_spec::parse_project(&text, Path::new("/t/s.yaml"), Path::new("/t"), &|_| None)
        .unwrap_or_else(|e| panic!("{e}"))
}

const EVERY_2S: &str = r#"        - { triggerName: tick, triggerType: timer, triggerConfig: { cronExpression: "@every 2s", payload: awesome-fc, enable: true } }
        - { triggerName: off, triggerType: timer, triggerConfig: { cronExpression: "@every 1s", enable: false } }
        - { triggerName: up, triggerType: oss, sourceArn: "acs:oss:cn-hangzhou:1:photos", triggerConfig: { events: ["oss:ObjectCreated:PutObject"], filter: { key: { prefix: in/, suffix: "" } } } }
"#;

fn count(cp: &ControlPlane, name: &str) -> usize {
    cp.events()
        .snapshot()
        .iter()
        .filter(|e| e.event == name)
        .count()
}

/// The request payloads delivered to the sink so far, in order.
fn delivered(dir: &Path) -> Vec<Value> {
    let sink =
        std::fs::read_to_string(dir.join("destinations/deliveries.jsonl")).unwrap_or_default();
    sink.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| serde_json::from_str(l["event"]["requestPayload"].as_str().unwrap()).unwrap())
        .collect()
}

fn seconds_of(rfc3339: &Value) -> u64 {
    let t = humantime::parse_rfc3339(rfc3339.as_str().unwrap()).unwrap();
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(start_paused = true)]
async fn a_timer_fires_every_two_seconds_with_fcs_timer_event() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        state_dir: Some(dir.path().to_path_buf()),
        ..Options::default()
    };
    let (cp, _fake) = plane(project_with(EVERY_2S), options);
    until(&cp, |_| delivered(dir.path()).len() >= 3).await;
    let events = delivered(dir.path());
    for e in &events {
        assert_eq!(
            e["triggerName"], "tick",
            "only the enabled timer fires: {e}"
        );
        assert_eq!(e["payload"], "awesome-fc");
    }
    let times: Vec<u64> = events
        .iter()
        .map(|e| seconds_of(&e["triggerTime"]))
        .collect();
    assert_eq!(times[1] - times[0], 2, "{times:?}");
    assert_eq!(times[2] - times[1], 2, "{times:?}");
    let fired = cp.events().snapshot();
    let fired = fired.iter().find(|e| e.event == "trigger.fired").unwrap();
    let fired = serde_json::to_value(&**fired).unwrap();
    assert_eq!(
        (&fired["triggerName"], &fired["triggerType"]),
        (&"tick".into(), &"timer".into())
    );
    let counted = cp.summary().await.asynchronous;
    assert_eq!(
        counted.fired, counted.enqueued,
        "every queued invocation was a timer's: {counted:?}"
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn with_timers_off_nothing_fires_by_itself_but_a_firing_asked_for_runs() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        state_dir: Some(dir.path().to_path_buf()),
        timers: false,
        ..Options::default()
    };
    let (cp, _fake) = plane(project_with(EVERY_2S), options);
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(count(&cp, "trigger.fired"), 0);
    // `fcemu trigger worker off` fires even the disabled one, and `up` an OSS event for a key it takes.
    cp.fire_trigger("worker", "off", None, None).unwrap();
    cp.fire_trigger("worker", "up", None, Some("in/cat.png"))
        .unwrap();
    until(&cp, |_| delivered(dir.path()).len() == 2).await;
    let events = delivered(dir.path());
    let oss = events.iter().find(|e| e.get("events").is_some()).unwrap();
    assert_eq!(oss["events"][0]["oss"]["object"]["key"], "in/cat.png");
    assert_eq!(oss["events"][0]["oss"]["bucket"]["name"], "photos");
    // A file's event is sent as it is.
    cp.fire_trigger("worker", "up", Some(r#"{"mine":true}"#.into()), None)
        .unwrap();
    until(&cp, |_| delivered(dir.path()).len() == 3).await;
    assert_eq!(
        delivered(dir.path())[2],
        serde_json::json!({ "mine": true })
    );
    shut_down(&cp, Duration::from_secs(5)).await;
}

#[tokio::test(start_paused = true)]
async fn a_firing_that_cannot_be_made_says_why() {
    let (cp, _fake) = plane(
        project_with(EVERY_2S),
        Options {
            timers: false,
            ..Options::default()
        },
    );
    assert!(matches!(
        cp.fire_trigger("nobody", "tick", None, None),
        Err(FireRefused::NoFunction)
    ));
    let unknown = cp.fire_trigger("worker", "http", None, None).unwrap_err();
    assert_eq!(
        unknown.to_string(),
        "the function has no timer or event-source trigger of that name, allowed: tick, off, up"
    );
    let filtered = cp
        .fire_trigger("worker", "up", None, Some("out/cat.png"))
        .unwrap_err();
    assert!(
        filtered.to_string().contains("starting with `in/`"),
        "{filtered}"
    );
    assert_eq!(count(&cp, "async.enqueued"), 0, "nothing was queued");
    shut_down(&cp, Duration::from_secs(5)).await;
}
