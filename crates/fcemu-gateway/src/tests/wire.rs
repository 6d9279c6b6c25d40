//! The gateway served on a real socket: what clients that send bad bodies or half a request get, shutdown
//! with such clients connected, and requests from a rebound name or a foreign page.

use super::*;

/// The gateway served on a real socket, for what clients send on the wire.
struct Served {
    addr: std::net::SocketAddr,
    cp: ControlPlane,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

async fn served(options: ServeOptions) -> Served {
    let (cp, _fake) = plane(THREE);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(
        listener,
        cp.clone(),
        async {
            let _ = stopped.await;
        },
        options,
    ));
    Served {
        addr,
        cp,
        stop: Some(stop),
        server,
    }
}

/// Sends raw bytes on a new connection and reads until the server closes it; the status code.
fn raw_exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer and close before it has read all of a bad body.
    let _ = stream.write_all(body);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn instance_of(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (status, text) = tokio::task::spawn_blocking(move || raw_exchange(addr, &head, b""))
        .await
        .unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("x-fc-instance-id: "))
        .unwrap_or("")
        .to_string();
    (status, id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_oversized_chunked_body_is_the_clients_fault_and_the_instance_serves_on() {
    let s = served(ServeOptions::default()).await;
    let (status, before) = instance_of(s.addr, "/api/warm").await;
    assert_eq!(status, 200);
    let chunked = "POST /api/body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut oversized = Vec::new();
    let chunk = vec![b'a'; 1024 * 1024];
    for _ in 0..(MAX_BODY_BYTES / chunk.len() + 2) {
        oversized.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        oversized.extend_from_slice(&chunk);
        oversized.extend_from_slice(b"\r\n");
    }
    oversized.extend_from_slice(b"0\r\n\r\n");
    let cases: [(&[u8], &str); 3] = [
        (b"zz\r\nabc\r\n0\r\n\r\n", "could not be read"),
        (b"5\r\nabcdefghij\r\n0\r\n\r\n", "could not be read"),
        (&oversized, "over 32 MB"),
    ];
    for (body, needle) in cases {
        let body = body.to_vec();
        let (status, text) =
            tokio::task::spawn_blocking(move || raw_exchange(s.addr, chunked, &body))
                .await
                .unwrap();
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("InvalidArgument") && text.contains(needle),
            "{text}"
        );
        assert!(!text.contains("UnhandledInvocationError"), "{text}");
    }
    let (status, after) = instance_of(s.addr, "/api/again").await;
    assert_eq!(status, 200);
    assert_eq!(after, before, "the instance was not blamed: it serves on");
    assert!(
        s.cp.events()
            .snapshot()
            .iter()
            .all(|e| e.event != "instance.destroyed"),
        "no instance was destroyed"
    );
    stop(s).await;
}

async fn stop(mut s: Served) {
    s.cp.shutdown(Duration::from_secs(1)).await;
    let _ = s.stop.take().unwrap().send(());
    s.server.await.unwrap();
    assert_eq!(s.cp.illegal_transitions(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_closed_after_the_header_read_timeout() {
    let s = served(ServeOptions {
        header_read_timeout: Duration::from_millis(300),
        ..ServeOptions::default()
    })
    .await;
    let addr = s.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut streams: Vec<std::net::TcpStream> = (0..50)
            .map(|_| {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                stream.write_all(b"GET /api/x HT").unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                stream
            })
            .collect();
        // Each is closed by the server (a 408 or nothing, then the end of the stream), not held.
        streams
            .iter_mut()
            .map(|stream| {
                let mut rest = Vec::new();
                stream.read_to_end(&mut rest).is_ok()
            })
            .filter(|closed| *closed)
            .count()
    })
    .await
    .unwrap();
    assert_eq!(closed, 50, "every half-sent connection was closed");
    stop(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_half_sent_requests_or_event_followers() {
    let s = served(ServeOptions::default()).await;
    let addr = s.addr;
    // Connections that sent half a request line, and one following the event stream.
    let halves: Vec<std::net::TcpStream> = (0..100)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET /api/x HT").unwrap();
            stream
        })
        .collect();
    let follower = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            &format!("GET /_fcemu/events?follow=true HTTP/1.1\r\nHost: {addr}\r\n\r\n"),
            b"",
        )
    });
    let (status, _) = instance_of(addr, "/api/x").await;
    assert_eq!(status, 200);
    let started = tokio::time::Instant::now();
    stop(s).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(3),
        "shutdown took {took:?}: half-sent requests or followers held it"
    );
    // The follower got the whole stream, to the last instance.destroyed, and then its end.
    let (_, text) = follower.await.unwrap();
    assert!(text.contains("instance.destroyed"), "{text}");
    drop(halves);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebound_name_or_a_foreign_page_cannot_drive_the_api_but_trigger_traffic_stays_open() {
    let s = served(ServeOptions::default()).await;
    let addr = s.addr;
    let exchange = move |head: String, body: &'static [u8]| {
        tokio::task::spawn_blocking(move || raw_exchange(addr, &head, body))
    };
    // A page on attacker.example whose name now resolves to 127.0.0.1: same origin to the browser.
    let rebound = format!("attacker.example:{}", addr.port());
    for path in [
        "/_fcemu/functions",
        "/_fcemu/logs",
        "/2023-03-30/functions/api",
    ] {
        let head = format!("GET {path} HTTP/1.1\r\nHost: {rebound}\r\nConnection: close\r\n\r\n");
        let (status, text) = exchange(head, b"").await.unwrap();
        assert_eq!(status, 403, "{path}: {text}");
        assert!(text.contains("rebinding"), "{text}");
    }
    // UpdateFunction with a command Initializer, posted by another origin's page (no rebinding needed).
    let update = br#"{"environmentVariables": {"PWNED": "1"}}"#;
    let head = format!(
        "PUT /2023-03-30/functions/api HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://attacker.example\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        update.len()
    );
    let (status, text) = exchange(head, update).await.unwrap();
    assert_eq!(status, 403, "{text}");
    assert!(
        !s.cp
            .function("api")
            .unwrap()
            .spec
            .environment_variables
            .contains_key("PWNED")
    );
    // The same from fcemu's own page is applied.
    let head = format!(
        "PUT /2023-03-30/functions/api HTTP/1.1\r\nHost: localhost:{port}\r\nOrigin: http://localhost:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        update.len(),
        port = addr.port()
    );
    let (status, text) = exchange(head, update).await.unwrap();
    assert_eq!(status, 200, "{text}");
    // Trigger traffic keeps FC's behaviour, whatever the name.
    let head = format!("GET /api/hello HTTP/1.1\r\nHost: {rebound}\r\nConnection: close\r\n\r\n");
    let (status, text) = exchange(head, b"").await.unwrap();
    assert_eq!(status, 200, "{text}");
    stop(s).await;
}
