//! Embeddings of songs and video segments into one shared space, behind one
//! [`Embedder`]:
//!
//! - **The default: a learned model** ([`learned`]: burn encoders over what sound and
//!   picture share, trained by `tuneclip-train` with a triplet-margin loss; [`inputs`]:
//!   what they see, computed from decoded media). Its weights are compiled in from
//!   [`DEFAULT_MODEL_DIR`] ([`default_model`]); `--model DIR` loads any trained one.
//!   Its version (`learned-` and a hash of the weights) is recorded in every snapshot.
//! - **[`HandcraftedModel`]** (`--model handcrafted`, version [`MODEL_VERSION`]): not
//!   learned. It maps a few perceptual factors onto the same axes, each squashed to
//!   -1..1 with `tanh` around a typical value:
//!
//! | axis | song (from `tuneclip-audio`) | segment (from `tuneclip-vision`) |
//! |---|---|---|
//! | energy | loudness (dBFS) | motion (mean luma change) |
//! | pace | onset rate (onsets/s) | cut rate (1 / shot length) |
//! | brightness | spectral centroid | mean luma |
//! | colour | 1 - bass ratio | colourfulness |
//!
//! plus a constant axis so that two "average" items still have a defined angle.
//!
//! Both are L2-normalised, so the dot product is the cosine similarity. [`pitch`] runs
//! Basic Pitch (ONNX) for note features of a song's highlight.

pub mod inputs;
pub mod learned;
pub mod pitch;

use tuneclip_audio::SongFeatures;
use tuneclip_core::{Embedding, l2_normalize};
use tuneclip_vision::SegmentStats;

/// The handcrafted model's version, recorded in the snapshots it builds; the server
/// refuses to mix versions.
pub const MODEL_VERSION: &str = "handcrafted-v1";

/// The non-learned shared-space model described in the crate docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct HandcraftedModel;

fn squash(value: f64, centre: f64, scale: f64) -> f32 {
    ((value - centre) / scale).tanh() as f32
}

impl HandcraftedModel {
    pub const DIM: usize = 5;
    const BIAS: f32 = 0.5;

    pub fn version(&self) -> &'static str {
        MODEL_VERSION
    }

    pub fn embed_song(&self, f: &SongFeatures) -> Embedding {
        let mut v = vec![
            squash(f64::from(f.loudness_db), -18.0, 6.0),
            squash(f64::from(f.onset_rate_hz.max(0.05)).ln(), 2.0f64.ln(), 0.7),
            squash(f64::from(f.centroid_hz.max(50.0)).ln(), 2000.0f64.ln(), 0.6),
            squash(1.0 - f64::from(f.bass_ratio), 0.7, 0.2),
            Self::BIAS,
        ];
        l2_normalize(&mut v);
        v
    }

    pub fn embed_segment(&self, s: &SegmentStats) -> Embedding {
        let shot_s = s.range.duration_s().max(0.1);
        let mut v = vec![
            squash(f64::from(s.motion).ln_1p(), 6.0f64.ln_1p(), 0.8),
            squash((1.0 / shot_s).ln(), (1.0f64 / 4.0).ln(), 0.8),
            squash(f64::from(s.brightness), 110.0, 50.0),
            squash(f64::from(s.colourfulness), 40.0, 25.0),
            Self::BIAS,
        ];
        l2_normalize(&mut v);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_core::{TimeRange, dot};

    fn song(loud: f32, onsets: f32) -> SongFeatures {
        SongFeatures {
            duration_s: 120.0,
            loudness_db: loud,
            dynamics_db: 4.0,
            centroid_hz: 2500.0,
            bass_ratio: 0.3,
            onset_mean: 1.0,
            onset_rate_hz: onsets,
            tempo_bpm: 120.0,
        }
    }

    fn segment(motion: f32, len_s: f64) -> SegmentStats {
        SegmentStats {
            range: TimeRange::new(0.0, len_s),
            motion,
            brightness: 120.0,
            colourfulness: 45.0,
            blank: false,
            subtitles: None,
            text_share: None,
        }
    }

    #[test]
    fn loud_busy_song_prefers_fast_cut_high_motion_footage() {
        let m = HandcraftedModel;
        let loud = m.embed_song(&song(-8.0, 5.0));
        let calm = m.embed_song(&song(-30.0, 0.3));
        let action = m.embed_segment(&segment(30.0, 1.0));
        let still = m.embed_segment(&segment(0.5, 12.0));
        assert!(dot(&loud, &action) > dot(&loud, &still));
        assert!(dot(&calm, &still) > dot(&calm, &action));
        for v in [&loud, &calm, &action, &still] {
            assert_eq!(v.len(), HandcraftedModel::DIM);
            assert!((dot(v, v) - 1.0).abs() < 1e-5);
        }
    }
}

/// Where the default model's files live in the source tree (compiled into the binary).
pub const DEFAULT_MODEL_DIR: &str = "crates/tuneclip-model/default-model";

/// The default learned model, compiled into every binary: trained by the project's own
/// recipe (`training/README.md`) on the editing-family corpus, held-out families never
/// seen. Its version is `learned-<sha256 of the weights>` like any trained model.
pub fn default_model() -> Result<learned::LearnedModel, learned::LearnedError> {
    learned::LearnedModel::from_bytes(
        include_bytes!("../default-model/config.json"),
        include_bytes!("../default-model/weights.bpk"),
        std::path::Path::new(DEFAULT_MODEL_DIR),
    )
}

/// Why a song or a segment could not be embedded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// The song is shorter than the learned model's mel window.
    #[error("song too short for the learned model")]
    SongTooShort,
    /// The segment's range holds no sampled frame, nor does the context around it.
    #[error("segment {0:?} has no sampled frames")]
    NoFrames(tuneclip_core::TimeRange),
    /// The model itself refused the input (its shapes).
    #[error(transparent)]
    Model(#[from] learned::LearnedError),
}

/// The model an ingest embeds with: the default learned model, the handcrafted one,
/// or a trained one from a folder.
#[derive(Debug, Clone, Default)]
pub enum Embedder {
    #[default]
    Handcrafted,
    Learned(std::sync::Arc<learned::LearnedModel>),
}

impl Embedder {
    /// Whether [`embed_song`](Self::embed_song) reads the song's samples (the learned
    /// encoder reads the highlight window); the handcrafted one uses the analysis alone,
    /// so an ingest can analyse the song as it decodes and keep no PCM.
    pub fn needs_song_samples(&self) -> bool {
        matches!(self, Self::Learned(_))
    }

    /// The default learned model ([`default_model`]).
    pub fn default_learned() -> Result<Self, learned::LearnedError> {
        Ok(Self::Learned(std::sync::Arc::new(default_model()?)))
    }

    /// Load the trained model in `dir` (see [`learned::LearnedModel::load`]).
    pub fn learned(dir: &std::path::Path) -> Result<Self, learned::LearnedError> {
        Ok(Self::Learned(std::sync::Arc::new(learned::LearnedModel::load(dir)?)))
    }

    /// Recorded in every snapshot; indexes of different versions never mix.
    pub fn version(&self) -> String {
        match self {
            Self::Handcrafted => MODEL_VERSION.to_string(),
            Self::Learned(m) => m.version().to_string(),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Self::Handcrafted => HandcraftedModel::DIM,
            Self::Learned(m) => m.dim(),
        }
    }

    /// A song's embedding. The learned model embeds windows of its own length
    /// (`window_s`, half-overlapping) across the song's highlight (`samples` mono at
    /// `sample_rate`) and averages them.
    pub fn embed_song(
        &self,
        samples: &[f32],
        sample_rate: u32,
        analysis: &tuneclip_audio::SongAnalysis,
    ) -> Result<Embedding, EmbedError> {
        match self {
            Self::Handcrafted => Ok(HandcraftedModel.embed_song(&analysis.features)),
            Self::Learned(m) => {
                let resampled;
                let samples = if sample_rate == inputs::SAMPLE_RATE {
                    samples
                } else {
                    resampled = tuneclip_media::audio::resample(samples, sample_rate, inputs::SAMPLE_RATE);
                    &resampled
                };
                m.embed_song_range(samples, analysis.highlight.range)
            }
        }
    }

    /// A segment's embedding from its stats (handcrafted) or from the video's sampled
    /// frames (learned: thumbnails of the segment's own frames, and a profile of the
    /// context window around it). `video_frames` are all sampled frames of the video,
    /// in time order.
    pub fn embed_segment(
        &self,
        video_frames: &[tuneclip_media::video::SampledFrame],
        stats: &SegmentStats,
        faces: Option<inputs::FaceSummary>,
    ) -> Result<Embedding, EmbedError> {
        match self {
            Self::Handcrafted => Ok(HandcraftedModel.embed_segment(stats)),
            Self::Learned(m) => m.embed_segment(video_frames, stats.range, faces),
        }
    }
}

impl learned::LearnedModel {
    /// The embedding of the song window `range` of `samples` (mono at
    /// [`inputs::SAMPLE_RATE`]): the mean direction of half-overlapping windows of the
    /// model's length across it (one window from the range's start when it is shorter).
    pub fn embed_song_range(&self, samples: &[f32], range: tuneclip_core::TimeRange) -> Result<Embedding, EmbedError> {
        let sr = f64::from(inputs::SAMPLE_RATE);
        let w = self.config.window_s;
        let (start, end) = (range.start_s.max(0.0), range.end_s.max(range.start_s + w));
        let shape = self.config.input_shape();
        let mut windows = Vec::new();
        let mut t = start;
        while t + w <= end + 1e-6 || windows.is_empty() {
            let (a, b) = ((t * sr) as usize, ((t + w) * sr) as usize);
            match inputs::audio_input(&samples[a.min(samples.len())..b.min(samples.len())], &shape) {
                Some(x) => windows.push(x),
                None if windows.is_empty() => {
                    let x = inputs::audio_input(samples, &shape).ok_or(EmbedError::SongTooShort)?;
                    return Ok(self.embed_audio(&[&x])?.remove(0));
                }
                None => break,
            }
            t += 0.5 * w;
        }
        let refs: Vec<_> = windows.iter().collect();
        let embs = self.embed_audio(&refs)?;
        Ok(mean_direction(&embs))
    }

    /// The embedding of the video range `range` given all sampled frames of the video.
    pub fn embed_segment(
        &self,
        video_frames: &[tuneclip_media::video::SampledFrame],
        range: tuneclip_core::TimeRange,
        faces: Option<inputs::FaceSummary>,
    ) -> Result<Embedding, EmbedError> {
        // Frames are in time order: the ranges are slices, found by bisection.
        let between = |a: f64, b: f64| {
            let lo = video_frames.partition_point(|f| f.t_s < a);
            let hi = video_frames.partition_point(|f| f.t_s < b).max(lo);
            &video_frames[lo..hi]
        };
        let (first, last) = match (video_frames.first(), video_frames.last()) {
            (Some(a), Some(b)) => (a.t_s, b.t_s + 1e-3),
            _ => return Err(EmbedError::NoFrames(range)),
        };
        let (c0, c1) = inputs::context_range(range, self.config.window_s, first, last);
        let context = between(c0, c1);
        let own = between(range.start_s, range.end_s);
        let own = if own.is_empty() { context } else { own };
        let mut shape = self.config.input_shape();
        if !self.config.appearance {
            // Thumbnails are read only by the appearance branch.
            shape.frames = 0;
        }
        let x = inputs::visual_input(own, Some(context), faces, &shape).ok_or(EmbedError::NoFrames(range))?;
        Ok(self.embed_visual(&[&x])?.remove(0))
    }
}

/// The normalised mean of unit vectors.
fn mean_direction(v: &[Embedding]) -> Embedding {
    let mut acc = vec![0f32; v.first().map_or(0, Vec::len)];
    for e in v {
        for (a, x) in acc.iter_mut().zip(e) {
            *a += x;
        }
    }
    l2_normalize(&mut acc);
    acc
}
