//! Text and subtitles: PP-OCRv4's text detector (DBNet, Apache-2.0, from the
//! `rapidocr_onnxruntime` wheel, installed by setup.sh) through ONNX Runtime, then a
//! subtitle rule over the frames of a segment.
//!
//! Model contract: input `[N, 3, H, W]`, RGB scaled to `(v / 255 - 0.5) / 0.5`, H and W
//! multiples of 32; output `[N, 1, H, W]`, the probability that each pixel is text.
//! Text boxes are the connected regions of the map above 0.3 whose mean probability
//! reaches 0.5.
//!
//! Subtitles: a text box in the bottom third (or top sixth) of the picture, centred
//! horizontally, wider than 8% of the frame and not taller than 15% of it, seen on at
//! least half of a segment's frames. Scene text (signs, shirts) is rarely all of that;
//! whether the band's pixels change between frames (text that follows speech) is
//! reported beside it.

use crate::faces::padded_planes;
use crate::onnx::{OnnxError, open_session};
use std::path::{Path, PathBuf};
use tuneclip_core::Rect;
use tuneclip_core::frame::SampledFrame;

/// Where the runtime library and the model are (both installed by setup.sh).
#[derive(Debug, Clone)]
pub struct TextDetectorConfig {
    pub onnxruntime_lib: PathBuf,
    pub model: PathBuf,
}

impl TextDetectorConfig {
    /// The files setup.sh installs in a models folder (`index-data/assets` of the
    /// checkout; `--models-dir` / `TUNECLIP_MODELS` in the CLI): the ONNX Runtime library
    /// under `onnxruntime/`, the model under `models/`.
    pub fn from_models_dir(models: &Path) -> Self {
        Self {
            onnxruntime_lib: models.join("onnxruntime/libonnxruntime.so.1.32.0"),
            model: models.join("models/ppocr-v4-det.onnx"),
        }
    }

    /// [`Self::from_models_dir`] of `<data>/assets`, where setup.sh puts them under its
    /// data folder (`index-data/`).
    pub fn from_data_dir(data: &Path) -> Self {
        Self::from_models_dir(&data.join("assets"))
    }

    pub fn build(&self) -> Result<TextDetector, OnnxError> {
        TextDetector::new(self.clone())
    }
}

/// A loaded PP-OCR text-detection session.
pub struct TextDetector {
    config: TextDetectorConfig,
    session: ort::session::Session,
}

impl std::fmt::Debug for TextDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextDetector").field("config", &self.config).finish_non_exhaustive()
    }
}

impl TextDetector {
    pub fn new(config: TextDetectorConfig) -> Result<Self, OnnxError> {
        let session = open_session(&config.onnxruntime_lib, &config.model, "text model")?;
        Ok(Self { config, session })
    }

    /// Text boxes in one RGB frame (frame pixels).
    pub fn detect(&mut self, frame: &SampledFrame) -> Result<Vec<Rect>, OnnxError> {
        let (w, h) = (frame.width as usize, frame.height as usize);
        let (input, pw, ph) = padded_planes(frame, |v| f32::from(v) / 127.5 - 1.0);
        let tensor = ort::value::TensorRef::from_array_view(([1usize, 3, ph, pw], input.as_slice()))
            .map_err(OnnxError::inference("text detection"))?;
        let outputs = self.session.run(ort::inputs![tensor]).map_err(OnnxError::inference("text detection"))?;
        let prob: Vec<f32> = outputs[0]
            .try_extract_tensor::<f32>()
            .map(|(_, d)| d.to_vec())
            .map_err(OnnxError::inference("text detection"))?;
        if prob.len() != pw * ph {
            return Err(OnnxError::Inference {
                what: "text detection",
                reason: format!("unexpected output size for a {pw}x{ph} input"),
            });
        }
        Ok(regions(&prob, pw, w, h))
    }
}

/// Connected regions (4-neighbour) of `prob > 0.3` inside `w x h`, kept when their mean
/// probability reaches 0.5 and they have at least 12 pixels.
fn regions(prob: &[f32], stride: usize, w: usize, h: usize) -> Vec<Rect> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    for start in 0..w * h {
        let (sx, sy) = (start % w, start / w);
        if seen[start] || prob[sy * stride + sx] <= 0.3 {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut n, mut sum) = (0usize, 0f32);
        let (mut x0, mut y0, mut x1, mut y1) = (sx, sy, sx, sy);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            n += 1;
            sum += prob[y * stride + x];
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            let mut visit = |xx: usize, yy: usize| {
                let j = yy * w + xx;
                if !seen[j] && prob[yy * stride + xx] > 0.3 {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(x - 1, y);
            }
            if x + 1 < w {
                visit(x + 1, y);
            }
            if y > 0 {
                visit(x, y - 1);
            }
            if y + 1 < h {
                visit(x, y + 1);
            }
        }
        if n >= 12 && sum / n as f32 >= 0.5 {
            // DBNet maps shrunken text: grow the box back by area * 1.6 / perimeter (the
            // "unclip" of PP-OCR's post-processing, on the box).
            let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
            let d = (bw * bh * 1.6 / (2.0 * (bw + bh))).round() as usize;
            let (x0, y0) = (x0.saturating_sub(d), y0.saturating_sub(d));
            let (x1, y1) = ((x1 + d).min(w - 1), (y1 + d).min(h - 1));
            out.push(Rect::new(x0 as u32, y0 as u32, (x1 - x0 + 1) as u32, (y1 - y0 + 1) as u32));
        }
    }
    out
}

/// A segment's subtitle band, from its frames and their text boxes.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SubtitleBand {
    /// Union of the subtitle-like boxes, in the frames' pixels.
    pub rect: Rect,
    /// Share of the frames with a subtitle-like box.
    pub coverage: f32,
    /// Whether the band's pixels change between frames (text following speech).
    pub changing: bool,
}

fn subtitle_like(r: &Rect, w: u32, h: u32) -> bool {
    let (cx, cy) = (r.x as f32 + r.width as f32 / 2.0, r.y as f32 + r.height as f32 / 2.0);
    let (wf, hf) = (w as f32, h as f32);
    let band = cy > hf * 2.0 / 3.0 || cy < hf / 6.0;
    band && (cx - wf / 2.0).abs() < 0.2 * wf && r.width as f32 > 0.08 * wf && (r.height as f32) < 0.15 * hf
}

/// Share of the picture covered by text, above which a segment is "heavy text" (a title
/// card, credits, a lyric video's words): one or two subtitle lines cover 4-10%.
pub const HEAVY_TEXT_SHARE: f32 = 0.15;

/// Share of the picture covered by the text `boxes[i]` of `frames[i]`, the mean over the
/// frames (each frame's boxes as a union, counted on a coarse grid, so overlaps count
/// once); 0 without frames.
pub fn text_share(frames: &[SampledFrame], boxes: &[Vec<Rect>]) -> f32 {
    const CELL: u32 = 4;
    let shares: Vec<f32> = frames
        .iter()
        .zip(boxes)
        .map(|(f, b)| {
            let (gw, gh) = (f.width.div_ceil(CELL), f.height.div_ceil(CELL));
            let mut covered = vec![false; (gw * gh) as usize];
            for r in b {
                let (x0, y0) = (r.x / CELL, r.y / CELL);
                let (x1, y1) = (r.right().div_ceil(CELL).min(gw), r.bottom().div_ceil(CELL).min(gh));
                for y in y0..y1 {
                    for x in x0..x1 {
                        covered[(y * gw + x) as usize] = true;
                    }
                }
            }
            covered.iter().filter(|c| **c).count() as f32 / covered.len().max(1) as f32
        })
        .collect();
    shares.iter().sum::<f32>() / shares.len().max(1) as f32
}

/// The subtitle band of a segment seen in `frames` with `boxes[i]` the text boxes of
/// `frames[i]`; `None` when fewer than half the frames show subtitle-like text.
pub fn subtitle_band(frames: &[SampledFrame], boxes: &[Vec<Rect>]) -> Option<SubtitleBand> {
    let first = frames.first()?;
    let (w, h) = (first.width, first.height);
    let hits: Vec<Vec<&Rect>> = boxes.iter().map(|b| b.iter().filter(|r| subtitle_like(r, w, h)).collect()).collect();
    let with = hits.iter().filter(|b| !b.is_empty()).count();
    if with * 2 < frames.len().max(1) || with == 0 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (u32::MAX, u32::MAX, 0, 0);
    for r in hits.iter().flatten() {
        (x0, y0, x1, y1) = (x0.min(r.x), y0.min(r.y), x1.max(r.right()), y1.max(r.bottom()));
    }
    let rect = Rect::new(x0, y0, x1 - x0, y1 - y0);
    let band_luma = |f: &SampledFrame| -> Vec<f32> {
        (rect.y..rect.bottom().min(f.height))
            .flat_map(|y| (rect.x..rect.right().min(f.width)).map(move |x| (x, y)))
            .map(|(x, y)| f.luma(x, y))
            .collect()
    };
    let lumas: Vec<Vec<f32>> = frames.iter().map(band_luma).collect();
    let changing = lumas.windows(2).any(|p| {
        p[0].len() == p[1].len()
            && p[0].iter().zip(&p[1]).map(|(a, b)| (a - b).abs()).sum::<f32>() / p[0].len().max(1) as f32 > 8.0
    });
    Some(SubtitleBand { rect, coverage: with as f32 / frames.len() as f32, changing })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_share_counts_overlaps_once_and_averages_frames() {
        let frame = SampledFrame { t_s: 0.0, width: 100, height: 40, rgb: vec![0; 100 * 40 * 3] };
        let frames = [frame.clone(), frame];
        // Frame 1: two 20x20 boxes overlapping (union 32x20 = 640 of 4000 pixels).
        // Frame 2: nothing.
        let boxes = vec![vec![Rect::new(0, 0, 20, 20), Rect::new(12, 0, 20, 20)], vec![]];
        let s = text_share(&frames, &boxes);
        assert!((s - 0.08).abs() < 1e-6, "{s}");
        assert_eq!(text_share(&[], &[]), 0.0);
    }
}
