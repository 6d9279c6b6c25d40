//! An engine reached over SSH (`ssh://user@host[:port]`), as the docker CLI reaches one: the Engine API
//! travels through `docker system dial-stdio` run on that host. One SSH master connection is opened for
//! the whole run, and every API connection is a channel multiplexed over it: a new connection (the event
//! stream, a log follow, a burst of creates) costs a channel, not an SSH handshake. bollard's own SSH
//! connector launches a master per pooled connection, which is why fcemu does not use it.
//!
//! `FCEMU_SSH_CONFIG` names an ssh_config file to use instead of `~/.ssh/config` (ssh finds `~` from the
//! password database, not `$HOME`, so this is how a CI job gives its own key and known host).

use bollard::{BollardRequest, Docker};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Connects to the engine at `url` over one SSH master; `timeout_s` is bollard's per-request timeout.
pub(super) async fn connect(
    url: &str,
    config: Option<&str>,
    timeout_s: u64,
) -> Result<Docker, openssh::Error> {
    let mut builder = openssh::SessionBuilder::default();
    if let Some(config) = config {
        builder.config_file(config);
    }
    // No prompt can be answered: a password or an unknown host key fails at once, with ssh's own words.
    builder.known_hosts_check(openssh::KnownHosts::Strict);
    // The master ends with the run (the session's drop asks it to); should this process be killed, it ends
    // on its own once no channel has been open for a few seconds (the event stream holds one while fcemu
    // runs).
    builder.control_persist(openssh::ControlPersist::IdleFor(
        std::num::NonZeroUsize::new(5).unwrap(),
    ));
    let session = Arc::new(builder.connect(url).await?);
    let client = Client::builder(TokioExecutor::new()).build(DialStdio { session });
    let transport = move |request: BollardRequest| {
        let client = client.clone();
        async move { Ok(client.request(request).await?) }
    };
    // The address only fills the requests' URIs: the connector ignores it.
    Ok(Docker::connect_with_custom_transport(
        transport,
        Some("http://engine-over-ssh"),
        timeout_s,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("a custom transport needs no setup that can fail"))
}

/// Opens an API connection: `docker system dial-stdio` on the engine's host, over the shared master.
#[derive(Clone)]
struct DialStdio {
    session: Arc<openssh::Session>,
}

impl tower_service::Service<hyper::Uri> for DialStdio {
    type Response = Channel;
    type Error = openssh::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Channel, openssh::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let session = self.session.clone();
        Box::pin(async move {
            let mut child = session
                .arc_command("docker")
                .args(["system", "dial-stdio"])
                .stdin(openssh::Stdio::piped())
                .stdout(openssh::Stdio::piped())
                .stderr(openssh::Stdio::null())
                .spawn()
                .await?;
            let (Some(stdin), Some(stdout)) = (child.stdin().take(), child.stdout().take()) else {
                unreachable!("both were asked for as pipes")
            };
            Ok(Channel {
                io: TokioIo::new(tokio::io::join(stdout, stdin)),
                _child: child,
            })
        })
    }
}

/// One API connection: the remote dial-stdio's output and input. Dropping it closes its input, which
/// ends that process.
struct Channel {
    io: TokioIo<tokio::io::Join<openssh::ChildStdout, openssh::ChildStdin>>,
    _child: openssh::Child<Arc<openssh::Session>>,
}

impl hyper::rt::Read for Channel {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Channel {
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

impl Connection for Channel {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}
