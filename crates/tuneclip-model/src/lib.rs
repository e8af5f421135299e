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
        SegmentStats { range: TimeRange::new(0.0, len_s), motion, brightness: 120.0, colourfulness: 45.0, blank: false }
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
