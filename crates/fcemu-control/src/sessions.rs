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
use fcemu_spec::SessionAffinity;
use serde::Serialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// Ended sessions kept for GetSession and ListSessions (`Expired`), newest last.
const ENDED_KEPT: usize = 1000;
/// Ended ids remembered against reuse (`disableSessionIdReuse`); the oldest are forgotten past this.
const ENDED_IDS_KEPT: usize = 100_000;

/// A session's handle while it lives, also before its id is known (an MCP server names it in its answer).
pub(crate) type Token = u64;

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

/// Why a session ended, as `session.ended` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Its TTL passed.
    Ttl,
    /// No request came for its idle timeout.
    Idle,
    /// Its client ended it: MCP's DELETE, or DeleteSession.
    Deleted,
    /// Its MCP SSE stream closed.
    Closed,
    /// Its instance was destroyed (the reason is on `instance.destroyed`).
    InstanceDestroyed,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::Ttl => "ttl",
            SessionEnd::Idle => "idle",
            SessionEnd::Deleted => "deleted",
            SessionEnd::Closed => "closed",
            SessionEnd::InstanceDestroyed => "instance_destroyed",
        }
    }

    /// Whether the session's id may start a new session later: not once it expired or was ended, when the
    /// function says `disableSessionIdReuse`.
    fn expires_id(self) -> bool {
        matches!(
            self,
            SessionEnd::Ttl | SessionEnd::Idle | SessionEnd::Deleted
        )
    }
}

/// One live session.
pub(crate) struct Session {
    /// None until an MCP server names it.
    pub id: Option<Arc<str>>,
    pub instance: Arc<str>,
    pub created_at: SystemTime,
    pub modified_at: SystemTime,
    began: Instant,
    /// When its last request ended, or began while none is in flight.
    last_active: Instant,
    /// Its requests in flight: it is not idle while one is.
    in_flight: u32,
    pub ttl: Duration,
    /// Zero: never ends for idleness.
    pub idle_timeout: Duration,
    /// Cancelled when it ends: an MCP SSE session's stream ends with it.
    pub closer: Option<tokio_util::sync::CancellationToken>,
}

impl Session {
    fn due(&self, now: Instant) -> Option<SessionEnd> {
        if now.duration_since(self.began) >= self.ttl {
            return Some(SessionEnd::Ttl);
        }
        let idle = !self.idle_timeout.is_zero()
            && self.in_flight == 0
            && now.duration_since(self.last_active) >= self.idle_timeout;
        idle.then_some(SessionEnd::Idle)
    }
}

/// What the sessions API and `fcemu sessions` show of a session: FC's `Session` object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub session_id: String,
    pub function_name: String,
    pub session_affinity_type: &'static str,
    #[serde(rename = "sessionTTLInSeconds")]
    pub session_ttl_in_seconds: u64,
    pub session_idle_timeout_in_seconds: u64,
    pub created_time: String,
    pub last_modified_time: String,
    /// `Active` or `Expired`.
    pub session_status: &'static str,
    /// The instance that holds it (FC's field name).
    pub container_id: String,
    pub qualifier: &'static str,
    pub disable_session_id_reuse: bool,
    /// fcemu's: why an expired session ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_by: Option<&'static str>,
}

/// A function's sessions: the live ones by handle and by id, and the recently ended.
#[derive(Default)]
pub(crate) struct SessionTable {
    live: HashMap<Token, Session>,
    by_id: HashMap<Arc<str>, Token>,
    ended: VecDeque<SessionInfo>,
    ended_ids: HashSet<Arc<str>>,
    ended_order: VecDeque<Arc<str>>,
}

impl SessionTable {
    /// Live sessions on an instance, named or not yet.
    pub fn on_instance(&self, instance: &str) -> u32 {
        self.live
            .values()
            .filter(|s| &*s.instance == instance)
            .count() as u32
    }

    pub fn holds_any(&self, instance: &str) -> bool {
        self.live.values().any(|s| &*s.instance == instance)
    }

    /// The live session of this id, with its handle.
    pub fn find(&self, id: &str) -> Option<(Token, &Session)> {
        let token = *self.by_id.get(id)?;
        self.live.get(&token).map(|s| (token, s))
    }

    pub fn id_expired(&self, id: &str) -> bool {
        self.ended_ids.contains(id)
    }

    /// A new session on an instance, with its first request in flight when `in_flight`.
    pub fn open(
        &mut self,
        id: Option<Arc<str>>,
        instance: Arc<str>,
        affinity: &SessionAffinity,
        in_flight: bool,
    ) -> Token {
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        let now = SystemTime::now();
        if let Some(id) = &id {
            self.by_id.insert(id.clone(), token);
        }
        self.live.insert(
            token,
            Session {
                id,
                instance,
                created_at: now,
                modified_at: now,
                began: Instant::now(),
                last_active: Instant::now(),
                in_flight: in_flight as u32,
                ttl: affinity.ttl,
                idle_timeout: affinity.idle_timeout,
                closer: None,
            },
        );
        token
    }

    /// A request of the session begins.
    pub fn request_began(&mut self, token: Token) {
        if let Some(s) = self.live.get_mut(&token) {
            s.in_flight += 1;
            s.last_active = Instant::now();
        }
    }

    /// A request of the session ended: its idle time counts from now.
    pub fn request_ended(&mut self, token: Token) {
        if let Some(s) = self.live.get_mut(&token) {
            s.in_flight = s.in_flight.saturating_sub(1);
            s.last_active = Instant::now();
        }
    }

    pub fn get(&self, token: Token) -> Option<&Session> {
        self.live.get(&token)
    }

    pub fn get_mut(&mut self, token: Token) -> Option<&mut Session> {
        self.live.get_mut(&token)
    }

    /// Names a session its server named. False when another live session has that id already.
    pub fn name(&mut self, token: Token, id: Arc<str>) -> bool {
        if self.by_id.get(&id).is_some_and(|t| *t != token) {
            return false;
        }
        let Some(s) = self.live.get_mut(&token) else {
            return false;
        };
        s.id = Some(id.clone());
        self.by_id.insert(id, token);
        true
    }

    /// Takes a session out of the table; it is returned to be said ended (when it had an id).
    fn remove(&mut self, token: Token) -> Option<Session> {
        let s = self.live.remove(&token)?;
        if let Some(id) = &s.id {
            self.by_id.remove(id);
        }
        if let Some(closer) = &s.closer {
            closer.cancel();
        }
        Some(s)
    }

    /// The sessions whose time is up.
    fn due(&self, now: Instant) -> Vec<(Token, SessionEnd)> {
        self.live
            .iter()
            .filter_map(|(t, s)| Some((*t, s.due(now)?)))
            .collect()
    }

    fn on(&self, instance: &str) -> Vec<Token> {
        self.live
            .iter()
            .filter(|(_, s)| &*s.instance == instance)
            .map(|(t, _)| *t)
            .collect()
    }

    fn remember_ended(&mut self, info: SessionInfo, expires_id: bool) {
        if expires_id {
            let id: Arc<str> = info.session_id.as_str().into();
            if self.ended_ids.insert(id.clone()) {
                self.ended_order.push_back(id);
            }
            while self.ended_order.len() > ENDED_IDS_KEPT {
                if let Some(old) = self.ended_order.pop_front() {
                    self.ended_ids.remove(&old);
                }
            }
        }
        self.ended.retain(|e| e.session_id != info.session_id);
        self.ended.push_back(info);
        while self.ended.len() > ENDED_KEPT {
            self.ended.pop_front();
        }
    }

    pub fn ended(&self) -> impl DoubleEndedIterator<Item = &SessionInfo> {
        self.ended.iter()
    }

    pub fn live(&self) -> impl Iterator<Item = &Session> {
        self.live.values()
    }
}

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
            Event::new(
                EventKind::SessionStarted,
                &self.function.name,
                Some(&s.instance),
            )
            .with("sessionId", &**id)
            .with("sessionAffinity", affinity.kind.fc_name()),
        );
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
            Event::new(
                EventKind::SessionEnded,
                &self.function.name,
                Some(&s.instance),
            )
            .with("sessionId", &**id)
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
