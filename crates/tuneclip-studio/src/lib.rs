//! Production and review. [`produce`] makes a vertical background clip for every song
//! (the song's highlight window, the best window of video for it from the
//! [`tuneclip_index::Index`], reframed and rendered with the song under it) and runs
//! the automatic [`checks`] on each; a [`ProductionManifest`] lists what was made. The
//! [`ReviewStore`] keeps reviewers' [`Decision`]s in SQLite, and [`page`] serves the
//! review page where they are made. The server reads the store to drop rejected
//! clips and prefer approved ones; rejections are exported as [`HardNegative`]s for
//! training. Sits above `index`, `reframe` and `media`; below `server` and `cli`.

pub mod checks;
pub mod page;
mod produce;
mod review;
mod shard;

pub use checks::{Check, QualityThresholds, run_checks};
pub use page::{ReviewPage, serve_review};
pub use produce::{
    ClipStatus, MANIFEST, ProduceConfig, ProducedClip, ProductionManifest, SongFailure, clip_id, produce,
    rejected_segments, song_window, song_window_onsets,
};
pub use review::{ClipRef, Decision, HardNegative, MAX_REASON_CHARS, ReviewStore, Verdict};
pub use shard::{Merged, Shard, merge};

use std::path::{Path, PathBuf};

/// Errors of production and review.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StudioError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: invalid JSON: {source}")]
    Json { path: PathBuf, source: serde_json::Error },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("review database {path}: {reason}")]
    Database { path: PathBuf, reason: String },
    #[error("checking {path}: {reason}")]
    Check { path: PathBuf, reason: String },
    #[error("invalid decision: {0}")]
    InvalidDecision(String),
    #[error("invalid configuration: {0}")]
    Config(String),
}

pub type Result<T, E = StudioError> = std::result::Result<T, E>;

/// Write `bytes` to `path` through a temporary file and a rename, so a reader sees the
/// old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tuneclip_core::fs::write_atomic(path, bytes).map_err(|e| StudioError::Io { path: e.path, source: e.source })
}
