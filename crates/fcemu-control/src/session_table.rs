//! The session table of a function with session affinity: its live sessions by handle and by id, and the
//! recently ended ones, with what FC's sessions API shows of each. The pool keeps it in its state, so a
//! placement decides on a session and its instance under one lock; what the pool does with it is
//! `sessions.rs`.

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
    pub(crate) fn expires_id(self) -> bool {
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
    pub began: Instant,
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
    pub fn remove(&mut self, token: Token) -> Option<Session> {
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
    pub fn due(&self, now: Instant) -> Vec<(Token, SessionEnd)> {
        self.live
            .iter()
            .filter_map(|(t, s)| Some((*t, s.due(now)?)))
            .collect()
    }

    pub fn on(&self, instance: &str) -> Vec<Token> {
        self.live
            .iter()
            .filter(|(_, s)| &*s.instance == instance)
            .map(|(t, _)| *t)
            .collect()
    }

    pub fn remember_ended(&mut self, info: SessionInfo, expires_id: bool) {
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
