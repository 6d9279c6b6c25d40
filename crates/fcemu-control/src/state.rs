//! An instance's life as one state machine. [`State::step`] is the only way an instance's state changes; it
//! returns the lifecycle event the transition emits (the `instance.*` events are emitted nowhere else), and an
//! input that makes no sense in the current state is an [`IllegalTransition`], never silently ignored.
//!
//! ```text
//!  Absent ─Create─► Creating(InstanceCreate) ─ContainerCreated─► Creating(RuntimeInit) ─RuntimeReady─► Initializing
//!         [instance.creating]               [instance.created]             [instance.runtime_ready]        │
//!                                                                InitializerSucceeded [instance.ready] or  │
//!                                                                InitializerRejected (400/404: it stays,   │
//!                                                                uninitialized, and runs again)            │
//!           ┌─────────────────────────── Place ──────────────────────────┐                                 │
//!           │                                                            ▼                                 │
//!         Ready ◄─────────────── Release (the last lease) ────────────  Busy ◄─────────────────────────────┘
//!           │ FreezeDue (of this idle period)                            ▲
//!           ▼                                                            │ Thawed [instance.thawed]
//!        Freezing ──Paused [instance.frozen]──► Frozen ──Place──► Thawing ┘
//!
//!  A live state ──BeginDestroy(reason)──► Stopping ──Destroyed──► Destroyed [instance.destroyed]
//!  Busy, Initializing, Thawing ──Lost (the process is gone)──► Stopping, its reason decided by the engine
//! ```
//!
//! Also: a request placed on an uninitialized instance makes it Initializing (the Initializer runs again
//! for it); requests placed on a Freezing instance wait, and are served without a pause when they came
//! during PreFreeze (FreezeAbandoned), or after a thaw when they came during the pause (Paused goes to
//! Thawing); a failed pause leaves the instance as it was. The table in `state/tests.rs` lists every
//! transition.
//!
//! Requests hold an instance through leases; how many do is counted beside the state (`in_flight`) and given
//! to every step. A request placed on an instance being frozen or thawed waits for it to serve again.

use crate::events::{Event, EventKind};
use crate::init_duration::{InitDuration, ms, ready_fields, runtime_init_split};
use crate::instance::{DestroyReason, InstanceState};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

/// Where Creating is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatePhase {
    /// The container is being created with the function's limits.
    InstanceCreate,
    /// The container starts; its server is not accepting connections yet.
    RuntimeInit,
}

/// One stretch of time without a request. Each has its own number: a freeze scheduled for an idle period
/// that has ended is void.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Idle {
    pub period: u64,
    pub since: Instant,
}

impl Idle {
    fn begin() -> Self {
        static PERIODS: AtomicU64 = AtomicU64::new(1);
        Idle {
            period: PERIODS.fetch_add(1, Ordering::Relaxed),
            since: Instant::now(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum State {
    /// Not made yet.
    Absent,
    Creating(CreatePhase),
    /// The Initializer runs: `first` at the end of Creating, or again after a 400/404.
    Initializing {
        first: bool,
    },
    /// Thawed, no request. `initialized` is false after the Initializer answered 400/404: it runs again
    /// before the next request is served.
    Ready {
        idle: Idle,
        initialized: bool,
    },
    /// Requests are in flight.
    Busy {
        initialized: bool,
    },
    /// PreFreeze and the pause are under way.
    Freezing {
        idle: Idle,
        initialized: bool,
    },
    /// Paused (the cgroup freezer) since `since`.
    Frozen {
        idle: Idle,
        since: Instant,
        initialized: bool,
    },
    /// Being thawed for the requests placed on it.
    Thawing {
        since: Instant,
        initialized: bool,
    },
    /// Destroy has begun: no request is placed here again. `reason` is None while the engine's word on a
    /// process that went away is awaited (exited, OOM-killed, or still there); `frozen_since` says since
    /// when the container is paused, if it may still be (a destroy thaws it first).
    Stopping {
        reason: Option<DestroyReason>,
        frozen_since: Option<Instant>,
    },
    Destroyed {
        reason: DestroyReason,
    },
}

/// What happens to an instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A slot is made for a new instance.
    Create {
        provisioned: bool,
    },
    ContainerCreated {
        took: Duration,
    },
    /// Creating so far: Instance Create and Runtime Init (with its split where known).
    RuntimeReady {
        cold_start: InitDuration,
    },
    /// `cold_start` is the whole of Creating, when this ends it (not on a retry).
    InitializerSucceeded {
        cold_start: Option<InitDuration>,
    },
    /// 400 or 404: the instance is kept and the Initializer runs again before its next request.
    InitializerRejected,
    /// A request (or the provisioner) takes a slot; counted in `in_flight` before the step.
    Place,
    /// A lease is given back; counted out of `in_flight` before the step.
    Release,
    /// The freeze grace of idle period `period` is over.
    FreezeDue {
        period: u64,
    },
    /// Requests came while PreFreeze ran: the pause is not made.
    FreezeAbandoned,
    Paused,
    PauseFailed,
    Thawed,
    /// A connection showed that the instance's process is gone (or the thaw failed): out of service now.
    Lost,
    BeginDestroy(DestroyReason),
    /// The container is gone; `error` says why Creating failed, when it did.
    Destroyed {
        error: Option<String>,
    },
}

/// A transition the machine does not allow: a bug in fcemu, logged and counted (tests fail on it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("illegal instance transition: {input:?} in state {state:?} with {in_flight} in flight")]
pub struct IllegalTransition {
    pub state: State,
    /// Boxed: an input can carry a whole cold start, and this error travels by value.
    pub input: Box<Input>,
    pub in_flight: u32,
}

/// The result of a step.
#[derive(Debug)]
pub struct Step {
    pub next: State,
    pub event: Option<Event>,
    /// How long the instance had been frozen, when this step thawed it (billing does not count it).
    pub frozen_for: Option<Duration>,
    /// A new idle period began: its freeze is scheduled.
    pub idle_began: bool,
}

/// Whose state it is: the names every event carries.
pub struct Names<'a> {
    pub function: &'a Arc<str>,
    pub instance: &'a Arc<str>,
}

impl State {
    /// The next state for `input`, with `in_flight` leases held after it.
    pub fn step(
        &self,
        input: Input,
        in_flight: u32,
        names: &Names,
    ) -> Result<Step, IllegalTransition> {
        use State::*;
        let event = |kind: EventKind| Some(Event::transition(kind, names.function, names.instance));
        let to = |next: State| Step {
            next,
            event: None,
            frozen_for: None,
            idle_began: false,
        };
        let unchanged = || to(self.clone());
        // The state requests are served in: Busy, or Initializing when the Initializer must run again.
        let serving = |initialized: bool| {
            if initialized {
                Busy { initialized }
            } else {
                Initializing { first: false }
            }
        };
        let idle = |initialized: bool| Step {
            next: Ready {
                idle: Idle::begin(),
                initialized,
            },
            event: None,
            frozen_for: None,
            idle_began: true,
        };
        let stopping = |reason: DestroyReason, frozen_since: Option<Instant>| {
            to(Stopping {
                reason: Some(reason),
                frozen_since,
            })
        };
        let step = match (self, &input) {
            (Absent, Input::Create { provisioned }) => Step {
                event: event(EventKind::InstanceCreating)
                    .map(|e| e.with("provisioned", *provisioned)),
                ..to(Creating(CreatePhase::InstanceCreate))
            },
            (Creating(CreatePhase::InstanceCreate), Input::ContainerCreated { took }) => Step {
                event: event(EventKind::InstanceCreated).map(|e| e.duration(ms(*took))),
                ..to(Creating(CreatePhase::RuntimeInit))
            },
            (Creating(CreatePhase::RuntimeInit), Input::RuntimeReady { cold_start }) => Step {
                event: event(EventKind::InstanceRuntimeReady).map(|e| {
                    runtime_init_split(e.duration(ms(cold_start.runtime_init)), cold_start)
                }),
                ..to(Initializing { first: true })
            },
            (Initializing { first }, Input::InitializerSucceeded { cold_start }) => {
                match (first, cold_start) {
                    (true, Some(init)) => Step {
                        event: event(EventKind::InstanceReady).map(|e| ready_fields(e, init)),
                        ..to(Busy { initialized: true })
                    },
                    (false, None) => to(Busy { initialized: true }),
                    _ => return Err(self.illegal(input, in_flight)),
                }
            }
            (Initializing { .. }, Input::InitializerRejected) => to(Busy { initialized: false }),

            // Placing requests. Placement only picks instances with room (see `room`).
            (Ready { initialized, .. }, Input::Place) => to(serving(*initialized)),
            (Busy { initialized: true }, Input::Place) => unchanged(),
            (Freezing { .. } | Thawing { .. }, Input::Place) => unchanged(),
            (
                Frozen {
                    since, initialized, ..
                },
                Input::Place,
            ) => to(Thawing {
                since: *since,
                initialized: *initialized,
            }),

            // Releasing them.
            (Busy { initialized }, Input::Release) if in_flight == 0 => idle(*initialized),
            (Busy { .. }, Input::Release) => unchanged(),
            (Freezing { .. } | Thawing { .. } | Stopping { .. }, Input::Release) => unchanged(),

            // Freezing and thawing.
            (Ready { idle, initialized }, Input::FreezeDue { period })
                if idle.period == *period =>
            {
                to(Freezing {
                    idle: *idle,
                    initialized: *initialized,
                })
            }
            // A freeze that comes due after its idle period ended is void.
            (
                Initializing { first: false }
                | Ready { .. }
                | Busy { .. }
                | Freezing { .. }
                | Frozen { .. }
                | Thawing { .. }
                | Stopping { .. },
                Input::FreezeDue { .. },
            ) => unchanged(),
            (Freezing { initialized, .. }, Input::FreezeAbandoned) if in_flight > 0 => {
                to(serving(*initialized))
            }
            (Freezing { idle, initialized }, Input::Paused) => Step {
                event: event(EventKind::InstanceFrozen),
                // Requests placed during the pause: it is thawed for them at once.
                ..to(if in_flight > 0 {
                    Thawing {
                        since: Instant::now(),
                        initialized: *initialized,
                    }
                } else {
                    Frozen {
                        idle: *idle,
                        since: Instant::now(),
                        initialized: *initialized,
                    }
                })
            },
            (Freezing { idle, initialized }, Input::PauseFailed) => to(if in_flight > 0 {
                serving(*initialized)
            } else {
                // The same idle period: the freeze is not tried again (the engine refused it).
                Ready {
                    idle: *idle,
                    initialized: *initialized,
                }
            }),
            (Thawing { since, initialized }, Input::Thawed) => {
                let mut step = if in_flight > 0 {
                    to(serving(*initialized))
                } else {
                    idle(*initialized)
                };
                step.event = event(EventKind::InstanceThawed)
                    .map(|e| e.with("frozenMs", crate::events::round_ms(ms(since.elapsed()))));
                step.frozen_for = Some(since.elapsed());
                step
            }

            // Out of service.
            (Busy { .. } | Initializing { .. }, Input::Lost) => to(Stopping {
                reason: None,
                frozen_since: None,
            }),
            (Thawing { since, .. }, Input::Lost) => to(Stopping {
                reason: None,
                frozen_since: Some(*since),
            }),
            (
                Creating(_) | Initializing { .. } | Ready { .. } | Busy { .. },
                Input::BeginDestroy(r),
            ) => stopping(*r, None),
            // A pause under way lands as `Paused` on the Stopping state.
            (Freezing { .. }, Input::BeginDestroy(r)) => stopping(*r, None),
            (Frozen { since, .. } | Thawing { since, .. }, Input::BeginDestroy(r)) => {
                stopping(*r, Some(*since))
            }

            // Stopping: the destroy wins over whatever was under way.
            (
                Stopping {
                    reason: None,
                    frozen_since,
                },
                Input::BeginDestroy(r),
            ) => stopping(*r, *frozen_since),
            (Stopping { .. }, Input::BeginDestroy(_) | Input::Lost | Input::PauseFailed) => {
                unchanged()
            }
            (
                Stopping { .. },
                Input::ContainerCreated { .. }
                | Input::RuntimeReady { .. }
                | Input::InitializerSucceeded { .. }
                | Input::InitializerRejected,
            ) => unchanged(),
            (
                Stopping {
                    reason,
                    frozen_since: None,
                },
                Input::Paused,
            ) => Step {
                event: event(EventKind::InstanceFrozen),
                ..to(Stopping {
                    reason: *reason,
                    frozen_since: Some(Instant::now()),
                })
            },
            (
                Stopping {
                    reason,
                    frozen_since: Some(since),
                },
                Input::Thawed,
            ) => Step {
                event: event(EventKind::InstanceThawed)
                    .map(|e| e.with("frozenMs", crate::events::round_ms(ms(since.elapsed())))),
                frozen_for: Some(since.elapsed()),
                ..to(Stopping {
                    reason: *reason,
                    frozen_since: None,
                })
            },
            (
                Stopping {
                    reason: Some(reason),
                    frozen_since,
                },
                Input::Destroyed { error },
            ) => Step {
                event: event(EventKind::InstanceDestroyed).map(|e| {
                    let e = e.reason(reason.as_str());
                    match error {
                        Some(error) => e.error(error.clone()),
                        None => e,
                    }
                }),
                // Removed while still paused: frozen until now.
                frozen_for: frozen_since.map(|since| since.elapsed()),
                ..to(Destroyed { reason: *reason })
            },
            _ => return Err(self.illegal(input, in_flight)),
        };
        Ok(step)
    }

    fn illegal(&self, input: Input, in_flight: u32) -> IllegalTransition {
        IllegalTransition {
            state: self.clone(),
            input: Box::new(input),
            in_flight,
        }
    }

    /// How many more requests placement may put here.
    pub fn room(&self, in_flight: u32, concurrency: u32) -> u32 {
        let capacity = |initialized: bool| if initialized { concurrency } else { 1 };
        match self {
            State::Ready { initialized, .. }
            | State::Busy { initialized }
            | State::Freezing { initialized, .. }
            | State::Frozen { initialized, .. }
            | State::Thawing { initialized, .. } => {
                capacity(*initialized).saturating_sub(in_flight)
            }
            _ => 0,
        }
    }

    /// Whether it has come through Creating and is not being destroyed.
    pub fn is_serving(&self) -> bool {
        matches!(
            self,
            State::Ready { .. }
                | State::Busy { .. }
                | State::Freezing { .. }
                | State::Frozen { .. }
                | State::Thawing { .. }
                | State::Initializing { first: false }
        )
    }

    /// Whether it is still in Creating, its first Initializer included.
    pub fn is_creating(&self) -> bool {
        matches!(
            self,
            State::Absent | State::Creating(_) | State::Initializing { first: true }
        )
    }

    /// When its current idle period began, if it is idle and may be reclaimed.
    pub fn idle_since(&self) -> Option<Instant> {
        match self {
            State::Ready { idle, .. } | State::Frozen { idle, .. } => Some(idle.since),
            _ => None,
        }
    }

    pub fn is_stopping(&self) -> bool {
        matches!(self, State::Stopping { .. } | State::Destroyed { .. })
    }

    /// The state docs/contract.md names, as `/_fcemu/instances` shows it.
    pub fn shown(&self, in_flight: u32) -> InstanceState {
        match self {
            State::Absent | State::Creating(_) => InstanceState::Creating,
            State::Initializing { .. } => InstanceState::Initializing,
            State::Ready { .. } => InstanceState::Ready,
            State::Busy { .. } | State::Thawing { .. } => InstanceState::Busy,
            State::Freezing { .. } if in_flight > 0 => InstanceState::Busy,
            State::Freezing { .. } => InstanceState::Ready,
            State::Frozen { .. } => InstanceState::Frozen,
            State::Stopping { .. } | State::Destroyed { .. } => InstanceState::Stopping,
        }
    }
}

#[cfg(test)]
mod tests;
