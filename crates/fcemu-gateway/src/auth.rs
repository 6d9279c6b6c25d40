//! Who may change state. On loopback anyone on the machine may, as with any local dev server. On an address
//! other machines reach, the calls that change state (reclaim, provisioned-instance adjustment) need the
//! token `up` made at start: `Authorization: Bearer <token>`. HTTP trigger traffic and InvokeFunction stay
//! open, as FC's anonymous triggers are.

use fcemu_control::{Body, fc_error_response, ids};
use http::{Request, Response, StatusCode};

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

/// Who may call what changes state.
#[derive(Debug, Clone)]
pub enum Access {
    /// Anyone (loopback, or `--no-auth`).
    Open,
    /// Only a caller with the token.
    Token(Token),
}

impl Access {
    /// None when `req` may change state; otherwise the 401 that says how to be let in.
    pub fn refuse<B>(&self, req: &Request<B>) -> Option<Response<Body>> {
        let Access::Token(token) = self else {
            return None;
        };
        let offered = req
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if offered.is_some_and(|t| token.matches(t.trim())) {
            return None;
        }
        let mut response = fc_error_response(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            &format!(
                "{} {} changes state, and this fcemu listens on an address other machines can reach: send `Authorization: Bearer <token>` with the token `fcemu up` printed at start (also in .fcemu/token; fcemu's own commands send it)",
                req.method(),
                req.uri().path()
            ),
            &ids::request_id(),
        );
        response.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            http::HeaderValue::from_static("Bearer"),
        );
        Some(response)
    }
}
