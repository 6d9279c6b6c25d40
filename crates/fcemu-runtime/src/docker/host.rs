//! Which engine to talk to, decided as the docker CLI decides it: `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH` for a tcp engine that verifies); else the context `DOCKER_CONTEXT` names, else the
//! docker CLI's current context (`currentContext` in `$DOCKER_CONFIG/config.json`, `~/.docker` by default),
//! whose endpoint the CLI keeps in `contexts/meta/<sha256 of the name>/meta.json` and whose TLS files in
//! `contexts/tls/<same>/docker/`; else the default socket, and where no engine answers there, the rootless
//! Docker and Podman sockets, in that order.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Where the engine is, and how that was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineHost {
    /// The engine's address: `unix:///var/run/docker.sock`, `tcp://host:2376`, `ssh://user@host`.
    pub url: String,
    pub source: HostSource,
    /// The client certificate, key and CA of a tcp engine that verifies.
    pub tls: Option<TlsFiles>,
}

/// How the engine's address was decided, as `up` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostSource {
    /// `DOCKER_HOST`.
    Environment,
    /// A docker CLI context: `DOCKER_CONTEXT`, or the CLI's current one.
    Context(String),
    /// The engine's own socket on this machine.
    DefaultSocket,
    /// Rootless Docker's socket (`$XDG_RUNTIME_DIR/docker.sock`).
    Rootless,
    /// Podman's Docker-compatible socket, rootless (`$XDG_RUNTIME_DIR/podman/podman.sock`) or rootful
    /// (`/run/podman/podman.sock`).
    Podman,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Why no engine could be named.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HostError {
    #[error(
        "the docker context `{name}` ({from}) is not in {}: `docker context ls` lists the contexts there; pick one with `docker context use NAME` or DOCKER_CONTEXT, or set DOCKER_HOST",
        dir.display()
    )]
    NoSuchContext {
        name: String,
        from: &'static str,
        dir: PathBuf,
    },
    #[error("the docker context `{name}` in {} cannot be read: {why}", path.display())]
    BadContext {
        name: String,
        path: PathBuf,
        why: String,
    },
}

/// What the rules read: the environment and the home folder (a test gives its own).
pub struct Lookup<'a> {
    pub env: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Lookup<'_> {
    fn var(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|v| !v.is_empty())
    }

    /// The docker CLI's configuration folder.
    fn config_dir(&self) -> Option<PathBuf> {
        self.var("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| self.home.as_ref().map(|h| h.join(".docker")))
    }
}

/// The engines to try, in order: one where the environment or a context names it, else the sockets of
/// this machine (the first that answers is used).
pub fn candidates(l: &Lookup) -> Result<Vec<EngineHost>, HostError> {
    if let Some(url) = l.var("DOCKER_HOST") {
        return Ok(vec![EngineHost {
            tls: env_tls(l, &url),
            url,
            source: HostSource::Environment,
        }]);
    }
    let (context, from) = match l.var("DOCKER_CONTEXT") {
        Some(name) => (Some(name), "DOCKER_CONTEXT"),
        None => (current_context(l), "the docker CLI's current context"),
    };
    if let Some(name) = context.filter(|n| n != "default") {
        return context_host(l, &name, from).map(|host| vec![host]);
    }
    let socket = |path: &str, source| EngineHost {
        url: format!("unix://{path}"),
        source,
        tls: None,
    };
    let mut sockets = vec![socket("/var/run/docker.sock", HostSource::DefaultSocket)];
    if let Some(run) = l.var("XDG_RUNTIME_DIR") {
        sockets.push(socket(&format!("{run}/docker.sock"), HostSource::Rootless));
        sockets.push(socket(
            &format!("{run}/podman/podman.sock"),
            HostSource::Podman,
        ));
    }
    sockets.push(socket("/run/podman/podman.sock", HostSource::Podman));
    Ok(sockets)
}

impl EngineHost {
    /// The engine as `up` names it: `unix:///var/run/docker.sock (the default socket)`.
    pub fn describe(&self) -> String {
        let how = match &self.source {
            HostSource::Environment => "DOCKER_HOST".to_string(),
            HostSource::Context(name) => format!("docker context {name}"),
            HostSource::DefaultSocket => "the default socket".to_string(),
            HostSource::Rootless => "rootless Docker".to_string(),
            HostSource::Podman => "Podman".to_string(),
        };
        let tls = if self.tls.is_some() { ", TLS" } else { "" };
        format!("{} ({how}{tls})", self.url)
    }

    /// A socket path on this machine, for a `unix://` engine.
    pub fn socket(&self) -> Option<&Path> {
        self.url.strip_prefix("unix://").map(Path::new)
    }
}

/// `DOCKER_TLS_VERIFY` (any value but empty) with the files in `DOCKER_CERT_PATH`, else `~/.docker`.
fn env_tls(l: &Lookup, url: &str) -> Option<TlsFiles> {
    l.var("DOCKER_TLS_VERIFY")?;
    if !url.starts_with("tcp://") && !url.starts_with("https://") {
        return None;
    }
    let dir = l
        .var("DOCKER_CERT_PATH")
        .map(PathBuf::from)
        .or_else(|| l.config_dir())?;
    Some(TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    })
}

fn current_context(l: &Lookup) -> Option<String> {
    let config = std::fs::read(l.config_dir()?.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_slice(&config).ok()?;
    config["currentContext"]
        .as_str()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
}

/// The docker CLI keeps a context under the hex SHA-256 of its name.
fn context_id(name: &str) -> String {
    Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn context_host(l: &Lookup, name: &str, from: &'static str) -> Result<EngineHost, HostError> {
    let contexts = l.config_dir().unwrap_or_default().join("contexts");
    let id = context_id(name);
    let meta = contexts.join("meta").join(&id).join("meta.json");
    let text = std::fs::read(&meta).map_err(|_| HostError::NoSuchContext {
        name: name.into(),
        from,
        dir: contexts.join("meta"),
    })?;
    let bad = |why: String| HostError::BadContext {
        name: name.into(),
        path: meta.clone(),
        why,
    };
    let meta_json: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| bad(e.to_string()))?;
    let endpoint = &meta_json["Endpoints"]["docker"];
    let url = endpoint["Host"]
        .as_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad("it names no docker endpoint (Endpoints.docker.Host)".into()))?
        .to_string();
    let tls_dir = contexts.join("tls").join(&id).join("docker");
    let tls = (url.starts_with("tcp://") && tls_dir.join("ca.pem").is_file()).then(|| TlsFiles {
        ca: tls_dir.join("ca.pem"),
        cert: tls_dir.join("cert.pem"),
        key: tls_dir.join("key.pem"),
    });
    Ok(EngineHost {
        url,
        source: HostSource::Context(name.into()),
        tls,
    })
}

#[cfg(test)]
mod tests;
