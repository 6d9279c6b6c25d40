//! Sessions of a function with session affinity (`sessionAffinity`): which instance holds which session,
//! for how long, and why each ended. The table lives in the pool's state, so a placement decides on a
//! session and its instance under one lock. How a request names its session, and how an answer binds one,
//! is `session_binding.rs`.
//!
//! FC's rules: a session goes to an instance with room for another (`sessionConcurrencyPerInstance`), else a
//! new one; its requests all go there, and one that finds the instance full is refused (429); it ends at
//! its TTL, after its idle timeout without a request, when its client ends it (DELETE, the sessions API,
//! an MCP stream closing) or with its instance; an instance holding a live session is not reclaimed for
//! idleness.

use crate::events::{Event, EventKind};
use crate::pool::{Pool, PoolState};
use crate::session_table::{Session, SessionEnd, SessionInfo, Token};
use fcemu_spec::SessionAffinity;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

impl Pool {
    fn affinity(&self) -> Option<&SessionAffinity> {
        self.function.spec.session_affinity.as_ref()
    }

    /// FC's `Session` object for a live session.
    pub(crate) fn session_info(&self, s: &Session, ended_by: Option<SessionEnd>) -> SessionInfo {
        let affinity = self.affinity();
        SessionInfo {
            session_id: s.id.as_deref().unwrap_or_default().to_string(),
            function_name: self.function.spec.name.clone(),
            session_affinity_type: affinity.map_or("NONE", |a| a.kind.fc_name()),
            session_ttl_in_seconds: s.ttl.as_secs(),
            session_idle_timeout_in_seconds: s.idle_timeout.as_secs(),
            created_time: crate::events::timestamp(s.created_at),
            last_modified_time: crate::events::timestamp(s.modified_at),
            session_status: if ended_by.is_some() {
                "Expired"
            } else {
                "Active"
            },
            container_id: s.instance.to_string(),
            qualifier: "LATEST",
            disable_session_id_reuse: affinity.is_some_and(|a| a.disable_session_id_reuse),
            ended_by: ended_by.map(SessionEnd::as_str),
        }
    }

    /// The live sessions with an id, oldest first, then (with `ended`) the recently ended.
    pub fn sessions(&self, ended: bool) -> Vec<SessionInfo> {
        let st = self.lock();
        let mut live: Vec<&Session> = st.sessions.live().filter(|s| s.id.is_some()).collect();
        live.sort_by_key(|s| s.created_at);
        let mut out: Vec<SessionInfo> = live.iter().map(|s| self.session_info(s, None)).collect();
        if ended {
            out.extend(st.sessions.ended().cloned());
        }
        out
    }

    /// The session of this id, live or recently ended.
    pub fn session(&self, id: &str) -> Option<SessionInfo> {
        let st = self.lock();
        if let Some((_, s)) = st.sessions.find(id) {
            return Some(self.session_info(s, None));
        }
        st.sessions
            .ended()
            .rev()
            .find(|e| e.session_id == id)
            .cloned()
    }

    /// Says a session began on its instance (`session.started`).
    pub(crate) fn say_started(&self, s: &Session) {
        let (Some(id), Some(affinity)) = (&s.id, self.affinity()) else {
            return;
        };
        self.shared.events.emit(
            self.session_event(EventKind::SessionStarted, s, id)
                .with("sessionAffinity", affinity.kind.fc_name()),
        );
    }

    /// A `session.*` event of the session `s`, named `id`, on its instance.
    fn session_event(&self, kind: EventKind, s: &Session, id: &str) -> Event {
        Event::new(kind, &self.function.name, Some(&s.instance)).with("sessionId", id)
    }

    /// Ends a live session under the pool's lock: out of the table, kept among the ended, said.
    pub(crate) fn end_session_locked(&self, st: &mut PoolState, token: Token, why: SessionEnd) {
        let Some(s) = st.sessions.remove(token) else {
            return;
        };
        let Some(id) = &s.id else { return };
        let info = self.session_info(&s, Some(why));
        st.sessions.remember_ended(info, why.expires_id());
        let lived = s.began.elapsed();
        self.shared.events.emit(
            self.session_event(EventKind::SessionEnded, &s, id)
                .reason(why.as_str())
                .duration(crate::init_duration::ms(lived)),
        );
    }

    /// Ends the session of this id (MCP's DELETE, DeleteSession). False when none lives.
    pub fn end_session(&self, id: &str, why: SessionEnd) -> bool {
        let token = self.lock().sessions.find(id).map(|(token, _)| token);
        token
            .inspect(|token| self.end_session_token(*token, why))
            .is_some()
    }

    /// Ends by handle (an MCP SSE stream that closed; a session never named is dropped unsaid).
    pub(crate) fn end_session_token(&self, token: Token, why: SessionEnd) {
        let mut st = self.lock();
        self.end_session_locked(&mut st, token, why);
        drop(st);
        self.changed.notify_waiters();
    }

    /// Names a session an MCP server named in its answer, and says it began. A name another live session
    /// already has is not taken (the server reused an id): the newer handle is dropped.
    pub(crate) fn name_session(&self, token: Token, id: Arc<str>) {
        let mut st = self.lock();
        if st.sessions.name(token, id) {
            if let Some(s) = st.sessions.get(token) {
                self.say_started(s);
            }
        } else {
            st.sessions.remove(token);
        }
    }

    /// What ends an MCP SSE session's stream: the session's end, or fcemu's shutdown (a stream is held
    /// open for the function's timeout, which a stopping `up` does not wait out). None when the session
    /// has ended already.
    pub(crate) fn session_closer(
        &self,
        token: Token,
    ) -> Option<tokio_util::sync::CancellationToken> {
        let mut st = self.lock();
        let s = st.sessions.get_mut(token)?;
        let closer = self.shared.shutdown.child_token();
        s.closer = Some(closer.clone());
        Some(closer)
    }

    /// A request of a session ended (its lease was given back).
    pub(crate) fn session_request_ended(&self, token: Token) {
        self.lock().sessions.request_ended(token);
    }

    /// Ends the sessions whose TTL or idle timeout passed (the idle reaper's tick).
    pub(crate) fn expire_sessions(&self) {
        let mut st = self.lock();
        let due = st.sessions.due(Instant::now());
        if due.is_empty() {
            return;
        }
        for (token, why) in due {
            self.end_session_locked(&mut st, token, why);
        }
        drop(st);
        self.changed.notify_waiters();
    }

    /// Ends every session an instance held: it is being destroyed.
    pub(crate) fn end_sessions_on(&self, st: &mut PoolState, instance: &str) {
        for token in st.sessions.on(instance) {
            self.end_session_locked(st, token, SessionEnd::InstanceDestroyed);
        }
    }

    /// UpdateSession: a live session's TTL and idle timeout (each when given). None: no such session.
    pub fn update_session(
        &self,
        id: &str,
        ttl: Option<Duration>,
        idle_timeout: Option<Duration>,
    ) -> Option<SessionInfo> {
        let mut st = self.lock();
        let (token, _) = st.sessions.find(id)?;
        let s = st.sessions.get_mut(token)?;
        if let Some(ttl) = ttl {
            s.ttl = ttl;
        }
        if let Some(idle) = idle_timeout {
            s.idle_timeout = idle;
        }
        s.modified_at = SystemTime::now();
        let info = self.session_info(st.sessions.get(token)?, None);
        Some(info)
    }
}
