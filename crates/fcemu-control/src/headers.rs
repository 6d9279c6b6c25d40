//! The header names FC sets on requests to instances and on responses, parsed once (a name given as a
//! string is parsed and validated on every insert).

use http::HeaderName;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-fc-request-id");
pub const INSTANCE_ID: HeaderName = HeaderName::from_static("x-fc-instance-id");
pub const CONTROL_PATH: HeaderName = HeaderName::from_static("x-fc-control-path");
pub const ERROR_TYPE: HeaderName = HeaderName::from_static("x-fc-error-type");
/// fcemu's own: a cold start's Init Duration in milliseconds.
pub const INIT_DURATION_MS: HeaderName = HeaderName::from_static("x-fcemu-init-duration-ms");
pub const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
