//! Core vocabulary of tuneclip: identifiers, [`TimeRange`], [`Segment`], [`Clip`],
//! [`CropPlan`] and the shared [`Embedding`] type. Every other crate speaks these types;
//! this crate does no I/O and links nothing heavier than serde.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An L2-normalised vector in the shared song/video space.
pub type Embedding = Vec<f32>;

/// A half-open time interval `[start_s, end_s)` in seconds of media time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeRange {
    pub start_s: f64,
    pub end_s: f64,
}

impl TimeRange {
    pub fn new(start_s: f64, end_s: f64) -> Self {
        Self { start_s, end_s }
    }
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
    pub fn contains(&self, t_s: f64) -> bool {
        t_s >= self.start_s && t_s < self.end_s
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2}-{:.2}s", self.start_s, self.end_s)
    }
}

/// Stable identifier of a catalogue item: the first 16 hex digits of the sha256 of
/// its content, so the same file always gets the same id wherever it lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentId(pub String);

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Pixel rectangle at source resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    pub fn new(x: u32, y: u32, width: u32, height: u32) -> Self {
        Self { x, y, width, height }
    }
    pub fn right(&self) -> u32 {
        self.x + self.width
    }
    pub fn bottom(&self) -> u32 {
        self.y + self.height
    }
    pub fn area(&self) -> u64 {
        u64::from(self.width) * u64::from(self.height)
    }
    /// True when `other` lies entirely inside `self`.
    pub fn contains_rect(&self, other: &Rect) -> bool {
        other.x >= self.x && other.y >= self.y && other.right() <= self.right() && other.bottom() <= self.bottom()
    }
}

/// A stretch of a video between two transitions: the unit the index holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub video: ContentId,
    /// Index of the segment within its video, in time order.
    pub ordinal: u32,
    pub range: TimeRange,
    /// Mean absolute luma change between sampled frames (0..255 scale).
    pub motion: f32,
    /// Mean luma of the active picture (0..255).
    pub brightness: f32,
    /// True when the segment is (almost) black or blank.
    pub blank: bool,
}

/// A clip proposed for a song: a time range inside one segment of one video.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    pub video: ContentId,
    pub segment_ordinal: u32,
    pub range: TimeRange,
    /// Cosine similarity between the song and the segment in the shared space.
    pub score: f32,
}

/// How the virtual camera behaves within one shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraMode {
    Stationary,
    Panning,
}

/// One crop window at a point of media time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CropKeyframe {
    pub t_s: f64,
    pub rect: Rect,
    /// Centre of the tracked subject at this time, if one was found (source pixels).
    pub subject: Option<(f32, f32)>,
}

/// The reframer's output: a crop rectangle over time at source resolution, with a
/// camera mode per shot. Rects are sampled at the analysis rate; renderers hold the
/// nearest earlier keyframe (the path is already smooth at that rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropPlan {
    pub source_width: u32,
    pub source_height: u32,
    pub range: TimeRange,
    /// Active picture area (borders removed) the crop stays inside.
    pub active: Rect,
    pub keyframes: Vec<CropKeyframe>,
    pub shots: Vec<(TimeRange, CameraMode)>,
}

impl CropPlan {
    /// Crop window in force at `t_s` (the last keyframe at or before it).
    pub fn rect_at(&self, t_s: f64) -> Rect {
        let idx = self.keyframes.partition_point(|k| k.t_s <= t_s);
        let k = if idx == 0 { 0 } else { idx - 1 };
        self.keyframes.get(k).map_or(self.active, |k| k.rect)
    }
}

/// L2-normalise in place; a zero vector is left as is and reported by `false`.
pub fn l2_normalize(v: &mut [f32]) -> bool {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm <= f32::EPSILON {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    true
}

/// Dot product over the common length, with eight independent accumulators so the
/// compiler can vectorise it (a plain iterator sum must keep the sequential float order
/// and cannot). Hot in resampling, mel filtering and exact re-ranking.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_at_holds_last_keyframe() {
        let r1 = Rect::new(0, 0, 90, 160);
        let r2 = Rect::new(10, 0, 90, 160);
        let plan = CropPlan {
            source_width: 320,
            source_height: 160,
            range: TimeRange::new(0.0, 2.0),
            active: Rect::new(0, 0, 320, 160),
            keyframes: vec![
                CropKeyframe { t_s: 0.0, rect: r1, subject: None },
                CropKeyframe { t_s: 1.0, rect: r2, subject: None },
            ],
            shots: vec![],
        };
        assert_eq!(plan.rect_at(0.5), r1);
        assert_eq!(plan.rect_at(1.0), r2);
        assert_eq!(plan.rect_at(1.9), r2);
    }

    #[test]
    fn normalise_gives_unit_norm_and_refuses_zero() {
        let mut v = vec![3.0, 4.0];
        assert!(l2_normalize(&mut v));
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0; 3];
        assert!(!l2_normalize(&mut z));
    }
}
