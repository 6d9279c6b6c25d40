//! The load generator: HTTP/1.1 keep-alive connections, each sending one request after another. The same
//! code drives a container directly and fcemu's gateway, so the two are measured alike.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Connection> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Connection {
            sender,
            host: addr.to_string(),
        })
    }

    /// One request, its whole body read: status, headers, body.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> Result<(u16, http::HeaderMap, Bytes)> {
        self.sender.ready().await?;
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = self.sender.send_request(req.body(Full::new(body))?).await?;
        let status = resp.status().as_u16();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok((status, parts.headers, body))
    }

    /// One GET, its whole body read; returns the status and the response headers.
    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, http::HeaderMap)> {
        let (status, headers, _) = self.request("GET", path, headers, Bytes::new()).await?;
        Ok((status, headers))
    }
}

pub fn histogram() -> Histogram<u64> {
    // Microseconds, from 1 µs to 100 s, three significant digits.
    Histogram::new_with_bounds(1, 100_000_000, 3).expect("valid bounds")
}

pub fn ms(h: &Histogram<u64>, quantile: f64) -> f64 {
    h.value_at_quantile(quantile) as f64 / 1000.0
}

/// `count` requests one after another on one connection (after `warmup` unmeasured ones), to `paths` in
/// turn.
pub async fn latency(
    addr: SocketAddr,
    paths: &[&str],
    warmup: usize,
    count: usize,
    into: &mut Histogram<u64>,
) -> Result<()> {
    let mut conn = Connection::open(addr).await?;
    let mut paths = paths.iter().cycle();
    for _ in 0..warmup {
        conn.get(paths.next().context("no path")?, &[]).await?;
    }
    for _ in 0..count {
        let path = paths.next().context("no path")?;
        let started = Instant::now();
        let (status, _) = conn.get(path, &[]).await?;
        if status != 200 {
            bail!("GET {path} on {addr} answered {status}");
        }
        into.record(started.elapsed().as_micros().max(1) as u64)?;
    }
    Ok(())
}

/// Requests per second with `connections` connections sending as fast as they are answered, for `span`.
pub async fn throughput(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    span: Duration,
) -> Result<f64> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        let mut c = Connection::open(addr).await?;
        c.get(path, &[]).await?; // warm the connection
        conns.push(c);
    }
    let started = Instant::now();
    let deadline = started + span;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|mut c| {
            let path = path.to_string();
            tokio::spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    let (status, _) = c.get(&path, &[]).await?;
                    if status != 200 {
                        bail!("answered {status} under load");
                    }
                    done += 1;
                }
                Ok(done)
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}
