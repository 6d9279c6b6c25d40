//! FC's two shapes of error response: the service's own (`{"Code","Message","RequestId"}`) and the
//! function's (`X-Fc-Error-Type` and `{"errorMessage","errorType"}`), and which one each failure gets.

use crate::client::{Body, full_body};
use crate::error::{InvokeError, PlaceError};
use crate::headers;
use http::{Response, StatusCode, header};

/// How the request reached fcemu.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvocationKind {
    /// HTTP trigger traffic: method, path, query, headers and body passed through.
    HttpTrigger,
    /// InvokeFunction: the payload is sent as `POST /invoke`.
    Event,
}

impl InvocationKind {
    pub(crate) fn control_path(self) -> &'static str {
        match self {
            InvocationKind::HttpTrigger => "/http-invoke",
            InvocationKind::Event => "/invoke",
        }
    }
}

/// FC's shape for errors of the service itself: status, `{"Code","Message","RequestId"}`.
pub fn fc_error_response(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    let body = serde_json::json!({ "Code": code, "Message": message, "RequestId": request_id });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(headers::REQUEST_ID, request_id)
        .body(full_body(body.to_string()))
        .expect("a valid error response")
}

/// FC's shape for errors of the function: `X-Fc-Error-Type` and `{"errorMessage","errorType"}`.
pub fn function_error_response(
    status: StatusCode,
    error_type: &str,
    message: &str,
    request_id: &str,
) -> Response<Body> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": error_type });
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(headers::REQUEST_ID, request_id)
        .header(headers::ERROR_TYPE, error_type)
        .body(full_body(body.to_string()))
        .expect("a valid error response")
}

/// A function's error answers an HTTP trigger with 502 and InvokeFunction with 200 (the error is in the
/// header and body), as FC does.
fn function_error_status(kind: InvocationKind) -> StatusCode {
    match kind {
        InvocationKind::HttpTrigger => StatusCode::BAD_GATEWAY,
        InvocationKind::Event => StatusCode::OK,
    }
}

pub(crate) fn place_error_response(
    e: &PlaceError,
    request_id: &str,
    kind: InvocationKind,
) -> Response<Body> {
    let message = fcemu_runtime::error_chain(e);
    match e {
        // FC answers an Initializer failure with HTTP 200 on purpose; the header says what happened.
        PlaceError::Initialization { .. } => {
            function_error_response(StatusCode::OK, "InitializationError", &message, request_id)
        }
        PlaceError::NotStarted { .. } => function_error_response(
            function_error_status(kind),
            "FunctionNotStarted",
            &message,
            request_id,
        ),
        PlaceError::Exhausted(_) => fc_error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "ResourceExhausted",
            &message,
            request_id,
        ),
        PlaceError::SessionThrottled { .. } => fc_error_response(
            StatusCode::TOO_MANY_REQUESTS,
            "ResourceThrottled",
            &message,
            request_id,
        ),
        PlaceError::SessionIdExpired(_) => fc_error_response(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            &message,
            request_id,
        ),
        PlaceError::ShuttingDown => fc_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &message,
            request_id,
        ),
    }
}

/// FC's message for a failed invocation: the failure, and its cause in parentheses.
pub(crate) fn unhandled_message(e: &InvokeError) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e} ({})", fcemu_runtime::error_chain(cause)),
        None => e.to_string(),
    }
}

pub(crate) fn invoke_error_response(
    e: &InvokeError,
    request_id: &str,
    kind: InvocationKind,
) -> Response<Body> {
    match e {
        InvokeError::ClientBody(cause) => fc_error_response(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            &client_body_message(&**cause),
            request_id,
        ),
        InvokeError::ClientTooSlow { .. } => fc_error_response(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            &format!(
                "{e}: no instance was given the request. A client must send its whole body within the limit (fcemu up --body-read-timeout)"
            ),
            request_id,
        ),
        InvokeError::NotAccepted { .. } => fc_error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            &e.to_string(),
            request_id,
        ),
        InvokeError::Timeout { .. } | InvokeError::ProcessExited(_) => function_error_response(
            function_error_status(kind),
            "UnhandledInvocationError",
            &unhandled_message(e),
            request_id,
        ),
    }
}

/// What was wrong with a client's body, in words that say what to do. `cause` is what forwarding the
/// request reported; the body's own error is among its sources.
fn client_body_message(cause: &(dyn std::error::Error + 'static)) -> String {
    let mut sources = std::iter::successors(Some(cause), |e| e.source());
    if sources.any(|e| e.is::<http_body_util::LengthLimitError>()) {
        return format!(
            "the request body is over {} MB, FC's limit for a synchronous invocation; send a smaller one",
            crate::MAX_BODY_BYTES / (1024 * 1024)
        );
    }
    let why = cause
        .source()
        .map_or_else(|| cause.to_string(), fcemu_runtime::error_chain);
    format!(
        "the request body could not be read ({why}); check the client's Content-Length or chunked encoding"
    )
}
