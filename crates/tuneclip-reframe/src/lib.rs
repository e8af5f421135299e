//! Horizontal to vertical: from a clip and its [`VideoAnalysis`] to a [`CropPlan`]
//! ([`plan_crop`]). Pure: it reads analyses and writes plans, no file and no decoder
//! (`tuneclip_media::clip::render_clip` renders a plan to an H.264 MP4 and a preview).
//!
//! Per shot the subject is the main face track ([`main_face`], the "C position"), held
//! for the whole shot; without faces, the salient point of each frame (the salient
//! object: `tuneclip_vision::saliency`), when one is seen on at least half the shot's
//! frames (else the shot has no subject and the camera holds the centre). The camera per shot: stationary on the median position when the subject stays
//! put, else a smoothed, speed-limited pan; the path resets only at cuts. The crop is
//! the largest 9:16 window inside the active area (bars removed), moved the least
//! distance needed so that it never cuts through a logo (each logo ends up wholly in
//! or wholly out of the frame). Subtitle avoidance arrives with subtitle detection.

use tuneclip_core::{CameraMode, CropKeyframe, CropPlan, Rect, TimeRange};
use tuneclip_vision::{FaceTrack, VideoAnalysis};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReframeError {
    #[error("clip {range} is outside the video (0-{duration_s:.2}s)")]
    OutOfRange { range: TimeRange, duration_s: f64 },
    #[error("active area {0:?} is too small for a crop of the output aspect")]
    NoArea(Rect),
    #[error("output aspect {0} (width / height) is outside 0.05..=20")]
    Aspect(f64),
}

pub type Result<T, E = ReframeError> = std::result::Result<T, E>;

/// What to do with a burnt-in subtitle band in a shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtitlePolicy {
    /// Crop above the band (below it, for a band at the top). When that would leave
    /// less than [`ReframeConfig::min_height_after_subtitles`] of the active height, the
    /// band is kept whole in a padded frame when padding is allowed, else ignored.
    Exclude,
    /// Treat the band as picture.
    Ignore,
}

/// What to do when the required subjects do not fit a window of the output aspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PadPolicy {
    /// Crop anyway (the main subject is followed; the others may be cut).
    Never,
    /// A wider window fitted to the output width over a blurred copy of the picture
    /// ([`CameraMode::Padded`]).
    Blur,
}

/// Reframing policy.
#[derive(Debug, Clone, Copy)]
pub struct ReframeConfig {
    /// Output aspect as width / height (9:16 by default).
    pub aspect: f64,
    /// A shot whose subject moves less than this fraction of the crop width is stationary.
    pub stationary_fraction: f64,
    /// Fastest pan, in crop widths per second.
    pub max_pan_widths_per_s: f64,
    /// Half-width of the smoothing window, in seconds.
    pub smoothing_s: f64,
    /// Keep logos (static overlays) wholly in or wholly out of the crop.
    pub avoid_logos: bool,
    pub subtitles: SubtitlePolicy,
    /// Least share of the active height a subtitle-free crop may keep.
    pub min_height_after_subtitles: f64,
    pub pad: PadPolicy,
    /// Another face track is a required subject too (a duet) when its score is at least
    /// this share of the main face's; above 1, only the main face is required.
    pub co_subject_ratio: f64,
}

impl Default for ReframeConfig {
    fn default() -> Self {
        Self {
            aspect: 9.0 / 16.0,
            stationary_fraction: 0.15,
            max_pan_widths_per_s: 0.5,
            smoothing_s: 0.5,
            avoid_logos: true,
            subtitles: SubtitlePolicy::Exclude,
            min_height_after_subtitles: 0.6,
            pad: PadPolicy::Blur,
            co_subject_ratio: 0.6,
        }
    }
}

/// Largest window of `aspect` (w/h) inside `active`, both sides even.
pub fn largest_window(active: Rect, aspect: f64) -> Option<(u32, u32)> {
    let mut h = active.height & !1;
    let mut w = ((f64::from(h) * aspect).floor() as u32) & !1;
    if w > active.width {
        w = active.width & !1;
        h = ((f64::from(w) / aspect).floor() as u32) & !1;
    }
    (w >= 2 && h >= 2).then_some((w, h))
}

/// Whether a crop spanning `[x, x + w)` horizontally cuts through `r` (covers part of it).
fn cuts_through(x: f64, w: f64, r: &Rect) -> bool {
    let (l, rr) = (f64::from(r.x), f64::from(r.right()));
    x < rr && x + w > l && !(x <= l && x + w >= rr)
}

/// The crop position nearest `x` (within `min_x..=max_x`) that cuts through none of
/// `logos`: each logo wholly in the frame or wholly out. `x` itself when there is none.
pub fn avoid_logos(x: f64, w: f64, logos: &[Rect], min_x: f64, max_x: f64) -> f64 {
    if logos.iter().all(|r| !cuts_through(x, w, r)) {
        return x;
    }
    // Candidate edges: the crop's left or right edge on either side of every logo.
    let mut candidates: Vec<f64> = logos
        .iter()
        .flat_map(|r| {
            let (l, rr) = (f64::from(r.x), f64::from(r.right()));
            [rr, l - w, rr - w, l]
        })
        .filter(|c| (min_x..=max_x).contains(c))
        .filter(|c| logos.iter().all(|r| !cuts_through(*c, w, r)))
        .collect();
    candidates.sort_by(|a, b| (a - x).abs().total_cmp(&(b - x).abs()));
    candidates.first().copied().unwrap_or(x)
}

/// The part of `active` a crop may use in a shot whose segments show `bands`
/// (subtitle bands, source pixels): above a band in the lower half, below one in the
/// upper half, a margin of 2% of the height away. `Err(union of the bands)` when less
/// than `min_share` of the active height would remain.
pub fn subtitle_free_area(active: Rect, bands: &[Rect], min_share: f64) -> Result<Rect, Rect> {
    if bands.is_empty() {
        return Ok(active);
    }
    let margin = (f64::from(active.height) * 0.02).ceil() as u32;
    let middle = active.y + active.height / 2;
    let (mut top, mut bottom) = (active.y, active.bottom());
    for b in bands {
        if b.y + b.height / 2 >= middle {
            bottom = bottom.min(b.y.saturating_sub(margin));
        } else {
            top = top.max(b.bottom() + margin);
        }
    }
    let height = bottom.saturating_sub(top);
    if f64::from(height) < min_share * f64::from(active.height) {
        let union = bands.iter().skip(1).fold(bands[0], |u, b| u.union(b));
        return Err(union);
    }
    Ok(Rect::new(active.x, (top + 1) & !1, active.width, height.saturating_sub(top & 1) & !1))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Half-width of the running median over a shot's salient points, in seconds.
const SALIENT_MEDIAN_S: f64 = 0.3;

/// Each known value replaced by the median of the known values within `half` samples
/// of it (fewer near the ends, the same number on both sides); gaps stay gaps. A
/// monotone run keeps its values; a value unlike both its neighbours' sides is dropped
/// for theirs.
fn running_median(xs: &[Option<f64>], half: usize) -> Vec<Option<f64>> {
    let mut window = Vec::with_capacity(2 * half + 1);
    let n = xs.len();
    (0..n)
        .map(|i| {
            xs[i]?;
            let r = half.min(i).min(n - 1 - i);
            window.clear();
            window.extend(xs[i - r..=i + r].iter().flatten());
            Some(median(&mut window))
        })
        .collect()
}

pub const MIN_FACE_DETECTIONS: usize = 3;

/// The face tracks of a shot with their subject scores, best first: per detection in
/// the shot, size (square root of its share of the picture) x confidence x centrality,
/// summed over the shot (persistence). A track seen in fewer than
/// [`MIN_FACE_DETECTIONS`] frames of the shot is not a subject (one-frame false positives).
pub fn face_scores(faces: &[FaceTrack], shot: TimeRange, active: Rect) -> Vec<(&FaceTrack, f64)> {
    let centre = f64::from(active.x) + f64::from(active.width) / 2.0;
    let half = (f64::from(active.width) / 2.0).max(1.0);
    let mut scored: Vec<(&FaceTrack, f64)> = faces
        .iter()
        .filter(|t| t.detections.iter().filter(|d| shot.contains(d.0)).count() >= MIN_FACE_DETECTIONS)
        .map(|t| {
            let score: f64 = t
                .detections
                .iter()
                .filter(|d| shot.contains(d.0))
                .map(|(_, r, conf)| {
                    let size = (r.area() as f64 / active.area().max(1) as f64).sqrt();
                    let cx = f64::from(r.x) + f64::from(r.width) / 2.0;
                    let centrality = 1.0 - ((cx - centre).abs() / half).min(1.0);
                    size * f64::from(*conf) * (0.5 + 0.5 * centrality)
                })
                .sum();
            (t, score)
        })
        .filter(|(_, s)| *s > 0.0)
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored
}

/// The shot's main subject, the "C position": the best of [`face_scores`].
pub fn main_face(faces: &[FaceTrack], shot: TimeRange, active: Rect) -> Option<&FaceTrack> {
    face_scores(faces, shot, active).first().map(|(t, _)| *t)
}

/// Centred moving average of half-width `half` samples. Past the ends the series is
/// continued by point reflection (`x[-k] = 2 x[0] - x[k]`), so a steady move stays on
/// its line up to the shot's first and last frames instead of being pulled inwards
/// (a truncated window would put the camera ahead of a subject entering the shot).
fn box_filter(x: &[f64], half: usize) -> Vec<f64> {
    let n = x.len();
    if n < 2 {
        return x.to_vec();
    }
    let at = |i: isize| -> f64 {
        let last = n as isize - 1;
        if i < 0 {
            2.0 * x[0] - x[(-i).min(last) as usize]
        } else if i > last {
            2.0 * x[last as usize] - x[(2 * last - i).max(0) as usize]
        } else {
            x[i as usize]
        }
    };
    let h = half as isize;
    (0..n as isize).map(|i| (i - h..=i + h).map(at).sum::<f64>() / (2 * h + 1) as f64).collect()
}

/// The camera's left edge per sample, following subject centres `xs` (gaps filled with
/// the last known position): two passes of a centred moving average (a triangular
/// kernel: detection jitter goes without the lag of a causal filter), a speed limit of
/// `max_step` per sample, then one more centred average, which bounds the acceleration
/// by `2 max_step / (2 half + 1)` per sample^2 and keeps the speed limit. Clamped to
/// `min_x..=max_x` throughout. The mode is Panning when the path keeps one direction,
/// Tracking when it turns back.
fn camera_path(xs: &[f64], w: f64, half: usize, max_step: f64, min_x: f64, max_x: f64) -> (Vec<f64>, CameraMode) {
    let left = |cx: f64| (cx - w / 2.0).clamp(min_x, max_x);
    let smooth: Vec<f64> = box_filter(&box_filter(xs, half), half).into_iter().map(left).collect();
    let mut pos = smooth[0];
    let limited: Vec<f64> = smooth
        .iter()
        .map(|&target| {
            pos += (target - pos).clamp(-max_step, max_step);
            pos
        })
        .collect();
    let path = box_filter(&limited, half);
    let net = path[path.len() - 1] - path[0];
    let backwards: f64 = path.windows(2).map(|p| p[1] - p[0]).filter(|d| d * net < 0.0).map(f64::abs).sum();
    let mode = if backwards <= 0.1 * net.abs().max(1.0) { CameraMode::Panning } else { CameraMode::Tracking };
    (path, mode)
}

/// The main subject's box at each of `times`: `main`'s own detection when it has one
/// (held for up to `gap_s`); where it has none, a detection of another track that
/// continues it (a tracker splits a fast or briefly hidden face into pieces): the box
/// nearest the subject's last (then, going backwards, next) known place, at most
/// `reach` pixels from it.
fn follow_subject(main: &FaceTrack, faces: &[FaceTrack], times: &[f64], gap_s: f64, reach: f64) -> Vec<Option<Rect>> {
    let mut boxes: Vec<Option<Rect>> = times.iter().map(|&t| main.at(t, gap_s)).collect();
    let others: Vec<&FaceTrack> = faces.iter().filter(|t| t.id != main.id).collect();
    let centre = |r: &Rect| (f64::from(r.x) + f64::from(r.width) / 2.0, f64::from(r.y) + f64::from(r.height) / 2.0);
    let nearest = |t: f64, to: Rect| -> Option<Rect> {
        let (cx, cy) = centre(&to);
        others
            .iter()
            .filter_map(|tr| tr.at(t, gap_s))
            .map(|r| {
                let (x, y) = centre(&r);
                (r, (x - cx).hypot(y - cy))
            })
            .filter(|(_, d)| *d <= reach)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(r, _)| r)
    };
    let mut last: Option<Rect> = None;
    for (i, &t) in times.iter().enumerate() {
        if boxes[i].is_none() {
            boxes[i] = last.and_then(|l| nearest(t, l));
        }
        last = boxes[i].or(last);
    }
    let mut next: Option<Rect> = None;
    for (i, &t) in times.iter().enumerate().rev() {
        if boxes[i].is_none() {
            boxes[i] = next.and_then(|n| nearest(t, n));
        }
        next = boxes[i].or(next);
    }
    boxes
}

/// Union of the boxes of `tracks` at `t_s` (each held for up to `gap_s`).
fn subjects_box(tracks: &[&FaceTrack], t_s: f64, gap_s: f64) -> Option<Rect> {
    tracks.iter().filter_map(|t| t.at(t_s, gap_s)).reduce(|u, r| u.union(&r))
}

/// How far outside a clip, in seconds, [`plan_crop`] looks at the per-frame analysis of
/// a video sampled at `sample_fps`: an analysis holding only the saliency points and
/// face detections within this of the clip plans exactly the crop the whole one does
/// (faces are held for 3 samples, saliency matched within 0.75).
pub fn context_s(sample_fps: f64) -> f64 {
    4.0 / sample_fps.max(1.0)
}

/// Plan the crop of `range` of the analysed video.
pub fn plan_crop(analysis: &VideoAnalysis, range: TimeRange, cfg: &ReframeConfig) -> Result<CropPlan> {
    let duration_s = analysis.info.duration_s;
    if !(range.start_s >= 0.0 && range.end_s > range.start_s && range.end_s <= duration_s + 1e-3) {
        return Err(ReframeError::OutOfRange { range, duration_s });
    }
    if !(0.05..=20.0).contains(&cfg.aspect) {
        return Err(ReframeError::Aspect(cfg.aspect));
    }
    let active = analysis.active;
    largest_window(active, cfg.aspect).ok_or(ReframeError::NoArea(active))?;
    let logos: &[Rect] = if cfg.avoid_logos { &analysis.logos } else { &[] };

    // Shots inside the clip.
    let mut bounds = vec![range.start_s];
    bounds.extend(analysis.cuts.iter().copied().filter(|c| *c > range.start_s && *c < range.end_s));
    bounds.push(range.end_s);
    let mut keyframes = Vec::new();
    let mut shots = Vec::new();
    for b in bounds.windows(2) {
        let shot = TimeRange::new(b[0], b[1]);
        let (frames, mode) = plan_shot(analysis, shot, cfg, logos)?;
        keyframes.extend(frames);
        shots.push((shot, mode));
    }
    Ok(CropPlan {
        source_width: analysis.info.width,
        source_height: analysis.info.height,
        range,
        active,
        keyframes,
        shots,
        aspect: cfg.aspect,
    })
}

/// Keyframes and camera mode of one shot.
fn plan_shot(
    analysis: &VideoAnalysis,
    shot: TimeRange,
    cfg: &ReframeConfig,
    logos: &[Rect],
) -> Result<(Vec<CropKeyframe>, CameraMode)> {
    let active = analysis.active;
    // Subtitle bands shown during the shot.
    let bands: Vec<Rect> = match cfg.subtitles {
        SubtitlePolicy::Ignore => vec![],
        SubtitlePolicy::Exclude => analysis
            .segments
            .iter()
            .filter(|s| s.range.start_s < shot.end_s && s.range.end_s > shot.start_s)
            .filter_map(|s| s.subtitles)
            .collect(),
    };
    let (area, keep_whole) = match subtitle_free_area(active, &bands, cfg.min_height_after_subtitles) {
        Ok(area) => (area, None),
        Err(band) if cfg.pad == PadPolicy::Blur => (active, Some(band)),
        Err(_) => (active, None),
    };
    let (w, h) = largest_window(area, cfg.aspect).ok_or(ReframeError::NoArea(area))?;
    let y = (area.y + (area.height - h) / 2) & !1;
    let (min_x, max_x) = (f64::from(area.x), f64::from(area.right() - w));
    let place =
        |left: f64, width: f64| avoid_logos(left, width, logos, f64::from(active.x), f64::from(active.right()) - width);
    // The shot's timeline: a regular grid at the analysis rate (saliency may be missing
    // inside a detected transition; faces and the camera are not).
    let fps = analysis.sample_fps.max(1.0);
    let times: Vec<f64> =
        (0..).map(|i| shot.start_s + f64::from(i) / fps).take_while(|t| *t < shot.end_s - 1e-9).collect();
    let gap_s = 3.0 / fps;
    let salient = |t: f64| -> Option<(f32, f32)> {
        let i = analysis.saliency.partition_point(|s| s.t_s < t);
        [i.wrapping_sub(1), i]
            .into_iter()
            .filter_map(|j| analysis.saliency.get(j))
            .filter(|s| (s.t_s - t).abs() <= 0.75 / fps && shot.contains(s.t_s))
            .min_by(|a, b| (a.t_s - t).abs().total_cmp(&(b.t_s - t).abs()))
            .and_then(|s| s.centre)
    };

    // Required subjects: the main face, and faces nearly as important that are seen at
    // the same time as it (a duet; a track that only continues the main one is not).
    let scored = face_scores(&analysis.faces, shot, active);
    let required: Vec<&FaceTrack> = match scored.first() {
        Some(&(main, top)) => scored
            .iter()
            .filter(|(t, s)| {
                let together =
                    t.detections.iter().filter(|d| shot.contains(d.0) && main.at(d.0, 0.5 / fps).is_some()).count();
                t.id == main.id || (*s >= cfg.co_subject_ratio * top && together >= MIN_FACE_DETECTIONS)
            })
            .map(|(t, _)| *t)
            .collect(),
        None => vec![],
    };
    let centre_of = |r: Rect| (r.x as f32 + r.width as f32 / 2.0, r.y as f32 + r.height as f32 / 2.0);
    let subjects: Vec<Option<(f32, f32)>> = match required.first() {
        Some(main) => follow_subject(main, &analysis.faces, &times, gap_s, f64::from(w) / 2.0)
            .into_iter()
            .map(|r| r.map(centre_of))
            .collect(),
        None => {
            let points: Vec<Option<(f32, f32)>> = times.iter().map(|&t| salient(t)).collect();
            // A salient object seen on under half the shot's frames is not the shot's
            // subject (a texture, a crowd): the camera holds the centre, and the plan says
            // the shot had none.
            if points.iter().flatten().count() * 2 < points.len() { vec![None; points.len()] } else { points }
        }
    };
    let keyframe = |i: usize, t_s: f64, rect: Rect| CropKeyframe {
        t_s: if i == 0 { shot.start_s } else { t_s },
        rect,
        subject: subjects.get(i).copied().flatten(),
        exact_x: None,
    };
    let hold = |rect: Rect| -> Vec<CropKeyframe> {
        if times.is_empty() {
            return vec![CropKeyframe { t_s: shot.start_s, rect, subject: None, exact_x: None }];
        }
        times.iter().enumerate().map(|(i, &t)| keyframe(i, t, rect)).collect()
    };

    // Padded: the subjects together (or a subtitle band kept whole) are wider than the
    // crop. One wider window for the shot, the full height of the active area.
    // The test is per sample (one subject walking across the frame fits at every moment);
    // the window covers where they are over the whole shot.
    let margin = 0.04 * f64::from(w);
    let boxes: Vec<Rect> = times.iter().filter_map(|&t| subjects_box(&required, t, gap_s)).collect();
    let too_wide = boxes.iter().any(|b| f64::from(b.width) + 2.0 * margin > f64::from(w));
    let extent = boxes.into_iter().chain(keep_whole).reduce(|u, r| u.union(&r));
    if cfg.pad == PadPolicy::Blur
        && (too_wide || keep_whole.is_some())
        && let Some(extent) = extent
    {
        let pad_h = active.height & !1;
        let min_w = (f64::from(pad_h) * cfg.aspect * 1.1).ceil();
        let width = (f64::from(extent.width) * 1.12).max(min_w).min(f64::from(active.width)) as u32 & !1;
        let cx = f64::from(extent.x) + f64::from(extent.width) / 2.0;
        let left = (cx - f64::from(width) / 2.0).clamp(f64::from(active.x), f64::from(active.right() - width));
        let left = place(left, f64::from(width));
        let rect = Rect::new(left as u32 & !1, active.y & !1, width, pad_h);
        return Ok((hold(rect), CameraMode::Padded));
    }

    let xs: Vec<Option<f64>> = subjects.iter().map(|c| c.map(|c| f64::from(c.0))).collect();
    // A salient point, unlike a face track, can land on another object for a frame: each
    // is replaced by the median of the points around it before the camera reads them.
    let xs = if required.is_empty() { running_median(&xs, (SALIENT_MEDIAN_S * fps).round() as usize) } else { xs };
    let known: Vec<f64> = xs.iter().flatten().copied().collect();
    let at_x = |left: f64| {
        let x = place(left.clamp(min_x, max_x), f64::from(w));
        Rect::new((((x / 2.0).round() * 2.0).min(max_x) as u32) & !1, y, w, h)
    };
    if known.is_empty() {
        let centre = f64::from(area.x) + f64::from(area.width) / 2.0;
        return Ok((hold(at_x(centre - f64::from(w) / 2.0)), CameraMode::Stationary));
    }
    let spread =
        known.iter().copied().fold(f64::NEG_INFINITY, f64::max) - known.iter().copied().fold(f64::INFINITY, f64::min);
    if spread < cfg.stationary_fraction * f64::from(w) || times.len() < 3 {
        let med = median(&mut known.clone());
        return Ok((hold(at_x(med - f64::from(w) / 2.0)), CameraMode::Stationary));
    }
    // Moving: gaps hold the last known position, then the smoothed, bounded path.
    let mut filled = Vec::with_capacity(xs.len());
    let mut last = known[0];
    for x in &xs {
        last = x.unwrap_or(last);
        filled.push(last);
    }
    let half = (cfg.smoothing_s * fps).round().max(1.0) as usize;
    let max_step = cfg.max_pan_widths_per_s * f64::from(w) / fps;
    let (path, mode) = camera_path(&filled, f64::from(w), half, max_step, min_x, max_x);
    let frames = times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let rect = at_x(path[i]);
            // The exact place, unless the logo rule moved the window off the path.
            let exact = (f64::from(rect.x) - path[i]).abs() <= 2.0;
            CropKeyframe { exact_x: exact.then_some(path[i].clamp(min_x, max_x)), ..keyframe(i, t, rect) }
        })
        .collect();
    Ok((frames, mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_core::frame::VideoInfo;
    use tuneclip_vision::FrameSaliency;

    fn analysis(xs: &[f32], cuts: Vec<f64>) -> VideoAnalysis {
        VideoAnalysis {
            version: tuneclip_vision::ANALYSIS_VERSION,
            info: VideoInfo { width: 1280, height: 720, duration_s: xs.len() as f64 / 10.0, fps: 25.0 },
            sample_fps: 10.0,
            cuts,
            transitions: vec![],
            active: Rect::new(0, 60, 1280, 600),
            logos: vec![],
            segments: vec![],
            saliency: xs
                .iter()
                .enumerate()
                .map(|(i, x)| FrameSaliency { t_s: i as f64 / 10.0, centre: Some((*x, 300.0)), extent: None })
                .collect(),
            faces: vec![],
            faces_analysed: false,
            detail_faces: Default::default(),
            text_analysed: false,
            transnet_analysed: false,
            transnet_fuse: Default::default(),
            damage: Default::default(),
            events: Default::default(),
        }
    }

    #[test]
    fn a_running_median_drops_a_lone_point_and_keeps_a_steady_move() {
        let xs: Vec<Option<f64>> =
            [Some(400.0), None, Some(410.0), Some(120.0), Some(420.0), Some(425.0), None].into_iter().collect();
        let m = running_median(&xs, 2);
        assert_eq!(m, vec![Some(400.0), None, Some(410.0), Some(420.0), Some(420.0), Some(425.0), None]);
        let ramp: Vec<Option<f64>> = (0..10).map(|i| Some(f64::from(i) * 10.0)).collect();
        assert_eq!(running_median(&ramp, 3), ramp);
    }

    #[test]
    fn the_crop_never_cuts_through_a_logo() {
        // Subject stands at x = 1000: the natural crop (832..1168) would cut through a
        // logo at 1100..1220; the nearest valid crop keeps it whole or leaves it out.
        let mut a = analysis(&[1000.0; 30], vec![]);
        let logo = Rect::new(1100, 80, 120, 50);
        a.logos = vec![logo];
        let plan = plan_crop(&a, TimeRange::new(0.0, 3.0), &ReframeConfig::default()).expect("plan");
        for k in &plan.keyframes {
            let (x, w) = (f64::from(k.rect.x), f64::from(k.rect.width));
            assert!(!cuts_through(x, w, &logo), "{:?} cuts through {logo:?}", k.rect);
            assert!(k.rect.contains_rect(&Rect::new(1000, k.rect.y, 1, 1)), "subject kept: {:?}", k.rect);
        }
        // Without the policy the same crop cuts through it.
        let cfg = ReframeConfig { avoid_logos: false, ..ReframeConfig::default() };
        let plan = plan_crop(&a, TimeRange::new(0.0, 3.0), &cfg).expect("plan");
        assert!(cuts_through(f64::from(plan.keyframes[0].rect.x), 336.0, &logo));
    }

    #[test]
    fn largest_window_fills_the_active_height() {
        assert_eq!(largest_window(Rect::new(0, 60, 1280, 600), 9.0 / 16.0), Some((336, 600)));
        // A portrait active area is limited by its width instead.
        assert_eq!(largest_window(Rect::new(0, 0, 300, 1000), 9.0 / 16.0), Some((300, 532)));
    }

    #[test]
    fn pan_is_smooth_inside_the_active_area_and_resets_at_the_cut() {
        // Subject walks right at 20 px per sample with +-40 px jitter, then a cut to a
        // subject standing on the far left.
        let mut xs: Vec<f32> =
            (0..30).map(|i| 200.0 + 20.0 * i as f32 + if i % 2 == 0 { 40.0 } else { -40.0 }).collect();
        xs.extend(std::iter::repeat_n(100.0, 20));
        let a = analysis(&xs, vec![3.0]);
        let plan = plan_crop(&a, TimeRange::new(0.0, 5.0), &ReframeConfig::default()).expect("plan");
        assert_eq!(plan.shots.len(), 2);
        assert_eq!(plan.shots[0].1, CameraMode::Panning);
        assert_eq!(plan.shots[1].1, CameraMode::Stationary);
        let first: Vec<f64> = plan.keyframes.iter().filter(|k| k.t_s < 3.0).map(|k| f64::from(k.rect.x)).collect();
        let max_step = 0.5 * 336.0 / 10.0 + 2.0; // speed limit + even-pixel rounding
        assert!(first.windows(2).all(|w| (w[1] - w[0]).abs() <= max_step), "{first:?}");
        // Jitter is gone: no direction reversals in the pan.
        assert!(first.windows(2).all(|w| w[1] >= w[0] - 2.0), "{first:?}");
        for k in &plan.keyframes {
            assert!(plan.active.contains_rect(&k.rect), "{:?} outside {:?}", k.rect, plan.active);
            assert_eq!((k.rect.width, k.rect.height), (336, 600));
        }
        // After the cut the camera sits on the new subject at once (clamped to the edge).
        assert_eq!(plan.rect_at(3.5).x, 0);
    }

    #[test]
    fn crop_locks_on_the_main_face_not_the_busy_corner() {
        // Saliency says the action is at the far left; a large, confident face walks
        // slowly from x = 700 to 820; a small face sits at the right edge.
        let mut a = analysis(&[100.0; 40], vec![]);
        let big = FaceTrack {
            id: 0,
            detections: (0..40).map(|i| (i as f64 / 10.0, Rect::new(650 + 3 * i, 200, 100, 130), 0.95)).collect(),
        };
        let small = FaceTrack {
            id: 1,
            detections: (0..40).map(|i| (i as f64 / 10.0, Rect::new(1200, 300, 30, 40), 0.9)).collect(),
        };
        a.faces = vec![small, big.clone()];
        assert_eq!(main_face(&a.faces, TimeRange::new(0.0, 4.0), a.active).map(|t| t.id), Some(0));
        let plan = plan_crop(&a, TimeRange::new(0.0, 4.0), &ReframeConfig::default()).expect("plan");
        for k in &plan.keyframes {
            let face = big.at(k.t_s, 0.1).expect("face at every sample");
            assert!(
                k.rect.contains_rect(&Rect::new(face.x, k.rect.y, face.width, k.rect.height)),
                "{:?} misses {face:?}",
                k.rect
            );
        }
    }

    /// Quality against the naive alternative (a crop centred on each detection): a face
    /// walking back and forth, detected with +-15 px jitter. Our camera must jerk at most
    /// a tenth as much (mean |second difference| of the crop's x, px/sample^2) and keep the
    /// true face inside the crop on >= 98% of samples, at least as often as the naive one.
    #[test]
    fn smooth_camera_beats_the_naive_crop_on_jerk_and_keeps_the_face() {
        let n = 100; // 10 s at 10 fps
        let truth = |i: usize| 640.0 + 200.0 * (2.0 * std::f64::consts::PI * i as f64 / 100.0).sin();
        let mut state = 7u64;
        let mut jitter = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64) * 30.0 - 15.0
        };
        let face_w = 80u32;
        let mut a = analysis(&vec![100.0; n], vec![]);
        a.faces = vec![FaceTrack {
            id: 0,
            detections: (0..n)
                .map(|i| (i as f64 / 10.0, Rect::new((truth(i) + jitter()) as u32 - face_w / 2, 200, face_w, 100), 0.9))
                .collect(),
        }];
        let plan = plan_crop(&a, TimeRange::new(0.0, n as f64 / 10.0), &ReframeConfig::default()).expect("plan");
        let w = plan.keyframes[0].rect.width;
        let ours: Vec<f64> = (0..n).map(|i| f64::from(plan.rect_at(i as f64 / 10.0).x)).collect();
        let naive: Vec<f64> = a.faces[0]
            .detections
            .iter()
            .map(|(_, r, _)| {
                (f64::from(r.x) + f64::from(r.width) / 2.0 - f64::from(w) / 2.0).clamp(0.0, f64::from(1280 - w))
            })
            .collect();
        let jerk =
            |x: &[f64]| x.windows(3).map(|v| (v[2] - 2.0 * v[1] + v[0]).abs()).sum::<f64>() / (x.len() - 2) as f64;
        let covered = |x: &[f64]| {
            (0..n)
                .filter(|&i| {
                    let (l, r) = (truth(i) - f64::from(face_w) / 2.0, truth(i) + f64::from(face_w) / 2.0);
                    l >= x[i] && r <= x[i] + f64::from(w)
                })
                .count() as f64
                / n as f64
        };
        let (j_ours, j_naive) = (jerk(&ours), jerk(&naive));
        let (c_ours, c_naive) = (covered(&ours), covered(&naive));
        assert!(j_ours <= 0.1 * j_naive, "jerk {j_ours:.2} vs naive {j_naive:.2} px/sample^2");
        assert!(c_ours >= 0.98 && c_ours >= c_naive, "coverage {c_ours:.2} vs naive {c_naive:.2}");
        eprintln!("jerk {j_ours:.3} vs naive {j_naive:.2}; coverage {c_ours:.2} vs naive {c_naive:.2}");
    }

    fn face(id: u32, x: u32, n: usize) -> FaceTrack {
        FaceTrack { id, detections: (0..n).map(|i| (i as f64 / 10.0, Rect::new(x, 200, 100, 130), 0.9)).collect() }
    }

    #[test]
    fn subtitles_are_left_out_of_the_frame_or_kept_whole() {
        let mut a = analysis(&[640.0; 30], vec![]);
        a.segments = vec![tuneclip_vision::SegmentStats {
            range: TimeRange::new(0.0, 3.0),
            motion: 1.0,
            brightness: 100.0,
            colourfulness: 10.0,
            blank: false,
            subtitles: Some(Rect::new(300, 560, 680, 50)),
            text_share: None,
        }];
        let range = TimeRange::new(0.0, 3.0);
        let plan = plan_crop(&a, range, &ReframeConfig::default()).expect("plan");
        for k in &plan.keyframes {
            // Above the band (with its margin), as tall as the rest of the active area allows.
            assert!(k.rect.bottom() <= 560 && k.rect.y >= 60, "{:?}", k.rect);
            assert!(k.rect.height >= 480, "{:?}", k.rect);
        }
        let ignore = ReframeConfig { subtitles: SubtitlePolicy::Ignore, ..ReframeConfig::default() };
        assert_eq!(plan_crop(&a, range, &ignore).expect("plan").keyframes[0].rect.height, 600);

        // A band in the middle leaves too little: kept whole in a padded frame.
        a.segments[0].subtitles = Some(Rect::new(300, 330, 680, 50));
        let plan = plan_crop(&a, range, &ReframeConfig::default()).expect("plan");
        assert_eq!(plan.shots[0].1, CameraMode::Padded);
        let band = Rect::new(300, 330, 680, 50);
        assert!(plan.keyframes.iter().all(|k| k.rect.contains_rect(&band) && plan.active.contains_rect(&k.rect)));
        assert!(plan.is_padded(&plan.keyframes[0].rect));
        // Without padding the band is ignored: a full-height crop.
        let never = ReframeConfig { pad: PadPolicy::Never, ..ReframeConfig::default() };
        let plan = plan_crop(&a, range, &never).expect("plan");
        assert_eq!((plan.shots[0].1, plan.keyframes[0].rect.height), (CameraMode::Stationary, 600));
    }

    #[test]
    fn a_duet_too_wide_for_the_crop_is_padded_and_a_bystander_is_not_required() {
        let mut a = analysis(&[640.0; 30], vec![]);
        a.faces = vec![face(0, 150, 30), face(1, 1000, 30)];
        let range = TimeRange::new(0.0, 3.0);
        let plan = plan_crop(&a, range, &ReframeConfig::default()).expect("plan");
        assert_eq!(plan.shots[0].1, CameraMode::Padded);
        for k in &plan.keyframes {
            for f in &a.faces {
                assert!(k.rect.contains_rect(&f.detections[0].1), "{:?} misses {:?}", k.rect, f.detections[0].1);
            }
            assert!(plan.active.contains_rect(&k.rect));
        }
        // Padding off: the crop follows one of them, full height, output aspect.
        let never = ReframeConfig { pad: PadPolicy::Never, ..ReframeConfig::default() };
        let plan = plan_crop(&a, range, &never).expect("plan");
        assert_eq!((plan.keyframes[0].rect.width, plan.keyframes[0].rect.height), (336, 600));
        // A small face at the edge is a bystander, not a second lead: no padding.
        a.faces[1].detections.iter_mut().for_each(|d| d.1 = Rect::new(1200, 300, 30, 40));
        a.faces[0].detections.iter_mut().for_each(|d| d.1.x = 600);
        let plan = plan_crop(&a, range, &ReframeConfig::default()).expect("plan");
        assert_eq!(plan.shots[0].1, CameraMode::Stationary);
        assert!(!plan.is_padded(&plan.keyframes[0].rect));
    }

    /// A subject going back and forth is tracked (not panned), with the speed and the
    /// acceleration of the camera bounded.
    #[test]
    fn tracking_bounds_speed_and_acceleration() {
        let xs: Vec<f32> = (0..120).map(|i| if (i / 30) % 2 == 0 { 300.0 } else { 1000.0 }).collect();
        let a = analysis(&xs, vec![]);
        let cfg = ReframeConfig::default();
        let plan = plan_crop(&a, TimeRange::new(0.0, 12.0), &cfg).expect("plan");
        assert_eq!(plan.shots[0].1, CameraMode::Tracking);
        let x: Vec<f64> = plan.keyframes.iter().map(|k| f64::from(k.rect.x)).collect();
        let max_step = cfg.max_pan_widths_per_s * 336.0 / 10.0;
        let half = 5.0;
        let max_accel = 2.0 * max_step / (2.0 * half + 1.0);
        for (i, v) in x.windows(3).enumerate() {
            assert!((v[1] - v[0]).abs() <= max_step + 2.0, "speed {} at {i}", v[1] - v[0]);
            // Rounding to even pixels adds up to 2 px to a second difference.
            assert!((v[2] - 2.0 * v[1] + v[0]).abs() <= max_accel + 4.0, "acceleration at {i}: {v:?}");
        }
    }

    #[test]
    fn clip_outside_the_video_is_refused() {
        let a = analysis(&[640.0; 20], vec![]);
        assert!(matches!(
            plan_crop(&a, TimeRange::new(1.0, 9.0), &ReframeConfig::default()),
            Err(ReframeError::OutOfRange { .. })
        ));
    }
}
