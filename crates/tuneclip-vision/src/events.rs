//! The picture's **events** for sync (see [`tuneclip_core::sync`]): how much the
//! picture changes at each sync bin (`tuneclip_core::sync::SYNC_STEP_S`), read from every decoded frame's luma
//! signature, kept per video in its analysis ([`picture_events`], one byte a bin) so
//! that search can ask where a song's onsets fall on the picture's cuts, flashes and
//! zoom punches without decoding the video again.

use tuneclip_core::frame::FrameSignature;
use tuneclip_core::sync::{SyncEnvelope, bin_max};

/// The picture's sync envelope from decoded frames' luma signatures (in time order):
/// the change from the frame before (mean over the 8x8 grid) plus the change of
/// brightness, each over its own spread across `signatures`, the largest per sync bin,
/// from `start_s`.
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

/// A whole video's picture events as the catalogue keeps them: [`picture_envelope`] from
/// time 0 at one byte a bin (empty without signatures, e.g. a pixel format with no luma
/// plane).
pub fn picture_events(signatures: &[FrameSignature]) -> SyncEnvelope {
    SyncEnvelope::quantise(&picture_envelope(signatures, 0.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_core::frame::SIGNATURE_GRID;

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
        let events = picture_events(&sigs);
        assert_eq!(events.values()[50], 255);
        let back: SyncEnvelope = serde_json::from_str(&serde_json::to_string(&events).expect("json")).expect("parse");
        assert_eq!(back, events);
        for (a, b) in back.envelope().iter().zip(&env) {
            assert!((a - b).abs() <= events.scale() / 2.0 + 1e-6);
        }
        assert!(serde_json::from_str::<SyncEnvelope>(r#"{"scale":1.0,"values":"%%"}"#).is_err());
        assert!(serde_json::from_str::<SyncEnvelope>(r#"{"scale":-1.0,"values":""}"#).is_err());
        assert!(picture_events(&[]).is_empty());
    }
}
