//! The catalogue: songs, videos and their segments with their analyses and
//! embeddings, as a snapshot holds them, and the content ids files are known by.

use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tuneclip_audio::SongAnalysis;
use tuneclip_core::sync::SyncEnvelope;
use tuneclip_core::{ContentId, Embedding};
use tuneclip_model::pitch::PitchFeatures;
use tuneclip_vision::{SegmentStats, VideoAnalysis};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SongEntry {
    pub id: ContentId,
    pub path: PathBuf,
    pub title: String,
    /// Features, beats, loudness, chroma and the highlight window.
    pub analysis: SongAnalysis,
    /// Basic Pitch's note features over the highlight window, when the model was
    /// installed at ingest (pitch classes, note rate, polyphony, register).
    #[serde(default)]
    pub pitch: Option<PitchFeatures>,
    /// The whole song's onset envelope on the sync grid (what window and clip search
    /// line pictures' events up with: `tuneclip_core::sync`); empty in catalogues made
    /// before it was kept (such songs are analysed again on the next rebuild).
    #[serde(default, skip_serializing_if = "SyncEnvelope::is_empty")]
    pub onsets: SyncEnvelope,
    /// Kept in the snapshot's vector file, not in its catalogue JSON.
    #[serde(default)]
    pub embedding: Embedding,
}

impl SongEntry {
    /// Where in the song a clip of `clip_s` plays (what BestClips places clips in sync
    /// with and renders under them): the highlight's start, moved back if the clip would
    /// run past the song's end.
    pub fn clip_start_s(&self, clip_s: f64) -> f64 {
        let latest = (self.analysis.features.duration_s - clip_s).max(0.0);
        self.analysis.highlight.range.start_s.min(latest)
    }

    /// The onset envelope of `duration_s` of the song from `start_s` (what
    /// `WindowQuery::onsets` and `ClipQuery::onsets` take: one value per sync bin,
    /// zero-padded past the song's end); `None` for a song catalogued before onsets were
    /// kept.
    pub fn onsets_in(&self, start_s: f64, duration_s: f64) -> Option<Vec<f32>> {
        if self.onsets.is_empty() {
            return None;
        }
        let mut out = self.onsets.window(start_s, duration_s);
        out.resize((duration_s / tuneclip_core::sync::SYNC_STEP_S).round() as usize, 0.0);
        Some(out)
    }

    /// The unit the song's onset events are counted in wherever a part of it is scored
    /// (`ClipQuery::onsets_unit`, `WindowQuery::onsets_unit`): the root mean square of the
    /// whole song's ([`tuneclip_core::sync::event_unit`], computed on the first query
    /// and kept); `None` without onsets.
    pub fn onsets_unit(&self) -> Option<f32> {
        (!self.onsets.is_empty()).then(|| self.onsets.event_unit())
    }

    /// The song's beats in `duration_s` from `start_s`, in seconds from `start_s` (what
    /// `WindowQuery::beats_s` and `ClipQuery::beats_s` take).
    pub fn beats_in(&self, start_s: f64, duration_s: f64) -> Vec<f64> {
        let end = start_s + duration_s;
        self.analysis.beats_s.iter().filter(|&&b| b >= start_s && b < end).map(|&b| b - start_s).collect()
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoEntry {
    pub id: ContentId,
    pub path: PathBuf,
    pub title: String,
    pub analysis: VideoAnalysis,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentEntry {
    pub video: ContentId,
    pub ordinal: u32,
    pub stats: SegmentStats,
    /// Kept in the snapshot's vector file, not in its catalogue JSON.
    #[serde(default)]
    pub embedding: Embedding,
}

/// A file that could not be ingested, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub path: PathBuf,
    pub reason: String,
}

/// Songs, videos and their segments with embeddings: what a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalogue {
    pub model_version: String,
    pub dim: usize,
    pub songs: Vec<SongEntry>,
    pub videos: Vec<VideoEntry>,
    pub segments: Vec<SegmentEntry>,
    pub failures: Vec<Failure>,
}

impl Catalogue {
    pub fn song(&self, id: &str) -> Option<&SongEntry> {
        self.songs.iter().find(|s| s.id.0 == id)
    }
    pub fn video(&self, id: &str) -> Option<&VideoEntry> {
        self.videos.iter().find(|v| v.id.0 == id)
    }

    /// Drop the videos whose id or source path is in `keys`, with their segments; the
    /// rest (embeddings included) stays as it is, so no file is analysed again. Returns
    /// the ids removed.
    pub fn remove_videos(&mut self, keys: &[String]) -> Vec<ContentId> {
        let gone: Vec<ContentId> = self
            .videos
            .iter()
            .filter(|v| keys.iter().any(|k| *k == v.id.0 || Path::new(k) == v.path))
            .map(|v| v.id.clone())
            .collect();
        self.videos.retain(|v| !gone.contains(&v.id));
        self.segments.retain(|s| !gone.contains(&s.video));
        gone
    }

    /// Drop the songs whose id or source path is in `keys`. Returns the ids removed.
    pub fn remove_songs(&mut self, keys: &[String]) -> Vec<ContentId> {
        let gone: Vec<ContentId> = self
            .songs
            .iter()
            .filter(|s| keys.iter().any(|k| *k == s.id.0 || Path::new(k) == s.path))
            .map(|s| s.id.clone())
            .collect();
        self.songs.retain(|s| !gone.contains(&s.id));
        gone
    }

    /// One catalogue from the shards of a sharded rebuild (each analysed its own part
    /// of one manifest). They must share a model and a vector size; a file found by two
    /// shards is kept once (the first); failures are all kept.
    pub fn merge(parts: Vec<Catalogue>) -> std::result::Result<Catalogue, MergeError> {
        let mut it = parts.into_iter();
        let Some(mut out) = it.next() else { return Err(MergeError::Empty) };
        for (i, part) in it.enumerate() {
            if part.model_version != out.model_version || part.dim != out.dim {
                return Err(MergeError::ModelMismatch {
                    shard: i + 1,
                    model: part.model_version,
                    dim: part.dim,
                    first_model: out.model_version,
                    first_dim: out.dim,
                });
            }
            out.keep_missing_from(&part);
            out.failures.extend(part.failures);
        }
        Ok(out)
    }

    /// Add `older`'s songs and videos (with their segments) that this catalogue lacks:
    /// an incremental add keeps everything already served.
    pub fn keep_missing_from(&mut self, older: &Catalogue) {
        let songs: std::collections::HashSet<ContentId> = self.songs.iter().map(|s| s.id.clone()).collect();
        let videos: std::collections::HashSet<ContentId> = self.videos.iter().map(|v| v.id.clone()).collect();
        self.songs.extend(older.songs.iter().filter(|s| !songs.contains(&s.id)).cloned());
        self.videos.extend(older.videos.iter().filter(|v| !videos.contains(&v.id)).cloned());
        self.segments.extend(older.segments.iter().filter(|s| !videos.contains(&s.video)).cloned());
    }
}

/// Why shards' catalogues could not be merged ([`Catalogue::merge`]).
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("no catalogues to merge")]
    Empty,
    #[error(
        "shard {shard} was built by model {model} (dim {dim}), shard 0 by {first_model} (dim {first_dim}): rebuild it with the same model"
    )]
    ModelMismatch { shard: usize, model: String, dim: usize, first_model: String, first_dim: usize },
}

/// First 16 hex digits of the sha256 of the file's bytes.
pub fn content_id(path: &Path) -> Result<ContentId> {
    Ok(ContentId(crate::snapshot::sha256_file(path)?[..16].to_string()))
}
