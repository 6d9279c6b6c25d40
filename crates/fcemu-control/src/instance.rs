//! One instance: a container that went (or is going) through Creating, serves requests, and is destroyed.
//!
//! Its lifecycle state lives in the function's pool under one lock, and changes only through the state
//! machine (`crate::state`); this type holds what is fixed once Creating is done, the activity windows that
//! attribute log lines, its connections and its memory readings.

use crate::init_duration::InitDuration;
use crate::logs::HookKind;
use serde::Serialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

/// The states of docs/contract.md's `/_fcemu/instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InstanceState {
    Creating,
    Initializing,
    Ready,
    Busy,
    Frozen,
    Stopping,
}

/// Why an instance was destroyed (the `reason` of `instance.destroyed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestroyReason {
    Idle,
    Provision,
    Exited,
    Oom,
    InitFailed,
    Reclaim,
    Shutdown,
    /// Its process stopped accepting connections, yet its container did not exit.
    Unhealthy,
    /// A built-in runtime's handler ran past the function's timeout: the runtime is restarted, as FC does.
    Timeout,
    /// Its function was updated (or removed): it finished what it served and gives way to instances on the
    /// new configuration.
    Update,
}

impl DestroyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DestroyReason::Idle => "idle",
            DestroyReason::Provision => "provision",
            DestroyReason::Exited => "exited",
            DestroyReason::Oom => "oom",
            DestroyReason::InitFailed => "init_failed",
            DestroyReason::Reclaim => "reclaim",
            DestroyReason::Shutdown => "shutdown",
            DestroyReason::Unhealthy => "unhealthy",
            DestroyReason::Timeout => "timeout",
            DestroyReason::Update => "update",
        }
    }

    /// An instance exception, or a failed Creating: something went wrong with the instance itself.
    pub fn is_exception(self) -> bool {
        matches!(
            self,
            DestroyReason::Exited
                | DestroyReason::Oom
                | DestroyReason::InitFailed
                | DestroyReason::Unhealthy
                | DestroyReason::Timeout
        )
    }

    /// The engine reported that the container ended: there is nothing left to thaw or to run a hook in.
    pub fn has_exited(self) -> bool {
        matches!(self, DestroyReason::Exited | DestroyReason::Oom)
    }

    /// PreStop runs only on an instance that became ready and still has a process to run it in.
    pub fn runs_pre_stop(self) -> bool {
        !self.is_exception()
    }
}

/// A window of time in which the instance worked for one request or hook.
#[derive(Debug, Clone)]
struct Activity {
    request_id: Arc<str>,
    hook: HookKind,
    start: SystemTime,
    end: Option<SystemTime>,
}

/// Docker stamps a line when its daemon reads the pipe, which on a busy machine can be well after the
/// function wrote it: a line stamped after a request ended still belongs to it, unless a newer request has
/// started meanwhile (then the two cannot be told apart, and the newer one gets it).
const LATE_LINE_GRACE: Duration = Duration::from_secs(2);

/// Permission to read an instance's memory: only one reading is under way per instance.
pub struct MemoryReading;
const ACTIVITIES_KEPT: usize = 256;

pub struct Instance {
    /// Shared by every event and log line of the instance, rather than copied into each.
    pub id: Arc<str>,
    pub function_name: Arc<str>,
    pub created_at: SystemTime,
    /// Set by Instance Create.
    container_id: OnceLock<String>,
    /// Set by Runtime Init: where the function's port is reached.
    addr: OnceLock<SocketAddr>,
    /// Set when Creating ends.
    init_duration: OnceLock<InitDuration>,
    /// Its GPU function's slice of a card, set before Instance Create.
    gpu: OnceLock<fcemu_gpu::Slice>,
    /// Whether the cold start was already reported on a response.
    cold_start_reported: AtomicBool,
    activities: Mutex<VecDeque<Activity>>,
    log_pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The HTTP connections to the instance's port.
    pub(crate) connections: crate::client::Connections,
    /// The last reading of the container's peak memory (MB) and when it was taken.
    memory_sample: Mutex<Option<(tokio::time::Instant, u64)>>,
    /// A memory reading is under way.
    memory_reading: AtomicBool,
    /// Requests and hooks running now, and since when at least one has been.
    busy: Mutex<(u32, Option<tokio::time::Instant>)>,
    /// Held while the container is paused or unpaused, so the engine gets one of them at a time. Whether it
    /// is paused is the state machine's to say.
    pub(crate) freezer: tokio::sync::Mutex<()>,
}

impl Instance {
    pub fn new(id: String, function_name: String, created_at: SystemTime) -> Self {
        Instance {
            id: id.into(),
            function_name: function_name.into(),
            created_at,
            container_id: OnceLock::new(),
            addr: OnceLock::new(),
            init_duration: OnceLock::new(),
            gpu: OnceLock::new(),
            cold_start_reported: AtomicBool::new(false),
            activities: Mutex::default(),
            log_pump: Mutex::default(),
            busy: Mutex::default(),
            connections: Default::default(),
            memory_sample: Mutex::default(),
            memory_reading: AtomicBool::new(false),
            freezer: tokio::sync::Mutex::new(()),
        }
    }

    pub fn container_id(&self) -> Option<String> {
        self.container_id.get().cloned()
    }

    pub(crate) fn set_container(&self, id: String) {
        let _ = self.container_id.set(id);
    }

    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr.get().copied()
    }

    pub(crate) fn set_addr(&self, addr: SocketAddr) {
        let _ = self.addr.set(addr);
    }

    pub fn gpu(&self) -> Option<&fcemu_gpu::Slice> {
        self.gpu.get()
    }

    pub(crate) fn set_gpu(&self, slice: fcemu_gpu::Slice) {
        let _ = self.gpu.set(slice);
    }

    pub fn init_duration(&self) -> Option<InitDuration> {
        self.init_duration.get().copied()
    }

    pub(crate) fn set_init_duration(&self, d: InitDuration) {
        let _ = self.init_duration.set(d);
    }

    pub(crate) fn set_log_pump(&self, pump: tokio::task::JoinHandle<()>) {
        *self.log_pump.lock().unwrap() = Some(pump);
    }

    /// Waits (bounded) until every line the container printed has been kept: its log stream ends when the
    /// container stops.
    pub(crate) async fn wait_log_pump(&self, limit: Duration) {
        let pump = self.log_pump.lock().unwrap().take();
        if let Some(mut pump) = pump {
            if tokio::time::timeout(limit, &mut pump).await.is_err() {
                pump.abort();
            }
        }
    }

    /// True exactly once: for the first response this instance serves.
    pub fn take_cold_start(&self) -> bool {
        !self.cold_start_reported.swap(true, Ordering::SeqCst)
    }

    pub fn begin_activity(&self, request_id: &Arc<str>, hook: HookKind) {
        {
            let mut busy = self.busy.lock().unwrap();
            if busy.0 == 0 {
                busy.1 = Some(tokio::time::Instant::now());
            }
            busy.0 += 1;
        }
        let mut a = self.activities.lock().unwrap();
        if a.len() >= ACTIVITIES_KEPT {
            a.pop_front();
        }
        a.push_back(Activity {
            request_id: request_id.clone(),
            hook,
            start: SystemTime::now(),
            end: None,
        });
    }

    /// Closes the window; when it was the last one open, returns how long the instance was active without
    /// a pause (what billing counts: overlapping requests on one instance count once).
    pub fn end_activity(&self, request_id: &str) -> Option<Duration> {
        {
            let mut a = self.activities.lock().unwrap();
            if let Some(act) = a
                .iter_mut()
                .rev()
                .find(|a| *a.request_id == *request_id && a.end.is_none())
            {
                act.end = Some(SystemTime::now());
            }
        }
        let mut busy = self.busy.lock().unwrap();
        busy.0 = busy.0.saturating_sub(1);
        if busy.0 == 0 {
            busy.1.take().map(|since| since.elapsed())
        } else {
            None
        }
    }

    /// The last reading of the container's peak memory in MB, if it is recent (200 ms).
    pub fn fresh_memory_peak_mb(&self) -> Option<u64> {
        const FRESH: Duration = Duration::from_millis(200);
        self.memory_sample
            .lock()
            .unwrap()
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, peak)| peak)
    }

    /// The last reading, however old (None before the first).
    pub fn last_memory_peak_mb(&self) -> Option<u64> {
        self.memory_sample.lock().unwrap().map(|(_, peak)| peak)
    }

    /// Starts a reading of the container's peak memory unless one is under way: None when one is (the
    /// engine answers a stats call slowly, and one call per request would pile up by the thousand).
    pub fn begin_memory_reading(&self) -> Option<MemoryReading> {
        (!self.memory_reading.swap(true, Ordering::SeqCst)).then_some(MemoryReading)
    }

    /// The container's peak memory in MB (the cgroup's max usage), read now; the last reading if this one
    /// fails.
    pub async fn read_memory_peak_mb(
        &self,
        runtime: &dyn fcemu_runtime::ContainerRuntime,
        _reading: MemoryReading,
    ) -> Option<u64> {
        let peak = match self.container_id() {
            Some(id) => match runtime.memory_peak(&id).await {
                Ok(bytes) => bytes.map(|b| b.div_ceil(1024 * 1024)),
                Err(e) => {
                    tracing::debug!("{}", fcemu_runtime::error_chain(&e));
                    None
                }
            },
            None => None,
        };
        if let Some(peak) = peak {
            *self.memory_sample.lock().unwrap() = Some((tokio::time::Instant::now(), peak));
        }
        self.memory_reading.store(false, Ordering::SeqCst);
        peak.or_else(|| self.last_memory_peak_mb())
    }

    /// The request and hook a line printed at `ts` belongs to: the one window that holds it, or else the
    /// window that closed just before it. With several requests at once on the instance, a line that more
    /// than one window holds cannot be attributed and gets none.
    pub fn attribute(&self, ts: SystemTime) -> Option<(Arc<str>, HookKind)> {
        let a = self.activities.lock().unwrap();
        let mut holding = a
            .iter()
            .filter(|w| w.start <= ts && w.end.is_none_or(|end| ts <= end));
        if let Some(first) = holding.next() {
            return holding
                .next()
                .is_none()
                .then(|| (first.request_id.clone(), first.hook));
        }
        a.iter()
            .rev()
            .find(|w| w.start <= ts)
            .filter(|w| w.end.is_some_and(|end| ts <= end + LATE_LINE_GRACE))
            .map(|w| (w.request_id.clone(), w.hook))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance() -> Instance {
        Instance::new("c-1".into(), "f".into(), SystemTime::now())
    }

    #[test]
    fn lines_go_to_the_window_that_holds_them_or_just_closed() {
        let i = instance();
        let before = SystemTime::now();
        i.begin_activity(&"r1".into(), HookKind::Initialize);
        let during = SystemTime::now();
        i.end_activity("r1");
        assert_eq!(
            i.attribute(during),
            Some(("r1".into(), HookKind::Initialize))
        );
        assert_eq!(
            i.attribute(SystemTime::now() + Duration::from_millis(100))
                .map(|a| a.0),
            Some("r1".into())
        );
        assert_eq!(
            i.attribute(SystemTime::now() + Duration::from_secs(5)),
            None,
            "long after: nobody's"
        );
        assert_eq!(i.attribute(before - Duration::from_secs(1)), None);
    }

    #[test]
    fn overlapping_requests_leave_a_line_unattributed() {
        let i = instance();
        i.begin_activity(&"r1".into(), HookKind::Invoke);
        i.begin_activity(&"r2".into(), HookKind::Invoke);
        assert_eq!(i.attribute(SystemTime::now()), None);
        i.end_activity("r1");
        std::thread::sleep(Duration::from_millis(2));
        // r1 closed before this line: only r2 holds it now.
        assert_eq!(
            i.attribute(SystemTime::now()).map(|a| a.0),
            Some("r2".into())
        );
    }

    #[test]
    fn overlapping_activities_count_once_as_active_time() {
        let i = instance();
        i.begin_activity(&"r1".into(), HookKind::Invoke);
        std::thread::sleep(Duration::from_millis(20));
        i.begin_activity(&"r2".into(), HookKind::Invoke);
        assert_eq!(i.end_activity("r1"), None, "r2 still runs");
        std::thread::sleep(Duration::from_millis(20));
        let active = i.end_activity("r2").expect("the last one closes the span");
        assert!(
            active >= Duration::from_millis(40) && active < Duration::from_millis(200),
            "{active:?}"
        );
    }

    #[test]
    fn cold_start_is_reported_once() {
        let i = instance();
        assert!(i.take_cold_start());
        assert!(!i.take_cold_start());
    }
}
