//! The picture's **events** for sync (see [`tuneclip_core::sync`]): how much the
//! picture changes at each [`SYNC_STEP_S`] bin, read from every decoded frame's luma
//! signature, kept per video in its analysis ([`PictureEvents`], one byte a bin) so
//! that search can ask where a song's onsets fall on the picture's cuts, flashes and
//! zoom punches without decoding the video again.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tuneclip_core::sync::{SYNC_STEP_S, bin_max};
use tuneclip_media::video::FrameSignature;

/// The picture's sync envelope from decoded frames' luma signatures (in time order):
/// the change from the frame before (mean over the 8x8 grid) plus the change of
/// brightness, each over its own spread across `signatures`, the largest per
/// [`SYNC_STEP_S`] bin, from `start_s`.
pub fn picture_envelope(signatures: &[FrameSignature], start_s: f64) -> Vec<f32> {
    let brightness: Vec<f32> =
        signatures.iter().map(|s| s.grid.iter().map(|v| f32::from(*v)).sum::<f32>() / s.grid.len() as f32).collect();
    let mut diff = vec![0f32; signatures.len()];
    let mut bchange = vec![0f32; signatures.len()];
    for i in 1..signatures.len() {
        diff[i] = signatures[i].distance(&signatures[i - 1]);
        bchange[i] = (brightness[i] - brightness[i - 1]).abs();
    }
    let d_std = spread(&diff).max(1e-3);
    let b_std = spread(&bchange).max(1e-3);
    let event = diff.iter().zip(&bchange).map(|(d, b)| d / d_std + b / b_std);
    bin_max(signatures.iter().map(|s| s.t_s - start_s).zip(event))
}

fn spread(x: &[f32]) -> f32 {
    let n = x.len().max(1) as f32;
    let m = x.iter().sum::<f32>() / n;
    (x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n).sqrt()
}

/// A whole video's picture envelope ([`picture_envelope`] from time 0), one byte a bin:
/// bin `i` holds `values[i] x scale` (the largest value maps to 255; sync compares
/// shapes, not heights, so a common scale loses nothing but rounding). Stored as base64
/// in the catalogue: 25 bins a second of video, about 34 characters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredEvents", into = "StoredEvents")]
pub struct PictureEvents {
    pub scale: f32,
    pub values: Vec<u8>,
}

impl PictureEvents {
    /// The events of a whole video from its decoded frames' signatures (empty without
    /// any, e.g. a pixel format with no luma plane).
    pub fn of(signatures: &[FrameSignature]) -> Self {
        Self::quantise(&picture_envelope(signatures, 0.0))
    }

    /// `envelope` at one byte a bin.
    pub fn quantise(envelope: &[f32]) -> Self {
        let top = envelope.iter().copied().fold(0f32, f32::max);
        if top <= 0.0 {
            return Self { scale: 0.0, values: vec![0; envelope.len()] };
        }
        let scale = top / 255.0;
        Self { scale, values: envelope.iter().map(|v| (v.max(0.0) / scale).round().min(255.0) as u8).collect() }
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The envelope (on the [`SYNC_STEP_S`] grid from the video's start).
    pub fn envelope(&self) -> Vec<f32> {
        self.values.iter().map(|v| f32::from(*v) * self.scale).collect()
    }

    /// The envelope's bins from `start_s` for `duration_s` (fewer where the video ends).
    pub fn window(&self, start_s: f64, duration_s: f64) -> Vec<f32> {
        let a = ((start_s / SYNC_STEP_S).round().max(0.0) as usize).min(self.values.len());
        let n = (duration_s / SYNC_STEP_S).round().max(0.0) as usize;
        self.values[a..(a + n).min(self.values.len())].iter().map(|v| f32::from(*v) * self.scale).collect()
    }
}

/// How [`PictureEvents`] is written: the bytes as standard base64.
#[derive(Serialize, Deserialize)]
struct StoredEvents {
    scale: f32,
    values: String,
}

impl From<PictureEvents> for StoredEvents {
    fn from(e: PictureEvents) -> Self {
        Self { scale: e.scale, values: base64::engine::general_purpose::STANDARD.encode(&e.values) }
    }
}

impl TryFrom<StoredEvents> for PictureEvents {
    type Error = String;
    fn try_from(s: StoredEvents) -> Result<Self, String> {
        let values = base64::engine::general_purpose::STANDARD
            .decode(s.values.as_bytes())
            .map_err(|e| format!("picture events: `values` is not base64 ({e})"))?;
        if !(s.scale.is_finite() && s.scale >= 0.0) {
            return Err(format!("picture events: `scale` {} (expected a finite number >= 0)", s.scale));
        }
        Ok(Self { scale: s.scale, values })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_media::video::SIGNATURE_GRID;

    fn sig(t_s: f64, level: u8) -> FrameSignature {
        FrameSignature { t_s, grid: [level; SIGNATURE_GRID * SIGNATURE_GRID] }
    }

    #[test]
    fn a_cut_is_an_event_on_its_frame_and_survives_storage() {
        // 25 fps, grey 100 with a little flicker, a cut to 200 at frame 50 (2.0 s).
        let sigs: Vec<FrameSignature> =
            (0..100).map(|i| sig(f64::from(i) * 0.04, if i < 50 { 100 + (i % 2) as u8 } else { 200 })).collect();
        let env = picture_envelope(&sigs, 0.0);
        assert_eq!(env.len(), 100);
        let peak = (0..env.len()).max_by(|&a, &b| env[a].total_cmp(&env[b])).expect("frames");
        assert_eq!(peak, 50);
        let events = PictureEvents::of(&sigs);
        assert_eq!(events.values[50], 255);
        let back: PictureEvents = serde_json::from_str(&serde_json::to_string(&events).expect("json")).expect("parse");
        assert_eq!(back, events);
        for (a, b) in back.envelope().iter().zip(&env) {
            assert!((a - b).abs() <= events.scale / 2.0 + 1e-6);
        }
        // A window is the bins from its start; it stops where the video does.
        assert_eq!(events.window(1.8, 0.4).len(), 10);
        assert_eq!(events.window(1.8, 0.4)[5], 255.0 * events.scale);
        assert_eq!(events.window(3.8, 1.0).len(), 5);
        assert!(serde_json::from_str::<PictureEvents>(r#"{"scale":1.0,"values":"%%"}"#).is_err());
        assert!(PictureEvents::of(&[]).is_empty());
    }
}
