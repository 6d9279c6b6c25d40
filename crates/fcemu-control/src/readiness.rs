//! Runtime Init's end: when the function's server is ready. Two strategies, as the function's spec says:
//! its `healthCheckConfig`'s HTTP probe, or else the port accepting a connection, polled every
//! millisecond so the time is truthful. Either one races the container's exit: a container that exits (or
//! is killed) while starting leaves an address that answers nothing, and only its exit says so at once.

use crate::error::{ProbeFailure, ReadinessError};
use crate::instance::Instance;
use crate::pool::Pool;
use fcemu_spec::HealthCheck;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::time::Instant;

/// How a function's server is judged ready.
pub(crate) enum Readiness<'a> {
    /// The port accepts a connection (within `up`'s Runtime Init timeout, FC's 120 s).
    Port,
    /// The function's health check passes `success_threshold` times in a row (before it fails
    /// `failure_threshold` times in a row).
    Http(&'a HealthCheck),
}

impl<'a> Readiness<'a> {
    pub fn of(spec: &'a fcemu_spec::FunctionSpec) -> Self {
        match &spec.container.health_check {
            Some(check) => Readiness::Http(check),
            None => Readiness::Port,
        }
    }
}

impl Pool {
    /// Waits until the server in `container_id`, reached at `addr`, is ready; fails if the container
    /// exits first, or the strategy gives up.
    pub(crate) async fn wait_until_ready(
        &self,
        instance: &Instance,
        container_id: &str,
        addr: SocketAddr,
    ) -> Result<(), ReadinessError> {
        let ready = async {
            match Readiness::of(&self.function.spec) {
                Readiness::Port => self.port_accepts(addr).await,
                Readiness::Http(check) => self.health_check_passes(check, instance, addr).await,
            }
        };
        // Biased: the first probe goes before anything else (the exit watch's request included), so a
        // server that already listens is seen at once.
        tokio::select! {
            biased;
            ready = ready => ready,
            exit = self.shared.runtime.wait_exit(container_id) => Err(ReadinessError::ExitedEarly {
                code: exit.map(|e| e.exit_code).unwrap_or(-1),
                port: self.function.spec.container.port,
                function: self.function.spec.name.clone(),
            }),
        }
    }

    async fn port_accepts(&self, addr: SocketAddr) -> Result<(), ReadinessError> {
        // A process held until a debugger attaches (`--debug-wait`) listens only then.
        let timeout = match self.shared.options.lifts_timeouts(&self.function.name) {
            true => crate::options::LIFTED_TIMEOUT,
            false => self.shared.options.runtime_init_timeout,
        };
        let deadline = Instant::now() + timeout;
        // Every millisecond: a refused connect costs next to nothing, and Runtime Init is then exact to 1 ms.
        // An interval keeps to the timer's millisecond ticks, where a 1 ms sleep after each connect would
        // round up to the tick after next (one probe in ~2.3 ms).
        let mut every_ms = tokio::time::interval(Duration::from_millis(1));
        every_ms.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            if self.shared.runtime.probe(addr).await.is_ok() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ReadinessError::NotListening {
                    port: self.function.spec.container.port,
                    timeout,
                });
            }
            every_ms.tick().await;
        }
    }

    async fn health_check_passes(
        &self,
        check: &HealthCheck,
        instance: &Instance,
        addr: SocketAddr,
    ) -> Result<(), ReadinessError> {
        tokio::time::sleep(check.initial_delay).await;
        let (mut passed, mut failed) = (0, 0);
        loop {
            match self
                .probe(instance, addr, &check.http_get_url, check.timeout)
                .await
            {
                Ok(()) => {
                    passed += 1;
                    failed = 0;
                    if passed >= check.success_threshold {
                        return Ok(());
                    }
                }
                Err(last) => {
                    passed = 0;
                    failed += 1;
                    if failed >= check.failure_threshold {
                        return Err(ReadinessError::HealthCheck {
                            path: check.http_get_url.clone(),
                            failures: failed,
                            last,
                        });
                    }
                }
            }
            tokio::time::sleep(check.period).await;
        }
    }

    /// One health-check probe: a GET that must answer 2xx within `timeout`; what went wrong otherwise.
    async fn probe(
        &self,
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
            .call(self.shared.runtime.as_ref(), addr, req);
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok((status, _))) if status.is_success() => Ok(()),
            Ok(Ok((status, _))) => Err(ProbeFailure::Status(status.as_u16())),
            Ok(Err(e)) => Err(ProbeFailure::Unreachable(e)),
            Err(_) => Err(ProbeFailure::Timeout(timeout)),
        }
    }
}
