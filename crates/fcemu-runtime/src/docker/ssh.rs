//! An engine reached over SSH (`ssh://user@host[:port]`), as the docker CLI reaches one: the Engine API
//! travels through `docker system dial-stdio` run on that host. Every API connection is a session
//! multiplexed over an SSH master connection: a new one (the event stream, a log follow, a burst of creates)
//! costs a session, not a handshake. sshd admits 10 sessions per connection (`MaxSessions`), and each
//! instance's log follow holds one, so a master carries at most `SESSIONS_PER_MASTER` and another is opened
//! when they are all taken. bollard's own SSH connector launches a master per pooled connection, which is
//! why fcemu does not use it.
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

/// Sessions one master carries: sshd's default `MaxSessions` is 10, and a server may count a session
/// that is closing a while longer.
const SESSIONS_PER_MASTER: usize = 8;

/// Connects to the engine at `url` over SSH masters, the first opened now (so a key or host that is refused
/// fails here); `timeout_s` is bollard's per-request timeout.
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
    // A master ends with the run (the session's drop asks it to); should this process be killed, it ends on
    // its own once none of its sessions has been open for a few seconds.
    builder.control_persist(openssh::ControlPersist::IdleFor(
        std::num::NonZeroUsize::new(5).unwrap(),
    ));
    let masters = Masters {
        builder,
        url: url.to_string(),
        open: Default::default(),
    };
    let first = masters.launch().await?;
    masters.open.lock().await.push(first);
    // Idle connections hold sessions a master could give a log follow: few are kept, not for long.
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(SESSIONS_PER_MASTER / 2)
        .pool_idle_timeout(std::time::Duration::from_secs(10))
        .build(DialStdio {
            masters: Arc::new(masters),
        });
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

/// The SSH masters to the engine's host, each with room for `SESSIONS_PER_MASTER` sessions.
struct Masters {
    builder: openssh::SessionBuilder,
    url: String,
    open: tokio::sync::Mutex<Vec<Master>>,
}

struct Master {
    session: Arc<openssh::Session>,
    room: Arc<tokio::sync::Semaphore>,
}

impl Masters {
    async fn launch(&self) -> Result<Master, openssh::Error> {
        Ok(Master {
            session: Arc::new(self.builder.connect(&self.url).await?),
            room: Arc::new(tokio::sync::Semaphore::new(SESSIONS_PER_MASTER)),
        })
    }

    /// A master with room for one more session, and that room; a new master when every one is full.
    async fn room(
        &self,
    ) -> Result<(Arc<openssh::Session>, tokio::sync::OwnedSemaphorePermit), openssh::Error> {
        let mut open = self.open.lock().await;
        // A master none of whose sessions is open may have ended on its own (ControlPersist): asked first.
        let mut ended = Vec::new();
        for (i, master) in open.iter().enumerate() {
            if master.room.available_permits() == SESSIONS_PER_MASTER
                && master.session.check().await.is_err()
            {
                ended.push(i);
            }
        }
        for i in ended.into_iter().rev() {
            open.remove(i);
        }
        for master in open.iter() {
            if let Ok(permit) = master.room.clone().try_acquire_owned() {
                return Ok((master.session.clone(), permit));
            }
        }
        let master = self.launch().await?;
        let permit = master
            .room
            .clone()
            .try_acquire_owned()
            .expect("a new master has room");
        let session = master.session.clone();
        open.push(master);
        Ok((session, permit))
    }
}

/// Opens an API connection: `docker system dial-stdio` on the engine's host, over a master with room.
#[derive(Clone)]
struct DialStdio {
    masters: Arc<Masters>,
}

impl tower_service::Service<hyper::Uri> for DialStdio {
    type Response = Channel;
    type Error = openssh::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Channel, openssh::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let masters = self.masters.clone();
        Box::pin(async move {
            let (session, room) = masters.room().await?;
            dial_stdio(&session, room).await
        })
    }
}

async fn dial_stdio(
    session: &Arc<openssh::Session>,
    room: tokio::sync::OwnedSemaphorePermit,
) -> Result<Channel, openssh::Error> {
    let mut child = session
        .clone()
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
        _room: room,
    })
}

/// One API connection: the remote dial-stdio's output and input. Dropping it closes its input, which
/// ends that process.
struct Channel {
    io: TokioIo<tokio::io::Join<openssh::ChildStdout, openssh::ChildStdin>>,
    _child: openssh::Child<Arc<openssh::Session>>,
    /// Its session's room on the master, given back when it closes.
    _room: tokio::sync::OwnedSemaphorePermit,
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
