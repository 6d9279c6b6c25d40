//! A remote engine (here the local one, reached over TCP as a remote one would be): fcemu cannot compare its
//! clock with this machine's, nor write its cgroups, so it shows Runtime Init whole and freezes through the
//! engine's pause, and says both.

mod common;

use common::up::*;
use common::*;

/// The local engine, reached over TCP as a remote one would be: fcemu cannot compare its clock, nor write
/// its cgroups.
async fn engine_over_tcp() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut engine) =
                    tokio::net::UnixStream::connect("/var/run/docker.sock").await
                {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
            });
        }
    });
    format!("tcp://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_engine_shows_runtime_init_whole_and_freezes_through_its_pause() {
    let docker = docker().await;
    let project = TestProject::fixture(&[], "");
    let host = engine_over_tcp().await;
    let up = Up::start_with(
        project.path(),
        "127.0.0.1:0",
        &[("DOCKER_HOST", &host)],
        &[],
    );
    wait_for_output(&up, "Runtime Init shown whole: the engine is remote").await;
    assert!(
        up.printed("freezing through the engine's pause"),
        "{:#?}",
        up.output()
    );

    let response = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(response.status().is_success());
    let header = response.headers()["server-timing"].to_str().unwrap();
    assert!(server_timing(header, "runtime-init").is_some(), "{header}");
    assert!(
        server_timing(header, "engine-start").is_none()
            && server_timing(header, "function-start").is_none(),
        "no split where the clock is not ours: {header}"
    );
    let ready = &events_named(&up, "instance.ready").await[0];
    assert!(ready.get("engineStartMs").is_none(), "{ready}");
    wait_for_output(&up, "FC Instance Ready").await;
    assert!(
        !up.output()
            .iter()
            .any(|l| l.contains("FC Instance Ready") && l.contains("engine start")),
        "{:#?}",
        up.output()
    );

    let (code, _) = up.stop();
    assert_eq!(code, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
