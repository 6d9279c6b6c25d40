use super::*;
use std::collections::HashMap;

/// The engines the rules pick with these variables, and a home folder of this test's.
fn pick(vars: &[(&str, &str)], home: &Path) -> Result<Vec<EngineHost>, HostError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let env = move |name: &str| vars.get(name).cloned();
    candidates(&Lookup {
        env: &env,
        home: Some(home.to_path_buf()),
    })
}

/// Writes a context as `docker context create` does.
fn context(home: &Path, name: &str, host: &str, tls: bool) {
    let id = context_id(name);
    let meta = home.join(".docker/contexts/meta").join(&id);
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        serde_json::json!({
            "Name": name,
            "Metadata": {},
            "Endpoints": { "docker": { "Host": host, "SkipTLSVerify": false } }
        })
        .to_string(),
    )
    .unwrap();
    if tls {
        let dir = home.join(".docker/contexts/tls").join(&id).join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["ca.pem", "cert.pem", "key.pem"] {
            std::fs::write(dir.join(file), "x").unwrap();
        }
    }
}

fn urls(hosts: &[EngineHost]) -> Vec<&str> {
    hosts.iter().map(|h| h.url.as_str()).collect()
}

#[test]
fn docker_host_names_the_engine_and_wins_over_a_context() {
    let home = tempfile::tempdir().unwrap();
    context(home.path(), "gpu-box", "ssh://me@gpu-box", false);
    let hosts = pick(
        &[
            ("DOCKER_HOST", "tcp://10.0.0.2:2375"),
            ("DOCKER_CONTEXT", "gpu-box"),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(
        hosts,
        [EngineHost {
            url: "tcp://10.0.0.2:2375".into(),
            source: HostSource::Environment,
            tls: None,
        }]
    );
    assert_eq!(hosts[0].describe(), "tcp://10.0.0.2:2375 (DOCKER_HOST)");
    let ssh = pick(&[("DOCKER_HOST", "ssh://me@gpu-box:2222")], home.path()).unwrap();
    assert_eq!(urls(&ssh), ["ssh://me@gpu-box:2222"]);
}

#[test]
fn docker_tls_verify_takes_the_files_of_docker_cert_path_or_the_config_folder() {
    let home = tempfile::tempdir().unwrap();
    let with_path = pick(
        &[
            ("DOCKER_HOST", "tcp://gpu-box:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
            ("DOCKER_CERT_PATH", "/certs"),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(
        with_path[0].tls,
        Some(TlsFiles {
            ca: "/certs/ca.pem".into(),
            cert: "/certs/cert.pem".into(),
            key: "/certs/key.pem".into(),
        })
    );
    assert_eq!(
        with_path[0].describe(),
        "tcp://gpu-box:2376 (DOCKER_HOST, TLS)"
    );
    let default_path = pick(
        &[
            ("DOCKER_HOST", "tcp://gpu-box:2376"),
            ("DOCKER_TLS_VERIFY", "1"),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(
        default_path[0].tls.as_ref().unwrap().ca,
        home.path().join(".docker/ca.pem")
    );
    // Unset (or empty), no TLS; a socket never has any.
    let plain = pick(
        &[
            ("DOCKER_HOST", "tcp://gpu-box:2375"),
            ("DOCKER_TLS_VERIFY", ""),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(plain[0].tls, None);
    let socket = pick(
        &[
            ("DOCKER_HOST", "unix:///run/docker.sock"),
            ("DOCKER_TLS_VERIFY", "1"),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(socket[0].tls, None);
}

#[test]
fn docker_context_and_the_current_context_name_the_engine_with_their_tls_files() {
    let home = tempfile::tempdir().unwrap();
    context(home.path(), "gpu-box", "tcp://gpu-box:2376", true);
    context(home.path(), "lab", "ssh://me@lab", false);
    let named = pick(&[("DOCKER_CONTEXT", "gpu-box")], home.path()).unwrap();
    assert_eq!(urls(&named), ["tcp://gpu-box:2376"]);
    assert_eq!(named[0].source, HostSource::Context("gpu-box".into()));
    let tls = named[0].tls.as_ref().expect("the context's TLS files");
    assert!(tls.ca.ends_with("docker/ca.pem") && tls.ca.is_file());
    assert_eq!(
        named[0].describe(),
        "tcp://gpu-box:2376 (docker context gpu-box, TLS)"
    );
    // `docker context use lab` writes the current context into config.json.
    std::fs::write(
        home.path().join(".docker/config.json"),
        r#"{"auths": {}, "currentContext": "lab"}"#,
    )
    .unwrap();
    let current = pick(&[], home.path()).unwrap();
    assert_eq!(urls(&current), ["ssh://me@lab"]);
    assert_eq!(current[0].tls, None);
    // DOCKER_CONTEXT wins over the current context, and `default` is the machine's sockets.
    let default = pick(&[("DOCKER_CONTEXT", "default")], home.path()).unwrap();
    assert_eq!(default[0].source, HostSource::DefaultSocket);
    // DOCKER_CONFIG moves the whole folder.
    let moved = tempfile::tempdir().unwrap();
    context(moved.path(), "elsewhere", "tcp://elsewhere:2375", false);
    let elsewhere = pick(
        &[
            (
                "DOCKER_CONFIG",
                &moved.path().join(".docker").display().to_string(),
            ),
            ("DOCKER_CONTEXT", "elsewhere"),
        ],
        home.path(),
    )
    .unwrap();
    assert_eq!(urls(&elsewhere), ["tcp://elsewhere:2375"]);
}

#[test]
fn an_unknown_or_broken_context_says_where_fcemu_looked_and_what_to_do() {
    let home = tempfile::tempdir().unwrap();
    let e = pick(&[("DOCKER_CONTEXT", "nope")], home.path()).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("`nope` (DOCKER_CONTEXT)")
            && message.contains("docker context ls")
            && message.contains(".docker/contexts/meta"),
        "{message}"
    );
    let meta = home
        .path()
        .join(".docker/contexts/meta")
        .join(context_id("broken"));
    std::fs::create_dir_all(&meta).unwrap();
    std::fs::write(
        meta.join("meta.json"),
        r#"{"Name": "broken", "Endpoints": {}}"#,
    )
    .unwrap();
    let e = pick(&[("DOCKER_CONTEXT", "broken")], home.path()).unwrap_err();
    assert!(e.to_string().contains("names no docker endpoint"), "{e}");
}

#[test]
fn without_a_named_engine_the_sockets_are_tried_docker_then_rootless_then_podman() {
    let home = tempfile::tempdir().unwrap();
    let hosts = pick(&[("XDG_RUNTIME_DIR", "/run/user/1000")], home.path()).unwrap();
    assert_eq!(
        urls(&hosts),
        [
            "unix:///var/run/docker.sock",
            "unix:///run/user/1000/docker.sock",
            "unix:///run/user/1000/podman/podman.sock",
            "unix:///run/podman/podman.sock",
        ]
    );
    let sources: Vec<&HostSource> = hosts.iter().map(|h| &h.source).collect();
    assert_eq!(
        sources,
        [
            &HostSource::DefaultSocket,
            &HostSource::Rootless,
            &HostSource::Podman,
            &HostSource::Podman
        ]
    );
    assert_eq!(
        hosts[3].socket(),
        Some(Path::new("/run/podman/podman.sock"))
    );
    // Without XDG_RUNTIME_DIR (root, or no login session), only the machine-wide sockets.
    let root = pick(&[], home.path()).unwrap();
    assert_eq!(
        urls(&root),
        [
            "unix:///var/run/docker.sock",
            "unix:///run/podman/podman.sock"
        ]
    );
}

#[test]
fn a_context_is_kept_under_the_sha256_of_its_name() {
    // As the docker CLI computes it (`docker context inspect` shows the same folder).
    assert_eq!(
        context_id("default"),
        "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
    );
}
