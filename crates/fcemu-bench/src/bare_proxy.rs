//! The proxy floor: the least an HTTP/1 reverse proxy built on hyper can do. Each client connection gets
//! one upstream connection, and every request goes through unchanged, with no routing, no headers added and
//! no bookkeeping. It runs on a thread of its own with a one-thread runtime, as `fcemu up` serves by default,
//! so what fcemu adds over it is the cost of being an emulator rather than the cost of a hop.

use anyhow::{Context, Result};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// Starts the proxy in front of `upstream` and returns the address it listens on. It serves until the
/// process ends.
pub fn start(upstream: SocketAddr) -> Result<SocketAddr> {
    start_on("127.0.0.1:0".parse()?, upstream)
}

pub fn start_on(listen: SocketAddr, upstream: SocketAddr) -> Result<SocketAddr> {
    let listener = std::net::TcpListener::bind(listen)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    std::thread::Builder::new()
        .name("bare-proxy".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the proxy floor");
            runtime.block_on(serve(listener, upstream));
        })
        .context("starting the proxy floor's thread")?;
    Ok(addr)
}

async fn serve(listener: std::net::TcpListener, upstream: SocketAddr) {
    let listener = TcpListener::from_std(listener).expect("a listener");
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = client.set_nodelay(true);
            let Ok(sender) = dial(upstream).await else {
                return;
            };
            let sender = Arc::new(Mutex::new(sender));
            let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                let sender = sender.clone();
                async move {
                    let mut sender = sender.lock().await;
                    sender.ready().await?;
                    sender.send_request(req).await
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(client), service)
                .await;
        });
    }
}

async fn dial(upstream: SocketAddr) -> Result<SendRequest<Incoming>> {
    let stream = TcpStream::connect(upstream).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}
