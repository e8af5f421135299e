//! A crop plan rendered: the clip's H.264 MP4 ([`crate::render::render_crop`]) and a
//! preview contact sheet beside it, the crop window drawn on the source frames.

use crate::render::{RenderConfig, RenderReport, render_crop};
use crate::video::{SampledFrame, SamplingConfig, sample_range};
use crate::{MediaError, Result};
use image::{Rgb, RgbImage};
use std::path::{Path, PathBuf};
use tuneclip_core::CropPlan;

/// Files written for a rendered clip.
#[derive(Debug, Clone)]
pub struct RenderedClip {
    pub video: RenderReport,
    pub preview_png: PathBuf,
}

/// Render `plan` from `source` to `out_mp4`, and a preview contact sheet beside it
/// (`.png`: six source frames with the crop window in green and the subject in red).
pub fn render_clip(source: &Path, plan: &CropPlan, out_mp4: &Path, render: &RenderConfig) -> Result<RenderedClip> {
    // The preview's frames are kept while rendering, so the range is decoded once.
    let with_thumbs = RenderConfig { thumbnails: PREVIEW_TILES, ..render.clone() };
    let mut video = render_crop(source, plan, out_mp4, &with_thumbs)?;
    let preview_png = out_mp4.with_extension("png");
    let frames = std::mem::take(&mut video.thumbnails);
    if frames.is_empty() {
        write_preview(source, plan, &preview_png)?;
    } else {
        draw_preview(&frames.iter().collect::<Vec<_>>(), plan, &preview_png)?;
    }
    Ok(RenderedClip { video, preview_png })
}

/// Frames in a preview contact sheet.
const PREVIEW_TILES: usize = 6;

fn draw_rect(img: &mut RgbImage, r: (i64, i64, i64, i64), colour: Rgb<u8>, thickness: i64) {
    let (w, h) = (i64::from(img.width()), i64::from(img.height()));
    let (x0, y0, x1, y1) = r;
    for t in 0..thickness {
        for x in x0..=x1 {
            for y in [y0 + t, y1 - t] {
                if (0..w).contains(&x) && (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
        for y in y0..=y1 {
            for x in [x0 + t, x1 - t] {
                if (0..w).contains(&x) && (0..h).contains(&y) {
                    img.put_pixel(x as u32, y as u32, colour);
                }
            }
        }
    }
}

/// Contact sheet of the clip: six evenly spaced source frames side by side, the crop
/// window drawn in green and the subject point in red.
pub fn write_preview(source: &Path, plan: &CropPlan, path: &Path) -> Result<()> {
    let fps = (PREVIEW_TILES as f64 / plan.range.duration_s()).clamp(0.5, 30.0);
    let sampled =
        sample_range(source, SamplingConfig { fps, width_px: 320, skip_loop_filter: false }, Some(plan.range))?;
    let frames: Vec<_> = sampled.frames.iter().take(PREVIEW_TILES).collect();
    draw_preview(&frames, plan, path)
}

/// The contact sheet of [`write_preview`] from frames already decoded (whole source
/// frames, any size).
fn draw_preview(frames: &[&SampledFrame], plan: &CropPlan, path: &Path) -> Result<()> {
    let Some(first) = frames.first() else {
        return Err(MediaError::Preview { path: path.to_path_buf(), reason: "no frames in the clip range".into() });
    };
    let (tw, th) = (first.width, first.height);
    let gap = 4u32;
    let mut sheet = RgbImage::from_pixel(frames.len() as u32 * (tw + gap) - gap, th, Rgb([16, 16, 16]));
    let sx = f64::from(tw) / f64::from(plan.source_width);
    let sy = f64::from(th) / f64::from(plan.source_height);
    for (i, f) in frames.iter().enumerate() {
        let ox = i as u32 * (tw + gap);
        for y in 0..th.min(f.height) {
            for x in 0..tw.min(f.width) {
                let p = ((y * f.width + x) * 3) as usize;
                sheet.put_pixel(ox + x, y, Rgb([f.rgb[p], f.rgb[p + 1], f.rgb[p + 2]]));
            }
        }
        let r = plan.rect_at(f.t_s);
        let o = i64::from(ox);
        let rr = (
            o + (f64::from(r.x) * sx) as i64,
            (f64::from(r.y) * sy) as i64,
            o + (f64::from(r.right()) * sx) as i64 - 1,
            (f64::from(r.bottom()) * sy) as i64 - 1,
        );
        draw_rect(&mut sheet, rr, Rgb([40, 230, 60]), 2);
        let k = plan.keyframes.partition_point(|k| k.t_s <= f.t_s).saturating_sub(1);
        if let Some((cx, cy)) = plan.keyframes.get(k).and_then(|k| k.subject) {
            let (px, py) = (o + (f64::from(cx) * sx) as i64, (f64::from(cy) * sy) as i64);
            draw_rect(&mut sheet, (px - 3, py - 3, px + 3, py + 3), Rgb([235, 40, 40]), 3);
        }
    }
    sheet.save(path).map_err(|e| MediaError::Preview { path: path.to_path_buf(), reason: e.to_string() })
}
