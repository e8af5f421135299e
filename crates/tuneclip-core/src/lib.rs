//! Core vocabulary of tuneclip: identifiers, [`TimeRange`], [`Segment`], [`Clip`],
//! [`CropPlan`], [`HardNegative`] (review -> training) and the shared [`Embedding`]
//! type. Every other crate speaks these types; this crate links nothing heavier than
//! serde (and base64, for stored envelopes), and its only I/O is [`fs::write_atomic`],
//! the one way every crate replaces a file. [`sync`] holds the arithmetic of sync:
//! picture events against a song's onsets.

pub mod frame;
pub mod fs;
pub mod kernels;
pub mod shard;
pub mod sync;

pub use shard::Shard;

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
    /// Smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        let (x, y) = (self.x.min(other.x), self.y.min(other.y));
        Rect::new(x, y, self.right().max(other.right()) - x, self.bottom().max(other.bottom()) - y)
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
    /// How the clip's picture events fall on the song's onsets as it plays (Pearson
    /// correlation, see [`sync`]); `None` when the query gave no onsets or the video has
    /// no stored picture events.
    pub sync: Option<f32>,
}

impl Clip {
    /// What clips are ranked by: similarity + [`sync::SYNC_WEIGHT`] x sync (similarity
    /// alone without sync).
    pub fn rank_score(&self) -> f32 {
        self.score + sync::SYNC_WEIGHT * self.sync.unwrap_or(0.0)
    }
}

/// How the virtual camera behaves within one shot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CameraMode {
    /// The camera holds one position for the whole shot.
    Stationary,
    /// A steady move in one direction (a straight, speed-limited path).
    Panning,
    /// The camera follows a subject that changes direction (smoothed, with speed and
    /// acceleration bounded).
    Tracking,
    /// The subjects do not fit a window of the output aspect: the crop is wider, and a
    /// renderer fits it to the output width over a blurred copy of the picture.
    Padded,
}

/// One crop window at a point of media time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CropKeyframe {
    pub t_s: f64,
    pub rect: Rect,
    /// Centre of the tracked subject at this time, if one was found (source pixels).
    pub subject: Option<(f32, f32)>,
    /// The planned left edge before rounding to the even pixel `rect.x` (4:2:0 video
    /// needs even crops); frames between keyframes are placed from it.
    #[serde(default)]
    pub exact_x: Option<f64>,
}

impl CropKeyframe {
    fn left(&self) -> f64 {
        self.exact_x.unwrap_or(f64::from(self.rect.x))
    }
}

/// The reframer's output: a crop rectangle over time at source resolution, with a
/// camera mode per shot. Rects are sampled at the analysis rate; [`CropPlan::rect_at`]
/// interpolates between the keyframes of a shot, so the camera moves on every frame.
/// Windows have the output `aspect`, except in [`CameraMode::Padded`] shots (wider).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CropPlan {
    pub source_width: u32,
    pub source_height: u32,
    pub range: TimeRange,
    /// Active picture area (borders removed) the crop stays inside.
    pub active: Rect,
    pub keyframes: Vec<CropKeyframe>,
    pub shots: Vec<(TimeRange, CameraMode)>,
    /// Output aspect, width / height (9:16 = 0.5625).
    #[serde(default = "vertical_aspect")]
    pub aspect: f64,
}

/// Where `t_s` falls among a plan's keyframes.
enum Glide<'a> {
    Hold(Option<&'a CropKeyframe>),
    Between(&'a CropKeyframe, &'a CropKeyframe, f64),
}

fn vertical_aspect() -> f64 {
    9.0 / 16.0
}

impl CropPlan {
    /// How many shots had nothing for the camera to follow (no keyframe of the shot
    /// names a subject: no face and no salient object), so the camera held the centre.
    pub fn shots_without_subject(&self) -> usize {
        self.shots
            .iter()
            .filter(|(r, _)| !self.keyframes.iter().any(|k| k.subject.is_some() && r.contains(k.t_s)))
            .count()
    }

    /// Crop window at `t_s`: between two keyframes of one shot, of one size, the window
    /// moves linearly from the first to the second (placed at the nearest even pixel);
    /// at a shot's first keyframe it jumps (a cut); before the first keyframe or after
    /// the last it holds.
    pub fn rect_at(&self, t_s: f64) -> Rect {
        match self.glide(t_s) {
            Glide::Hold(k) => k.map_or(self.active, |k| k.rect),
            Glide::Between(a, b, f) => {
                let even = |v: f64, p: u32, q: u32| {
                    ((v / 2.0).round() * 2.0).clamp(f64::from(p.min(q)), f64::from(p.max(q))) as u32
                };
                let x = even(a.left() + f * (b.left() - a.left()), a.rect.x, b.rect.x);
                let y = even(f64::from(a.rect.y) + f * (f64::from(b.rect.y) - f64::from(a.rect.y)), a.rect.y, b.rect.y);
                Rect::new(x, y, a.rect.width, a.rect.height)
            }
        }
    }

    /// The planned left edge of the window at `t_s`, before rounding to pixels (what
    /// [`CropPlan::rect_at`] rounds; for measuring the camera path itself).
    pub fn left_at(&self, t_s: f64) -> f64 {
        match self.glide(t_s) {
            Glide::Hold(k) => k.map_or(f64::from(self.active.x), CropKeyframe::left),
            Glide::Between(a, b, f) => a.left() + f * (b.left() - a.left()),
        }
    }

    fn glide(&self, t_s: f64) -> Glide<'_> {
        let idx = self.keyframes.partition_point(|k| k.t_s <= t_s);
        let Some(a) = self.keyframes.get(idx.saturating_sub(1)) else { return Glide::Hold(None) };
        let Some(b) = self.keyframes.get(idx).filter(|_| idx > 0) else { return Glide::Hold(Some(a)) };
        let shot_starts = self.shots.iter().any(|(r, _)| (r.start_s - b.t_s).abs() < 1e-9);
        if shot_starts || (a.rect.width, a.rect.height) != (b.rect.width, b.rect.height) || b.t_s <= a.t_s {
            return Glide::Hold(Some(a));
        }
        Glide::Between(a, b, (t_s - a.t_s) / (b.t_s - a.t_s))
    }

    /// Whether the window at `rect` is wider than the output aspect (a padded frame).
    pub fn is_padded(&self, rect: &Rect) -> bool {
        f64::from(rect.width) > f64::from(rect.height) * self.aspect * 1.02
    }
}

/// A reviewer's rejection as a training example: this window of the song does not go
/// with this window of video. One JSON object per line, written by `tuneclip review
/// --export-negatives` and read by `tuneclip_training::manifest::read_hard_negatives`
/// (a line without `reason` reads as an empty one).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardNegative {
    pub song_id: String,
    pub song_path: std::path::PathBuf,
    pub song_start_s: f64,
    pub video_id: String,
    pub video_path: std::path::PathBuf,
    pub start_s: f64,
    pub end_s: f64,
    #[serde(default)]
    pub reason: String,
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

/// Dot product over the common length, in the widest f32 lanes this CPU has
/// ([`kernels::Kernel::detect`]: AVX-512F, AVX2 with FMA, or a portable loop). Hot in
/// resampling, mel filtering, exact re-ranking and the vector index.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    kernels::best_dot()(a, b)
}

/// SplitMix64: a tiny deterministic generator, so that a seed means the same synthetic
/// data (training corpora, benchmark vectors) on every machine and every version of
/// every crate.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), 53 bits.
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let (u, v) = (self.uniform().max(1e-300), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rect_at_moves_between_keyframes_and_jumps_at_shots() {
        let r1 = Rect::new(0, 0, 90, 160);
        let r2 = Rect::new(10, 0, 90, 160);
        let r3 = Rect::new(200, 0, 90, 160);
        let plan = CropPlan {
            source_width: 320,
            source_height: 160,
            range: TimeRange::new(0.0, 2.0),
            active: Rect::new(0, 0, 320, 160),
            keyframes: vec![
                CropKeyframe { t_s: 0.0, rect: r1, subject: None, exact_x: None },
                CropKeyframe { t_s: 1.0, rect: r2, subject: None, exact_x: Some(10.8) },
                CropKeyframe { t_s: 1.5, rect: r3, subject: None, exact_x: None },
            ],
            shots: vec![
                (TimeRange::new(0.0, 1.5), CameraMode::Panning),
                (TimeRange::new(1.5, 2.0), CameraMode::Stationary),
            ],
            aspect: 9.0 / 16.0,
        };
        assert_eq!(plan.rect_at(0.0), r1);
        assert_eq!(plan.rect_at(0.5), Rect::new(6, 0, 90, 160)); // 5.4, to the nearest even pixel
        assert!((plan.left_at(0.5) - 5.4).abs() < 1e-9);
        assert_eq!(plan.rect_at(1.0), r2);
        // The next keyframe starts a new shot: no glide into it, a cut.
        assert_eq!(plan.rect_at(1.4), r2);
        assert_eq!(plan.rect_at(1.5), r3);
        assert_eq!(plan.rect_at(1.9), r3);
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
