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
    /// Rendering a clip (decoding its source, encoding, writing its preview).
    #[error(transparent)]
    Media(#[from] tuneclip_media::MediaError),
    #[error("reload refused, still serving the previous snapshot: {0}")]
    Reload(IndexError),
    /// A song given in the request (uploaded bytes or a file under the media roots)
    /// could not be analysed: INVALID_ARGUMENT when the file is at fault, INTERNAL when
    /// this server is (a model, its configuration, reading the file).
    #[error("{field}: {detail} ({source})")]
    Song { field: &'static str, detail: String, source: tuneclip_ingest::SongError },
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
            ServerError::Song { ref source, .. } if source.is_bad_input() => Status::invalid_argument(msg),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use tuneclip_ingest::SongError;

    fn song(source: SongError) -> Status {
        ServerError::Song { field: "audio", detail: "10 bytes".into(), source }.into()
    }

    #[test]
    fn a_bad_upload_is_the_clients_fault_and_a_model_failure_the_servers() {
        let path = PathBuf::from("upload");
        let not_audio = SongError::Media(tuneclip_media::MediaError::NoAudioTrack { path: path.clone() });
        let short = SongError::Analysis {
            path: path.clone(),
            source: tuneclip_audio::AudioError::TooShort { samples: 10, needed: 2048 },
        };
        let too_short_to_embed =
            SongError::Model { path: path.clone(), source: tuneclip_model::EmbedError::SongTooShort };
        for bad in [not_audio, short, too_short_to_embed] {
            let s = song(bad);
            assert_eq!(s.code(), tonic::Code::InvalidArgument, "{s:?}");
            assert!(s.message().starts_with("audio: 10 bytes"), "{s:?}");
        }
        let shape = tuneclip_model::learned::LearnedError::Shape { field: "mel", found: 3, expected: 4 };
        let model = SongError::Model { path: path.clone(), source: shape.into() };
        let read = SongError::Read { path, source: std::io::Error::other("disk gone") };
        let init = SongError::Media(tuneclip_media::MediaError::Init { reason: "no FFmpeg".into() });
        for ours in [model, read, init, SongError::Setup("Basic Pitch: model missing".into())] {
            assert_eq!(song(ours).code(), tonic::Code::Internal);
        }
    }
}
