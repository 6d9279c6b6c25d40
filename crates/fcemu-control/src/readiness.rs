//! Runtime Init's end: when the function's server is ready. With a `healthCheckConfig`, its HTTP probe;
//! otherwise the port accepting a connection, polled every millisecond so the time is truthful.

use crate::Shared;
use crate::error::{ProbeFailure, StartError};
use crate::instance::Instance;
use crate::pool::Pool;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

impl Pool {
    /// Waits until the server in `container_id`, reached at `addr`, is ready; fails if the container
    /// exits first, or it is not ready within FC's 120 s (or its health check gives up).
    pub(crate) async fn wait_until_ready(
        &self,
        shared: &Shared,
        instance: &Instance,
        container_id: &str,
        addr: SocketAddr,
    ) -> Result<SocketAddr, StartError> {
        let port = self.function.spec.container.port;
        let exited = shared.runtime.wait_exit(container_id);
        tokio::pin!(exited);
        let exited_early =
            |exit: fcemu_runtime::Result<fcemu_runtime::ContainerExit>| StartError::ExitedEarly {
                code: exit.map(|e| e.exit_code).unwrap_or(-1),
                port,
                function: self.function.spec.name.clone(),
            };
        if let Some(check) = &self.function.spec.container.health_check {
            tokio::select! {
                exit = &mut exited => return Err(exited_early(exit)),
                _ = tokio::time::sleep(check.initial_delay) => {}
            }
            let (mut passed, mut failed) = (0, 0);
            loop {
                let probed = tokio::select! {
                    biased;
                    probed = self.probe(shared, instance, addr, &check.http_get_url, check.timeout) => probed,
                    exit = &mut exited => return Err(exited_early(exit)),
                };
                match probed {
                    Ok(()) => {
                        passed += 1;
                        failed = 0;
                        if passed >= check.success_threshold {
                            return Ok(addr);
                        }
                    }
                    Err(last) => {
                        passed = 0;
                        failed += 1;
                        if failed >= check.failure_threshold {
                            return Err(StartError::HealthCheck {
                                path: check.http_get_url.clone(),
                                failures: failed,
                                last,
                            });
                        }
                    }
                }
                tokio::select! {
                    exit = &mut exited => return Err(exited_early(exit)),
                    _ = tokio::time::sleep(check.period) => {}
                }
            }
        }
        let timeout = shared.options.runtime_init_timeout;
        let deadline = Instant::now() + timeout;
        // Every millisecond: a refused connect costs next to nothing, and Runtime Init is then exact to 1 ms.
        // An interval keeps to the timer's millisecond ticks, where a 1 ms sleep after each connect would
        // round up to the tick after next (one probe in ~2.3 ms).
        let mut every_ms = tokio::time::interval(Duration::from_millis(1));
        every_ms.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        // The first probe goes before anything else (the exit watch's request included): a server that
        // already listens is seen at once.
        // Each connect races the exit: a container killed while starting leaves an address that answers
        // nothing, and only the exit says so at once.
        loop {
            tokio::select! {
                biased;
                connected = shared.runtime.connect(addr) => if connected.is_ok() {
                    return Ok(addr);
                },
                exit = &mut exited => return Err(exited_early(exit)),
            }
            if Instant::now() >= deadline {
                return Err(StartError::NotListening { port, timeout });
            }
            tokio::select! {
                exit = &mut exited => return Err(exited_early(exit)),
                _ = every_ms.tick() => {}
            }
        }
    }

    /// One health-check probe: a GET that must answer 2xx within `timeout`; what went wrong otherwise.
    async fn probe(
        &self,
        shared: &Shared,
        instance: &Instance,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> Result<(), ProbeFailure> {
        let req = http::Request::get(path)
            .body(crate::client::empty_body())
            .map_err(|e| ProbeFailure::Unreachable(e.into()))?;
        let answer = instance
            .connections
            .call(shared.runtime.as_ref(), addr, req);
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok((status, _))) if status.is_success() => Ok(()),
            Ok(Ok((status, _))) => Err(ProbeFailure::Status(status.as_u16())),
            Ok(Err(e)) => Err(ProbeFailure::Unreachable(e)),
            Err(_) => Err(ProbeFailure::Timeout(timeout)),
        }
    }
}
