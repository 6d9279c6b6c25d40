//! The OpenAPI's sessions (functions with HEADER_FIELD or GENERATED_COOKIE affinity): CreateSession,
//! GetSession, ListSessions, UpdateSession and DeleteSession, in FC's shapes.

use crate::{invalid_argument, json_response, not_found};
use fcemu_control::{Body, ControlPlane, SessionRefused, SessionTimes, fc_error_response, ids};
use http::{Request, Response, StatusCode};

/// The calls under `functions/{name}/sessions`; None for any other.
pub async fn handle(
    cp: &ControlPlane,
    segments: &[&str],
    req: Request<Body>,
) -> Option<Response<Body>> {
    let (name, rest) = match segments {
        ["functions", name, "sessions", rest @ ..] => (*name, rest),
        _ => return None,
    };
    let result = match (req.method().as_str(), rest) {
        ("GET", []) => cp
            .list_sessions(name)
            .map(|sessions| serde_json::json!({ "sessions": sessions })),
        ("GET", [id]) => cp.get_session(name, id).map(|s| serde_json::json!(s)),
        ("POST", []) => match times(req).await {
            Ok(times) => cp
                .create_session(name, times)
                .await
                .map(|s| serde_json::json!(s)),
            Err(response) => return Some(response),
        },
        ("PUT", [id]) => {
            let id = id.to_string();
            match times(req).await {
                Ok(times) => cp
                    .update_session(name, &id, times)
                    .map(|s| serde_json::json!(s)),
                Err(response) => return Some(response),
            }
        }
        ("DELETE", [id]) => match cp.delete_session(name, id) {
            Ok(()) => {
                return Some(
                    Response::builder()
                        .status(StatusCode::NO_CONTENT)
                        .header("x-fc-request-id", &*ids::request_id())
                        .body(fcemu_control::empty_body())
                        .expect("a valid response"),
                );
            }
            Err(e) => Err(e),
        },
        _ => return None,
    };
    Some(match result {
        Ok(body) => json_response(StatusCode::OK, &body),
        Err(e) => refused(e),
    })
}

/// A refusal in FC's shape.
fn refused(e: SessionRefused) -> Response<Body> {
    let message = e.to_string();
    match e {
        SessionRefused::NoFunction(name) => not_found(&name),
        SessionRefused::NoSessionsApi(_) | SessionRefused::Invalid(_) => invalid_argument(&message),
        SessionRefused::NoSession { .. } => fc_error_response(
            StatusCode::NOT_FOUND,
            "SessionNotFound",
            &message,
            &ids::request_id(),
        ),
        SessionRefused::Place(e) => fc_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ResourceExhausted",
            &format!("the session's instance could not be made: {e}"),
            &ids::request_id(),
        ),
    }
}

/// CreateSession's and UpdateSession's body: `sessionTTLInSeconds`, `sessionIdleTimeoutInSeconds`.
async fn times(req: Request<Body>) -> Result<SessionTimes, Response<Body>> {
    let body = crate::collect_limited(req.into_body(), 64 * 1024)
        .await
        .map_err(|e| invalid_argument(&format!("reading the body failed: {e}")))?
        .to_bytes();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(SessionTimes::default());
    }
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        invalid_argument(&format!(
            "the body must be JSON like {{\"sessionTTLInSeconds\": 3600, \"sessionIdleTimeoutInSeconds\": 600}}: {e}"
        ))
    })?;
    SessionTimes::from_body(&value).map_err(|e| invalid_argument(&e.to_string()))
}
