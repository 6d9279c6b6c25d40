//! FC 3.0's sessions API for functions with header or cookie affinity (CreateSession, GetSession,
//! ListSessions, UpdateSession, DeleteSession), and the live sessions `fcemu sessions` lists.

use crate::control_plane::ControlPlane;
use crate::error::PlaceError;
use crate::session_binding::SessionClaim;
use crate::session_table::{SessionEnd, SessionInfo};
use std::time::Duration;

/// Why a sessions API call was not carried out.
#[derive(Debug, thiserror::Error)]
pub enum SessionRefused {
    #[error("function {0} does not exist in this project")]
    NoFunction(String),
    #[error(
        "function {0} has no session affinity the sessions API manages: it serves HEADER_FIELD and GENERATED_COOKIE sessions (set sessionAffinity in the s.yaml)"
    )]
    NoSessionsApi(String),
    #[error("session {session} of function {function} does not exist (or ended long ago)")]
    NoSession { function: String, session: String },
    #[error("{0}")]
    Invalid(String),
    /// Its instance could not be made.
    #[error(transparent)]
    Place(Box<PlaceError>),
}

/// A session's lifetimes as CreateSession and UpdateSession take them, each when given.
#[derive(Debug, Default, Clone, Copy)]
pub struct SessionTimes {
    pub ttl: Option<Duration>,
    pub idle_timeout: Option<Duration>,
}

impl SessionTimes {
    /// `sessionTTLInSeconds` and `sessionIdleTimeoutInSeconds` from a request body, in FC's ranges.
    pub fn from_body(body: &serde_json::Value) -> Result<Self, SessionRefused> {
        let seconds = |key: &str, min: u64| -> Result<Option<Duration>, SessionRefused> {
            match body.get(key) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(v) => match v.as_u64().filter(|n| (min..=21_600).contains(n)) {
                    Some(n) => Ok(Some(Duration::from_secs(n))),
                    None => Err(SessionRefused::Invalid(format!(
                        "{key} is {v}, allowed: a whole number of seconds from {min} to 21600"
                    ))),
                },
            }
        };
        Ok(SessionTimes {
            ttl: seconds("sessionTTLInSeconds", 1)?,
            idle_timeout: seconds("sessionIdleTimeoutInSeconds", 0)?,
        })
    }
}

impl ControlPlane {
    /// Live sessions, of one function or all, oldest first.
    pub fn live_sessions(&self, function: Option<&str>) -> Vec<SessionInfo> {
        self.serving()
            .iter()
            .filter(|(name, _)| function.is_none_or(|f| f == name.as_str()))
            .flat_map(|(_, pool)| pool.sessions(false))
            .collect()
    }

    fn sessions_pool(
        &self,
        function: &str,
    ) -> Result<std::sync::Arc<crate::pool::Pool>, SessionRefused> {
        let pool = self
            .function_pool(function)
            .ok_or_else(|| SessionRefused::NoFunction(function.to_string()))?;
        match &pool.function.spec.session_affinity {
            Some(a) if a.kind.has_sessions_api() => Ok(pool),
            _ => Err(SessionRefused::NoSessionsApi(function.to_string())),
        }
    }

    /// ListSessions: live and recently ended sessions, `Active` or `Expired`.
    pub fn list_sessions(&self, function: &str) -> Result<Vec<SessionInfo>, SessionRefused> {
        Ok(self.sessions_pool(function)?.sessions(true))
    }

    /// GetSession.
    pub fn get_session(&self, function: &str, id: &str) -> Result<SessionInfo, SessionRefused> {
        self.sessions_pool(function)?
            .session(id)
            .ok_or_else(|| no_session(function, id))
    }

    /// CreateSession: a session with an id made here, on an instance with room for it (made now when
    /// none has), with the function's lifetimes or the ones given.
    pub async fn create_session(
        &self,
        function: &str,
        times: SessionTimes,
    ) -> Result<SessionInfo, SessionRefused> {
        let pool = self.sessions_pool(function)?;
        let ttl = pool.function.spec.session_affinity.as_ref().map(|a| a.ttl);
        check_times(ttl.unwrap_or_default(), times)?;
        let id: std::sync::Arc<str> = crate::ids::session_id().into();
        // The lease is the session's first request: given back at once, it leaves the session on its
        // instance, idle from now.
        let lease = pool
            .acquire_in(false, Some(&SessionClaim::Named(id.clone())))
            .await
            .map_err(|e| SessionRefused::Place(Box::new(e)))?;
        drop(lease);
        if times.ttl.is_some() || times.idle_timeout.is_some() {
            pool.update_session(&id, times.ttl, times.idle_timeout);
        }
        pool.session(&id).ok_or_else(|| no_session(function, &id))
    }

    /// UpdateSession: a live session's lifetimes.
    pub fn update_session(
        &self,
        function: &str,
        id: &str,
        times: SessionTimes,
    ) -> Result<SessionInfo, SessionRefused> {
        let pool = self.sessions_pool(function)?;
        let live = pool
            .session(id)
            .filter(|s| s.session_status == "Active")
            .ok_or_else(|| no_session(function, id))?;
        check_times(Duration::from_secs(live.session_ttl_in_seconds), times)?;
        pool.update_session(id, times.ttl, times.idle_timeout)
            .ok_or_else(|| no_session(function, id))
    }

    /// DeleteSession: ends a live session now; its instance stays for the function's other sessions.
    pub fn delete_session(&self, function: &str, id: &str) -> Result<(), SessionRefused> {
        let pool = self.sessions_pool(function)?;
        if pool.end_session(id, SessionEnd::Deleted) {
            Ok(())
        } else {
            Err(no_session(function, id))
        }
    }
}

fn no_session(function: &str, id: &str) -> SessionRefused {
    SessionRefused::NoSession {
        function: function.to_string(),
        session: id.to_string(),
    }
}

/// An idle timeout longer than the TTL it would outlive (the one given, else `ttl`, the session's now) is
/// refused, as FC refuses it.
fn check_times(ttl: Duration, times: SessionTimes) -> Result<(), SessionRefused> {
    let ttl = times.ttl.unwrap_or(ttl);
    match times.idle_timeout {
        Some(idle) if idle > ttl => Err(SessionRefused::Invalid(format!(
            "sessionIdleTimeoutInSeconds is {}, allowed: at most the session's TTL, {} s",
            idle.as_secs(),
            ttl.as_secs()
        ))),
        _ => Ok(()),
    }
}
