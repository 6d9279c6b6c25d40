//! How a request names its session, for each of FC's affinity kinds, and how an answer binds one:
//!
//! - `HEADER_FIELD`: the id in the function's header; a request without one gets an id made here, sent
//!   back in that header.
//! - `GENERATED_COOKIE`: the id in FC's cookie, `x-fc-cookie-session-id`; a request without it gets one, set
//!   with `Set-Cookie` and the session's TTL as its `Max-Age`.
//! - `MCP_STREAMABLE`: a request without `Mcp-Session-Id` may open a session; the id the server answers with
//!   binds it to the instance that answered. A request with one goes to its instance; `DELETE` ends it.
//! - `MCP_SSE`: a `GET` of the SSE path opens a session; the stream's `endpoint` event names it (the
//!   message URL's `sessionId` or `session_id`), and the message requests that carry it go to that
//!   instance. The session ends with its stream, which is cut at the function's timeout, as FC cuts it.
//!
//! Asynchronous invocations have no sessions (FC's rule): only synchronous ones are claimed.

use crate::client::{Body, BoxError};
use crate::pool::Pool;
use crate::session_table::{SessionEnd, Token};
use bytes::Bytes;
use fcemu_spec::{AffinityKind, MCP_SESSION_HEADER, SESSION_COOKIE, valid_session_id};
use http::{HeaderValue, Method, Request, Response, header};
use http_body::{Body as HttpBody, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// What a request asks of the session table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SessionClaim {
    /// Header or cookie affinity: this session's instance, or a new session of this id.
    Named(Arc<str>),
    /// MCP: this session's instance while it lives; any instance otherwise (the server says whether it
    /// knows the session).
    Existing(Arc<str>),
    /// MCP: a session may open here, named by the answer.
    Opening,
}

/// What the answer to a claimed request does for its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// Nothing: the session was named by the request.
    None,
    /// Send the id made here back in this header.
    Header(String, Arc<str>),
    /// Set FC's cookie to the id made here.
    Cookie(Arc<str>, u64),
    /// Name the opened session after the answer's `Mcp-Session-Id`.
    McpStreamable,
    /// The session ends once its server answered this DELETE.
    McpDelete(Arc<str>),
    /// Name the opened session after its SSE stream's `endpoint` event; end it with the stream.
    McpSse,
}

/// The session a synchronous request claims, and what its answer must do: None for a function without
/// affinity, or a request that belongs to no session (MCP SSE's message without an id, a refused id).
pub(crate) fn claim(pool: &Pool, req: &Request<Body>) -> Option<(SessionClaim, Binding)> {
    let affinity = pool.function.spec.session_affinity.as_ref()?;
    let headers = req.headers();
    match &affinity.kind {
        AffinityKind::HeaderField { header } => Some(named_or_made(
            headers.get(header.as_str()).and_then(|v| v.to_str().ok()),
            |id| Binding::Header(header.clone(), id),
        )),
        AffinityKind::GeneratedCookie => {
            Some(named_or_made(cookie(headers, SESSION_COOKIE), |id| {
                Binding::Cookie(id, affinity.ttl.as_secs())
            }))
        }
        AffinityKind::McpStreamable => {
            match headers
                .get(MCP_SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                Some(id) if valid_session_id(id) => {
                    let binding = if req.method() == Method::DELETE {
                        Binding::McpDelete(id.into())
                    } else {
                        Binding::None
                    };
                    Some((SessionClaim::Existing(id.into()), binding))
                }
                Some(_) => None,
                None if req.method() == Method::POST => {
                    Some((SessionClaim::Opening, Binding::McpStreamable))
                }
                None => None,
            }
        }
        AffinityKind::McpSse { sse_path } => {
            if req.method() == Method::GET && req.uri().path() == sse_path.as_str() {
                return Some((SessionClaim::Opening, Binding::McpSse));
            }
            let id = query_session_id(req.uri().query()?)?;
            Some((SessionClaim::Existing(id.into()), Binding::None))
        }
    }
}

/// A header or cookie session: the one the request names, or a new one with an id made here, which its
/// answer sends back as `send_back` says. An id FC would not take is treated as none.
fn named_or_made(
    sent: Option<&str>,
    send_back: impl FnOnce(Arc<str>) -> Binding,
) -> (SessionClaim, Binding) {
    match sent {
        Some(id) if valid_session_id(id) => (SessionClaim::Named(id.into()), Binding::None),
        _ => {
            let id: Arc<str> = crate::ids::session_id().into();
            (SessionClaim::Named(id.clone()), send_back(id))
        }
    }
}

/// A cookie's value from the request's `Cookie` headers.
fn cookie<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (k, v) = pair.trim().split_once('=')?;
            (k == name).then_some(v.trim_matches('"'))
        })
}

/// The session id of an MCP SSE message URL: `sessionId` (the TypeScript SDK's) or `session_id` (the
/// Python SDK's).
fn query_session_id(query: &str) -> Option<&str> {
    query
        .split('&')
        .find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == "sessionId" || k == "session_id").then_some(v)
        })
        .filter(|id| valid_session_id(id))
}

/// Does for the session what its answer says (see [`Binding`]).
pub(crate) fn bind(
    pool: &Arc<Pool>,
    token: Option<Token>,
    binding: Binding,
    mut response: Response<Body>,
) -> Response<Body> {
    match binding {
        Binding::None => {}
        Binding::Header(name, id) => {
            if let (Ok(name), Ok(value)) =
                (http::HeaderName::try_from(name), HeaderValue::from_str(&id))
            {
                response.headers_mut().insert(name, value);
            }
        }
        Binding::Cookie(id, max_age) => {
            if let Ok(value) =
                HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Max-Age={max_age}"))
            {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        Binding::McpStreamable => {
            let Some(token) = token else { return response };
            let named = response
                .headers()
                .get(MCP_SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
                .filter(|id| valid_session_id(id));
            match named {
                Some(id) if response.status().is_success() => pool.name_session(token, id.into()),
                // A stateless server (or a refused initialize): no session opened.
                _ => pool.end_session_token(token, SessionEnd::Closed),
            }
        }
        Binding::McpDelete(id) => {
            if response.status().is_success() {
                pool.end_session(&id, SessionEnd::Deleted);
            }
        }
        Binding::McpSse => {
            let Some(token) = token else { return response };
            if !response.status().is_success() {
                pool.end_session_token(token, SessionEnd::Closed);
                return response;
            }
            let Some(closer) = pool.session_closer(token) else {
                return response; // its instance went away already
            };
            let timeout = pool.function.spec.timeout;
            let ends = async move {
                tokio::select! {
                    _ = tokio::time::sleep(timeout) => {}
                    _ = closer.cancelled() => {}
                }
            };
            return response.map(|body| {
                Body::new(SseSession {
                    inner: body,
                    pool: pool.clone(),
                    token,
                    seen: Vec::new(),
                    named: false,
                    ends: Box::pin(ends),
                })
            });
        }
    }
    response
}

/// How much of an SSE stream is read for its `endpoint` event before it is given up on.
const ENDPOINT_SCAN_BYTES: usize = 16 * 1024;

/// An MCP SSE stream passed through as it comes: its `endpoint` event names the session, and the session
/// ends when the stream does. FC holds the stream open for the function's timeout at most: it ends then,
/// or when the session ends first (its instance is destroyed, fcemu stops).
struct SseSession {
    inner: Body,
    pool: Arc<Pool>,
    token: Token,
    /// The stream so far, until the endpoint event is found.
    seen: Vec<u8>,
    named: bool,
    ends: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
}

impl SseSession {
    fn scan(&mut self, chunk: &[u8]) {
        if self.named || self.seen.len() >= ENDPOINT_SCAN_BYTES {
            return;
        }
        self.seen.extend_from_slice(chunk);
        if let Some(id) = endpoint_session_id(&self.seen) {
            self.named = true;
            self.seen = Vec::new();
            self.pool.name_session(self.token, id.into());
        }
    }
}

/// The session id in the data of an SSE stream's first `endpoint` event, once that event is whole.
fn endpoint_session_id(stream: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(stream).ok()?;
    let text = text.replace("\r\n", "\n");
    // Only the events already ended by a blank line: the last one may still be coming.
    let whole = &text[..text.rfind("\n\n")?];
    for event in whole.split("\n\n") {
        let mut name = "message";
        let mut data = String::new();
        for line in event.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = v.trim();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push_str(v.trim());
            }
        }
        if name == "endpoint" {
            let query = data.split_once('?')?.1;
            return query_session_id(query).map(str::to_string);
        }
    }
    None
}

impl Drop for SseSession {
    fn drop(&mut self) {
        self.pool.end_session_token(self.token, SessionEnd::Closed);
    }
}

impl HttpBody for SseSession {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.ends.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.scan(data);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sse_endpoint_event_names_the_session_once_whole() {
        let python = b"event: endpoint\r\ndata: /messages/?session_id=0f3a9c\r\n\r\n";
        assert_eq!(endpoint_session_id(python).as_deref(), Some("0f3a9c"));
        let typescript = b": hello\n\nevent: endpoint\ndata: /message?sessionId=ab-12\n\n";
        assert_eq!(endpoint_session_id(typescript).as_deref(), Some("ab-12"));
        assert_eq!(
            endpoint_session_id(b"event: endpoint\ndata: /m?sessionId=ab"),
            None
        );
        assert_eq!(endpoint_session_id(b"event: message\ndata: {}\n\n"), None);
        assert_eq!(
            endpoint_session_id(b"event: endpoint\ndata: /m?sessionId=a/b\n\n"),
            None
        );
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = http::HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; x-fc-cookie-session-id=s1"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("s1"));
        assert_eq!(cookie(&h, "b"), None);
    }
}
