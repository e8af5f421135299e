//! Automatic quality checks on a rendered clip: each a measured number beside its
//! threshold, computed from the output file itself (frames and sound as a viewer gets
//! them) and, for the crop, from the plan and the source's face tracks.

use crate::{Result, StudioError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tuneclip_core::{CropPlan, Rect};
use tuneclip_media::video::{SampledFrame, SamplingConfig, sample_frames};
use tuneclip_vision::{TextDetector, VideoAnalysis};

/// One check: the value measured and the bounds it must lie within.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub name: String,
    /// `None` when it could not be measured (e.g. a silent clip has no loudness), which
    /// fails the check.
    pub value: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pass: bool,
}

impl Check {
    fn new(name: &str, value: Option<f64>, min: Option<f64>, max: Option<f64>) -> Self {
        let pass = value.is_some_and(|v| v.is_finite() && min.is_none_or(|m| v >= m) && max.is_none_or(|m| v <= m));
        Self { name: name.into(), value, min, max, pass }
    }

    /// "sharpness 12.3 < 40" style reason for a failed check.
    pub fn reason(&self) -> String {
        match (self.value, self.min, self.max) {
            (None, _, _) => format!("{}: not measurable", self.name),
            (Some(v), Some(m), _) if v < m => format!("{} {v:.3} below {m}", self.name),
            (Some(v), _, Some(m)) if v > m => format!("{} {v:.3} above {m}", self.name),
            (Some(v), _, _) => format!("{} {v:.3} not finite", self.name),
        }
    }
}

/// Thresholds of the checks. Defaults were set on the demo catalogue and real test
/// footage (see BENCHMARKS.md / the issue notes for the figures they came from).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityThresholds {
    /// Largest share of sampled frames that are black.
    pub max_black_fraction: f64,
    /// Largest share of consecutive sampled frames (0.25 s apart) that do not change.
    pub max_frozen_fraction: f64,
    /// Smallest mean variance of the Laplacian of luma, on frames scaled to 270 px wide.
    pub min_sharpness: f64,
    /// Largest mean share of the picture covered by detected text.
    pub max_text_coverage: f64,
    /// Largest share of crop keyframes whose subject (face box, or salient point) is
    /// more than a quarter outside the crop.
    pub max_subject_cut_off: f64,
    /// Largest factor by which the crop must be scaled up to fill `display_height_px`.
    pub max_upscale: f64,
    pub display_height_px: u32,
    /// Integrated loudness of the sound track (mono downmix), LUFS.
    pub min_lufs: f64,
    pub max_lufs: f64,
}

impl Default for QualityThresholds {
    fn default() -> Self {
        Self {
            max_black_fraction: 0.10,
            max_frozen_fraction: 0.50,
            min_sharpness: 20.0,
            max_text_coverage: 0.05,
            max_subject_cut_off: 0.10,
            max_upscale: 4.0,
            display_height_px: 1920,
            min_lufs: -30.0,
            max_lufs: -5.0,
        }
    }
}

/// Frame rate and width at which a rendered clip is sampled for the picture checks.
const CHECK_FPS: f64 = 4.0;
const CHECK_WIDTH_PX: u32 = 270;

fn mean_and_spread(luma: &[f32]) -> (f64, f64) {
    let n = luma.len().max(1) as f64;
    let mean = luma.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = luma.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// A frame is black when it is dark and flat (a fade's last frames, a blank gap).
pub fn is_black(luma: &[f32]) -> bool {
    let (mean, spread) = mean_and_spread(luma);
    mean < 20.0 && spread < 8.0
}

/// Variance of the 4-neighbour Laplacian of a luma plane: low for a blurred picture.
pub fn laplacian_variance(luma: &[f32], width: usize, height: usize) -> f64 {
    if width < 3 || height < 3 {
        return 0.0;
    }
    let mut sum = 0.0f64;
    let mut sum2 = 0.0f64;
    let mut n = 0usize;
    for y in 1..height - 1 {
        for x in 1..width - 1 {
            let i = y * width + x;
            let l = f64::from(luma[i - 1] + luma[i + 1] + luma[i - width] + luma[i + width] - 4.0 * luma[i]);
            sum += l;
            sum2 += l * l;
            n += 1;
        }
    }
    let mean = sum / n as f64;
    sum2 / n as f64 - mean * mean
}

/// Mean absolute luma difference of two planes of the same size.
fn mean_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>() / a.len().max(1) as f64
}

/// Share of a frame's pixels covered by the union of `boxes`.
fn coverage(boxes: &[Rect], width: u32, height: u32) -> f64 {
    let mut covered = vec![false; (width * height) as usize];
    for b in boxes {
        for y in b.y.min(height)..b.bottom().min(height) {
            let row = (y * width) as usize;
            covered[row + b.x.min(width) as usize..row + b.right().min(width) as usize].fill(true);
        }
    }
    covered.iter().filter(|&&c| c).count() as f64 / covered.len().max(1) as f64
}

/// Share of the crop keyframes whose subject is cut off: the face box nearest the
/// tracked subject more than a quarter outside the crop, or, without a face, the
/// subject point outside it. Keyframes without a subject do not count.
pub fn subject_cut_off(plan: &CropPlan, analysis: &VideoAnalysis) -> f64 {
    let (mut with_subject, mut cut) = (0usize, 0usize);
    for k in &plan.keyframes {
        let Some((sx, sy)) = k.subject else { continue };
        with_subject += 1;
        let face = analysis
            .faces
            .iter()
            .filter_map(|t| t.at(k.t_s, 0.25))
            .min_by(|a, b| centre_dist(a, sx, sy).total_cmp(&centre_dist(b, sx, sy)));
        let r = k.rect;
        let outside = match face {
            Some(f) => {
                let ix = f.right().min(r.right()).saturating_sub(f.x.max(r.x));
                let iy = f.bottom().min(r.bottom()).saturating_sub(f.y.max(r.y));
                1.0 - (u64::from(ix) * u64::from(iy)) as f64 / f.area().max(1) as f64 > 0.25
            }
            None => {
                let (x, y) = (f64::from(sx), f64::from(sy));
                x < f64::from(r.x) || x > f64::from(r.right()) || y < f64::from(r.y) || y > f64::from(r.bottom())
            }
        };
        cut += usize::from(outside);
    }
    if with_subject == 0 { 0.0 } else { cut as f64 / with_subject as f64 }
}

fn centre_dist(r: &Rect, x: f32, y: f32) -> f64 {
    let cx = f64::from(r.x) + f64::from(r.width) / 2.0;
    let cy = f64::from(r.y) + f64::from(r.height) / 2.0;
    (cx - f64::from(x)).hypot(cy - f64::from(y))
}

/// Median crop height of the plan, in source pixels.
fn crop_height(plan: &CropPlan) -> u32 {
    let mut h: Vec<u32> = plan.keyframes.iter().map(|k| k.rect.height).collect();
    if h.is_empty() {
        return plan.active.height;
    }
    h.sort_unstable();
    h[h.len() / 2]
}

/// Run every check on the clip rendered at `mp4` from `plan` over a video analysed as
/// `analysis`. `text` is optional: without a detector, text coverage is not measured
/// and fails (a check that cannot run is never counted as passed).
pub fn run_checks(
    mp4: &Path,
    plan: &CropPlan,
    analysis: &VideoAnalysis,
    text: Option<&mut TextDetector>,
    t: &QualityThresholds,
) -> Result<Vec<Check>> {
    let media = |e: tuneclip_media::MediaError| StudioError::Check { path: mp4.to_path_buf(), reason: e.to_string() };
    let sampled =
        sample_frames(mp4, SamplingConfig { fps: CHECK_FPS, width_px: CHECK_WIDTH_PX, skip_loop_filter: false })
            .map_err(media)?;
    let frames = &sampled.frames;
    if frames.is_empty() {
        return Err(StudioError::Check { path: mp4.to_path_buf(), reason: "no frames decoded".into() });
    }
    let lumas: Vec<Vec<f32>> = frames.iter().map(SampledFrame::luma_plane).collect();
    let n = frames.len() as f64;
    let black = lumas.iter().filter(|l| is_black(l)).count() as f64 / n;
    let frozen = if lumas.len() < 2 {
        1.0
    } else {
        lumas.windows(2).filter(|w| mean_abs_diff(&w[0], &w[1]) < 0.3).count() as f64 / (n - 1.0)
    };
    let sharpness =
        frames.iter().zip(&lumas).map(|(f, l)| laplacian_variance(l, f.width as usize, f.height as usize)).sum::<f64>()
            / n;
    let text_coverage = match text {
        Some(detector) => {
            // Eight frames spread over the clip are enough for burnt-in text, which stays.
            let step = (frames.len() / 8).max(1);
            let picked: Vec<&SampledFrame> = frames.iter().step_by(step).collect();
            let mut total = 0.0;
            for f in &picked {
                let boxes = detector
                    .detect(f)
                    .map_err(|e| StudioError::Check { path: mp4.to_path_buf(), reason: e.to_string() })?;
                total += coverage(&boxes, f.width, f.height);
            }
            Some(total / picked.len() as f64)
        }
        None => None,
    };
    let upscale = f64::from(t.display_height_px) / f64::from(crop_height(plan).max(1));
    let lufs = match tuneclip_media::audio::decode_native_mono(mp4) {
        Ok(a) => tuneclip_audio::loudness(&a.samples, a.sample_rate).and_then(|l| l.integrated_lufs),
        Err(_) => None,
    };
    Ok(vec![
        Check::new("black_fraction", Some(black), None, Some(t.max_black_fraction)),
        Check::new("frozen_fraction", Some(frozen), None, Some(t.max_frozen_fraction)),
        Check::new("sharpness", Some(sharpness), Some(t.min_sharpness), None),
        Check::new("text_coverage", text_coverage, None, Some(t.max_text_coverage)),
        Check::new("subject_cut_off", Some(subject_cut_off(plan, analysis)), None, Some(t.max_subject_cut_off)),
        Check::new("upscale", Some(upscale), None, Some(t.max_upscale)),
        Check::new("loudness_lufs", lufs, Some(t.min_lufs), Some(t.max_lufs)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_lowers_the_laplacian_variance() {
        let (w, h) = (64usize, 48usize);
        let sharp: Vec<f32> = (0..w * h).map(|i| if (i % w / 4 + i / w / 4) % 2 == 0 { 200.0 } else { 30.0 }).collect();
        let mut blurred = sharp.clone();
        for _ in 0..4 {
            let src = blurred.clone();
            for y in 1..h - 1 {
                for x in 1..w - 1 {
                    let i = y * w + x;
                    blurred[i] = (src[i - 1] + src[i + 1] + src[i - w] + src[i + w] + src[i]) / 5.0;
                }
            }
        }
        let (s, b) = (laplacian_variance(&sharp, w, h), laplacian_variance(&blurred, w, h));
        assert!(s > 10.0 * b, "sharp {s} vs blurred {b}");
        assert_eq!(laplacian_variance(&vec![90.0; w * h], w, h), 0.0);
    }

    #[test]
    fn black_and_coverage() {
        assert!(is_black(&[3.0; 100]));
        assert!(!is_black(&[120.0; 100]));
        let mut noisy = vec![10.0f32; 100];
        noisy[..50].fill(60.0);
        assert!(!is_black(&noisy), "dark but not flat: a night scene");
        let c = coverage(&[Rect::new(0, 0, 50, 10), Rect::new(0, 0, 50, 10)], 100, 100);
        assert!((c - 0.05).abs() < 1e-9, "{c}");
    }

    #[test]
    fn a_check_fails_outside_its_bounds_or_unmeasured() {
        assert!(Check::new("x", Some(0.05), None, Some(0.1)).pass);
        let c = Check::new("x", Some(0.2), None, Some(0.1));
        assert!(!c.pass);
        assert_eq!(c.reason(), "x 0.200 above 0.1");
        assert!(!Check::new("lufs", None, Some(-30.0), Some(-5.0)).pass);
        assert!(!Check::new("lufs", Some(-40.0), Some(-30.0), Some(-5.0)).pass);
        assert!(!Check::new("nan", Some(f64::NAN), None, None).pass);
    }
}
