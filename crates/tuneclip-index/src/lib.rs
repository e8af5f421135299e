//! The catalogue and its search index.
//!
//! - [`Catalogue`]: songs, videos and their segments as analysed and embedded (made
//!   from files on disk by `tuneclip-ingest`), with the files that failed as
//!   [`Failure`]s.
//! - [`Snapshot::publish`]: a catalogue, its embeddings as flat vector files and, for
//!   large sets, HNSW graphs over them (tuneclip-ann), written to a fresh directory with a sha256 manifest and switched to by
//!   an atomic rename of the `CURRENT` pointer: readers see the old snapshot or the new
//!   one, never half of one.
//! - [`Index`]: a loaded, checksum-verified snapshot answering "best clips for this
//!   song" ([`Index::best_clips`]).
//!
//! This crate does no network I/O.

mod catalogue;
mod frames;
pub mod review;
mod search;
mod snapshot;
pub mod synthetic;

pub use catalogue::{Catalogue, Failure, MergeError, SegmentEntry, SongEntry, VideoEntry, content_id};
pub use review::ReviewDecisions;
pub use search::{
    BEAT_SLACK, BEAT_TOLERANCE_S, BeatFit, ClipFilter, ClipQuery, Index, SongHit, VectorBackend, VectorSet, Window,
    WindowQuery,
};
pub use snapshot::{Manifest, PublishOptions, Snapshot, failpoint};
pub use tuneclip_ann::{IndexKind, Unhealthy};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid JSON ({reason})")]
    Json { path: PathBuf, reason: String },
    #[error("no published snapshot under {0} (run `tuneclip ingest` first)")]
    NoSnapshot(PathBuf),
    #[error(
        "snapshot {dir}: {file} fails its checksum (expected sha256 {expected}, found {found}); refusing a corrupt snapshot"
    )]
    Checksum { dir: PathBuf, file: String, expected: String, found: String },
    #[error("snapshot {dir}: {reason}")]
    Corrupt { dir: PathBuf, reason: String },
    #[error("snapshot {dir}: its vectors cannot be served by the configured backend: {source}")]
    Backend { dir: PathBuf, source: BackendError },
    #[error("snapshot {dir} was built by model {found}, this build uses {expected}; rebuild the index")]
    ModelVersion { dir: PathBuf, expected: String, found: String },
    #[error("unknown song id {0}")]
    UnknownSong(String),
    #[error("unknown video id {0}")]
    UnknownVideo(String),
    #[error("video {0} has no segment {1}")]
    UnknownSegment(String, u32),
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error("cannot build the HNSW graph: {0}")]
    Hnsw(String),
}

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// Why a [`VectorBackend`] could not serve a snapshot's vectors: the backend's own
/// error, kept whole (its kind and its sources).
pub type BackendError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> IndexError {
    let path = path.into();
    move |source| IndexError::Io { path, source }
}
