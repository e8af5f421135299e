//! One output frame from a decoded source frame and a crop window: a plain window is
//! cropped and scaled to the output; a padded window (wider than the output aspect) is
//! fitted to the output width, centred, over a blurred and darkened copy of the
//! picture behind it. All in YUV 4:2:0, with swscale; crop buffers and scalers are
//! kept per size, so a plan whose windows change size between shots costs nothing more.

use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::collections::HashMap;
use tuneclip_core::Rect;

/// Downscale factor of the padded background before its blur (the blur is done small).
const PAD_SHRINK: u32 = 16;
/// Background luma is pulled this far towards black, so the picture stands out.
const PAD_DIM: f32 = 0.55;

pub(crate) struct Framer {
    out: (u32, u32),
    aspect: f64,
    crops: HashMap<(u32, u32), ff::frame::Video>,
    scalers: HashMap<(u32, u32, u32, u32), scaling::Context>,
}

impl Framer {
    pub(crate) fn new(out_w: u32, out_h: u32, aspect: f64) -> Self {
        Self { out: (out_w, out_h), aspect, crops: HashMap::new(), scalers: HashMap::new() }
    }

    /// The output frame for `rect` of `src` (YUV 4:2:0; `rect` even and inside `src`).
    pub(crate) fn frame(
        &mut self,
        src: &ff::frame::Video,
        rect: Rect,
        padded: bool,
    ) -> Result<ff::frame::Video, ff::Error> {
        let (out_w, out_h) = self.out;
        if !padded {
            return self.crop_scaled(src, rect, (out_w, out_h), scaling::Flags::BICUBIC);
        }
        // The picture: the whole window, as wide as the output.
        let fg_h =
            ((f64::from(out_w) * f64::from(rect.height) / f64::from(rect.width)).round() as u32 & !1).clamp(2, out_h);
        let fg = self.crop_scaled(src, rect, (out_w, fg_h), scaling::Flags::BICUBIC)?;
        // Behind it: the middle of the window at the output aspect, shrunk, blurred,
        // darkened and stretched back.
        let bw = ((f64::from(rect.height) * self.aspect).round() as u32).min(rect.width) & !1;
        let bx = (rect.x + (rect.width - bw) / 2) & !1;
        let tiny = ((out_w / PAD_SHRINK).max(4) & !1, (out_h / PAD_SHRINK).max(4) & !1);
        let mut small =
            self.crop_scaled(src, Rect::new(bx, rect.y, bw.max(2), rect.height), tiny, scaling::Flags::AREA)?;
        for plane in 0..3 {
            let (w, h) = if plane == 0 { tiny } else { (tiny.0 / 2, tiny.1 / 2) };
            let stride = small.stride(plane);
            let data = small.data_mut(plane);
            box_blur(data, stride, w as usize, h as usize, 1, 2);
            if plane == 0 {
                for row in 0..h as usize {
                    for v in &mut data[row * stride..row * stride + w as usize] {
                        *v = (16.0 + (f32::from(*v) - 16.0).max(0.0) * PAD_DIM) as u8;
                    }
                }
            }
        }
        let mut out = ff::frame::Video::empty();
        self.scaler((tiny.0, tiny.1), (out_w, out_h), scaling::Flags::BILINEAR)?.run(&small, &mut out)?;
        paste(&fg, &mut out, ((out_h - fg_h) / 2) & !1);
        Ok(out)
    }

    fn crop_scaled(
        &mut self,
        src: &ff::frame::Video,
        rect: Rect,
        to: (u32, u32),
        flags: scaling::Flags,
    ) -> Result<ff::frame::Video, ff::Error> {
        let size = (rect.width, rect.height);
        let crop = self.crops.entry(size).or_insert_with(|| ff::frame::Video::new(Pixel::YUV420P, size.0, size.1));
        copy_crop(src, rect, crop);
        if size == to {
            return Ok(crop.clone());
        }
        let crop = self.crops.get(&size).expect("inserted above");
        let scaler = match self.scalers.entry((size.0, size.1, to.0, to.1)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(scaling::Context::get(Pixel::YUV420P, size.0, size.1, Pixel::YUV420P, to.0, to.1, flags)?)
            }
        };
        let mut out = ff::frame::Video::empty();
        scaler.run(crop, &mut out)?;
        Ok(out)
    }

    fn scaler(
        &mut self,
        from: (u32, u32),
        to: (u32, u32),
        flags: scaling::Flags,
    ) -> Result<&mut scaling::Context, ff::Error> {
        Ok(match self.scalers.entry((from.0, from.1, to.0, to.1)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(scaling::Context::get(Pixel::YUV420P, from.0, from.1, Pixel::YUV420P, to.0, to.1, flags)?)
            }
        })
    }
}

/// Copy `rect` of `src` into `dst` (YUV 4:2:0, `dst` of the rect's size).
pub(crate) fn copy_crop(src: &ff::frame::Video, rect: Rect, dst: &mut ff::frame::Video) {
    for plane in 0..3 {
        let (sx, sy, w, h) = if plane == 0 {
            (rect.x as usize, rect.y as usize, rect.width as usize, rect.height as usize)
        } else {
            ((rect.x / 2) as usize, (rect.y / 2) as usize, (rect.width / 2) as usize, (rect.height / 2) as usize)
        };
        let (s_stride, d_stride) = (src.stride(plane), dst.stride(plane));
        let s = src.data(plane);
        let d = dst.data_mut(plane);
        for r in 0..h {
            d[r * d_stride..r * d_stride + w]
                .copy_from_slice(&s[(sy + r) * s_stride + sx..(sy + r) * s_stride + sx + w]);
        }
    }
}

/// Copy all of `src` into `dst` from row `y0` down (YUV 4:2:0, same width, `y0` even).
fn paste(src: &ff::frame::Video, dst: &mut ff::frame::Video, y0: u32) {
    for plane in 0..3 {
        let (w, h, y) = if plane == 0 {
            (src.width() as usize, src.height() as usize, y0 as usize)
        } else {
            (src.width() as usize / 2, src.height() as usize / 2, y0 as usize / 2)
        };
        let (s_stride, d_stride) = (src.stride(plane), dst.stride(plane));
        let s = src.data(plane);
        let d = dst.data_mut(plane);
        for r in 0..h {
            d[(y + r) * d_stride..(y + r) * d_stride + w].copy_from_slice(&s[r * s_stride..r * s_stride + w]);
        }
    }
}

/// Box blur of radius `r`, `passes` times, horizontally then vertically, in place
/// (edges clamp). `passes` = 2 makes a triangular kernel.
fn box_blur(data: &mut [u8], stride: usize, w: usize, h: usize, r: usize, passes: usize) {
    if w == 0 || h == 0 {
        return;
    }
    let mut line = vec![0u8; w.max(h)];
    let blur = |line: &mut [u8], get: &dyn Fn(usize) -> u8, n: usize| {
        for (i, out) in line.iter_mut().enumerate().take(n) {
            let sum: u32 = (0..=2 * r).map(|k| u32::from(get((i + k).saturating_sub(r).min(n - 1)))).sum();
            *out = (sum / (2 * r as u32 + 1)) as u8;
        }
    };
    for _ in 0..passes {
        for y in 0..h {
            let row = data[y * stride..y * stride + w].to_vec();
            blur(&mut line, &|i| row[i], w);
            data[y * stride..y * stride + w].copy_from_slice(&line[..w]);
        }
        for x in 0..w {
            let col: Vec<u8> = (0..h).map(|y| data[y * stride + x]).collect();
            blur(&mut line, &|i| col[i], h);
            for (y, v) in line[..h].iter().enumerate() {
                data[y * stride + x] = *v;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_spreads_a_dot_and_keeps_flat_areas() {
        let (w, h, stride) = (9, 9, 12);
        let mut data = vec![100u8; stride * h];
        data[4 * stride + 4] = 255;
        box_blur(&mut data, stride, w, h, 1, 2);
        assert!(data[4 * stride + 4] < 150 && data[4 * stride + 5] > 100 && data[3 * stride + 4] > 100);
        assert_eq!(data[0], 100);
        // Padding bytes past the width are left alone.
        assert_eq!(data[stride - 1], 100);
    }
}
