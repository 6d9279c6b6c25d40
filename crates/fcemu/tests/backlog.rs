//! A burst larger than a server's listen backlog: the kernel drops the SYNs past it (and sends them again a
//! second later), so some of fcemu's connections are not answered within its connect timeout. That is a
//! busy server, not a dead one: every request is answered, and the instance stays in service.

mod common;

use common::up::*;
use common::*;

const CUSTOM_IMAGE: &str = "fcemu-runtime-custom:bookworm";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_servers_listen_backlog_takes_no_instance_out_of_service() {
    let docker = docker_with(&[CUSTOM_IMAGE]).await;
    // Python's http.server listens with a backlog of 5.
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: backlog
resources:
  files:
    component: fc3
    props:
      functionName: files
      runtime: custom.debian12
      code: ./code
      instanceConcurrency: 100
      timeout: 30
      customRuntimeConfig: { command: [python3, -m, http.server, "9000"], port: 9000 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { authType: anonymous, methods: [GET] } }
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/page"), "a page\n").unwrap();
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;

    for round in 0..3 {
        let calls = (0..40).map(|_| async {
            let r = reqwest::Client::new()
                .get(format!("{}/page", up.url))
                .send()
                .await
                .unwrap();
            r.status().as_u16()
        });
        let statuses = futures_util::future::join_all(calls).await;
        assert!(
            statuses.iter().all(|s| *s == 200),
            "round {round}: {statuses:?}"
        );
    }
    assert_eq!(
        events_named(&up, "instance.creating").await.len(),
        1,
        "one instance served every burst: {:#?}",
        up.output()
    );
    assert!(events_named(&up, "instance.destroyed").await.is_empty());
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
