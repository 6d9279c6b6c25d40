//! One request's bookkeeping on its instance: `invoke.start`, the activity window that attributes log lines,
//! and at the end `invoke.end`, FC's End and report lines, and billing, once the response body is done.

use crate::client::{Body, BoxError};
use crate::events::Event;
use crate::events::EventKind;
use crate::init_duration::{InitDuration, ms};
use crate::instance::Instance;
use crate::logs::HookKind;
use crate::pool::Lease;
use crate::shared::Shared;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::time::Instant;

/// A request whose instance failed before it could serve (its Initializer failed: `InitializationError`;
/// it was never made or its server never came up: `FunctionNotStarted`) never reaches the function: its
/// `invoke.start` (at its arrival) and `invoke.end` (`errorType`) still go on that instance's record, so the
/// request is seen where it failed, and the run's verdict counts it.
pub(crate) fn unserved(
    shared: &Shared,
    function: &Arc<str>,
    instance: &Arc<str>,
    request_id: &Arc<str>,
    arrived: std::time::SystemTime,
    response: &http::Response<Body>,
    message: &str,
) {
    let error_type = response
        .headers()
        .get(crate::headers::ERROR_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut start = Event::new(EventKind::InvokeStart, function, Some(instance))
        .request(request_id)
        .with("coldStart", false);
    start.ts = arrived;
    shared.events.emit(start);
    let took = arrived.elapsed().unwrap_or_default();
    shared.events.emit(
        Event::new(EventKind::InvokeEnd, function, Some(instance))
            .request(request_id)
            .status(response.status().as_u16().into())
            .duration(ms(took))
            .error(message)
            .with("errorType", error_type),
    );
}

/// How a request ended, as `invoke.end` says it.
pub(crate) enum Ended<'a> {
    /// The function's answer went back whole, whatever its status.
    Answered,
    /// The request failed with this message.
    Failed(&'a str),
    /// The function did not answer within its timeout (`timedOut: true`).
    TimedOut(&'a str),
}

pub(crate) struct InvokeRecord {
    shared: Arc<Shared>,
    lease: Option<Lease>,
    request_id: Arc<str>,
    started: Instant,
    pub status: u16,
    cold: Option<InitDuration>,
}

impl InvokeRecord {
    pub fn begin(
        shared: Arc<Shared>,
        lease: Lease,
        request_id: Arc<str>,
        cold: Option<InitDuration>,
    ) -> Self {
        let instance = &lease.instance;
        let function = &lease.pool().function;
        shared.events.emit(
            Event::new(EventKind::InvokeStart, &function.name, Some(&instance.id))
                .request(&request_id)
                .with("coldStart", cold.is_some()),
        );
        // A built-in runtime prints FC's Start and End lines itself.
        if !function.spec.runtime.prints_lifecycle_lines() {
            shared.system_line(
                &function.name,
                instance,
                Some(&request_id),
                Some(HookKind::Invoke),
                ["FC Invoke Start RequestId: ", &request_id].concat(),
            );
        }
        instance.begin_activity(&request_id, HookKind::Invoke);
        InvokeRecord {
            shared,
            lease: Some(lease),
            request_id,
            started: Instant::now(),
            status: 0,
            cold,
        }
    }

    pub fn instance(&self) -> Option<&Arc<Instance>> {
        self.lease.as_ref().map(|l| &l.instance)
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    /// The request never reached the instance's process: it is placed again, and this attempt is closed
    /// with `invoke.retried` instead of `invoke.end` (it is not billed).
    pub fn retried(mut self, why: &str) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let function = &lease.pool().function;
        lease.instance.end_activity(&self.request_id);
        self.shared.events.emit(
            Event::new(
                EventKind::InvokeRetried,
                &function.name,
                Some(&lease.instance.id),
            )
            .request(&self.request_id)
            .error(why),
        );
        self.shared.system_line(
            &function.name,
            &lease.instance,
            Some(&self.request_id),
            Some(HookKind::Invoke),
            format!(
                "FC Invoke Retried RequestId: {}: {why}; placed on another instance",
                self.request_id
            ),
        );
    }

    /// Accounts for the request; returns its lease, which the caller may keep a little longer (while it
    /// checks whether the instance is still there) or drop.
    pub fn finish(&mut self, status: u16, ended: Ended<'_>) -> Option<Lease> {
        let lease = self.lease.take()?;
        let function = lease.pool().function.clone();
        let instance = lease.instance.clone();
        let elapsed = self.started.elapsed();
        // FC bills whole milliseconds, at least one.
        let billed_ms = (elapsed.as_micros().div_ceil(1000) as u64).max(1);
        if let Some(active) = instance.end_activity(&self.request_id) {
            function.billing.active(active);
        }
        function.billing.invocation();
        let mut event = Event::new(EventKind::InvokeEnd, &function.name, Some(&instance.id))
            .request(&self.request_id)
            .status(status.into())
            .duration(ms(elapsed))
            .with("billedDurationMs", billed_ms)
            .with("coldStart", self.cold.is_some());
        match ended {
            Ended::Answered => {}
            Ended::Failed(e) => event = event.error(e),
            Ended::TimedOut(e) => event = event.error(e).with("timedOut", true),
        }
        self.shared.events.emit(event);
        let rid = &self.request_id;
        let line = |shared: &Shared, text: String| {
            shared.system_line(
                &function.name,
                &instance,
                Some(rid),
                Some(HookKind::Invoke),
                text,
            )
        };
        if !function.spec.runtime.prints_lifecycle_lines() {
            line(&self.shared, ["FC Invoke End RequestId: ", rid].concat());
        }
        let report = report_line(
            rid,
            &instance.id,
            status,
            elapsed,
            billed_ms,
            function.spec.memory_size_mb,
        );
        let init = self.cold.map(|init| init.describe());
        let fresh = instance.fresh_memory_peak_mb();
        match fresh
            .is_none()
            .then(|| instance.begin_memory_reading())
            .flatten()
        {
            // No recent reading, and none under way: the report waits for one, off the request's path.
            Some(reading) => {
                let (shared, function, instance, rid) = (
                    self.shared.clone(),
                    function.clone(),
                    instance.clone(),
                    rid.clone(),
                );
                self.shared.tasks.spawn(async move {
                    let peak = instance
                        .read_memory_peak_mb(shared.runtime.as_ref(), reading)
                        .await;
                    shared.system_line(
                        &function.name,
                        &instance,
                        Some(&rid),
                        Some(HookKind::Invoke),
                        complete_report(report, peak, init.as_deref()),
                    );
                });
            }
            // A recent reading, or one under way: the report goes out now with the latest value.
            None => {
                let peak = fresh.or_else(|| instance.last_memory_peak_mb());
                line(&self.shared, complete_report(report, peak, init.as_deref()));
            }
        }
        Some(lease)
    }
}

impl Drop for InvokeRecord {
    fn drop(&mut self) {
        // The caller went away or the body ended without our noticing: still account for the request.
        let status = self.status;
        self.finish(status, Ended::Answered);
    }
}

/// FC's report line, but for its end (see [`complete_report`]). Written piece by piece: it is made for every
/// request, and floating-point formatting would cost several times as much.
fn report_line(
    request_id: &str,
    instance_id: &str,
    status: u16,
    elapsed: std::time::Duration,
    billed_ms: u64,
    memory_size_mb: u32,
) -> String {
    use std::fmt::Write;
    let hundredths = (elapsed.as_micros() + 5) / 10;
    let mut report = String::with_capacity(200);
    report.push_str("RequestId: ");
    report.push_str(request_id);
    report.push_str(" InstanceId: ");
    report.push_str(instance_id);
    let _ = write!(
        report,
        " Status: {status} Duration: {}.{:02} ms Billed Duration: {billed_ms} ms Memory Size: {memory_size_mb} MB",
        hundredths / 100,
        hundredths % 100
    );
    report
}

/// The report line's end: `Max Memory Used` when known, and the cold start's `Init Duration`.
fn complete_report(mut report: String, peak_mb: Option<u64>, init: Option<&str>) -> String {
    use std::fmt::Write;
    if let Some(peak) = peak_mb {
        let _ = write!(report, " Max Memory Used: {peak} MB");
    }
    if let Some(init) = init {
        report.push(' ');
        report.push_str(init);
    }
    report
}

/// The instance's response body on its way to the caller; when it ends, the request is accounted for and
/// the connection given back to the instance.
pub(crate) struct TrackedBody {
    pub inner: hyper::body::Incoming,
    pub record: Option<InvokeRecord>,
    /// The connection the response came on: back to the instance's pool once the body has ended.
    pub connection: Option<hyper::client::conn::http1::SendRequest<Body>>,
    pub instance: Arc<Instance>,
}

impl TrackedBody {
    /// The body has been read to its end: the connection goes back to the instance's pool and the request
    /// is accounted for. Callers stop polling a body that says it has ended, so this runs on the last
    /// frame, on the end, or when the body is dropped after its end.
    fn ended(&mut self) {
        if let (Some(connection), Some(record)) = (self.connection.take(), self.record.take()) {
            answered(record, connection, &self.instance);
        }
    }
}

/// A response read to its end: the connection goes back to the instance's pool and the request is
/// accounted for as answered, with the status it was answered with.
pub(crate) fn answered(
    mut record: InvokeRecord,
    connection: hyper::client::conn::http1::SendRequest<Body>,
    instance: &Instance,
) {
    instance.connections.checkin(connection);
    let status = record.status;
    record.finish(status, Ended::Answered);
}

impl Drop for TrackedBody {
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.ended();
        }
        // Otherwise the caller went away mid-body: the connection still carries the rest, so it is closed
        // (dropped), and the record accounts for the request when it drops.
    }
}

impl HttpBody for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                this.ended();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                let error = crate::error::InvokeError::ProcessExited(
                    fcemu_runtime::error_chain(&*e).into(),
                );
                if let Some(mut r) = this.record.take() {
                    let message = crate::responses::unhandled_message(&error);
                    if let Some(lease) = r.finish(502, Ended::Failed(&message)) {
                        // The lease is held until it is known whether the process is still there.
                        r.shared.tasks.spawn(async move {
                            crate::destroy::check_alive(&lease).await;
                        });
                    }
                }
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if this.inner.is_end_stream() {
                    this.ended();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
