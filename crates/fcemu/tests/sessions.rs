//! Session affinity with `fcemu up` on Docker: two header sessions under load keep their instances and a
//! session whose instance is killed is served by a new one; the generated cookie round trip; and the MCP
//! example (fixtures/mcp-example) driven by the official MCP Python SDK over SSE and Streamable HTTP, two
//! sessions at once on two instances, each finding its own notes, the Streamable ones ended by DELETE.

mod common;

use common::calls::header;
use common::up::*;
use common::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::process::Command;

const CUSTOM_IMAGE: &str = "fcemu-runtime-custom:bookworm";

/// Python's threading HTTP server in FC's custom runtime, with a listen backlog for a burst: a thread per
/// connection, as real web servers serve one (the fixture's server hands connections to a small pool,
/// which a burst of kept-alive connections can starve).
fn header_project() -> TestProject {
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: sessions
resources:
  chat:
    component: fc3
    props:
      functionName: chat
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig: { command: [python3, server.py], port: 9000 }
      sessionAffinity: HEADER_FIELD
      sessionAffinityConfig: { affinityHeaderFieldName: x-chat-session, sessionConcurrencyPerInstance: 1 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { authType: anonymous, methods: [GET, POST] } }
  shop:
    component: fc3
    props:
      functionName: shop
      runtime: custom.debian12
      code: ./code
      customRuntimeConfig: { command: [python3, server.py], port: 9000 }
      sessionAffinity: GENERATED_COOKIE
      sessionAffinityConfig: { sessionTTLInSeconds: 900 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { authType: anonymous, methods: [GET] } }
"#,
    );
    std::fs::create_dir(project.path().join("code")).unwrap();
    std::fs::write(project.path().join("code/work"), "a file to GET\n").unwrap();
    std::fs::write(project.path().join("code/server.py"), SERVER).unwrap();
    project
}

const SERVER: &str = r#"from http.server import ThreadingHTTPServer, SimpleHTTPRequestHandler

class Server(ThreadingHTTPServer):
    request_queue_size = 128

Server(("0.0.0.0", 9000), SimpleHTTPRequestHandler).serve_forever()
"#;

/// A request of the session: its status, and its instance (or, when it failed, its body).
async fn in_session(up: &Up, session: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .get(format!("{}/chat/work", up.url))
        .header("x-chat-session", session)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let instance = header(&r, "x-fc-instance-id");
    match status {
        200 => (status, instance),
        _ => (status, r.text().await.unwrap()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_sessions_keep_their_instances_under_load_and_survive_a_killed_instance() {
    let docker = docker_with(&[CUSTOM_IMAGE]).await;
    let project = header_project();
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed("session affinity: function chat: HEADER_FIELD"),
        "{:#?}",
        up.output()
    );

    // Two sessions, 20 requests each, all at once: one instance each (one session per instance), always
    // the same.
    let mut calls = Vec::new();
    for i in 0..40 {
        let session = if i % 2 == 0 { "alice" } else { "bob" };
        let up = &up;
        calls.push(async move { (session, in_session(up, session).await) });
    }
    let mut seen: HashMap<&str, HashSet<String>> = HashMap::new();
    for (session, (status, instance)) in futures_util::future::join_all(calls).await {
        assert_eq!(status, 200, "{session}: {instance}\n{:#?}", up.output());
        seen.entry(session).or_default().insert(instance);
    }
    assert_eq!(seen["alice"].len(), 1, "{seen:?}");
    assert_eq!(seen["bob"].len(), 1, "{seen:?}");
    let alice = seen["alice"].iter().next().unwrap().clone();
    assert_ne!(
        Some(&alice),
        seen["bob"].iter().next(),
        "two sessions, two instances"
    );

    // `fcemu sessions` says where each lives.
    let listed = fcemu(&["sessions", "--endpoint", &up.url, "--format", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let holder = |id: &str| {
        listed["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["sessionId"] == id)
            .map(|s| s["containerId"].as_str().unwrap().to_string())
    };
    assert_eq!(holder("alice").as_deref(), Some(alice.as_str()), "{listed}");

    // Alice's instance is killed behind fcemu's back: her next request is served by a new instance.
    let container = up.get_json("/_fcemu/instances").await["instances"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["instanceId"] == alice.as_str())
        .unwrap()["containerId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        Command::new("docker")
            .args(["kill", &container])
            .status()
            .unwrap()
            .success()
    );
    let ended = until_events(&up, "session.ended", 1).await;
    assert_eq!(ended[0]["sessionId"], "alice");
    assert_eq!(ended[0]["reason"], "instance_destroyed");
    let (status, next) = in_session(&up, "alice").await;
    assert_eq!(status, 200);
    assert_ne!(next, alice, "a new instance for the session");
    assert_eq!(in_session(&up, "alice").await.1, next);

    // The cookie: set once with the TTL as its Max-Age, and its requests go to one instance.
    let client = reqwest::Client::new();
    let first = client
        .get(format!("{}/shop/", up.url))
        .send()
        .await
        .unwrap();
    let cookie = header(&first, "set-cookie");
    assert!(
        cookie.starts_with("x-fc-cookie-session-id=") && cookie.ends_with("; Max-Age=900"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let shop = header(&first, "x-fc-instance-id");
    for _ in 0..3 {
        let r = client
            .get(format!("{}/shop/", up.url))
            .header("cookie", &pair)
            .send()
            .await
            .unwrap();
        assert_eq!(header(&r, "x-fc-instance-id"), shop);
        assert_eq!(header(&r, "set-cookie"), "");
    }

    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// The MCP example, one session per instance, driven by the official MCP Python SDK: two sessions at once
/// on each transport, each keeping notes only it can read back.
const MCP_CLIENT: &str = r#"
import anyio, json, sys
from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamablehttp_client

base = sys.argv[1]

async def use(session, name):
    await session.initialize()
    tools = [t.name for t in (await session.list_tools()).tools]
    for i in range(2):
        await session.call_tool("remember", {"note": f"{name}-{i}"})
    recalled = json.loads((await session.call_tool("recall", {})).content[0].text)
    return {"tools": tools, **recalled}

async def over_sse(name, out):
    async with sse_client(f"{base}/sse") as (read, write):
        async with ClientSession(read, write) as session:
            out[name] = await use(session, name)

async def over_streamable(name, out):
    async with streamablehttp_client(f"{base}/mcp") as (read, write, session_id):
        async with ClientSession(read, write) as session:
            out[name] = await use(session, name)
            out[name]["sessionId"] = session_id()

async def main():
    out = {}
    async with anyio.create_task_group() as group:
        group.start_soon(over_sse, "sse-a", out)
        group.start_soon(over_sse, "sse-b", out)
        group.start_soon(over_streamable, "http-a", out)
        group.start_soon(over_streamable, "http-b", out)
    print(json.dumps(out))

anyio.run(main)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mcp_example_keeps_each_sdk_session_on_its_instance_over_both_transports() {
    let docker = docker_with(&[CUSTOM_IMAGE]).await;
    let project = TestProject::copy_of(std::path::Path::new("mcp-example"));
    let yaml = std::fs::read_to_string(project.path().join("s.yaml")).unwrap();
    std::fs::write(
        project.path().join("s.yaml"),
        yaml.replace(
            "sessionConcurrencyPerInstance: 2",
            "sessionConcurrencyPerInstance: 1",
        ),
    )
    .unwrap();
    let up = Up::start_on(project.path(), "127.0.0.1:0", &[]);
    wait_for_output(&up, "Ctrl-C").await;

    let out = Command::new(sdk_python())
        .args(["-c", MCP_CLIENT, &up.url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{:#?}",
        text(&out.stderr),
        up.output()
    );
    let sessions: Value = serde_json::from_slice(&out.stdout).unwrap();
    for name in ["sse-a", "sse-b", "http-a", "http-b"] {
        let s = &sessions[name];
        assert_eq!(
            s["tools"],
            serde_json::json!(["remember", "recall"]),
            "{sessions}"
        );
        assert_eq!(
            s["notes"],
            serde_json::json!([format!("{name}-0"), format!("{name}-1")]),
            "each session reads its own notes back: {sessions}"
        );
        assert_eq!(
            s["initialized"], true,
            "the Initializer ran first: {sessions}"
        );
    }
    assert_ne!(sessions["sse-a"]["instance"], sessions["sse-b"]["instance"]);
    assert_ne!(
        sessions["http-a"]["instance"],
        sessions["http-b"]["instance"]
    );

    // fcemu saw four sessions begin, each named as its server named it, and end: the Streamable ones by
    // the client's DELETE, the SSE ones with their streams.
    let ended = until_events(&up, "session.ended", 4).await;
    let started = events_named(&up, "session.started").await;
    assert_eq!(started.len(), 4, "{started:?}");
    for name in ["http-a", "http-b"] {
        let id = &sessions[name]["sessionId"];
        assert!(
            started.iter().any(|e| e["sessionId"] == *id),
            "{id} {started:?}"
        );
        let end = ended.iter().find(|e| e["sessionId"] == *id).unwrap();
        assert_eq!(end["reason"], "deleted", "{end}");
    }
    let closed = ended.iter().filter(|e| e["reason"] == "closed").count();
    assert_eq!(closed, 2, "{ended:?}");

    // A stream still open when `up` stops is ended by it: a stopping `up` does not wait out the
    // function's timeout (600 s) for it.
    let mut stream = reqwest::get(format!("{}/sse", up.url)).await.unwrap();
    let first = String::from_utf8_lossy(&stream.chunk().await.unwrap().unwrap()).to_string();
    assert!(first.starts_with("event: endpoint"), "{first}");
    let mut up = up;
    up.signal("TERM");
    let (code, _) = up.wait(std::time::Duration::from_secs(30));
    assert_eq!(code, 0);
    while let Ok(Some(_)) = stream.chunk().await {}
    assert_no_containers_left(&docker, project.path()).await;
}
