//! What the learned encoders see, computed from decoded media (no burn here).
//!
//! Both sides describe one **window** of time (4 s by default):
//!
//! - [`AudioInput`]: a log-mel spectrogram of the window (`n_mels` bands from 30 Hz to
//!   8 kHz, n_fft 1024, hop 512 at 22.05 kHz, in dB scaled by `(dB + 40) / 20`, averaged
//!   down to `mel_frames` columns) and a **rhythm** vector: the normalised
//!   autocorrelation of the onset-strength envelope at `rhythm_lags` lags from 0.19 s to
//!   1.6 s (where tempo shows).
//! - [`VisualInput`]: `frames` thumbnails (`frame_px` square, RGB scaled to -0.5..0.5)
//!   spread evenly over the window, and a **motion** vector ([`MOTION_DIMS`] values):
//!   the normalised autocorrelation of the frame-difference sequence at 16 lags, its
//!   mean, spread and peak, the share of cut-like jumps, mean and spread of brightness,
//!   colourfulness, and two face slots (share of frames with a face, mean face height
//!   as a share of the frame) that are 0 when no detector looked.
//!
//! Scaling conventions are part of the model: changing them changes the model version.

use tuneclip_audio::{MelFilterbank, Stft, log_mel, onset_strength};
use tuneclip_core::Rect;
use tuneclip_media::video::SampledFrame;

/// Sample rate the audio input is computed at.
pub const SAMPLE_RATE: u32 = 22_050;
const N_FFT: usize = 1024;
const HOP: usize = 512;
/// First autocorrelation lag of the rhythm vector, in STFT frames (about 0.19 s).
const RHYTHM_FIRST_LAG: usize = 8;
/// Lags of the frame-difference autocorrelation in the motion vector.
const MOTION_LAGS: usize = 16;
/// Length of [`VisualInput::motion`].
pub const MOTION_DIMS: usize = MOTION_LAGS + 9;

/// Shapes of the encoder inputs (part of the model config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputShape {
    pub n_mels: usize,
    pub mel_frames: usize,
    pub rhythm_lags: usize,
    pub frames: usize,
    pub frame_px: usize,
}

/// One audio window, ready for the audio encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioInput {
    /// `n_mels x mel_frames`, band-major.
    pub mel: Vec<f32>,
    pub rhythm: Vec<f32>,
}

/// One video window, ready for the visual encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualInput {
    /// `frames x 3 x frame_px x frame_px`.
    pub pixels: Vec<f32>,
    pub motion: Vec<f32>,
}

/// Face evidence of a segment, when a face detector looked at it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FaceSummary {
    /// Share of sampled frames with a face (0..1).
    pub presence: f32,
    /// Mean face height over frame height (0..1).
    pub size: f32,
}

/// Normalised autocorrelation of `x` (mean removed) at `lags`; zeros for a flat signal.
fn autocorrelation(x: &[f32], lags: impl Iterator<Item = usize>) -> Vec<f32> {
    let mean = x.iter().sum::<f32>() / x.len().max(1) as f32;
    let c: Vec<f32> = x.iter().map(|v| v - mean).collect();
    let r0: f32 = c.iter().map(|v| v * v).sum();
    lags.map(|lag| {
        if r0 <= 1e-9 || lag >= c.len() {
            return 0.0;
        }
        c.iter().zip(&c[lag..]).map(|(a, b)| a * b).sum::<f32>() / r0
    })
    .collect()
}

/// Average `rows` (each `width` long) down to `n` evenly spaced groups (repeating rows
/// when there are fewer than `n`).
fn pool_rows(rows: &[Vec<f32>], n: usize, width: usize) -> Vec<Vec<f32>> {
    (0..n)
        .map(|i| {
            let lo = i * rows.len() / n;
            let hi = ((i + 1) * rows.len() / n).max(lo + 1).min(rows.len());
            let mut acc = vec![0f32; width];
            for r in &rows[lo.min(rows.len() - 1)..hi.max(1)] {
                for (a, v) in acc.iter_mut().zip(r) {
                    *a += v;
                }
            }
            let k = (hi.max(1) - lo.min(rows.len() - 1)) as f32;
            acc.iter_mut().for_each(|a| *a /= k);
            acc
        })
        .collect()
}

/// The audio input of one window of mono samples at [`SAMPLE_RATE`]. `None` when the
/// window is shorter than a quarter second.
pub fn audio_input(samples: &[f32], shape: &InputShape) -> Option<AudioInput> {
    if samples.len() < SAMPLE_RATE as usize / 4 {
        return None;
    }
    let stft = Stft::new(N_FFT, HOP).ok()?;
    let bank = MelFilterbank::new(SAMPLE_RATE, N_FFT, shape.n_mels, 30.0, 8000.0).ok()?;
    let frames = log_mel(samples, &stft, &bank);
    if frames.is_empty() {
        return None;
    }
    let onset = onset_strength(&frames);
    let pooled = pool_rows(&frames, shape.mel_frames, shape.n_mels);
    let mut mel = vec![0f32; shape.n_mels * shape.mel_frames];
    for (t, col) in pooled.iter().enumerate() {
        for (m, db) in col.iter().enumerate() {
            mel[m * shape.mel_frames + t] = (db + 40.0) / 20.0;
        }
    }
    let rhythm = autocorrelation(&onset, (0..shape.rhythm_lags).map(|i| RHYTHM_FIRST_LAG + 2 * i));
    Some(AudioInput { mel, rhythm })
}

fn mean_std(x: &[f32]) -> (f32, f32) {
    let n = x.len().max(1) as f32;
    let m = x.iter().sum::<f32>() / n;
    (m, (x.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n).sqrt())
}

/// Box-filter `f` down to `px x px` RGB planes scaled to -0.5..0.5, appended to `out`.
fn thumbnail(f: &SampledFrame, px: usize, out: &mut Vec<f32>) {
    let (w, h) = (f.width as usize, f.height as usize);
    for c in 0..3 {
        for ty in 0..px {
            let (y0, y1) = (ty * h / px, ((ty + 1) * h / px).max(ty * h / px + 1).min(h));
            for tx in 0..px {
                let (x0, x1) = (tx * w / px, ((tx + 1) * w / px).max(tx * w / px + 1).min(w));
                let mut acc = 0u32;
                for y in y0..y1 {
                    for x in x0..x1 {
                        acc += u32::from(f.rgb[(y * w + x) * 3 + c]);
                    }
                }
                let n = ((y1 - y0) * (x1 - x0)).max(1) as f32;
                out.push(acc as f32 / n / 255.0 - 0.5);
            }
        }
    }
}

/// The visual input of the sampled frames of one window (in time order, any size).
/// `None` without frames.
pub fn visual_input(frames: &[SampledFrame], faces: Option<FaceSummary>, shape: &InputShape) -> Option<VisualInput> {
    if frames.is_empty() {
        return None;
    }
    let mut pixels = Vec::with_capacity(shape.frames * 3 * shape.frame_px * shape.frame_px);
    for i in 0..shape.frames {
        let idx = ((2 * i + 1) * frames.len() / (2 * shape.frames)).min(frames.len() - 1);
        thumbnail(&frames[idx], shape.frame_px, &mut pixels);
    }
    let lumas: Vec<Vec<f32>> = frames.iter().map(SampledFrame::luma_plane).collect();
    let diffs: Vec<f32> = lumas
        .windows(2)
        .map(|w| w[0].iter().zip(&w[1]).map(|(a, b)| (a - b).abs()).sum::<f32>() / w[0].len().max(1) as f32)
        .collect();
    let brightness: Vec<f32> = lumas.iter().map(|l| l.iter().sum::<f32>() / l.len().max(1) as f32).collect();
    let colour: f32 =
        frames.iter().map(|f| tuneclip_vision::colourfulness(f, Rect::new(0, 0, f.width, f.height))).sum::<f32>()
            / frames.len() as f32;
    let (d_mean, d_std) = mean_std(&diffs);
    let d_max = diffs.iter().copied().fold(0f32, f32::max);
    let cut_share = diffs.iter().filter(|d| **d > 25.0).count() as f32 / diffs.len().max(1) as f32;
    let (b_mean, b_std) = mean_std(&brightness);
    let faces = faces.unwrap_or_default();
    let mut motion = autocorrelation(&diffs, 1..=MOTION_LAGS);
    motion.extend([
        d_mean / 20.0,
        d_std / 20.0,
        d_max / 50.0,
        cut_share * 4.0,
        b_mean / 128.0 - 1.0,
        b_std / 32.0,
        colour / 50.0,
        faces.presence,
        faces.size * 4.0,
    ]);
    debug_assert_eq!(motion.len(), MOTION_DIMS);
    Some(VisualInput { pixels, motion })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHAPE: InputShape = InputShape { n_mels: 32, mel_frames: 40, rhythm_lags: 24, frames: 4, frame_px: 16 };

    fn clicks(bpm: f32, seconds: f32) -> Vec<f32> {
        let period = (60.0 / bpm * SAMPLE_RATE as f32) as usize;
        (0..(seconds * SAMPLE_RATE as f32) as usize)
            .map(
                |i| if i % period < 400 { (i as f32 * 0.3).sin() * (-((i % period) as f32) / 80.0).exp() } else { 0.0 },
            )
            .collect()
    }

    #[test]
    fn audio_input_has_the_configured_shape_and_sees_the_beat_period() {
        let a = audio_input(&clicks(120.0, 4.0), &SHAPE).expect("long enough");
        assert_eq!(a.mel.len(), 32 * 40);
        assert_eq!(a.rhythm.len(), 24);
        // 120 BPM = 0.5 s = 21.5 frames of 512 at 22.05 kHz: lag index (21.5 - 8) / 2 ~ 7.
        let best = a.rhythm.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)).map(|(i, _)| i).expect("lags");
        assert!((6..=7).contains(&best), "autocorrelation peak at lag index {best}: {:?}", a.rhythm);
        assert!(audio_input(&[0.0; 100], &SHAPE).is_none());
    }

    #[test]
    fn visual_input_reads_colour_brightness_and_motion() {
        let frame = |t: f64, r: u8, shift: u32| SampledFrame {
            t_s: t,
            width: 32,
            height: 18,
            rgb: (0..32 * 18)
                .flat_map(|i| if (i % 32 + shift) % 8 < 4 { [r, 20, 20] } else { [r / 2, 10, 10] })
                .collect(),
        };
        let still: Vec<_> = (0..20).map(|i| frame(f64::from(i) * 0.1, 200, 0)).collect();
        let moving: Vec<_> = (0..20).map(|i| frame(f64::from(i) * 0.1, 200, i as u32)).collect();
        let s = visual_input(&still, None, &SHAPE).expect("frames");
        let m = visual_input(&moving, None, &SHAPE).expect("frames");
        assert_eq!(s.pixels.len(), 4 * 3 * 16 * 16);
        assert_eq!(s.motion.len(), MOTION_DIMS);
        // Red channel bright, others dark.
        let plane = 16 * 16;
        let red: f32 = s.pixels[..plane].iter().sum::<f32>() / plane as f32;
        let green: f32 = s.pixels[plane..2 * plane].iter().sum::<f32>() / plane as f32;
        assert!(red > green + 0.3, "red {red} green {green}");
        assert_eq!(s.motion[MOTION_LAGS], 0.0, "a still picture has no frame difference");
        assert!(m.motion[MOTION_LAGS] > 0.3, "moving stripes differ frame to frame: {}", m.motion[MOTION_LAGS]);
        assert!(visual_input(&[], None, &SHAPE).is_none());
    }
}
