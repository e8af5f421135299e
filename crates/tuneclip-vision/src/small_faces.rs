//! Small faces: CenterFace finds faces from about 20 px tall, so on the 192-px analysis
//! frames of a 1080p video only faces taller than ~200 px (a close-up) are seen. This
//! pass runs the detector where small faces can be found, on larger *detail* frames of
//! the same decode (`tuneclip_media::video::DetailFrames`, 960 px wide by default:
//! faces from ~50 px tall in 1080p), at a bounded cost:
//!
//! - a full scan of the detail frame every two seconds, and at once when the picture has
//!   changed (a new shot: the mean change of an 8x8 luma grid since the frame before,
//!   or a larger one since the last scan);
//! - in between, the detector only on crops around the small faces of the frame before
//!   (three times the face, at least [`MIN_CROP_PX`] square), so a face found once is
//!   followed at the face rate for a few percent of a full scan's cost;
//! - a face is kept only where the face frame before or after holds it too
//!   ([`confirmed`]): what the larger frames add in false faces is seldom seen twice.
//!
//! The faces come back in detail-frame pixels with their times; [`crate::analyse_with`]
//! merges them with the analysis frames' faces before tracks are linked.

use crate::faces::{Face, FaceDetector, suppress};
use crate::onnx::OnnxError;
use serde::{Deserialize, Serialize};
use tuneclip_core::Rect;
use tuneclip_core::frame::SampledFrame;

/// Width of the detail frames ingest decodes for this pass (never above the source's).
pub const DETAIL_WIDTH_PX: u32 = 960;
/// A full scan at least this often (seconds of video).
pub const SCAN_EVERY_S: f64 = 2.0;
/// A full scan as soon as the mean absolute change of the frame's 8x8 luma grid from
/// the detail frame before exceeds this (0-255): a cut between them.
pub const SCAN_ON_CUT: f32 = 24.0;
/// ... or its change since the last scan exceeds this: a new shot reached through a
/// gradual transition (motion within a shot changes the grid less).
pub const SCAN_ON_CHANGE: f32 = 48.0;
/// Smallest side of a crop around a followed face (detail pixels).
pub const MIN_CROP_PX: u32 = 96;
/// At most this many small faces followed between scans (the strongest).
pub const MAX_FOLLOWED: usize = 8;
/// A face is followed between scans only if smaller than this share of the detail
/// frame's height: larger ones are the analysis frames' to find (CenterFace needs
/// ~20-24 px, a fifth of a 192 x 108 frame: 0.25 leaves no gap between the two).
pub const SMALL_SHARE: f32 = 0.25;

/// What the small-face pass did on one video (zero when it did not run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailFaceStats {
    /// Width of the detail frames (0: the pass did not run).
    pub width_px: u32,
    /// Detail frames looked at.
    pub frames: u32,
    /// Of which scanned whole.
    pub scans: u32,
    /// Crops run around followed faces.
    pub crops: u32,
    /// Faces found in all detail frames.
    pub faces: u32,
    /// Of which dropped as not seen on the face frame before or after ([`confirmed`]).
    #[serde(default)]
    pub unconfirmed: u32,
}

/// Faces found on detail frames, in their pixels.
#[derive(Debug, Clone, Default)]
pub struct DetailFaces {
    pub width: u32,
    pub height: u32,
    pub per_frame: Vec<(f64, Vec<Face>)>,
    pub stats: DetailFaceStats,
}

/// The pass, fed one detail frame at a time in time order ([`Self::frame`]).
#[derive(Debug, Default)]
pub struct SmallFaceScan {
    found: DetailFaces,
    last_scan: Option<(f64, [f32; 64])>,
    previous: Option<[f32; 64]>,
    followed: Vec<Face>,
    error: Option<OnnxError>,
}

impl SmallFaceScan {
    pub fn new() -> Self {
        Self::default()
    }

    /// Look at the next detail frame. The first error stops the pass; [`Self::finish`]
    /// returns it.
    pub fn frame(&mut self, detector: &mut FaceDetector, frame: &SampledFrame) {
        if self.error.is_none()
            && let Err(e) = self.look(detector, frame)
        {
            self.error = Some(e);
        }
    }

    fn look(&mut self, detector: &mut FaceDetector, frame: &SampledFrame) -> Result<(), OnnxError> {
        let stats = &mut self.found.stats;
        stats.width_px = frame.width;
        stats.frames += 1;
        self.found.width = frame.width;
        self.found.height = frame.height;
        let grid = luma_grid(frame);
        let change = |from: &[f32; 64]| from.iter().zip(&grid).map(|(a, b)| (a - b).abs()).sum::<f32>() / 64.0;
        let cut = self.previous.is_some_and(|p| change(&p) > SCAN_ON_CUT);
        let scan = cut
            || self
                .last_scan
                .is_none_or(|(t, last)| frame.t_s - t >= SCAN_EVERY_S - 1e-6 || change(&last) > SCAN_ON_CHANGE);
        self.previous = Some(grid);
        let faces = if scan {
            stats.scans += 1;
            self.last_scan = Some((frame.t_s, grid));
            detector.detect(frame)?
        } else {
            let mut faces = Vec::new();
            for f in &self.followed {
                stats.crops += 1;
                faces.extend(detector.detect_in(frame, crop_around(f, frame.width, frame.height))?);
            }
            suppress(faces, detector.nms_iou())
        };
        stats.faces += faces.len() as u32;
        let small = SMALL_SHARE * frame.height as f32;
        self.followed = faces.iter().filter(|f| f.height < small).take(MAX_FOLLOWED).copied().collect();
        self.found.per_frame.push((frame.t_s, faces));
        Ok(())
    }

    /// The faces found, each kept only where the face frame before or after it holds
    /// one overlapping it ([`confirmed`]).
    pub fn finish(self) -> Result<DetailFaces, OnnxError> {
        match self.error {
            Some(e) => Err(e),
            None => {
                let mut found = self.found;
                found.per_frame = confirmed(&found.per_frame);
                found.stats.unconfirmed =
                    found.stats.faces - found.per_frame.iter().map(|(_, f)| f.len() as u32).sum::<u32>();
                Ok(found)
            }
        }
    }
}

/// Faces seen on two face frames in a row (overlapping by IoU > 0.2): a face a scan
/// finds is looked for again on the next frame (a crop around it), so a real face is
/// confirmed at once, and what a larger frame adds in false faces (a texture, a
/// blended frame mid-cut) is seldom seen twice in one place.
pub fn confirmed(per_frame: &[(f64, Vec<Face>)]) -> Vec<(f64, Vec<Face>)> {
    let near = |i: usize, f: &Face| per_frame.get(i).is_some_and(|(_, o)| o.iter().any(|g| g.iou(f) > 0.2));
    per_frame
        .iter()
        .enumerate()
        .map(|(i, (t, faces))| {
            let kept = faces.iter().filter(|f| (i > 0 && near(i - 1, f)) || near(i + 1, f)).copied().collect();
            (*t, kept)
        })
        .collect()
}

/// Three times the face's larger side (at least [`MIN_CROP_PX`]) centred on it, inside
/// the frame.
fn crop_around(f: &Face, width: u32, height: u32) -> Rect {
    let side = (3.0 * f.width.max(f.height)).max(MIN_CROP_PX as f32);
    let (cx, cy) = (f.x + f.width / 2.0, f.y + f.height / 2.0);
    let (w, h) = ((side as u32).min(width), (side as u32).min(height));
    let x = (cx - w as f32 / 2.0).clamp(0.0, (width - w) as f32) as u32;
    let y = (cy - h as f32 / 2.0).clamp(0.0, (height - h) as f32) as u32;
    Rect::new(x, y, w, h)
}

/// Mean luma of each cell of an 8x8 grid over the frame.
fn luma_grid(frame: &SampledFrame) -> [f32; 64] {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let mut sum = [0f32; 64];
    let mut count = [0u32; 64];
    for y in (0..h).step_by(2) {
        let gy = y * 8 / h.max(1);
        for x in (0..w).step_by(2) {
            let p = (y * w + x) * 3;
            let luma = 0.299 * f32::from(frame.rgb[p])
                + 0.587 * f32::from(frame.rgb[p + 1])
                + 0.114 * f32::from(frame.rgb[p + 2]);
            let cell = gy * 8 + x * 8 / w.max(1);
            sum[cell] += luma;
            count[cell] += 1;
        }
    }
    std::array::from_fn(|i| sum[i] / count[i].max(1) as f32)
}

/// `detail` merged into the analysis frames' faces (`per_frame`, analysis pixels, at the
/// same times): each detail face scaled to analysis pixels, duplicates of one face kept
/// once (the stronger), frames only the detail pass saw added in time order.
pub fn merge(per_frame: &mut Vec<(f64, Vec<Face>)>, detail: &DetailFaces, analysis_width: u32, nms_iou: f32) {
    if detail.width == 0 {
        return;
    }
    let k = analysis_width as f32 / detail.width as f32;
    for (t, faces) in &detail.per_frame {
        let scaled = faces.iter().map(|f| Face {
            x: f.x * k,
            y: f.y * k,
            width: f.width * k,
            height: f.height * k,
            score: f.score,
        });
        match per_frame.iter_mut().find(|(pt, _)| (pt - t).abs() < 1e-6) {
            Some((_, known)) => {
                let all: Vec<Face> = known.drain(..).chain(scaled).collect();
                *known = suppress(all, nms_iou);
            }
            None => per_frame.push((*t, suppress(scaled.collect(), nms_iou))),
        }
    }
    per_frame.sort_by(|a, b| a.0.total_cmp(&b.0));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, side: f32, score: f32) -> Face {
        Face { x, y, width: side, height: side, score }
    }

    #[test]
    fn crops_stay_inside_the_frame() {
        assert_eq!(crop_around(&face(0.0, 0.0, 10.0, 1.0), 960, 540), Rect::new(0, 0, 96, 96));
        assert_eq!(crop_around(&face(940.0, 520.0, 20.0, 1.0), 960, 540), Rect::new(864, 444, 96, 96));
        assert_eq!(crop_around(&face(100.0, 100.0, 40.0, 1.0), 960, 540), Rect::new(60, 60, 120, 120));
        assert_eq!(crop_around(&face(10.0, 10.0, 300.0, 1.0), 200, 100), Rect::new(0, 0, 200, 100));
    }

    #[test]
    fn a_face_seen_once_is_dropped_and_one_seen_twice_kept() {
        let frames = vec![
            (0.0, vec![face(10.0, 10.0, 20.0, 0.9), face(300.0, 50.0, 20.0, 0.6)]),
            (0.2, vec![face(12.0, 10.0, 20.0, 0.9)]),
            (0.4, vec![]),
            (0.6, vec![face(500.0, 50.0, 20.0, 0.6)]),
        ];
        let kept = confirmed(&frames);
        let counts: Vec<usize> = kept.iter().map(|(_, f)| f.len()).collect();
        assert_eq!(counts, vec![1, 1, 0, 0]);
        assert_eq!(kept[0].1[0].x, 10.0);
    }

    #[test]
    fn merge_scales_keeps_one_of_a_pair_and_adds_new_times() {
        let mut per_frame = vec![(0.0, vec![face(10.0, 10.0, 20.0, 0.9)]), (0.2, vec![])];
        let detail = DetailFaces {
            width: 384,
            height: 216,
            per_frame: vec![
                // The same face at 2x, weaker, and a small one only the detail frame shows.
                (0.0, vec![face(20.0, 20.0, 40.0, 0.8), face(200.0, 120.0, 12.0, 0.7)]),
                (0.4, vec![face(202.0, 120.0, 12.0, 0.6)]),
            ],
            stats: DetailFaceStats::default(),
        };
        merge(&mut per_frame, &detail, 192, 0.3);
        assert_eq!(per_frame.len(), 3);
        assert_eq!(per_frame[0].1, vec![face(10.0, 10.0, 20.0, 0.9), face(100.0, 60.0, 6.0, 0.7)]);
        assert!(per_frame[1].1.is_empty());
        assert_eq!(per_frame[2], (0.4, vec![face(101.0, 60.0, 6.0, 0.6)]));
    }
}
