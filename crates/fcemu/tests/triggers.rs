//! Timer and event-source triggers with `fcemu up` on Docker: the banner's next fire time, a timer that
//! fires on its own, `fcemu trigger` with an OSS event shaped by the trigger's configuration (seen by the
//! function: the fixture echoes its request, and the echo reaches the MNS sink), its refusals, and
//! `--no-timers`.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;

fn yaml(every: &str) -> String {
    format!(
        r#"edition: 3.0.0
name: triggers
resources:
  worker:
    component: fc3
    props:
      functionName: worker
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000 }}
      asyncInvokeConfig:
        destinationConfig: {{ onSuccess: {{ destination: "acs:mns:cn-hangzhou:1:/queues/done/messages" }} }}
      triggers:
        - triggerName: tick
          triggerType: timer
          triggerConfig: {{ cronExpression: "{every}", payload: awesome-fc, enable: true }}
        - triggerName: uploads
          triggerType: oss
          sourceArn: acs:oss:cn-hangzhou:1:photos
          triggerConfig:
            events: ["oss:ObjectCreated:PutObject"]
            filter: {{ key: {{ prefix: source/, suffix: .png }} }}
"#
    )
}

/// The event each delivery to the sink was sent (the fixture's echo of its request body), by request id.
fn delivered(project: &std::path::Path) -> Vec<(String, Value)> {
    let sink = std::fs::read_to_string(project.join(".fcemu/destinations/deliveries.jsonl"))
        .unwrap_or_default();
    sink.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            let id = l["event"]["requestContext"]["requestId"]
                .as_str()
                .unwrap()
                .to_string();
            let echo: Value =
                serde_json::from_str(l["event"]["responsePayload"].as_str().unwrap()).unwrap();
            (
                id,
                serde_json::from_str(echo["body"].as_str().unwrap()).unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timer_fires_on_its_own_and_fcemu_trigger_sends_the_oss_event_its_config_shapes() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml("@every 1s"));
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("timer trigger tick: @every 1s  next 20"),
        "{:#?}",
        up.output()
    );
    assert!(
        up.printed("oss trigger uploads: fired by `fcemu trigger worker uploads`"),
        "{:#?}",
        up.output()
    );

    // The timer, on its own: FC's timer event reaches the function.
    until_events(&up, "destination.delivered", 1).await;
    let (_, first) = delivered(project.path()).remove(0);
    assert_eq!(first["triggerName"], "tick", "{first}");
    assert_eq!(first["payload"], "awesome-fc");

    // `fcemu trigger` with a key: the function gets the OSS event for the trigger's bucket.
    let fired = fcemu_in(
        project.path(),
        &["trigger", "worker", "uploads", "--data", "source/cat.png"],
    );
    assert!(fired.status.success(), "{}", text(&fired.stderr));
    let id = text(&fired.stdout).trim().to_string();
    assert!(id.starts_with("1-"), "{id}");
    let oss = 'found: {
        for _ in 0..600 {
            if let Some((_, event)) = delivered(project.path())
                .into_iter()
                .find(|(i, _)| *i == id)
            {
                break 'found event;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("{id} was never delivered: {:#?}", up.output());
    };
    let e = &oss["events"][0];
    assert_eq!(e["eventName"], "ObjectCreated:PutObject", "{oss}");
    assert_eq!(e["oss"]["bucket"]["name"], "photos");
    assert_eq!(e["oss"]["object"]["key"], "source/cat.png");

    // What cannot be fired says why, and exits 1.
    let outside = fcemu_in(
        project.path(),
        &["trigger", "worker", "uploads", "--data", "other/cat.png"],
    );
    assert_eq!(outside.status.code(), Some(1));
    assert!(
        text(&outside.stderr)
            .contains("OSS would not fire trigger uploads for the key `other/cat.png`"),
        "{}",
        text(&outside.stderr)
    );
    let unknown = fcemu_in(project.path(), &["trigger", "worker", "nightly"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        text(&unknown.stderr).contains("allowed: tick, uploads"),
        "{}",
        text(&unknown.stderr)
    );

    let (code, printed) = up.stop();
    assert_eq!(code, 0, "{printed:#?}");
    let said = |start: &str, has: &str| {
        printed
            .iter()
            .any(|l| l.starts_with(start) && l.contains(has))
    };
    assert!(said("verdict: passed", ""), "{printed:#?}");
    assert!(said("asynchronous: ", " by triggers)"), "{printed:#?}");
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_timers_a_timer_fires_only_when_asked() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&yaml("@every 1s"));
    let up = Up::start_on(project.path(), "127.0.0.1:0", &["--no-timers"]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("timer trigger tick: @every 1s  off (--no-timers)"),
        "{:#?}",
        up.output()
    );
    let fired = fcemu_in(project.path(), &["trigger", "worker", "tick"]);
    assert!(fired.status.success(), "{}", text(&fired.stderr));
    // The one asked for ran, and it alone (the schedule's own silence is asserted on the paused clock, in
    // fcemu-control's tests/triggers.rs).
    until_events(&up, "destination.delivered", 1).await;
    let fired = events_named(&up, "trigger.fired").await;
    assert_eq!(fired.len(), 1, "{fired:#?}");
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
