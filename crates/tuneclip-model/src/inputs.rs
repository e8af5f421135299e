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
//! - The **profiles** (models with `profiles` set; [`AUDIO_PROFILE_DIMS`],
//!   [`VISUAL_PROFILE_DIMS`]): what transfers across editing styles, computed the same
//!   way on both sides. Each side is reduced to event envelopes on one 0.1 s grid
//!   ([`PROFILE_STEP_S`]; sound: onset strength and energy; picture: frame difference
//!   on a 32-column luma grid, brightness change and brightness), and each envelope to
//!   its normalised autocorrelation at the same lags in seconds (0.2 to 4.0 s): a cut on
//!   every beat, a flash on every bar and a zoom pulse at the tempo all peak at the
//!   lags where the song's onsets do. A few intensity scalars ride beside them
//!   (loudness, onset density, spectral balance; motion, cut rate, brightness, colour,
//!   flashes, faces). The visual profile of a segment is read from a context window
//!   around it ([`context_range`]), since a shot of one beat has no rhythm of its own.
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

/// Seconds per step of the shared event envelopes of the profiles.
pub const PROFILE_STEP_S: f64 = 0.1;
/// First and last lag of the profiles' autocorrelations, in steps (0.2 s .. 4.0 s).
const PROFILE_LAGS: std::ops::RangeInclusive<usize> = 2..=40;
/// Values of one periodicity block (one envelope's autocorrelation).
pub const PERIODICITY_DIMS: usize = 39;
/// Length of [`AudioInput::profile`]: onset and energy periodicity, 8 scalars.
pub const AUDIO_PROFILE_DIMS: usize = 2 * PERIODICITY_DIMS + 8;
/// Length of [`VisualInput::profile`]: difference, brightness-change and brightness
/// periodicity, 11 scalars.
pub const VISUAL_PROFILE_DIMS: usize = 3 * PERIODICITY_DIMS + 11;

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
    /// [`AUDIO_PROFILE_DIMS`] values (see the module docs).
    pub profile: Vec<f32>,
}

/// One video window, ready for the visual encoder.
#[derive(Debug, Clone, PartialEq)]
pub struct VisualInput {
    /// `frames x 3 x frame_px x frame_px`.
    pub pixels: Vec<f32>,
    pub motion: Vec<f32>,
    /// [`VISUAL_PROFILE_DIMS`] values (see the module docs).
    pub profile: Vec<f32>,
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
    let profile = audio_profile(&frames, &onset);
    Some(AudioInput { mel, rhythm, profile })
}

/// Average `values` (one per `step_s`-long frame, the first starting at 0) into
/// [`PROFILE_STEP_S`] bins.
fn bin_envelope(values: impl Iterator<Item = (f64, f32)>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut count: Vec<u32> = Vec::new();
    for (t, v) in values {
        let b = (t.max(0.0) / PROFILE_STEP_S) as usize;
        if b >= sum.len() {
            sum.resize(b + 1, 0.0);
            count.resize(b + 1, 0);
        }
        sum[b] += v;
        count[b] += 1;
    }
    // An empty bin (a dropped frame) takes its left neighbour's value.
    let mut out = Vec::with_capacity(sum.len());
    let mut last = 0.0;
    for (s, c) in sum.iter().zip(&count) {
        if *c > 0 {
            last = s / *c as f32;
        }
        out.push(last);
    }
    out
}

fn periodicity(envelope: &[f32]) -> Vec<f32> {
    autocorrelation(envelope, PROFILE_LAGS)
}

/// The audio profile of one window from its log-mel frames (hop [`HOP`] at
/// [`SAMPLE_RATE`]) and their onset envelope.
fn audio_profile(frames: &[Vec<f32>], onset: &[f32]) -> Vec<f32> {
    let hop_s = HOP as f64 / f64::from(SAMPLE_RATE);
    // Energy per frame in dB: the log of the mean band power.
    let energy: Vec<f32> = frames
        .iter()
        .map(|f| {
            let p = f.iter().map(|db| 10f32.powf(db / 10.0)).sum::<f32>() / f.len().max(1) as f32;
            10.0 * p.max(1e-10).log10()
        })
        .collect();
    let onset_env = bin_envelope(onset.iter().enumerate().map(|(i, v)| (i as f64 * hop_s, *v)));
    let energy_env = bin_envelope(energy.iter().enumerate().map(|(i, v)| (i as f64 * hop_s, *v)));
    let mut out = periodicity(&onset_env);
    out.extend(periodicity(&energy_env));
    let (e_mean, e_std) = mean_std(&energy);
    let (o_mean, o_std) = mean_std(onset);
    // Onset peaks per second: local maxima above mean + one spread.
    let peaks = (1..onset.len().saturating_sub(1))
        .filter(|&i| onset[i] > onset[i - 1] && onset[i] >= onset[i + 1] && onset[i] > o_mean + o_std)
        .count() as f32
        / (onset.len() as f32 * hop_s as f32).max(0.1);
    // Spectral balance from the mean band power: centre of mass over the bands, and the
    // share of the lowest and highest quarters.
    let n_mels = frames.first().map_or(1, Vec::len).max(1);
    let mut band = vec![0f32; n_mels];
    for f in frames {
        for (b, db) in band.iter_mut().zip(f) {
            *b += 10f32.powf(db / 10.0);
        }
    }
    let total = band.iter().sum::<f32>().max(1e-12);
    let centre = band.iter().enumerate().map(|(i, p)| i as f32 * p).sum::<f32>() / total / n_mels as f32;
    let q = (n_mels / 4).max(1);
    let low = band[..q].iter().sum::<f32>() / total;
    let high = band[n_mels - q..].iter().sum::<f32>() / total;
    out.extend([
        (e_mean + 30.0) / 15.0,
        e_std / 6.0,
        o_mean / 2.0,
        o_std / 2.0,
        peaks / 4.0,
        centre * 2.0 - 0.5,
        low * 2.0,
        high * 8.0,
    ]);
    debug_assert_eq!(out.len(), AUDIO_PROFILE_DIMS);
    out
}

/// Luma of `f` box-filtered to a grid `cols` wide (rows in proportion), so the frame
/// difference does not depend on the decoding resolution.
fn small_luma(f: &SampledFrame, cols: usize) -> Vec<f32> {
    let (w, h) = (f.width as usize, f.height as usize);
    let cols = cols.min(w).max(1);
    let rows = (cols * h / w.max(1)).clamp(1, h.max(1));
    let mut out = Vec::with_capacity(cols * rows);
    for ty in 0..rows {
        let (y0, y1) = (ty * h / rows, ((ty + 1) * h / rows).max(ty * h / rows + 1).min(h));
        for tx in 0..cols {
            let (x0, x1) = (tx * w / cols, ((tx + 1) * w / cols).max(tx * w / cols + 1).min(w));
            let mut acc = 0f32;
            for y in y0..y1 {
                for x in x0..x1 {
                    let i = (y * w + x) * 3;
                    acc +=
                        0.299 * f32::from(f.rgb[i]) + 0.587 * f32::from(f.rgb[i + 1]) + 0.114 * f32::from(f.rgb[i + 2]);
                }
            }
            out.push(acc / ((y1 - y0) * (x1 - x0)).max(1) as f32);
        }
    }
    out
}

/// The window of `window_s` seconds, centred on `range`, that a segment's profile is
/// read from, moved inside `[video_start_s, video_end_s]` (and cut to it when the video
/// is shorter).
pub fn context_range(
    range: tuneclip_core::TimeRange,
    window_s: f64,
    video_start_s: f64,
    video_end_s: f64,
) -> (f64, f64) {
    let mid = 0.5 * (range.start_s + range.end_s);
    let mut start = mid - 0.5 * window_s;
    let mut end = mid + 0.5 * window_s;
    if start < video_start_s {
        end += video_start_s - start;
        start = video_start_s;
    }
    if end > video_end_s {
        start = (start - (end - video_end_s)).max(video_start_s);
        end = video_end_s;
    }
    (start, end)
}

/// Per frame: brightness, mean absolute difference from the frame before (on a
/// 32-column luma grid; 0 for the first frame and across a size change) and the change
/// of brightness.
fn picture_changes(frames: &[SampledFrame]) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let lumas: Vec<Vec<f32>> = frames.iter().map(|f| small_luma(f, 32)).collect();
    let brightness: Vec<f32> = lumas.iter().map(|l| l.iter().sum::<f32>() / l.len().max(1) as f32).collect();
    let mut diff = vec![0f32; frames.len()];
    let mut bchange = vec![0f32; frames.len()];
    for i in 1..frames.len() {
        let (a, b) = (&lumas[i - 1], &lumas[i]);
        if a.len() == b.len() {
            diff[i] = a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len().max(1) as f32;
        }
        bchange[i] = (brightness[i] - brightness[i - 1]).abs();
    }
    (brightness, diff, bchange)
}

/// The visual profile of sampled frames (in time order, any size and rate).
pub fn visual_profile(frames: &[SampledFrame], faces: FaceSummary) -> Vec<f32> {
    let t0 = frames.first().map_or(0.0, |f| f.t_s);
    let (brightness, diff, bchange) = picture_changes(frames);
    let times = || frames.iter().map(move |f| f.t_s - t0);
    let mut out = periodicity(&bin_envelope(times().zip(diff.iter().copied())));
    out.extend(periodicity(&bin_envelope(times().zip(bchange.iter().copied()))));
    out.extend(periodicity(&bin_envelope(times().zip(brightness.iter().copied()))));
    let body = if diff.len() > 1 { &diff[1..] } else { &diff[..] };
    let (d_mean, d_std) = mean_std(body);
    let d_max = body.iter().copied().fold(0f32, f32::max);
    let cut_share = body.iter().filter(|d| **d > 25.0).count() as f32 / body.len().max(1) as f32;
    let (b_mean, b_std) = mean_std(&brightness);
    let colours: Vec<f32> =
        frames.iter().map(|f| tuneclip_vision::colourfulness(f, Rect::new(0, 0, f.width, f.height))).collect();
    let (c_mean, c_std) = mean_std(&colours);
    let span_s = (frames.last().map_or(0.0, |f| f.t_s) - t0).max(PROFILE_STEP_S) as f32;
    let flashes = (1..brightness.len().saturating_sub(1))
        .filter(|&i| brightness[i] > brightness[i - 1] + 20.0 && brightness[i] > brightness[i + 1] + 20.0)
        .count() as f32
        / span_s;
    out.extend([
        d_mean / 20.0,
        d_std / 20.0,
        d_max / 50.0,
        cut_share * 4.0,
        b_mean / 128.0 - 1.0,
        b_std / 32.0,
        c_mean / 50.0,
        c_std / 20.0,
        flashes,
        faces.presence,
        faces.size * 4.0,
    ]);
    debug_assert_eq!(out.len(), VISUAL_PROFILE_DIMS);
    out
}

pub use tuneclip_core::sync::{
    BEAT_WEIGHT, SYNC_STEP_S, SYNC_WEIGHT, beat_grid, song_events, spread_events, sync_events, sync_of_events,
    sync_score,
};

/// Mel bands the song's onset envelope is read from.
const SYNC_MELS: usize = 48;

/// The song's **sync envelope** ([`tuneclip_core::sync`]): its onset strength, the
/// largest per [`SYNC_STEP_S`] bin; the picture's is
/// [`tuneclip_vision::picture_envelope`].
pub fn onset_envelope(samples: &[f32]) -> Vec<f32> {
    let (Ok(stft), Ok(bank)) = (Stft::new(N_FFT, HOP), MelFilterbank::new(SAMPLE_RATE, N_FFT, SYNC_MELS, 30.0, 8000.0))
    else {
        return Vec::new();
    };
    let frames = log_mel(samples, &stft, &bank);
    let onset = onset_strength(&frames);
    let hop_s = HOP as f64 / f64::from(SAMPLE_RATE);
    tuneclip_core::sync::bin_max(onset.iter().enumerate().map(|(i, v)| (i as f64 * hop_s, *v)))
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

/// The visual input of the sampled frames of one window (in time order, any size);
/// the profile is read from `context` (the frames around it, see [`context_range`];
/// the window itself when `None`). `None` without frames.
pub fn visual_input(
    frames: &[SampledFrame],
    context: Option<&[SampledFrame]>,
    faces: Option<FaceSummary>,
    shape: &InputShape,
) -> Option<VisualInput> {
    if frames.is_empty() {
        return None;
    }
    let context = context.filter(|c| !c.is_empty()).unwrap_or(frames);
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
    let profile = visual_profile(context, faces);
    Some(VisualInput { pixels, motion, profile })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_media::video::FrameSignature;

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
    fn sync_finds_picture_events_on_the_songs_onsets_at_any_offset() {
        // A song of clicks at 120 BPM; a clip whose flashes fall on the clicks (at some
        // offset into the song); a clip flashing at another tempo.
        let song = onset_envelope(&clicks(120.0, 12.0));
        assert_eq!(song.len(), 300, "one bin per 0.04 s");
        // Every frame at 25 fps, from 1.0 s into the video (the clip starts there).
        let flashes = |period: f64, phase: f64| -> Vec<FrameSignature> {
            (0..100)
                .map(|i| {
                    let t = i as f64 / 25.0;
                    let on = ((t + phase) / period).fract() < 0.05 || ((t + phase) / period).fract() > 0.95;
                    FrameSignature { t_s: 1.0 + t, grid: [if on { 230 } else { 30 }; 64] }
                })
                .collect()
        };
        let on_beat = tuneclip_vision::picture_envelope(&flashes(0.5, 0.1), 1.0);
        assert_eq!(on_beat.len(), 100, "timed from the clip's start");
        let off_tempo = tuneclip_vision::picture_envelope(&flashes(0.7, 0.1), 1.0);
        let (a, b) = (sync_score(&song, &on_beat), sync_score(&song, &off_tempo));
        assert!(a > 0.6 && a > b + 0.2, "on the beat {a}, at another tempo {b}");
        // Either envelope may be the longer; a flat one scores 0.
        assert_eq!(sync_score(&on_beat, &song), a);
        assert_eq!(sync_score(&song, &[1.0; 30]), 0.0);
        assert_eq!(sync_score(&song, &[]), 0.0);
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
        let s = visual_input(&still, None, None, &SHAPE).expect("frames");
        let m = visual_input(&moving, None, None, &SHAPE).expect("frames");
        assert_eq!(s.pixels.len(), 4 * 3 * 16 * 16);
        assert_eq!(s.motion.len(), MOTION_DIMS);
        // Red channel bright, others dark.
        let plane = 16 * 16;
        let red: f32 = s.pixels[..plane].iter().sum::<f32>() / plane as f32;
        let green: f32 = s.pixels[plane..2 * plane].iter().sum::<f32>() / plane as f32;
        assert!(red > green + 0.3, "red {red} green {green}");
        assert_eq!(s.motion[MOTION_LAGS], 0.0, "a still picture has no frame difference");
        assert!(m.motion[MOTION_LAGS] > 0.3, "moving stripes differ frame to frame: {}", m.motion[MOTION_LAGS]);
        assert!(visual_input(&[], None, None, &SHAPE).is_none());
    }
}
