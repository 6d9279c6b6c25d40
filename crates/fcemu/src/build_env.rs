//! What a build container needs from this machine to fetch packages as this machine does: the proxy
//! variables, and the CA bundle (behind a TLS-intercepting proxy, the proxy's CA is only in this machine's
//! bundle, and pip or npm in a container would refuse every registry without it).

use fcemu_runtime::Mount;
use std::collections::VecDeque;
use std::path::PathBuf;

/// Where the build container sees this machine's CA bundle.
const CA_IN_CONTAINER: &str = "/etc/fcemu/ca-certificates.crt";

/// Proxy and registry settings passed through as they are set here.
const PASSED: [&str; 10] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_TRUSTED_HOST",
    "npm_config_registry",
];

/// The CA bundles of the usual systems, after the variables that name one.
const BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
    "/etc/ssl/ca-bundle.pem",
];

pub struct BuildEnv {
    variables: Vec<(String, String)>,
    ca_bundle: Option<PathBuf>,
}

impl BuildEnv {
    pub fn of_this_machine() -> BuildEnv {
        let variables = PASSED
            .iter()
            .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
            .collect();
        let named = ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT"]
            .iter()
            .filter_map(|name| std::env::var_os(name).map(PathBuf::from));
        let ca_bundle = named
            .chain(BUNDLES.iter().map(PathBuf::from))
            .find(|path| path.is_file());
        BuildEnv {
            variables,
            ca_bundle,
        }
    }

    /// The variables to set in the container: the proxies, and every tool's name for the CA bundle.
    pub fn variables(&self) -> Vec<(String, String)> {
        let mut out = self.variables.clone();
        if self.ca_bundle.is_some() {
            for name in [
                "SSL_CERT_FILE",
                "REQUESTS_CA_BUNDLE",
                "PIP_CERT",
                "CURL_CA_BUNDLE",
                "NODE_EXTRA_CA_CERTS",
                "GIT_SSL_CAINFO",
                "npm_config_cafile",
            ] {
                out.push((name.to_string(), CA_IN_CONTAINER.to_string()));
            }
        }
        if self.user().is_some() {
            out.push(("HOME".into(), "/tmp".into()));
        }
        out
    }

    pub fn mounts(&self) -> Vec<Mount> {
        self.ca_bundle
            .iter()
            .map(|host| Mount {
                host: host.clone(),
                container: CA_IN_CONTAINER.into(),
                read_only: true,
            })
            .collect()
    }

    /// Who the build container runs as: whoever runs fcemu (root stays root), so that the files it writes
    /// into the project are theirs. With no home of its own there, it gets /tmp.
    pub fn user(&self) -> Option<String> {
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        (uid != 0).then(|| format!("{uid}:{gid}"))
    }

    /// A proxy on this machine's loopback is reached only from its own network.
    pub fn needs_host_network(&self) -> bool {
        self.variables.iter().any(|(name, value)| {
            name.to_ascii_lowercase().ends_with("_proxy")
                && !name.eq_ignore_ascii_case("no_proxy")
                && ["://localhost", "://127.", "://[::1]"]
                    .iter()
                    .any(|l| value.contains(l))
        })
    }
}

/// The last lines a step printed, to show with its failure.
#[derive(Default)]
pub struct Tail {
    lines: VecDeque<String>,
}

impl Tail {
    const KEPT: usize = 30;

    pub fn push(&mut self, line: &str) {
        if self.lines.len() == Self::KEPT {
            self.lines.pop_front();
        }
        self.lines
            .push_back(crate::output::printable(line).into_owned());
    }

    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| format!("  | {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_bundle_is_named_for_every_tool_and_a_loopback_proxy_asks_for_the_host_network() {
        let env = BuildEnv {
            variables: vec![("HTTPS_PROXY".into(), "http://127.0.0.1:3128".into())],
            ca_bundle: Some("/etc/ssl/certs/ca-certificates.crt".into()),
        };
        let vars = env.variables();
        assert!(vars.contains(&("PIP_CERT".into(), CA_IN_CONTAINER.into())));
        assert!(vars.contains(&("NODE_EXTRA_CA_CERTS".into(), CA_IN_CONTAINER.into())));
        assert_eq!(env.mounts()[0].container, CA_IN_CONTAINER);
        assert!(env.needs_host_network());
        let remote = BuildEnv {
            variables: vec![("HTTPS_PROXY".into(), "http://proxy.corp:3128".into())],
            ca_bundle: None,
        };
        assert!(!remote.needs_host_network());
        assert!(remote.mounts().is_empty());
    }

    #[test]
    fn a_tail_keeps_the_last_lines_made_printable() {
        let mut tail = Tail::default();
        for i in 0..40 {
            tail.push(&format!("line {i}"));
        }
        tail.push("bell\u{7}");
        let text = tail.text();
        assert!(!text.contains("line 10\n") && text.contains("line 39"));
        assert!(!text.contains('\u{7}'));
    }
}
