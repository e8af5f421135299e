use tuneclip_core::Rect;
use tuneclip_core::frame::SampledFrame;

/// The active picture area of a video in sampled-frame pixels: rows and columns at the
/// edges that are bar in every frame (dark: brightest pixel below `black_luma`; or one
/// solid colour that never changes) are removed. Falls back to the full frame when
/// nothing is left.
pub fn detect_active_area(frames: &[SampledFrame], black_luma: f32) -> Rect {
    let Some(first) = frames.first() else { return Rect::new(0, 0, 0, 0) };
    let (w, h) = (first.width, first.height);
    // Every 2nd frame is plenty: bars do not come and go.
    let frames: Vec<&SampledFrame> = frames.iter().step_by(2).filter(|f| f.width == w && f.height == h).collect();
    // A bar is at most 40% of the frame on each side (a 9:16 picture pillarboxed in
    // 16:9 has 34%); a wider flat area is picture.
    scan_bars(Rect::new(0, 0, w, h), &frames, black_luma, (w / 5, h / 5))
}

/// Whether line `i` of every frame is bar: dark (brightest pixel below `black_luma`) or
/// one solid colour that does not change from frame to frame (a coloured bar).
/// `line(f, i)` yields the RGB pixels of line `i` of frame `f`.
fn is_bar(
    frames: &[&SampledFrame],
    i: u32,
    black_luma: f32,
    line: impl Fn(&SampledFrame, u32) -> Vec<[u8; 3]>,
) -> bool {
    let luma = |p: [u8; 3]| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]);
    let first = frames.first().map(|f| line(f, i)).unwrap_or_default();
    let Some(&reference) = first.get(first.len() / 2) else { return false };
    let near = |p: [u8; 3], q: [u8; 3]| p.iter().zip(q).all(|(a, b)| a.abs_diff(b) <= 10);
    let dark = frames.iter().all(|f| line(f, i).into_iter().all(|p| luma(p) < black_luma));
    dark || frames.iter().all(|f| line(f, i).into_iter().all(|p| near(p, reference)))
}

/// Refine `coarse` (the active area in source pixels, found on scaled frames) on a few
/// frames at source resolution: each edge moves to the first line, scanning inwards
/// from `margin` (horizontal, vertical) pixels outside the coarse edge and at most as
/// far inside it, that is not bar in every frame. Bars may be black or any solid
/// colour. Returns `coarse` when the frames are not at source size.
pub fn refine_active_area(coarse: Rect, full: &[SampledFrame], black_luma: f32, margin: (u32, u32)) -> Rect {
    scan_bars(coarse, &full.iter().collect::<Vec<_>>(), black_luma, margin)
}

/// [`refine_active_area`] over borrowed frames (the analysis frames are not copied).
fn scan_bars(coarse: Rect, full: &[&SampledFrame], black_luma: f32, margin: (u32, u32)) -> Rect {
    let Some(first) = full.first() else { return coarse };
    let (w, h) = (first.width, first.height);
    if full.iter().any(|f| f.width != w || f.height != h) || coarse.right() > w || coarse.bottom() > h {
        return coarse;
    }
    let px = |f: &SampledFrame, x: u32, y: u32| {
        let i = ((y * f.width + x) * 3) as usize;
        [f.rgb[i], f.rgb[i + 1], f.rgb[i + 2]]
    };
    let row = |f: &SampledFrame, y: u32| (0..w).map(|x| px(f, x, y)).collect::<Vec<_>>();
    let row_bar = |y: u32| is_bar(full, y, black_luma, row);
    // Scan from outside the coarse edge inwards, never further than `margin` past it (a
    // dark picture line is not a bar); lines beyond the scan start are bars.
    let (mx, my) = margin;
    let (span_x, span_y) = (2 * mx as usize + 1, 2 * my as usize + 1);
    let top = (coarse.y.saturating_sub(my)..h).take(span_y).find(|&y| !row_bar(y)).unwrap_or(coarse.y);
    let bottom =
        (0..(coarse.bottom() + my).min(h)).rev().take(span_y).find(|&y| !row_bar(y)).map_or(coarse.bottom(), |y| y + 1);
    // Columns are judged between the top and bottom bars (a windowbox may have bars of
    // two colours).
    let col = |f: &SampledFrame, x: u32| (top..bottom.max(top + 1)).map(|y| px(f, x, y)).collect::<Vec<_>>();
    let col_bar = |x: u32| is_bar(full, x, black_luma, col);
    let left = (coarse.x.saturating_sub(mx)..w).take(span_x).find(|&x| !col_bar(x)).unwrap_or(coarse.x);
    let right =
        (0..(coarse.right() + mx).min(w)).rev().take(span_x).find(|&x| !col_bar(x)).map_or(coarse.right(), |x| x + 1);
    if bottom <= top || right <= left {
        return coarse;
    }
    Rect::new(left, top, right - left, bottom - top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinement_finds_coloured_bars_to_the_pixel() {
        let (w, h) = (64u32, 40u32);
        // Blue bars: rows 0..7 and 33..40; columns 0..5 dark; noisy picture inside.
        let frames: Vec<SampledFrame> = (0..3)
            .map(|k| {
                let mut rgb = Vec::with_capacity((w * h * 3) as usize);
                for y in 0..h {
                    for x in 0..w {
                        let p = if !(7..33).contains(&y) {
                            [30, 60, 200]
                        } else if x < 5 {
                            [4, 4, 4]
                        } else {
                            let v = ((x * 7 + y * 13 + k * 31) % 200 + 40) as u8;
                            [v, v / 2, 255 - v]
                        };
                        rgb.extend(p);
                    }
                }
                SampledFrame { t_s: f64::from(k), width: w, height: h, rgb }
            })
            .collect();
        let coarse = Rect::new(4, 8, 60, 24);
        assert_eq!(refine_active_area(coarse, &frames, 24.0, (6, 6)), Rect::new(5, 7, 59, 26));
    }

    #[test]
    fn finds_letterbox_bars() {
        let (w, h) = (32u32, 24u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 4..20 {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&[(90 + x * 5 + y * 3) as u8, 120, 60]);
            }
        }
        let f = SampledFrame { t_s: 0.0, width: w, height: h, rgb };
        assert_eq!(detect_active_area(&[f], 24.0), Rect::new(0, 4, 32, 16));
    }
}
