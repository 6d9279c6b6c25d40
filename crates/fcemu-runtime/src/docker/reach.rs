//! How fcemu reaches its instances' servers. On the engine's own machine, as root, the engine's bridge is
//! routable and a container is reached at its own address. Elsewhere it is not: Docker Desktop's engine
//! runs in a VM, a rootless engine's bridge lives in its own namespace, a remote engine's on another
//! machine. There the function's port is published on an ephemeral port of the engine's machine, and
//! reached there.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// At the container's address on its bridge network.
    Bridge,
    /// At the port the engine publishes on `host`, the address its machine is reached at.
    Published { host: IpAddr, why: String },
}

impl Reach {
    /// The choice for an engine, from what it says of itself; `remote` is the host of a tcp or ssh
    /// engine's address, with the address it resolved to.
    pub fn choose(
        remote: Option<(&str, Option<IpAddr>)>,
        operating_system: &str,
        security: &[String],
    ) -> Reach {
        let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
        if let Some((host, resolved)) = remote {
            return match resolved {
                Some(ip) if ip.is_loopback() => Reach::Published {
                    host: ip,
                    why: format!("the engine at {host} is reached over the network"),
                },
                Some(ip) => Reach::Published {
                    host: ip,
                    why: format!(
                        "the engine runs on {host}, whose bridge is not routable from here"
                    ),
                },
                None => Reach::Published {
                    host: loopback,
                    why: format!(
                        "the engine's host {host} does not resolve here; set --container-host"
                    ),
                },
            };
        }
        if operating_system.contains("Docker Desktop") {
            return Reach::Published {
                host: loopback,
                why: "Docker Desktop's engine runs in a VM".into(),
            };
        }
        if security.iter().any(|s| s.contains("name=rootless")) {
            return Reach::Published {
                host: loopback,
                why: "a rootless engine's bridge is in a namespace of its own".into(),
            };
        }
        Reach::Bridge
    }

    /// The choice the engine's facts left at the bridge, once the bridge was tried: kept where its
    /// gateway answers from here (`bridge_answers`). An engine in a VM whose socket is forwarded here
    /// (Colima, Lima, Rancher Desktop, OrbStack) says nothing of the VM, and is found so.
    pub fn tried(self, gateway: IpAddr, answers: bool) -> Reach {
        match self {
            Reach::Bridge if !answers => Reach::Published {
                host: IpAddr::V4(Ipv4Addr::LOCALHOST),
                why: format!("the engine's bridge ({gateway}) does not answer from here"),
            },
            chosen => chosen,
        }
    }

    /// How `up` says it.
    pub fn describe(&self) -> String {
        match self {
            Reach::Bridge => "instances reached at their bridge addresses".into(),
            Reach::Published { host, why } => {
                format!("instances reached through ports published on {host} ({why})")
            }
        }
    }

    /// The address the engine publishes a port on: the loopback where the engine's machine is this one
    /// (or its VM's forwarder), every address on a remote machine.
    pub fn bind_ip(&self) -> Option<String> {
        match self {
            Reach::Bridge => None,
            Reach::Published { host, .. } if host.is_loopback() => Some(host.to_string()),
            Reach::Published { .. } => Some("0.0.0.0".into()),
        }
    }
}

/// Whether a bridge whose gateway is `gateway` is routable from here: the gateway is an address of this
/// machine (the engine's own bridge device: binding to it succeeds), or a connection to it is refused,
/// which only a machine that holds the address does.
pub async fn bridge_answers(gateway: IpAddr) -> bool {
    // The discard port: nothing of the engine's listens there.
    std::net::UdpSocket::bind((gateway, 0)).is_ok() || refused(SocketAddr::new(gateway, 9)).await
}

/// Whether a connection to `addr` is refused. One accepted, lost or unanswered within a moment is a
/// network between here and there (a VM's, or a proxy's).
async fn refused(addr: SocketAddr) -> bool {
    let connect = tokio::net::TcpStream::connect(addr);
    matches!(
        tokio::time::timeout(Duration::from_millis(300), connect).await,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// A remote engine's host as an address (IPv4, as the engine publishes ports on), without blocking the
/// runtime on the name service.
pub async fn resolve(host: &str) -> Option<IpAddr> {
    tokio::net::lookup_host((host, 0))
        .await
        .ok()?
        .map(|a| a.ip())
        .find(IpAddr::is_ipv4)
}

/// The host part of a `tcp://host:port` or `ssh://user@host:port` address.
pub fn remote_host(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("tcp://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    Some(match host_port.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => host_port,
    })
    .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
}

/// Whether a server answers behind a published port. The engine's proxy accepts a connection whatever is
/// behind it (and closes it once it finds nothing, which takes as long as the machine is busy), so an
/// accepted connection proves nothing: the probe is a request every HTTP server answers without running
/// the function, `OPTIONS *`, and any answer means the server is there.
pub async fn served(addr: SocketAddr, within: Duration) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream
            .write_all(b"OPTIONS * HTTP/1.1\r\nHost: fcemu\r\nConnection: close\r\n\r\n")
            .await?;
        let mut byte = [0u8; 1];
        match stream.read(&mut byte).await? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                format!("nothing serves behind {addr}"),
            )),
            _ => {
                // The rest of the answer is read before the connection closes, off the cold start's
                // path: closed with unread bytes, the connection would be reset under the server's
                // last write, and a server may print that as an error of the function's.
                tokio::spawn(async move {
                    let mut rest = Vec::new();
                    let drain = stream.read_to_end(&mut rest);
                    let _ = tokio::time::timeout(Duration::from_secs(5), drain).await;
                });
                Ok(())
            }
        }
    };
    tokio::time::timeout(within, exchange).await.map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{addr} did not answer within {within:?}"),
        )
    })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_remote_host_is_read_from_the_engines_address() {
        assert_eq!(remote_host("tcp://gpu-box:2376"), Some("gpu-box"));
        assert_eq!(remote_host("ssh://me@gpu-box:2222"), Some("gpu-box"));
        assert_eq!(remote_host("ssh://me@gpu-box"), Some("gpu-box"));
        assert_eq!(remote_host("tcp://[::1]:2375"), Some("::1"));
        assert_eq!(remote_host("unix:///var/run/docker.sock"), None);
    }

    #[test]
    fn the_bridge_only_where_the_engine_is_this_machines_own() {
        assert_eq!(
            Reach::choose(None, "Debian GNU/Linux 12 (bookworm)", &[]),
            Reach::Bridge
        );
        let desktop = Reach::choose(None, "Docker Desktop", &[]);
        assert!(
            matches!(&desktop, Reach::Published { host, .. } if host.is_loopback()),
            "{desktop:?}"
        );
        let rootless = Reach::choose(
            None,
            "Ubuntu",
            &["name=seccomp".into(), "name=rootless".into()],
        );
        assert!(matches!(&rootless, Reach::Published { host, .. } if host.is_loopback()));
        assert_eq!(rootless.bind_ip().as_deref(), Some("127.0.0.1"));
        let remote = Reach::choose(Some(("10.1.2.3", "10.1.2.3".parse().ok())), "Ubuntu", &[]);
        assert_eq!(
            remote,
            Reach::Published {
                host: "10.1.2.3".parse().unwrap(),
                why: "the engine runs on 10.1.2.3, whose bridge is not routable from here".into()
            }
        );
        assert_eq!(remote.bind_ip().as_deref(), Some("0.0.0.0"));
        assert_eq!(Reach::Bridge.bind_ip(), None);
    }

    #[tokio::test]
    async fn a_bridge_is_kept_only_where_its_gateway_answers_from_here() {
        let gateway: IpAddr = "172.17.0.1".parse().unwrap();
        assert_eq!(Reach::Bridge.tried(gateway, true), Reach::Bridge);
        assert_eq!(
            Reach::Bridge.tried(gateway, false),
            Reach::Published {
                host: "127.0.0.1".parse().unwrap(),
                why: "the engine's bridge (172.17.0.1) does not answer from here".into()
            }
        );
        // What the facts chose is not tried again.
        let remote = Reach::Published {
            host: "10.1.2.3".parse().unwrap(),
            why: "remote".into(),
        };
        assert_eq!(remote.clone().tried(gateway, true), remote);

        // An address of this machine answers; so does one that refuses, and not one where something
        // between accepts whatever comes.
        assert!(bridge_answers("127.0.0.1".parse().unwrap()).await);
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(refused(closed_addr).await);
        let accepting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        assert!(!refused(accepting.local_addr().unwrap()).await);
    }

    #[tokio::test]
    async fn a_port_with_a_server_that_answers_is_served_and_one_the_proxy_closes_is_not() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served_addr = server.local_addr().unwrap();
        let closer = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_addr = closer.local_addr().unwrap();
        tokio::spawn(async move {
            // As the engine's proxy does with nothing behind it: accept, then close.
            while let Ok((stream, _)) = closer.accept().await {
                drop(stream);
            }
        });
        tokio::spawn(async move {
            // Any HTTP server: it answers whatever it makes of the request.
            while let Ok((mut stream, _)) = server.accept().await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 256];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        served(served_addr, Duration::from_secs(5)).await.unwrap();
        let e = served(closed_addr, Duration::from_secs(5))
            .await
            .unwrap_err();
        // Closed or reset at once, depending on whether the probe was written first.
        assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            ),
            "{e}"
        );
    }
}
