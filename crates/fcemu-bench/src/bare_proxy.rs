//! The proxy floor: the least an HTTP/1 reverse proxy built on hyper can do. Each client connection gets
//! one upstream connection, and every request goes through unchanged, with no routing, no headers added and
//! no bookkeeping. It runs as a process of its own on a one-thread runtime, as `fcemu up` does by default,
//! so what fcemu adds over it is the cost of being an emulator rather than the cost of a hop.

use anyhow::{Context, Result, bail};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// The floor running as a child process (this same binary with `--bare-proxy`); killed when dropped.
pub struct BareProxy {
    child: Child,
    pub addr: SocketAddr,
}

impl BareProxy {
    pub fn spawn(upstream: SocketAddr) -> Result<BareProxy> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg("--bare-proxy")
            .arg(upstream.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting the proxy floor")?;
        let mut line = String::new();
        let stdout = child.stdout.take().context("the proxy floor's stdout")?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        match line.trim().parse() {
            Ok(addr) => Ok(BareProxy { child, addr }),
            Err(_) => {
                let _ = child.kill();
                bail!("the proxy floor did not say where it listens (said {line:?})")
            }
        }
    }
}

impl Drop for BareProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The child's side: listens on `listen`, prints the address on stdout, and serves until killed.
pub async fn run(listen: SocketAddr, upstream: SocketAddr) -> Result<()> {
    let listener = TcpListener::bind(listen).await?;
    println!("{}", listener.local_addr()?);
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
