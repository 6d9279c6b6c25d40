//! The Docker engine, through bollard.

use crate::*;
use bollard::Docker;
use bollard::errors::Error as BollardError;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, ListContainersOptions, LogsOptions,
    RemoveContainerOptions, StatsOptions, StopContainerOptions, WaitContainerOptions,
};
use futures_util::{StreamExt, TryStreamExt};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

/// The Docker engine fcemu drives. Cheap to clone.
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
}

/// A failed engine call in the engine's own words (`No such container: ... (HTTP 404)`), with bollard's
/// error kept inside for whoever needs to look at it.
#[derive(Debug)]
pub struct DockerError(pub BollardError);

impl std::fmt::Display for DockerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => write!(f, "{message} (HTTP {status_code})"),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for DockerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Boxed as a [`RuntimeError`]'s source.
fn engine(e: BollardError) -> EngineError {
    Box::new(DockerError(e))
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

impl DockerRuntime {
    /// Connects as the docker CLI would (DOCKER_HOST or the local socket) and agrees on an API version, so an
    /// older engine (20.10 speaks API 1.41) is talked to in its own version.
    pub async fn connect() -> Result<Self> {
        let docker = Docker::connect_with_defaults()
            .map_err(|e| RuntimeError::Unreachable { source: engine(e) })?;
        let docker = docker
            .negotiate_version()
            .await
            .map_err(|e| RuntimeError::Unreachable { source: engine(e) })?;
        Ok(DockerRuntime { docker })
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(RuntimeError::InspectImage {
                image: image.into(),
                source: engine(e),
            }),
        }
    }

    /// Builds `tag` from a context folder, calling `progress` with each line the build prints.
    pub async fn build_image(
        &self,
        context: &Path,
        dockerfile: &str,
        tag: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<()> {
        let fail = |source: EngineError| RuntimeError::BuildImage {
            image: tag.into(),
            source,
        };
        let context_dir = context.to_path_buf();
        let archive = tokio::task::spawn_blocking(move || build_context_tar(&context_dir))
            .await
            .map_err(|e| fail(e.into()))?
            .map_err(|e| {
                fail(format!("packing the build context {}: {e}", context.display()).into())
            })?;
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string(),
            t: Some(tag.to_string()),
            rm: true,
            forcerm: true,
            labels: Some(HashMap::from([(
                labels::MANAGED.to_string(),
                "true".to_string(),
            )])),
            ..Default::default()
        };
        let mut stream =
            self.docker
                .build_image(options, None, Some(bollard::body_full(archive.into())));
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| fail(engine(e)))?;
            if let Some(err) = info.error_detail.and_then(|d| d.message) {
                return Err(fail(err.into()));
            }
            if let Some(line) = info.stream {
                for l in line.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
                    progress(l);
                }
            }
        }
        Ok(())
    }

    async fn container_ip(&self, id: &str) -> Result<Option<IpAddr>> {
        let info = self.docker.inspect_container(id, None).await.map_err(|e| {
            RuntimeError::InspectContainer {
                id: id.into(),
                source: engine(e),
            }
        })?;
        let settings = info.network_settings.unwrap_or_default();
        let ip = settings
            .networks
            .unwrap_or_default()
            .into_values()
            .filter_map(|n| n.ip_address)
            .find(|ip| !ip.is_empty());
        Ok(ip.and_then(|ip| ip.parse().ok()))
    }
}

/// A tar of the build context, leaving out what never belongs in an image (VCS data, fcemu's state).
fn build_context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(dir).unwrap_or(&path);
            let name = entry.file_name();
            if current == dir && (name == ".git" || name == ".fcemu" || name == "target") {
                continue;
            }
            if entry.file_type()?.is_dir() {
                builder.append_dir(rel, &path)?;
                stack.push(path);
            } else {
                builder.append_path_with_name(&path, rel)?;
            }
        }
    }
    builder.into_inner()
}

/// Splits a timestamped log frame (`2024-01-01T00:00:00.123456789Z text\n...`) into lines.
fn parse_log_frame(frame: &[u8], stream: OutputStream) -> Vec<LogLine> {
    let text = String::from_utf8_lossy(frame);
    text.split_terminator('\n')
        .map(|raw| {
            let (ts, line) = match raw.split_once(' ') {
                Some((ts, rest)) => match humantime::parse_rfc3339(ts) {
                    Ok(t) => (t, rest),
                    Err(_) => (SystemTime::now(), raw),
                },
                None => match humantime::parse_rfc3339(raw) {
                    Ok(t) => (t, ""),
                    Err(_) => (SystemTime::now(), raw),
                },
            };
            LogLine {
                ts,
                stream,
                line: line.trim_end_matches('\r').to_string(),
            }
        })
        .collect()
}

/// Where an instance's output goes: json-file (which the engine can follow, whatever the daemon's default
/// driver is), rotated only past 1 GB. Following a log across a rotation loses lines on some engines (20.10
/// skips part of each rotated file), and fcemu keeps every line itself: the engine's file is only the pipe.
fn instance_log_config() -> HostConfigLogConfig {
    HostConfigLogConfig {
        typ: Some("json-file".into()),
        config: Some(HashMap::from([
            ("max-size".to_string(), "1g".to_string()),
            ("max-file".to_string(), "2".to_string()),
        ])),
    }
}

/// Following a log that the engine rotates (json-file with `max-size`) makes it read some lines again: at
/// a rotation it goes back over part of what it already sent. Within one output stream the engine stamps
/// lines in order, so a line stamped before the newest one seen on its stream, or at that very instant with
/// the same text, was delivered already.
#[derive(Default)]
struct SeenLines {
    /// Per stream (stdout, stderr): the newest stamp, and the lines seen at exactly that stamp.
    newest: [Option<(SystemTime, Vec<u64>)>; 2],
}

impl SeenLines {
    fn first_time(&mut self, line: &LogLine) -> bool {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        line.line.hash(&mut hasher);
        let text = hasher.finish();
        let newest = &mut self.newest[line.stream as usize];
        match newest {
            Some((ts, _)) if line.ts < *ts => false,
            Some((ts, texts)) if line.ts == *ts => {
                if texts.contains(&text) {
                    false
                } else {
                    texts.push(text);
                    true
                }
            }
            _ => {
                *newest = Some((line.ts, vec![text]));
                true
            }
        }
    }
}

#[async_trait]
impl ContainerRuntime for DockerRuntime {
    async fn create(&self, spec: &ContainerSpec) -> Result<String> {
        let memory = i64::from(spec.memory_mb) * 1024 * 1024;
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
            labels: Some(spec.labels.clone().into_iter().collect()),
            entrypoint: spec.entrypoint.clone(),
            cmd: spec.command.clone(),
            working_dir: spec.working_dir.clone(),
            exposed_ports: Some(vec![format!("{}/tcp", spec.port)]),
            host_config: Some(HostConfig {
                memory: (memory > 0).then_some(memory),
                // No swap beyond the limit: FC's memory size is a hard limit.
                memory_swap: (memory > 0).then_some(memory),
                nano_cpus: (spec.cpu > 0.0).then_some((spec.cpu * 1e9) as i64),
                binds: (!spec.mounts.is_empty())
                    .then(|| spec.mounts.iter().map(Mount::to_bind).collect()),
                // An init process as PID 1 forwards SIGTERM to the function (a PID 1 without a handler
                // ignores it, and every stop would wait for SIGKILL) and reaps its zombies.
                init: Some(true),
                log_config: Some(instance_log_config()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(spec.name.clone()),
            ..Default::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| {
                let image = spec.image.clone();
                if is_not_found(&e) {
                    RuntimeError::ImageMissing {
                        image,
                        source: engine(e),
                    }
                } else {
                    RuntimeError::CreateContainer {
                        image,
                        source: engine(e),
                    }
                }
            })?;
        Ok(created.id)
    }

    async fn start(&self, id: &str, port: u16) -> Result<SocketAddr> {
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| RuntimeError::StartContainer {
                id: id.into(),
                source: engine(e),
            })?;
        let ip = self
            .container_ip(id)
            .await?
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Ok(SocketAddr::new(ip, port))
    }

    async fn pause(&self, id: &str) -> Result<()> {
        self.docker
            .pause_container(id)
            .await
            .map_err(|e| RuntimeError::PauseContainer {
                id: id.into(),
                source: engine(e),
            })
    }

    async fn unpause(&self, id: &str) -> Result<()> {
        self.docker
            .unpause_container(id)
            .await
            .map_err(|e| RuntimeError::UnpauseContainer {
                id: id.into(),
                source: engine(e),
            })
    }

    async fn exec(&self, id: &str, command: &[String]) -> Result<ExecOutput> {
        let fail = |e: BollardError| RuntimeError::Exec {
            id: id.into(),
            command: command.to_vec(),
            source: engine(e),
        };
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(command.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(fail)?;
        let mut out = ExecOutput::default();
        if let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await.map_err(fail)?
        {
            while let Some(chunk) = output.next().await {
                match chunk.map_err(fail)? {
                    bollard::container::LogOutput::StdErr { message } => {
                        out.stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    other => out
                        .stdout
                        .push_str(&String::from_utf8_lossy(&other.into_bytes())),
                }
            }
        }
        let inspect = self.docker.inspect_exec(&exec.id).await.map_err(fail)?;
        out.exit_code = inspect.exit_code.unwrap_or(-1);
        Ok(out)
    }

    fn logs(&self, id: &str) -> BoxStream<'static, Result<LogLine>> {
        let options = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            timestamps: true,
            ..Default::default()
        };
        let id_owned = id.to_string();
        let mut seen = SeenLines::default();
        self.docker
            .logs(id, Some(options))
            .map_err(move |e| RuntimeError::Logs {
                id: id_owned.clone(),
                source: engine(e),
            })
            .map_ok(move |chunk| {
                let (stream, bytes) = match chunk {
                    bollard::container::LogOutput::StdErr { message } => {
                        (OutputStream::Stderr, message)
                    }
                    other => (OutputStream::Stdout, other.into_bytes()),
                };
                let mut lines = parse_log_frame(&bytes, stream);
                lines.retain(|line| seen.first_time(line));
                futures_util::stream::iter(lines.into_iter().map(Ok))
            })
            .try_flatten()
            .boxed()
    }

    async fn wait_exit(&self, id: &str) -> Result<ContainerExit> {
        let mut wait = self.docker.wait_container(id, None::<WaitContainerOptions>);
        let exit_code = match wait.next().await {
            Some(Ok(r)) => r.status_code,
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(BollardError::DockerContainerWaitError { code, .. })) => code,
            Some(Err(e)) => {
                return Err(RuntimeError::WaitContainer {
                    id: id.into(),
                    source: engine(e),
                });
            }
            None => -1,
        };
        let oom_killed = match self.docker.inspect_container(id, None).await {
            Ok(info) => info.state.and_then(|s| s.oom_killed).unwrap_or(false),
            Err(_) => false,
        };
        Ok(ContainerExit {
            exit_code,
            oom_killed,
        })
    }

    async fn memory_peak(&self, id: &str) -> Result<Option<u64>> {
        // one_shot: one reading now, without waiting a second for a CPU delta.
        let options = StatsOptions {
            stream: false,
            one_shot: true,
        };
        let mut stats = self.docker.stats(id, Some(options));
        match stats.next().await {
            Some(Ok(s)) => Ok(s.memory_stats.and_then(|m| m.max_usage.or(m.usage))),
            Some(Err(e)) => Err(RuntimeError::Stats {
                id: id.into(),
                source: engine(e),
            }),
            None => Ok(None),
        }
    }

    async fn stop(&self, id: &str, grace: Duration) -> Result<()> {
        let options = StopContainerOptions {
            t: Some(grace.as_secs().max(1) as i32),
            ..Default::default()
        };
        match self.docker.stop_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            // 304: already stopped; 404: already gone.
            Err(BollardError::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(RuntimeError::StopContainer {
                id: id.into(),
                source: engine(e),
            }),
        }
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            // 409: a removal is already under way (another path got there first).
            Err(BollardError::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(RuntimeError::RemoveContainer {
                id: id.into(),
                source: engine(e),
            }),
        }
    }

    async fn list_managed(&self, labels: &[(String, String)]) -> Result<Vec<ManagedContainer>> {
        let mut filter = vec![format!("{}=true", labels::MANAGED)];
        filter.extend(labels.iter().map(|(k, v)| format!("{k}={v}")));
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_string(), filter)])),
            ..Default::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| RuntimeError::ListContainers { source: engine(e) })?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let labels: BTreeMap<String, String> =
                    c.labels.unwrap_or_default().into_iter().collect();
                // Never touch a container without the label, whatever the engine's filter did.
                (labels.get(labels::MANAGED).map(String::as_str) == Some("true")).then(|| {
                    ManagedContainer {
                        id: c.id.unwrap_or_default(),
                        name: c
                            .names
                            .and_then(|n| n.into_iter().next())
                            .unwrap_or_default(),
                        labels,
                        status: ContainerStatus::parse(
                            &c.state.map(|s| s.to_string()).unwrap_or_default(),
                        ),
                    }
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_frames_split_into_stamped_lines() {
        let frame =
            b"2024-05-01T10:00:00.123456789Z first line\n2024-05-01T10:00:00.200000000Z second\n";
        let lines = parse_log_frame(frame, OutputStream::Stdout);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].line, "first line");
        assert_eq!(lines[1].line, "second");
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                % 1000
        };
        assert_eq!(ms(lines[0].ts), 123);
        assert_eq!(ms(lines[1].ts), 200);
    }

    #[test]
    fn lines_the_engine_sends_again_after_a_rotation_are_dropped() {
        let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_000 + ms);
        let line = |ms, stream, text: &str| LogLine {
            ts: at(ms),
            stream,
            line: text.into(),
        };
        let mut seen = SeenLines::default();
        let out = OutputStream::Stdout;
        let err = OutputStream::Stderr;
        let sent = [
            (line(1, out, "a"), true),
            (line(2, out, "b"), true),
            (line(2, out, "b again, same instant"), true),
            // Stderr has its own order: an older stamp there is new.
            (line(1, err, "e"), true),
            (line(3, out, "c"), true),
            // The rotation: the engine goes back and sends b, b again and c once more.
            (line(2, out, "b"), false),
            (line(2, out, "b again, same instant"), false),
            (line(3, out, "c"), false),
            (line(3, out, "c's twin at the same instant"), true),
            (line(4, out, "d"), true),
        ];
        for (l, first) in sent {
            assert_eq!(seen.first_time(&l), first, "{:?} {}", l.stream, l.line);
        }
    }

    #[test]
    fn a_frame_without_timestamp_keeps_its_text() {
        let lines = parse_log_frame(b"no stamp here\n", OutputStream::Stderr);
        assert_eq!(lines[0].line, "no stamp here");
        assert_eq!(lines[0].stream, OutputStream::Stderr);
    }
}
