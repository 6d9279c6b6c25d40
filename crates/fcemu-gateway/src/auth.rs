//! Who may call what, on fcemu's own API (`/_fcemu`) and the OpenAPI (`/2023-03-30`). HTTP trigger traffic is
//! not checked here: it keeps FC's behaviour (anonymous triggers are open to anyone who reaches them).
//!
//! Three rules, in this order:
//! - **Host.** A web page the developer visits can rebind its own name to 127.0.0.1 and then read this API as
//!   if it were its own origin. Its requests carry its name in `Host`, so a request whose `Host` is not the
//!   listen address or a loopback name (`localhost`, `127.0.0.1`, `[::1]`, with the port) is refused. On an
//!   unspecified listen address (`0.0.0.0`) any IP literal with the port will do: an address cannot be
//!   rebound. A caller with the token is let through whatever name it used: a page cannot know the token.
//! - **Origin.** A page of another origin can still send requests it cannot read (a form's POST): a call
//!   that changes state or invokes, with an `Origin` that is not this fcemu's own, is refused on any listen
//!   address. The timeline page is of the same origin, and tools (curl, the SDKs) send no `Origin`.
//! - **Token.** Off loopback, every call but InvokeFunction needs `Authorization: Bearer <token>`: the
//!   functions' environment (secrets), their logs and events are not for whoever reaches the port. The
//!   timeline page's own files hold no data and load without it; the page sends the token it is given in
//!   its address's fragment (`/_fcemu/ui#token=...`).

use fcemu_control::{Body, fc_error_response, ids};
use http::{Request, Response, StatusCode};
use std::net::{IpAddr, SocketAddr};

/// A secret made at start: 32 bytes from the operating system's secure random source, as hex.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Token(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// A token read back (from `.fcemu/token`).
    pub fn new(text: impl Into<String>) -> Self {
        Token(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Compares in time that does not depend on where the first difference is.
    fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

/// What a call to the API does, for the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// The timeline page and its scripts: no data in them.
    Page,
    /// Reads state: functions (with their environment), instances, logs, events, billing.
    Read,
    /// Changes state: reclaim, provision, UpdateFunction.
    Change,
    /// InvokeFunction: open as trigger traffic is, but not to another origin's page.
    Invoke,
}

/// Who may call what (see the module's rules).
#[derive(Debug, Clone)]
pub struct Access {
    token: Option<Token>,
    /// The address the gateway listens on, its port the bound one. None until [`Access::bound_to`]: a
    /// gateway driven in-process (tests) has no address to compare `Host` with.
    listen: Option<SocketAddr>,
}

impl Access {
    /// No token (loopback, or `--no-auth`).
    pub fn open() -> Self {
        Access {
            token: None,
            listen: None,
        }
    }

    /// Only a caller with the token may read or change state.
    pub fn with_token(token: Token) -> Self {
        Access {
            token: Some(token),
            listen: None,
        }
    }

    pub fn token(&self) -> Option<&Token> {
        self.token.as_ref()
    }

    /// The same rules, `Host` and `Origin` compared with the address the gateway listens on.
    pub fn bound_to(self, listen: SocketAddr) -> Self {
        Access {
            listen: Some(listen),
            ..self
        }
    }

    /// None when `req` may make this call; otherwise the answer that refuses it and says why.
    pub fn check<B>(&self, req: &Request<B>, call: Call) -> Option<Response<Body>> {
        let has_token = self.token.as_ref().is_some_and(|token| {
            req.headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .is_some_and(|offered| token.matches(offered.trim()))
        });
        if !has_token {
            if let Some(host) = req.headers().get(http::header::HOST) {
                if !self.is_own_host(host.as_bytes()) {
                    return Some(forbidden(&format!(
                        "Host `{}` is not the address fcemu listens on: fcemu's API answers only requests to {} or a loopback name (localhost, 127.0.0.1, [::1]) with its port, so that a web page cannot reach it by rebinding its own name to this machine",
                        String::from_utf8_lossy(host.as_bytes()),
                        self.listen.map_or("it".to_string(), |a| a.to_string()),
                    )));
                }
            }
        }
        if matches!(call, Call::Change | Call::Invoke) {
            if let Some(origin) = req.headers().get(http::header::ORIGIN) {
                if !self.is_own_origin(origin.as_bytes()) {
                    return Some(forbidden(&format!(
                        "{} {} comes from a web page of another origin (`{}`): pages may not change fcemu's state or invoke its functions through its API; send it from a tool (curl, an SDK, fcemu's commands) or from the page at fcemu's own address",
                        req.method(),
                        req.uri().path(),
                        String::from_utf8_lossy(origin.as_bytes())
                    )));
                }
            }
        }
        if self.token.is_some() && !has_token && matches!(call, Call::Read | Call::Change) {
            return Some(unauthorized(req));
        }
        None
    }

    /// `Host` names the listen address, or a loopback one, with the listen port (see the module's rules).
    fn is_own_host(&self, host: &[u8]) -> bool {
        let Some(listen) = self.listen else {
            return true;
        };
        let Ok(host) = std::str::from_utf8(host) else {
            return false;
        };
        let (name, port) = split_host(host);
        let port_ok = match port {
            Some(port) => port.parse::<u16>() == Ok(listen.port()),
            None => listen.port() == 80,
        };
        if !port_ok {
            return false;
        }
        if name.eq_ignore_ascii_case("localhost") {
            return true;
        }
        let literal = name.trim_start_matches('[').trim_end_matches(']');
        match literal.parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback() || ip == listen.ip() || listen.ip().is_unspecified(),
            Err(_) => false,
        }
    }

    /// `Origin` is `http://` and a host [`Access::is_own_host`] accepts.
    fn is_own_origin(&self, origin: &[u8]) -> bool {
        origin
            .strip_prefix(b"http://")
            .is_some_and(|host| !host.contains(&b'/') && self.is_own_host(host))
    }
}

/// `name:port`, `[v6]:port`, `name` or `[v6]`.
fn split_host(host: &str) -> (&str, Option<&str>) {
    if host.starts_with('[') {
        return match host.split_once("]:") {
            Some((name, port)) => (&host[..name.len() + 1], Some(port)),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    }
}

fn forbidden(message: &str) -> Response<Body> {
    fc_error_response(
        StatusCode::FORBIDDEN,
        "Forbidden",
        message,
        &ids::request_id(),
    )
}

/// The 401 that says how to be let in.
fn unauthorized<B>(req: &Request<B>) -> Response<Body> {
    let mut response = fc_error_response(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        &format!(
            "{} {} needs the token: this fcemu listens on an address other machines can reach, so only InvokeFunction and HTTP trigger traffic are open. Send `Authorization: Bearer <token>` with the token kept in .fcemu/token of the project folder (fcemu's own commands there send it; `fcemu up` prints it when its output is a terminal)",
            req.method(),
            req.uri().path()
        ),
        &ids::request_id(),
    );
    response.headers_mut().insert(
        http::header::WWW_AUTHENTICATE,
        http::HeaderValue::from_static("Bearer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(host: Option<&str>, origin: Option<&str>, bearer: Option<&str>) -> Request<()> {
        let mut r = Request::builder().uri("/_fcemu/functions");
        if let Some(h) = host {
            r = r.header("host", h);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(b) = bearer {
            r = r.header("authorization", format!("Bearer {b}"));
        }
        r.body(()).unwrap()
    }

    fn status(access: &Access, r: &Request<()>, call: Call) -> u16 {
        access.check(r, call).map_or(200, |r| r.status().as_u16())
    }

    #[test]
    fn on_loopback_only_this_machines_names_with_the_port_reach_the_api() {
        let access = Access::open().bound_to("127.0.0.1:9000".parse().unwrap());
        for host in [
            "127.0.0.1:9000",
            "localhost:9000",
            "LOCALHOST:9000",
            "[::1]:9000",
            "127.0.0.2:9000",
        ] {
            assert_eq!(
                status(&access, &req(Some(host), None, None), Call::Read),
                200,
                "{host}"
            );
        }
        for host in [
            "attacker.example:9000",
            "localhost.attacker.example:9000",
            "127.0.0.1:9001",
            "127.0.0.1",
            "192.168.1.5:9000",
            "localhost:9000@evil",
        ] {
            assert_eq!(
                status(&access, &req(Some(host), None, None), Call::Read),
                403,
                "{host}"
            );
        }
        // No Host at all: an HTTP/1.0 tool, never a browser.
        assert_eq!(status(&access, &req(None, None, None), Call::Read), 200);
    }

    #[test]
    fn a_page_of_another_origin_may_not_change_state_or_invoke_but_the_own_page_may() {
        let access = Access::open().bound_to("127.0.0.1:9000".parse().unwrap());
        let own = Some("127.0.0.1:9000");
        for origin in [
            "http://attacker.example",
            "null",
            "https://127.0.0.1:9000",
            "http://127.0.0.1:9000/x",
        ] {
            for call in [Call::Change, Call::Invoke] {
                assert_eq!(
                    status(&access, &req(own, Some(origin), None), call),
                    403,
                    "{origin}"
                );
            }
            // Reading is judged by Host alone: another origin cannot read the answer.
            assert_eq!(
                status(&access, &req(own, Some(origin), None), Call::Read),
                200
            );
        }
        for origin in ["http://127.0.0.1:9000", "http://localhost:9000"] {
            assert_eq!(
                status(&access, &req(own, Some(origin), None), Call::Change),
                200
            );
        }
    }

    #[test]
    fn off_loopback_reads_need_the_token_and_the_token_lets_any_host_through() {
        let access =
            Access::with_token(Token::new("s3cret")).bound_to("0.0.0.0:9000".parse().unwrap());
        let lan = Some("192.168.1.5:9000");
        assert_eq!(status(&access, &req(lan, None, None), Call::Read), 401);
        assert_eq!(status(&access, &req(lan, None, None), Call::Change), 401);
        assert_eq!(
            status(&access, &req(lan, None, Some("wrong")), Call::Read),
            401
        );
        assert_eq!(status(&access, &req(lan, None, None), Call::Invoke), 200);
        assert_eq!(status(&access, &req(lan, None, None), Call::Page), 200);
        assert_eq!(
            status(&access, &req(lan, None, Some("s3cret")), Call::Read),
            200
        );
        // A name is refused without the token (rebinding), let through with it (a LAN name).
        let named = Some("devbox.lan:9000");
        assert_eq!(status(&access, &req(named, None, None), Call::Invoke), 403);
        assert_eq!(
            status(&access, &req(named, None, Some("s3cret")), Call::Read),
            200
        );
    }
}
