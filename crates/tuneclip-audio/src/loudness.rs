//! Loudness per EBU R128 / ITU-R BS.1770 through the `ebur128` crate (a Rust port of
//! libebur128): integrated loudness and a short-term (3 s window) series.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated (gated) loudness in LUFS; `None` for silence.
    pub integrated_lufs: Option<f64>,
    /// Short-term loudness (3 s window) every second, in LUFS (-inf for silence -> None).
    pub short_term_lufs: Vec<Option<f64>>,
}

/// Loudness of mono PCM. Note that a mono downmix of a stereo song measures about
/// 3 LU below the stereo file (BS.1770 sums channel powers).
pub fn loudness(samples: &[f32], sample_rate: u32) -> Option<Loudness> {
    use ebur128::{EbuR128, Mode};
    let mut meter = EbuR128::new(1, sample_rate, Mode::I | Mode::S).ok()?;
    let step = sample_rate as usize;
    let mut short_term = Vec::with_capacity(samples.len() / step + 1);
    for chunk in samples.chunks(step) {
        meter.add_frames_f32(chunk).ok()?;
        short_term.push(meter.loudness_shortterm().ok().filter(|v| v.is_finite()));
    }
    let integrated = meter.loudness_global().ok().filter(|v| v.is_finite());
    Some(Loudness { integrated_lufs: integrated, short_term_lufs: short_term })
}
