//! Static overlays (channel logos, watermarks): edges that stay put while the picture
//! under them changes, in the corners of the active area.
//!
//! For every shot with at least [`MIN_SHOT_FRAMES`] sampled frames, a pixel's
//! persistence is the share of the shot's frames where its luma gradient is strong. A
//! logo pixel is persistent in **every** such shot (scene edges do not survive a cut;
//! an overlay does), and at least two shots are needed to tell them apart. Persistent
//! pixels with persistent neighbours are grouped per corner (the outer 35% of each
//! side) and a corner with enough of them yields the bounding box of its group.

use tuneclip_core::Rect;
use tuneclip_core::frame::SampledFrame;

/// Shots shorter than this (in sampled frames) are not evidence either way.
pub const MIN_SHOT_FRAMES: usize = 4;
/// Gradient (sum of absolute central differences, luma levels) of an edge pixel.
const EDGE: f32 = 48.0;
/// Share of a shot's frames where a logo pixel is an edge.
const PERSISTENT: f32 = 0.75;

/// Logo boxes in sampled-frame pixels (inside `active`, at most one per corner).
/// `shots`: the frame indices of each shot (between transitions).
pub fn detect_logos(frames: &[SampledFrame], active: Rect, shots: &[Vec<usize>]) -> Vec<Rect> {
    let lumas: Vec<Vec<f32>> = crate::par::map(frames, SampledFrame::luma_plane);
    detect_logos_in(frames, &lumas, active, shots)
}

/// [`detect_logos`] given every frame's luma plane ([`SampledFrame::luma_plane`]).
pub(crate) fn detect_logos_in(
    frames: &[SampledFrame],
    lumas: &[Vec<f32>],
    active: Rect,
    shots: &[Vec<usize>],
) -> Vec<Rect> {
    let Some(first) = frames.first() else { return Vec::new() };
    let (w, h) = (first.width as usize, first.height as usize);
    // One pixel in from the active area's edge: the bar boundary is an edge too.
    let (x0, y0) = (active.x as usize + 2, active.y as usize + 2);
    let (x1, y1) = (
        (active.right() as usize).saturating_sub(2).min(w - 1),
        (active.bottom() as usize).saturating_sub(2).min(h - 1),
    );
    if x1 <= x0 + 4 || y1 <= y0 + 4 {
        return Vec::new();
    }
    let shot_list: Vec<&Vec<usize>> = shots.iter().filter(|s| s.len() >= MIN_SHOT_FRAMES).collect();
    if shot_list.len() < 2 {
        return Vec::new();
    }
    // Each shot's persistent pixels, the shots spread over the cores.
    let persistent = crate::par::map(&shot_list, |shot| {
        let mut count = vec![0u16; w * h];
        for &i in shot.iter() {
            let f = &frames[i];
            if f.width as usize != w || f.height as usize != h {
                continue;
            }
            let l = &lumas[i];
            for y in y0..y1 {
                for x in x0..x1 {
                    let g =
                        (l[y * w + x + 1] - l[y * w + x - 1]).abs() + (l[(y + 1) * w + x] - l[(y - 1) * w + x]).abs();
                    if g >= EDGE {
                        count[y * w + x] += 1;
                    }
                }
            }
        }
        let need = (PERSISTENT * shot.len() as f32).ceil() as u16;
        count.iter().map(|c| *c >= need).collect::<Vec<bool>>()
    });
    let mut logo = vec![true; w * h];
    for shot in &persistent {
        for (keep, p) in logo.iter_mut().zip(shot) {
            *keep &= *p;
        }
    }
    // Drop isolated pixels: a logo's edges are strokes.
    let at = |x: usize, y: usize| logo[y * w + x];
    let mut strokes = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            if at(x, y) {
                let neighbours = (y - 1..=y + 1)
                    .flat_map(|yy| (x - 1..=x + 1).map(move |xx| (xx, yy)))
                    .filter(|&(xx, yy)| (xx, yy) != (x, y) && at(xx, yy))
                    .count();
                if neighbours >= 2 {
                    strokes.push((x, y));
                }
            }
        }
    }
    let (aw, ah) = ((x1 - x0) as f32, (y1 - y0) as f32);
    let min_pixels = ((aw * ah) * 0.001).max(10.0) as usize;
    let mut out = Vec::new();
    for (right, bottom) in [(false, false), (true, false), (false, true), (true, true)] {
        let inside: Vec<&(usize, usize)> = strokes
            .iter()
            .filter(|(x, y)| {
                let fx = (*x - x0) as f32 / aw;
                let fy = (*y - y0) as f32 / ah;
                (if right { fx > 0.65 } else { fx < 0.35 }) && (if bottom { fy > 0.65 } else { fy < 0.35 })
            })
            .collect();
        if inside.len() < min_pixels {
            continue;
        }
        let (mut bx0, mut by0, mut bx1, mut by1) = (usize::MAX, usize::MAX, 0, 0);
        for &&(x, y) in &inside {
            (bx0, by0, bx1, by1) = (bx0.min(x), by0.min(y), bx1.max(x), by1.max(y));
        }
        out.push(Rect::new(bx0 as u32, by0 as u32, (bx1 - bx0 + 1) as u32, (by1 - by0 + 1) as u32));
    }
    out
}
