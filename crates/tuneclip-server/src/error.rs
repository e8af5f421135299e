use tonic::Status;
use tuneclip_index::IndexError;
use tuneclip_reframe::ReframeError;

/// Everything a handler can fail with; turned into a gRPC status in one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(transparent)]
    Index(#[from] IndexError),
    #[error(transparent)]
    Reframe(#[from] ReframeError),
    #[error("reload refused, still serving the previous snapshot: {0}")]
    Reload(IndexError),
    #[error("request cancelled: the client went away or its deadline passed")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Self {
        let msg = e.to_string();
        match e {
            ServerError::InvalidArgument(_) | ServerError::Index(IndexError::InvalidQuery(_)) => {
                Status::invalid_argument(msg)
            }
            ServerError::NotFound(_)
            | ServerError::Index(
                IndexError::UnknownSong(_) | IndexError::UnknownVideo(_) | IndexError::UnknownSegment(..),
            ) => Status::not_found(msg),
            ServerError::Reframe(ReframeError::OutOfRange { .. }) => Status::invalid_argument(msg),
            ServerError::Reload(_) | ServerError::FailedPrecondition(_) => Status::failed_precondition(msg),
            ServerError::PermissionDenied(_) => Status::permission_denied(msg),
            ServerError::Cancelled => Status::cancelled(msg),
            _ => {
                tracing::error!(error = %msg, "request failed");
                Status::internal(msg)
            }
        }
    }
}
