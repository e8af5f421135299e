use tuneclip_core::Rect;
use tuneclip_media::video::SampledFrame;

/// The active picture area of a video in sampled-frame pixels: rows and columns at the
/// edges whose brightest pixel over all frames stays below `black_luma` are bars.
/// Falls back to the full frame when the whole picture is dark.
pub fn detect_active_area(frames: &[SampledFrame], black_luma: f32) -> Rect {
    let Some(first) = frames.first() else { return Rect::new(0, 0, 0, 0) };
    let (w, h) = (first.width, first.height);
    let mut row_max = vec![0f32; h as usize];
    let mut col_max = vec![0f32; w as usize];
    // Every 2nd frame is plenty: bars do not come and go.
    for f in frames.iter().step_by(2).filter(|f| f.width == w && f.height == h) {
        for y in 0..h {
            for x in 0..w {
                let l = f.luma(x, y);
                let (r, c) = (&mut row_max[y as usize], &mut col_max[x as usize]);
                *r = r.max(l);
                *c = c.max(l);
            }
        }
    }
    let top = row_max.iter().position(|&v| v >= black_luma);
    let bottom = row_max.iter().rposition(|&v| v >= black_luma);
    let left = col_max.iter().position(|&v| v >= black_luma);
    let right = col_max.iter().rposition(|&v| v >= black_luma);
    match (top, bottom, left, right) {
        (Some(t), Some(b), Some(l), Some(r)) if b > t && r > l => {
            Rect::new(l as u32, t as u32, (r - l + 1) as u32, (b - t + 1) as u32)
        }
        _ => Rect::new(0, 0, w, h),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_letterbox_bars() {
        let (w, h) = (32u32, 24u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 4..20 {
            for x in 0..w {
                let i = ((y * w + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&[90, 120, 60]);
            }
        }
        let f = SampledFrame { t_s: 0.0, width: w, height: h, rgb };
        assert_eq!(detect_active_area(&[f], 24.0), Rect::new(0, 4, 32, 16));
    }
}
