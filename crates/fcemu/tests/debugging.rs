//! `up --debug` on Docker: a Python function under debugpy (a Debug Adapter Protocol client, attached with
//! what `fcemu debug-config` prints, stops the cold start at a breakpoint in the Initializer while the request
//! waits), a Node.js function under its inspector (`/json/list` on the published port names fcemu's runtime;
//! a breakpoint set through the inspector's WebSocket stops a request in the handler; the instance is not
//! frozen), a Java function held by `--debug-wait` until a JDWP client resumes its JVM, a Go executable
//! halted under Delve until its JSON-RPC API continues it, a custom runtime's python3 under debugpy stopping a
//! request at a breakpoint, a custom container
//! with `--debug-args` (its command line carries them, the port is published on the listen host), a Python
//! function that keeps debugpy through a `--watch` reload, and a function that is not there refused.

mod common;

use common::up::*;
use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_function_runs_under_its_inspector_on_the_published_port() {
    let docker = docker_with(&["fcemu-runtime-nodejs:bookworm"]).await;
    let project = TestProject::copy_of(Path::new("node-example"));
    let port = free_port();
    let debug = format!("node-greeter={port}");
    let up = Up::start_on(project.path(), "127.0.0.1:0", &["--debug", &debug]);
    wait_for_output(&up, "Ctrl-C").await;
    assert!(
        up.printed(&format!(
            "node-greeter         under a debugger at 127.0.0.1:{port}: one instance, never frozen nor reclaimed, timeouts lifted"
        )),
        "{:#?}",
        up.output()
    );
    let client = reqwest::Client::new();
    let r = client
        .get(format!("{}/hello?name=Ada", up.url))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:?}", r.status());
    let targets: Value = client
        .get(format!("http://127.0.0.1:{port}/json/list"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let target = &targets[0];
    assert!(
        target["url"]
            .as_str()
            .unwrap()
            .ends_with("/var/fcemu/runtime/bootstrap.js"),
        "{targets}"
    );
    assert!(
        target["webSocketDebuggerUrl"].as_str().is_some(),
        "{targets}"
    );
    // Answered, and not frozen under the debugger (a function that is not debugged is, at once).
    assert!(events_named(&up, "instance.frozen").await.is_empty());
    assert_eq!(paused_states(project.path()), [false]);

    // A breakpoint on the handler's first line, through the inspector's WebSocket, stops the next request.
    let source = std::fs::read_to_string(project.path().join("code/index.js")).unwrap();
    let line = source
        .lines()
        .position(|l| l.contains("const request = JSON.parse(event);"))
        .unwrap(); // the protocol counts lines from 0
    let ws = target["webSocketDebuggerUrl"].as_str().unwrap();
    let mut inspector = Inspector::connect(ws).await;
    inspector
        .call("Debugger.enable", serde_json::json!({}))
        .await;
    let set = inspector
        .call(
            "Debugger.setBreakpointByUrl",
            serde_json::json!({ "urlRegex": "index\\.js$", "lineNumber": line }),
        )
        .await;
    assert!(set["result"]["breakpointId"].is_string(), "{set}");
    let url = format!("{}/hello?name=Grace", up.url);
    let request = tokio::spawn(async move { reqwest::get(url).await.unwrap() });
    let paused = inspector.event("Debugger.paused").await;
    let frame = &paused["params"]["callFrames"][0];
    assert_eq!(frame["location"]["lineNumber"], line, "{paused}");
    assert_eq!(frame["functionName"], "exports.handler", "{paused}");
    assert_eq!(
        paused["params"]["hitBreakpoints"].as_array().unwrap().len(),
        1,
        "{paused}"
    );
    assert!(
        !request.is_finished(),
        "the request waits at the breakpoint"
    );
    inspector
        .call("Debugger.resume", serde_json::json!({}))
        .await;
    let answered = request.await.unwrap();
    assert!(answered.status().is_success());
    assert!(answered.text().await.unwrap().contains("hello, Grace"));
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_container_gets_its_debug_args_and_its_port_published() {
    let docker = docker_with(&[FIXTURE_IMAGE]).await;
    let project = TestProject::with_yaml(&format!(
        r#"edition: 3.0.0
name: debug-args
resources:
  fixture:
    component: fc3
    props:
      functionName: fixture
      runtime: custom-container
      customContainerConfig: {{ image: "{FIXTURE_IMAGE}", port: 9000, command: ["/usr/local/bin/fcemu-fixture"] }}
      triggers:
        - {{ triggerName: http, triggerType: http, triggerConfig: {{ methods: [GET] }} }}
"#
    ));
    let port = free_port();
    let debug = format!("fixture={port}");
    let up = Up::start_on(
        project.path(),
        "127.0.0.1:0",
        &["--debug", &debug, "--debug-args", "--debugger-port 7777"],
    );
    wait_for_output(&up, "Ctrl-C").await;
    let r = reqwest::get(format!("{}/state", up.url)).await.unwrap();
    assert!(r.status().is_success());
    let ids = container_ids(project.path());
    let inspect = |format: &str| {
        let out = Command::new("docker")
            .args(["inspect", "-f", format, &ids[0]])
            .output()
            .unwrap();
        text(&out.stdout).trim().to_string()
    };
    assert_eq!(
        inspect("{{json .Args}}"),
        r#"["/usr/local/bin/fcemu-fixture","--debugger-port","7777"]"#
    );
    let bindings: Value =
        serde_json::from_str(&inspect("{{json .HostConfig.PortBindings}}")).unwrap();
    let binding = &bindings[format!("{port}/tcp")][0];
    assert_eq!(binding["HostIp"], "127.0.0.1", "{bindings}");
    assert_eq!(binding["HostPort"], port.to_string(), "{bindings}");
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[test]
fn a_function_to_debug_that_is_not_there_is_refused_with_the_list() {
    let project = TestProject::fixture(&[], "");
    let out = fcemu_in(
        project.path(),
        &["up", "--listen", "127.0.0.1:0", "--debug", "nobody"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("--debug nobody: no such function in this project, allowed: fixture"),
        "{}",
        text(&out.stderr)
    );
}

/// A client of the Node.js inspector (the Chrome DevTools Protocol over a WebSocket): calls, and events.
struct Inspector {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    id: i64,
    seen: Vec<Value>,
}

impl Inspector {
    async fn connect(url: &str) -> Inspector {
        let (socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Inspector {
            socket,
            id: 0,
            seen: Vec::new(),
        }
    }

    /// The next message that `matches`, within a minute (the others kept).
    async fn next(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        use futures_util::StreamExt;
        if let Some(i) = self.seen.iter().position(&matches) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next()).await;
            let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) = message else {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "no {what}: {:#?}",
                    self.seen
                );
                continue;
            };
            let m: Value = serde_json::from_str(&text).unwrap();
            if matches(&m) {
                return m;
            }
            self.seen.push(m);
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        use futures_util::SinkExt;
        self.id += 1;
        let id = self.id;
        let message =
            serde_json::json!({ "id": id, "method": method, "params": params }).to_string();
        self.socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                message.into(),
            ))
            .await
            .unwrap();
        self.next(method, |m| m["id"] == id).await
    }

    async fn event(&mut self, method: &str) -> Value {
        self.next(method, |m| m["method"] == method).await
    }
}

/// A Debug Adapter Protocol client over TCP: requests out, every message in (responses and events) kept in
/// arrival order for `wait` to look through.
struct Dap {
    writer: tokio::net::tcp::OwnedWriteHalf,
    incoming: tokio::sync::mpsc::UnboundedReceiver<Value>,
    seen: Vec<Value>,
    seq: i64,
}

impl Dap {
    /// Connects and initializes once the adapter answers: the container starts with the first request, and
    /// until its process listens the engine's proxy accepts a connection and drops it.
    async fn initialize(port: u16) -> Dap {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            assert!(
                std::time::Instant::now() < deadline,
                "the debugger never answered on {port}"
            );
            let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            };
            let mut dap = Dap::over(stream);
            let seq = dap
                .send(
                    "initialize",
                    serde_json::json!({ "adapterID": "fcemu-test", "clientID": "fcemu-test",
                                        "pathFormat": "path", "linesStartAt1": true, "columnsStartAt1": true }),
                )
                .await;
            let answered = tokio::time::timeout(std::time::Duration::from_secs(2), async {
                loop {
                    match dap.incoming.recv().await {
                        Some(m) if m["type"] == "response" && m["request_seq"] == seq => {
                            return true;
                        }
                        Some(_) => {}
                        None => return false,
                    }
                }
            })
            .await;
            if answered == Ok(true) {
                return dap;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    fn over(stream: tokio::net::TcpStream) -> Dap {
        let (reader, writer) = stream.into_split();
        let (tx, incoming) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
            let mut reader = BufReader::new(reader);
            loop {
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(n) = line.strip_prefix("Content-Length:") {
                        length = n.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).await.is_err() {
                    return;
                }
                let _ = tx.send(serde_json::from_slice(&body).unwrap());
            }
        });
        Dap {
            writer,
            incoming,
            seen: Vec::new(),
            seq: 0,
        }
    }

    async fn send(&mut self, command: &str, arguments: Value) -> i64 {
        use tokio::io::AsyncWriteExt;
        self.seq += 1;
        let body = serde_json::json!({ "seq": self.seq, "type": "request", "command": command, "arguments": arguments })
            .to_string();
        let message = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        // A write to a connection the proxy dropped fails: the answer that never comes says so.
        let _ = self.writer.write_all(message.as_bytes()).await;
        self.seq
    }

    /// The first message (past or to come) that `matches`, within a minute.
    async fn wait(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.seen.iter().position(&matches) {
            return self.seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Ok(Some(m)) if matches(&m) => return m,
                Ok(Some(m)) => self.seen.push(m),
                _ => panic!("no {what} from the debugger; it sent {:#?}", self.seen),
            }
        }
    }

    async fn response(&mut self, seq: i64) -> Value {
        let r = self
            .wait("response", |m| {
                m["type"] == "response" && m["request_seq"] == seq
            })
            .await;
        assert_eq!(r["success"], true, "{r}");
        r
    }

    async fn event(&mut self, name: &str) -> Value {
        self.wait(name, |m| m["type"] == "event" && m["event"] == name)
            .await
    }

    /// The stopped thread's stack.
    async fn stack(&mut self, thread: &Value) -> Value {
        let trace = self
            .send("stackTrace", serde_json::json!({ "threadId": thread }))
            .await;
        self.response(trace).await
    }

    /// Attaches with `configuration` and one breakpoint, as an IDE does: attach, then (once initialized)
    /// the breakpoints and configurationDone, then the attach's answer. Returns the breakpoints' answer.
    async fn attach(&mut self, configuration: Value, file: &Path, line: usize) -> Value {
        let attach = self.send("attach", configuration).await;
        self.event("initialized").await;
        let set = self
            .send(
                "setBreakpoints",
                serde_json::json!({ "source": { "path": file }, "breakpoints": [{ "line": line }] }),
            )
            .await;
        let verified = self.response(set).await;
        let done = self.send("configurationDone", serde_json::json!({})).await;
        self.response(done).await;
        self.response(attach).await;
        verified
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_breakpoint_in_a_python_initializer_holds_the_cold_start_until_the_debugger_continues() {
    let docker = docker_with(&["fcemu-runtime-python:bookworm"]).await;
    let project = TestProject::copy_of(Path::new("python-example"));
    let code = project.path().join("code").canonicalize().unwrap();
    let source = std::fs::read_to_string(code.join("index.py")).unwrap();
    // The Initializer's first statement (its `global` line is not one).
    let line = source
        .lines()
        .position(|l| l.starts_with("    MODEL = {"))
        .unwrap()
        + 1;
    let port = free_port();
    let debug = format!("py-tagger={port}");
    let up = Up::start_on(
        project.path(),
        "127.0.0.1:0",
        &["--debug", &debug, "--debug-wait", "--idle-timeout", "1s"],
    );
    wait_for_output_within(&up, "Ctrl-C", std::time::Duration::from_secs(300)).await;
    // The first request starts the instance, whose process waits for the debugger.
    let url = format!("{}/tags", up.url);
    let request = tokio::spawn(async move {
        reqwest::Client::new()
            .post(url)
            .body("the lighthouse keeper fed the cat")
            .send()
            .await
            .unwrap()
    });
    let mut dap = Dap::initialize(port).await;
    // Attached as VS Code would be, with what `fcemu debug-config` prints for it.
    let printed = fcemu_in(
        project.path(),
        &[
            "debug-config",
            "py-tagger",
            "--ide",
            "vscode",
            "--port",
            &port.to_string(),
        ],
    );
    assert!(printed.status.success(), "{}", text(&printed.stderr));
    let workspace = project.path().canonicalize().unwrap();
    let launch = text(&printed.stdout).replace("${workspaceFolder}", workspace.to_str().unwrap());
    let launch: Value = serde_json::from_str(&launch).unwrap();
    let configuration = &launch["configurations"][0];
    assert_eq!(configuration["connect"]["port"], port);
    let verified = dap
        .attach(configuration.clone(), &code.join("index.py"), line)
        .await;
    assert_eq!(
        verified["body"]["breakpoints"][0]["verified"], true,
        "{verified}"
    );

    // The Initializer stops at the breakpoint, with the request held.
    let stopped = dap.event("stopped").await;
    assert_eq!(stopped["body"]["reason"], "breakpoint", "{stopped}");
    assert!(
        !request.is_finished(),
        "the request waits for the Initializer"
    );
    let thread = stopped["body"]["threadId"].clone();
    let frames = dap.stack(&thread).await;
    let top = &frames["body"]["stackFrames"][0];
    assert_eq!(top["name"], "initialize", "{frames}");
    assert_eq!(top["line"], line, "{frames}");
    assert_eq!(
        top["source"]["path"].as_str().unwrap(),
        code.join("index.py").to_str().unwrap(),
        "the path maps back to the project's code: {frames}"
    );
    let go_on = dap
        .send("continue", serde_json::json!({ "threadId": thread }))
        .await;
    dap.response(go_on).await;
    let answered = request.await.unwrap();
    assert!(answered.status().is_success(), "{:?}", answered.status());
    assert!(answered.text().await.unwrap().contains("animal:cat"));
    // Not frozen while the debugger is attached, and not reclaimed once idle past the idle timeout (1 s):
    // watched until fcemu's own record of its last request is 4 s old (the request took under 2 of them).
    assert!(events_named(&up, "instance.frozen").await.is_empty());
    assert_eq!(paused_states(project.path()), [false]);
    loop {
        let listed = up.get_json("/_fcemu/instances").await;
        let instances = listed["instances"].as_array().unwrap();
        assert_eq!(instances.len(), 1, "the debugged instance stays: {listed}");
        let last =
            humantime::parse_rfc3339_weak(instances[0]["lastRequestAt"].as_str().unwrap()).unwrap();
        let idle = std::time::SystemTime::now()
            .duration_since(last)
            .unwrap_or_default();
        if idle >= std::time::Duration::from_secs(4) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(events_named(&up, "instance.destroyed").await.is_empty());
    drop(dap);
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_debugged_python_function_keeps_its_debugger_through_a_watch_reload() {
    let docker = docker_with(&["fcemu-runtime-python:bookworm"]).await;
    let project = TestProject::copy_of(Path::new("python-example"));
    let debug = format!("py-tagger={}", free_port());
    let up = Up::start_on(
        project.path(),
        "127.0.0.1:0",
        &["--debug", &debug, "--watch"],
    );
    wait_for_output_within(&up, "Ctrl-C", std::time::Duration::from_secs(300)).await;
    let s_yaml = project.path().join("s.yaml");
    let yaml = std::fs::read_to_string(&s_yaml).unwrap();
    std::fs::write(
        &s_yaml,
        yaml.replace("MODEL: tiny-tagger-v1", "MODEL: tiny-tagger-v2"),
    )
    .unwrap();
    until_events(&up, "function.updated", 1).await;
    // The new version's instance starts under debugpy too (on the image that has it) and answers.
    let r = reqwest::Client::new()
        .post(format!("{}/tags", up.url))
        .body("the cat")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{:#?}", up.output());
    assert!(r.text().await.unwrap().contains("tiny-tagger-v2"));
    let ids = container_ids(project.path());
    let image = Command::new("docker")
        .args(["inspect", "-f", "{{.Config.Image}}", &ids[0]])
        .output()
        .unwrap();
    assert_eq!(
        text(&image.stdout).trim(),
        "fcemu-runtime-python-debugpy:bookworm"
    );
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

/// `up --debug FUNCTION=PORT --debug-wait` on the built example, and its first request sent: the instance it
/// starts waits for the debugger, and so does the request.
async fn held_cold_start(
    image: &str,
    example: &str,
    made: &str,
    function: &str,
) -> (
    fcemu_runtime::DockerRuntime,
    TestProject,
    Up,
    u16,
    tokio::task::JoinHandle<reqwest::Response>,
) {
    let docker = docker_with(&[image]).await;
    let project = common::example_walk::built_example(example, made);
    let port = free_port();
    let debug = format!("{function}={port}");
    let up = Up::start_on(
        project.path(),
        "127.0.0.1:0",
        &["--debug", &debug, "--debug-wait"],
    );
    wait_for_output_within(&up, "Ctrl-C", std::time::Duration::from_secs(300)).await;
    let url = format!("{}/hello", up.url);
    let request = tokio::spawn(async move { reqwest::get(url).await.unwrap() });
    (docker, project, up, port, request)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_java_function_waits_for_its_jdwp_debugger_and_runs_once_resumed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (docker, project, up, port, request) = held_cold_start(
        "fcemu-runtime-java:bookworm",
        "java-example",
        "code/target/java-fn.jar",
        "java-fn",
    )
    .await;
    // JDWP's handshake, once the agent listens (until then the engine's proxy drops the connection).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let mut jdwp = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "JDWP never answered on {port}"
        );
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let mut answer = [0u8; 14];
            if s.write_all(b"JDWP-Handshake").await.is_ok()
                && tokio::time::timeout(
                    std::time::Duration::from_secs(2),
                    s.read_exact(&mut answer),
                )
                .await
                .is_ok_and(|r| r.is_ok())
                && &answer == b"JDWP-Handshake"
            {
                break s;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Suspended until the debugger says: the request waits.
    assert!(!request.is_finished(), "the JVM waits for its debugger");
    // VirtualMachine.Resume (command set 1, command 9): length 11, id 1, flags 0.
    jdwp.write_all(&[0, 0, 0, 11, 0, 0, 0, 1, 0, 1, 9])
        .await
        .unwrap();
    // Its reply (flags 0x80, id 1), after the VM_START event the agent sends first.
    loop {
        let mut header = [0u8; 11];
        jdwp.read_exact(&mut header).await.unwrap();
        let length = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
        let mut rest = vec![0u8; length - 11];
        jdwp.read_exact(&mut rest).await.unwrap();
        if header[8] == 0x80 && header[4..8] == [0, 0, 0, 1] {
            assert_eq!(header[9..11], [0, 0], "no error: {header:?}");
            break;
        }
    }
    let answered = request.await.unwrap();
    assert!(answered.status().is_success(), "{:#?}", up.output());
    assert!(answered.text().await.unwrap().contains("hello from java"));
    drop(jdwp);
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_go_function_waits_under_delve_until_a_client_continues_it() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (docker, project, up, port, request) = held_cold_start(
        "fcemu-runtime-go:bookworm",
        "go-example",
        "code/target/main",
        "go-fn",
    )
    .await;
    // Delve's JSON-RPC API, once it answers (until its process listens the engine's proxy drops connections).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let (reader, mut writer) = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "Delve never answered on {port}"
        );
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let ask = r#"{"method":"RPCServer.State","params":[{"NonBlocking":true}],"id":1}"#;
            let mut line = String::new();
            if w.write_all(format!("{ask}\n").as_bytes()).await.is_ok()
                && tokio::time::timeout(std::time::Duration::from_secs(2), r.read_line(&mut line))
                    .await
                    .is_ok_and(|n| n.is_ok_and(|n| n > 0))
            {
                let state: Value = serde_json::from_str(&line).unwrap();
                assert!(state["error"].is_null(), "{state}");
                break (r, w);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    // Halted under Delve: the request waits.
    assert!(
        !request.is_finished(),
        "the executable waits for its debugger"
    );
    let go_on = r#"{"method":"RPCServer.Command","params":[{"name":"continue"}],"id":2}"#;
    writer
        .write_all(format!("{go_on}\n").as_bytes())
        .await
        .unwrap();
    let answered = request.await.unwrap();
    assert!(answered.status().is_success(), "{:#?}", up.output());
    assert!(answered.text().await.unwrap().contains("hello from go"));
    drop((reader, writer));
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_runtime_running_python3_stops_at_a_breakpoint_under_debugpy() {
    let docker = docker_with(&["fcemu-runtime-custom:bookworm"]).await;
    let project = TestProject::with_yaml(
        r#"edition: 3.0.0
name: custom-python
resources:
  web:
    component: fc3
    props:
      functionName: web
      runtime: custom.debian10
      code: ./code
      customRuntimeConfig: { command: [python3, app.py], port: 9000 }
      triggers:
        - { triggerName: http, triggerType: http, triggerConfig: { methods: [GET] } }
"#,
    );
    let code = project.path().join("code");
    std::fs::create_dir(&code).unwrap();
    let app = "from http.server import BaseHTTPRequestHandler, HTTPServer\n\n\nclass Handler(BaseHTTPRequestHandler):\n    def do_GET(self):\n        body = b\"served\"\n        self.send_response(200)\n        self.end_headers()\n        self.wfile.write(body)\n\n\nHTTPServer((\"0.0.0.0\", 9000), Handler).serve_forever()\n";
    std::fs::write(code.join("app.py"), app).unwrap();
    let line = app.lines().position(|l| l.contains("body = b")).unwrap() + 1;
    let code = code.canonicalize().unwrap();
    let port = free_port();
    let debug = format!("web={port}");
    let up = Up::start_on(project.path(), "127.0.0.1:0", &["--debug", &debug]);
    wait_for_output_within(&up, "Ctrl-C", std::time::Duration::from_secs(300)).await;
    // The first request starts the instance; the debugger attaches while it runs.
    let first = reqwest::get(format!("{}/", up.url)).await.unwrap();
    assert!(first.status().is_success(), "{:#?}", up.output());
    let mut dap = Dap::initialize(port).await;
    let configuration = serde_json::json!({ "justMyCode": true,
                                          "pathMappings": [{ "localRoot": code, "remoteRoot": "/code" }] });
    dap.attach(configuration, &code.join("app.py"), line).await;
    let url = format!("{}/", up.url);
    let request = tokio::spawn(async move { reqwest::get(url).await.unwrap() });
    let stopped = dap.event("stopped").await;
    let thread = stopped["body"]["threadId"].clone();
    let frames = dap.stack(&thread).await;
    let top = &frames["body"]["stackFrames"][0];
    assert_eq!(
        (&top["name"], &top["line"]),
        (&"do_GET".into(), &line.into()),
        "{frames}"
    );
    assert!(
        !request.is_finished(),
        "the request waits at the breakpoint"
    );
    let go_on = dap
        .send("continue", serde_json::json!({ "threadId": thread }))
        .await;
    dap.response(go_on).await;
    assert_eq!(request.await.unwrap().text().await.unwrap(), "served");
    drop(dap);
    assert_eq!(up.stop().0, 0);
    assert_no_containers_left(&docker, project.path()).await;
}
