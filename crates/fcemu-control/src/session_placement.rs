//! Where a request of a session goes, decided under the pool's lock: to the instance that holds its session
//! (`Pool::place_in_session`, in placement.rs), or, for a session that opens, to an instance with room for
//! one more session (`sessionConcurrencyPerInstance`).

use crate::error::PlaceError;
use crate::pool::{Pool, PoolState, Slot};
use crate::session_binding::SessionClaim;
use crate::session_table::Token;
use fcemu_spec::IsolationMode;
use std::sync::Arc;

/// Where a claimed request goes.
pub(crate) enum SessionRoute {
    /// To the instance holding its live session.
    To(Token, Arc<str>),
    /// A session opens, named now (header, cookie) or by the answer (MCP).
    Open(Option<Arc<str>>),
    /// Anywhere: it names no live session and opens none.
    Any,
    Refuse(PlaceError),
}

impl Pool {
    pub(crate) fn session_route(&self, st: &PoolState, claim: &SessionClaim) -> SessionRoute {
        let Some(affinity) = &self.function.spec.session_affinity else {
            return SessionRoute::Any;
        };
        let id = match claim {
            SessionClaim::Opening => return SessionRoute::Open(None),
            SessionClaim::Named(id) | SessionClaim::Existing(id) => id,
        };
        if let Some((token, s)) = st.sessions.find(id) {
            return SessionRoute::To(token, s.instance.clone());
        }
        match claim {
            SessionClaim::Existing(_) => SessionRoute::Any,
            _ if affinity.disable_session_id_reuse && st.sessions.id_expired(id) => {
                SessionRoute::Refuse(PlaceError::SessionIdExpired(id.clone()))
            }
            _ => SessionRoute::Open(Some(id.clone())),
        }
    }

    /// Whether a request may go to this instance: one that opens a session needs room for one more; under
    /// session isolation an instance serves its own session's requests only.
    pub(crate) fn takes_session(&self, st: &PoolState, slot: &Slot, opening: bool) -> bool {
        let Some(affinity) = &self.function.spec.session_affinity else {
            return true;
        };
        let held = st.sessions.on_instance(&slot.instance.id);
        if opening {
            held < affinity.per_instance
        } else {
            self.function.spec.instance_isolation_mode != IsolationMode::SessionExclusive
                || held == 0
        }
    }

    /// Opens a session on an instance for the request placed there now; says it began when it has its id.
    pub(crate) fn open_session(
        &self,
        st: &mut PoolState,
        id: Option<Arc<str>>,
        instance: &Arc<str>,
    ) -> Token {
        let affinity = self
            .function
            .spec
            .session_affinity
            .as_ref()
            .expect("a session opens only where there is affinity");
        let token = st.sessions.open(id, instance.clone(), affinity, true);
        if let Some(s) = st.sessions.get(token) {
            self.say_started(s);
        }
        token
    }
}
