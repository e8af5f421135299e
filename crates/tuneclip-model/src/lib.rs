//! Embeddings of songs and video segments into one shared space.
//!
//! The first model is [`HandcraftedModel`]: **not learned**. It maps a few
//! perceptual factors that sound and picture share onto the same axes, each squashed
//! to -1..1 with `tanh` around a typical value:
//!
//! | axis | song (from `tuneclip-audio`) | segment (from `tuneclip-vision`) |
//! |---|---|---|
//! | energy | loudness (dBFS) | motion (mean luma change) |
//! | pace | onset rate (onsets/s) | cut rate (1 / shot length) |
//! | brightness | spectral centroid | mean luma |
//! | colour | 1 - bass ratio | colourfulness |
//!
//! plus a constant axis so that two "average" items still have a defined angle. The
//! vector is L2-normalised, so the dot product is the cosine similarity. The trained
//! burn encoders (issue 6) will replace it behind the same [`MODEL_VERSION`] check.
//!
//! The learned model lives in [`learned`] (burn encoders) and [`inputs`] (what they
//! see, computed from decoded media).

pub mod inputs;
pub mod learned;
pub mod pitch;

use tuneclip_audio::SongFeatures;
use tuneclip_core::{Embedding, l2_normalize};
use tuneclip_vision::SegmentStats;

/// Recorded in every index snapshot; the server refuses to mix versions.
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

/// The model an ingest embeds with: the handcrafted one (the default) or a trained one.
#[derive(Debug, Clone, Default)]
pub enum Embedder {
    #[default]
    Handcrafted,
    Learned(std::sync::Arc<learned::LearnedModel>),
}

/// Seconds of audio per window the learned song embedding averages over (the training
/// window length of the corpus).
pub const LEARNED_WINDOW_S: f64 = 4.0;

impl Embedder {
    /// Whether [`embed_song`](Self::embed_song) reads the song's samples (the learned
    /// encoder reads the highlight window); the handcrafted one uses the analysis alone,
    /// so an ingest can analyse the song as it decodes and keep no PCM.
    pub fn needs_song_samples(&self) -> bool {
        matches!(self, Self::Learned(_))
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

    /// A song's embedding. The learned model embeds consecutive windows of the song's
    /// highlight (`samples` mono at `sample_rate`) and averages them.
    pub fn embed_song(
        &self,
        samples: &[f32],
        sample_rate: u32,
        analysis: &tuneclip_audio::SongAnalysis,
    ) -> Result<Embedding, String> {
        let m = match self {
            Self::Handcrafted => return Ok(HandcraftedModel.embed_song(&analysis.features)),
            Self::Learned(m) => m,
        };
        let resampled;
        let samples = if sample_rate == inputs::SAMPLE_RATE {
            samples
        } else {
            resampled = tuneclip_media::audio::resample(samples, sample_rate, inputs::SAMPLE_RATE);
            &resampled
        };
        let sr = f64::from(inputs::SAMPLE_RATE);
        let h = &analysis.highlight.range;
        let (start, end) = (h.start_s.max(0.0), h.end_s.max(h.start_s + LEARNED_WINDOW_S));
        let shape = m.config.input_shape();
        let mut windows = Vec::new();
        let mut t = start;
        while t + LEARNED_WINDOW_S <= end + 1e-6 || windows.is_empty() {
            let (a, b) = ((t * sr) as usize, ((t + LEARNED_WINDOW_S) * sr) as usize);
            match inputs::audio_input(&samples[a.min(samples.len())..b.min(samples.len())], &shape) {
                Some(x) => windows.push(x),
                None if windows.is_empty() => {
                    return inputs::audio_input(samples, &shape)
                        .ok_or_else(|| "song too short for the learned model".to_string())
                        .and_then(|x| m.embed_audio(&[&x]).map_err(|e| e.to_string()))
                        .map(|mut v| v.remove(0));
                }
                None => break,
            }
            t += LEARNED_WINDOW_S;
        }
        let refs: Vec<_> = windows.iter().collect();
        let embs = m.embed_audio(&refs).map_err(|e| e.to_string())?;
        Ok(mean_direction(&embs))
    }

    /// A segment's embedding from its stats (handcrafted) or its sampled frames (learned).
    pub fn embed_segment(
        &self,
        frames: &[tuneclip_media::video::SampledFrame],
        stats: &SegmentStats,
        faces: Option<inputs::FaceSummary>,
    ) -> Result<Embedding, String> {
        match self {
            Self::Handcrafted => Ok(HandcraftedModel.embed_segment(stats)),
            Self::Learned(m) => {
                let x = inputs::visual_input(frames, faces, &m.config.input_shape())
                    .ok_or_else(|| format!("segment {:?} has no sampled frames", stats.range))?;
                m.embed_visual(&[&x]).map_err(|e| e.to_string()).map(|mut v| v.remove(0))
            }
        }
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
