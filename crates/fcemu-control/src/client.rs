//! The HTTP connections fcemu keeps to each instance.
//!
//! Each instance has its own small pool of HTTP/1 connections. A connection goes back to the pool the
//! moment the response body it carried has been read to its end (the invoke path's body wrapper does
//! it), so the next request always finds it: a general-purpose pooled client returns connections only once
//! its connection task has noticed, and a request that comes first dials a new connection to the container.
//! Connections are opened through the runtime, so the same code talks TCP to Docker and in-memory pipes to
//! the fake runtime.

use bytes::Bytes;
use fcemu_runtime::ContainerRuntime;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::Mutex;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Request and response bodies on every path: streamed, never collected whole.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

pub fn empty_body() -> Body {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Idle connections kept per instance: beyond this, a returned connection is closed.
const IDLE_KEPT: usize = 64;

/// One instance's idle HTTP/1 connections.
#[derive(Default)]
pub struct Connections {
    idle: Mutex<Vec<SendRequest<Body>>>,
}

impl Connections {
    /// An idle connection that still works, or a new one.
    pub async fn checkout(
        &self,
        runtime: &dyn ContainerRuntime,
        addr: SocketAddr,
    ) -> Result<SendRequest<Body>, BoxError> {
        match self.idle().await {
            Some(sender) => Ok(sender),
            None => dial(runtime, addr).await,
        }
    }

    /// An idle connection that still works, if there is one.
    pub async fn idle(&self) -> Option<SendRequest<Body>> {
        loop {
            let mut sender = self.idle.lock().unwrap().pop()?;
            // A connection the server has closed meanwhile fails here and is dropped.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Closes the idle connections (their instance's process is gone).
    pub fn clear(&self) {
        self.idle.lock().unwrap().clear();
    }

    /// Gives back a connection whose last response was read to its end.
    pub fn checkin(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap();
        if idle.len() < IDLE_KEPT {
            idle.push(sender);
        }
    }

    /// A request whose (small) answer is read whole: hooks and health probes.
    pub async fn call(
        &self,
        runtime: &dyn ContainerRuntime,
        addr: SocketAddr,
        mut req: Request<Body>,
    ) -> Result<(StatusCode, Bytes), BoxError> {
        if !req.headers().contains_key(http::header::HOST) {
            req.headers_mut().insert(
                http::header::HOST,
                HeaderValue::from_str(&addr.to_string())?,
            );
        }
        let mut sender = self.checkout(runtime, addr).await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        self.checkin(sender);
        Ok((status, body))
    }
}

/// A new HTTP/1 connection to an instance's port.
pub async fn dial(
    runtime: &dyn ContainerRuntime,
    addr: SocketAddr,
) -> Result<SendRequest<Body>, BoxError> {
    let io = runtime.connect(addr).await?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Whether an error was caused by an I/O error of this kind (a reset connection, a dial that timed out).
pub(crate) fn has_io_cause(
    e: &(dyn std::error::Error + 'static),
    kind: std::io::ErrorKind,
) -> bool {
    std::iter::successors(Some(e), |e| e.source()).any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
    })
}
