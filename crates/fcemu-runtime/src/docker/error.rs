//! An engine call that failed, in the engine's own words.

use crate::EngineError;
use bollard::errors::Error as BollardError;

/// A failed engine call in the engine's own words (`No such container: ... (HTTP 404)`), with bollard's
/// error kept inside for whoever needs to look at it.
#[derive(Debug)]
pub(crate) struct DockerError(pub BollardError);

impl std::fmt::Display for DockerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            BollardError::DockerResponseServerError {
                status_code,
                message,
            } => write!(f, "{message} (HTTP {status_code})"),
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for DockerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Boxed as a [`RuntimeError`]'s source.
pub(crate) fn engine(e: BollardError) -> EngineError {
    Box::new(DockerError(e))
}

pub(crate) fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
