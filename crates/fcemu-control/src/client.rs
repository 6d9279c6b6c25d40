//! The pooled HTTP client fcemu uses to reach instances: hyper-util's client over the runtime's `connect`,
//! so the same code talks TCP to Docker containers and in-memory pipes to the fake runtime.

use bytes::Bytes;
use fcemu_runtime::{Connection, ContainerRuntime};
use futures_util::future::BoxFuture;
use http::Uri;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::Connected;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// Request and response bodies on every path: streamed, never collected whole.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;
pub type InstanceClient = Client<InstanceConnector, Body>;

pub fn empty_body() -> Body {
    use http_body_util::BodyExt;
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn full_body(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn new_client(runtime: Arc<dyn ContainerRuntime>) -> InstanceClient {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(InstanceConnector { runtime })
}

/// Connects to `http://ADDR` URIs through the container runtime.
#[derive(Clone)]
pub struct InstanceConnector {
    runtime: Arc<dyn ContainerRuntime>,
}

impl tower_service::Service<Uri> for InstanceConnector {
    type Response = InstanceIo;
    type Error = std::io::Error;
    type Future = BoxFuture<'static, std::io::Result<InstanceIo>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let addr: SocketAddr = uri
                .authority()
                .and_then(|a| a.as_str().parse().ok())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("not an instance address: {uri}"),
                    )
                })?;
            let conn = runtime.connect(addr).await?;
            Ok(InstanceIo {
                io: TokioIo::new(conn),
            })
        })
    }
}

/// A connection to an instance, as hyper's client wants it.
pub struct InstanceIo {
    io: TokioIo<Box<dyn Connection>>,
}

impl hyper_util::client::legacy::connect::Connection for InstanceIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for InstanceIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for InstanceIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
