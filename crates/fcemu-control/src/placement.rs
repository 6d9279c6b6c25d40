//! Placing a request on an instance: the busiest one with room, a new one when every instance is full, or a
//! wait (bounded by the function's timeout) in a bounded queue. A request placed on a frozen instance thaws
//! it; one placed on an instance whose Initializer must run again runs it.

use crate::error::{ExhaustedBy, Exhaustion, PlaceError};
use crate::pool::{Lease, NoGpuRoom, Pool, PoolState};
use crate::session_binding::SessionClaim;
use crate::session_placement::SessionRoute;
use crate::session_table::Token;
use crate::state::{Input, State};
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::futures::Notified;
use tokio::time::Instant;

/// What a request does next, decided under the pool's lock.
enum Placement {
    /// Serve on this instance; `thaw` when the request must thaw it first.
    Serve {
        lease: Lease,
        thaw: bool,
    },
    Create(Lease),
    Wait(WaitFor),
    Refuse(PlaceError),
}

/// What a waiting request waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum WaitFor {
    /// A slot on an instance, or room under the cap for a new one.
    Instance,
    /// GPU memory on a card for a new instance.
    GpuMemory,
}

/// Why a placed request was not served by its instance.
enum Unserved {
    /// The instance went away first: the request is placed again.
    Gone,
    Failed(PlaceError),
}

/// How often a request may find its instance gone before it is answered.
const PLACEMENTS: u32 = 4;

impl Pool {
    /// Places a request on an instance with a free slot, creating one when every instance is full, and
    /// returns once the instance serves it. With `cold`, warm instances are passed over and a new one is
    /// created (`fcemu invoke --cold`). A request that finds no room waits at most the function's timeout.
    pub async fn acquire(self: &Arc<Self>, cold: bool) -> Result<Lease, PlaceError> {
        self.acquire_in(cold, None).await
    }

    /// [`Pool::acquire`] for a request of a session: it goes to the session's instance, or opens the
    /// session on an instance with room for one more (`sessions.rs`).
    pub(crate) async fn acquire_in(
        self: &Arc<Self>,
        cold: bool,
        claim: Option<&SessionClaim>,
    ) -> Result<Lease, PlaceError> {
        let started = Instant::now();
        let deadline = started + self.function.spec.timeout;
        let mut placements = 0;
        loop {
            // Decide under the lock; act (await) after it is released.
            let placement = {
                let notified = self.changed.notified();
                tokio::pin!(notified);
                match self.place(notified.as_mut(), cold && placements == 0, claim) {
                    Placement::Wait(waiting_for) => {
                        let _waiting = WaitingGuard(self);
                        if tokio::time::timeout_at(deadline, notified).await.is_err() {
                            let waited = started.elapsed();
                            return Err(self.exhausted(match waiting_for {
                                WaitFor::Instance => ExhaustedBy::Waited(waited),
                                WaitFor::GpuMemory => self.gpu_shortage(Some(waited)),
                            }));
                        }
                        continue;
                    }
                    placement => placement,
                }
            };
            let lease = match placement {
                Placement::Serve { lease, thaw } => {
                    if thaw {
                        self.spawn_thaw(lease.instance.clone());
                    }
                    lease
                }
                Placement::Create(lease) => return self.create_for_request(lease).await,
                Placement::Refuse(e) => return Err(e),
                Placement::Wait(_) => unreachable!("waited above"),
            };
            match self.until_serving(lease, deadline).await {
                Ok(lease) => return Ok(lease),
                Err(Unserved::Failed(e)) => return Err(e),
                Err(Unserved::Gone) if placements + 1 < PLACEMENTS => placements += 1,
                Err(Unserved::Gone) => {
                    return Err(self.exhausted(ExhaustedBy::InstancesWentAway {
                        placements: PLACEMENTS,
                    }));
                }
            }
        }
    }

    fn place(
        self: &Arc<Self>,
        notified: Pin<&mut Notified<'_>>,
        cold: bool,
        claim: Option<&SessionClaim>,
    ) -> Placement {
        let concurrency = self.function.spec.instance_concurrency;
        let shared = &self.shared;
        let mut st = self.lock();
        if shared.shutdown.is_cancelled() {
            return Placement::Refuse(PlaceError::ShuttingDown);
        }
        // A session's request goes to its instance; one that opens a session, to an instance with room for
        // another session.
        let opening = match claim.map(|c| self.session_route(&st, c)) {
            None | Some(SessionRoute::Any) => None,
            Some(SessionRoute::Open(id)) => Some(id),
            Some(SessionRoute::To(token, instance)) => {
                return self.place_in_session(&mut st, notified, token, instance);
            }
            Some(SessionRoute::Refuse(e)) => return Placement::Refuse(e),
        };
        let cold = cold && opening.is_none();
        if !cold {
            // Fill the busiest instance that still has room, so idle ones stay idle (and get reclaimed).
            let best = st
                .slots
                .iter()
                .filter(|s| s.state.room(s.in_flight, concurrency) > 0)
                .filter(|s| self.takes_session(&st, s, opening.is_some()))
                .max_by_key(|s| s.in_flight)
                .map(|s| (s.instance.clone(), matches!(s.state, State::Frozen { .. })));
            if let Some((instance, frozen)) = best {
                self.apply_locked(&mut st, &instance.id, Input::Place);
                let mut lease = self.lease(instance);
                if let Some(id) = opening {
                    lease.session = Some(self.open_session(&mut st, id, &lease.instance.id));
                }
                return Placement::Serve {
                    lease,
                    thaw: frozen,
                };
            }
            // A session waits for an instance being made that has room for it, rather than make another.
            if opening.is_some()
                && st
                    .slots
                    .iter()
                    .any(|s| s.state.is_creating() && self.takes_session(&st, s, true))
            {
                st.waiting += 1;
                notified.enable();
                return Placement::Wait(WaitFor::Instance);
            }
        }
        let live = live_instances(&st);
        let cap = self.instance_cap();
        // Create only for demand that instances already being created will not absorb: each of them is
        // claimed by the request that started it, so it has room for `concurrency - 1` more.
        let creating = st.slots.iter().filter(|s| s.state.is_creating()).count() as u32;
        let absorbed = creating * (concurrency - 1);
        let mut wait_for = WaitFor::Instance;
        if cap.is_none_or(|cap| live < cap) && (cold || opening.is_some() || absorbed <= st.waiting)
        {
            match self.new_slot(&mut st, false) {
                Ok(mut lease) => {
                    if let Some(id) = opening {
                        lease.session = Some(self.open_session(&mut st, id, &lease.instance.id));
                    }
                    return Placement::Create(lease);
                }
                Err(NoGpuRoom) => wait_for = WaitFor::GpuMemory,
            }
        }
        if cold {
            let why = match wait_for {
                WaitFor::Instance => ExhaustedBy::NoNewInstance,
                WaitFor::GpuMemory => self.gpu_shortage(None),
            };
            return Placement::Refuse(self.exhausted_locked(&st, why));
        }
        let limit = shared.options.queue_limit;
        if st.waiting as usize >= limit {
            return Placement::Refuse(self.exhausted_locked(&st, ExhaustedBy::QueueFull { limit }));
        }
        st.waiting += 1;
        notified.enable();
        Placement::Wait(wait_for)
    }

    /// A request of a live session, on its instance: served there when it has room, waited for while it is
    /// being made or thawed, throttled when it is full.
    fn place_in_session(
        self: &Arc<Self>,
        st: &mut PoolState,
        notified: Pin<&mut Notified<'_>>,
        token: Token,
        instance: Arc<str>,
    ) -> Placement {
        let concurrency = self.function.spec.instance_concurrency;
        let Some(slot) = st.slot(&instance) else {
            // Sessions end as their instance leaves; this cannot be, but a request is never lost to it.
            return Placement::Refuse(PlaceError::ShuttingDown);
        };
        if slot.state.room(slot.in_flight, concurrency) > 0 {
            let (held, frozen) = (
                slot.instance.clone(),
                matches!(slot.state, State::Frozen { .. }),
            );
            self.apply_locked(st, &instance, Input::Place);
            st.sessions.request_began(token);
            let mut lease = self.lease(held);
            lease.session = Some(token);
            return Placement::Serve {
                lease,
                thaw: frozen,
            };
        }
        if slot.state.is_creating() || matches!(slot.state, State::Initializing { .. }) {
            st.waiting += 1;
            notified.enable();
            return Placement::Wait(WaitFor::Instance);
        }
        let session = st
            .sessions
            .get(token)
            .and_then(|s| s.id.clone())
            .unwrap_or_default();
        Placement::Refuse(PlaceError::SessionThrottled {
            session,
            instance,
            concurrency,
        })
    }

    /// What ran out for a GPU function's new instance: memory on a card.
    fn gpu_shortage(&self, waited: Option<std::time::Duration>) -> ExhaustedBy {
        ExhaustedBy::GpuMemory {
            waited,
            memory_mb: self
                .function
                .spec
                .gpu
                .as_ref()
                .map_or(0, |g| g.gpu_memory_size_mb),
            free: self
                .shared
                .gpus
                .as_ref()
                .map(|g| g.describe_free())
                .unwrap_or_default(),
        }
    }

    /// Waits until the instance a request was placed on serves it: thawed, and initialized (this request
    /// runs the Initializer again when it must).
    async fn until_serving(
        self: &Arc<Self>,
        lease: Lease,
        deadline: Instant,
    ) -> Result<Lease, Unserved> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.state_of(&lease.instance.id) {
                Some(State::Busy { .. }) => return Ok(lease),
                Some(State::Initializing { first: false }) => break,
                Some(State::Freezing { .. } | State::Thawing { .. }) => {}
                _ => return Err(Unserved::Gone),
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(
                    "instance {} did not thaw within the request's timeout",
                    lease.instance.id
                );
                return Err(Unserved::Gone);
            }
        }
        // This request runs the Initializer again.
        self.retry_initializer(lease)
            .await
            .map_err(Unserved::Failed)
    }

    fn exhausted(&self, why: ExhaustedBy) -> PlaceError {
        let st = self.lock();
        self.exhausted_locked(&st, why)
    }

    fn exhausted_locked(&self, st: &PoolState, why: ExhaustedBy) -> PlaceError {
        PlaceError::Exhausted(Exhaustion {
            function: self.function.spec.name.clone(),
            instances: live_instances(st),
            cap: self.instance_cap(),
            why,
        })
    }
}

/// Instances that count against the cap: all but those being destroyed.
fn live_instances(st: &PoolState) -> u32 {
    st.slots.iter().filter(|s| !s.state.is_stopping()).count() as u32
}

/// Counts a request as waiting for exactly as long as it waits (also when its caller goes away).
struct WaitingGuard<'a>(&'a Pool);

impl Drop for WaitingGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.waiting = st.waiting.saturating_sub(1);
    }
}
