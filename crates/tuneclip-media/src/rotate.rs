//! Display rotation: the turn a player gives a stored picture (phones store portrait
//! video as landscape pictures with a display matrix saying "turn 90 degrees"). Frames
//! are turned here so that everything downstream works in display orientation.

use ffmpeg_next as ff;

/// Clockwise turn from the stored picture to the displayed one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Rotation {
    #[default]
    None,
    Cw90,
    Half,
    Cw270,
}

impl Rotation {
    /// From a clockwise angle in degrees, to the nearest quarter turn (as the ffmpeg CLI
    /// does when it rotates automatically).
    pub fn from_degrees(theta: f64) -> Self {
        if !theta.is_finite() {
            return Self::None;
        }
        match ((theta / 90.0).round() as i64).rem_euclid(4) {
            1 => Self::Cw90,
            2 => Self::Half,
            3 => Self::Cw270,
            _ => Self::None,
        }
    }

    /// The clockwise turn a player applies for a display matrix (nine 32-bit values, the
    /// first two columns in 16.16 fixed point): minus `av_display_rotation_get`, which
    /// is counter-clockwise, rounded to a quarter turn as the ffmpeg CLI does.
    pub fn from_display_matrix(bytes: &[u8]) -> Self {
        if bytes.len() < 36 {
            return Self::None;
        }
        let m =
            |i: usize| f64::from(i32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"))) / 65536.0;
        let (s0, s1) = (m(0).hypot(m(3)), m(1).hypot(m(4)));
        if s0 == 0.0 || s1 == 0.0 {
            return Self::None;
        }
        Self::from_degrees((m(1) / s1).atan2(m(0) / s0).to_degrees())
    }

    /// Whether width and height trade places.
    pub fn swaps(self) -> bool {
        matches!(self, Self::Cw90 | Self::Cw270)
    }

    /// The displayed size of a stored `(width, height)`.
    pub fn display_size(self, w: u32, h: u32) -> (u32, u32) {
        if self.swaps() { (h, w) } else { (w, h) }
    }
}

/// Turn one plane of `w` x `h` pixels of `bpp` bytes (rows `stride` apart) into `dst`
/// (rows `dst_stride` apart).
pub(crate) fn rotate_plane(
    src: &[u8],
    stride: usize,
    (w, h): (usize, usize),
    bpp: usize,
    rotation: Rotation,
    dst: &mut [u8],
    dst_stride: usize,
) {
    let (dw, dh) = if rotation.swaps() { (h, w) } else { (w, h) };
    for y in 0..dh {
        let row = &mut dst[y * dst_stride..y * dst_stride + dw * bpp];
        for (x, px) in row.chunks_exact_mut(bpp).enumerate() {
            // The stored pixel shown at (x, y).
            let (sx, sy) = match rotation {
                Rotation::None => (x, y),
                Rotation::Cw90 => (y, h - 1 - x),
                Rotation::Half => (w - 1 - x, h - 1 - y),
                Rotation::Cw270 => (w - 1 - y, x),
            };
            let at = sy * stride + sx * bpp;
            px.copy_from_slice(&src[at..at + bpp]);
        }
    }
}

/// A packed RGB24 picture of `w` x `h` turned for display; returns it with its size.
pub(crate) fn rotate_rgb(rgb: &[u8], w: u32, h: u32, rotation: Rotation) -> (Vec<u8>, u32, u32) {
    let (dw, dh) = rotation.display_size(w, h);
    let mut out = vec![0u8; rgb.len()];
    rotate_plane(rgb, w as usize * 3, (w as usize, h as usize), 3, rotation, &mut out, dw as usize * 3);
    (out, dw, dh)
}

/// A YUV 4:2:0 frame (even size) turned for display.
pub(crate) fn rotate_yuv420(src: &ff::frame::Video, rotation: Rotation) -> ff::frame::Video {
    let (dw, dh) = rotation.display_size(src.width(), src.height());
    let mut dst = ff::frame::Video::new(ff::format::Pixel::YUV420P, dw, dh);
    for plane in 0..3 {
        let (w, h) = if plane == 0 {
            (src.width() as usize, src.height() as usize)
        } else {
            (src.width().div_ceil(2) as usize, src.height().div_ceil(2) as usize)
        };
        let (stride, dst_stride) = (src.stride(plane), dst.stride(plane));
        rotate_plane(src.data(plane), stride, (w, h), 1, rotation, dst.data_mut(plane), dst_stride);
    }
    dst.set_pts(src.pts());
    dst
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A display matrix with the given first two columns (in units of 1.0).
    fn matrix(a: i32, b: i32, c: i32, d: i32) -> Vec<u8> {
        let fp = |x: i32| (x * 65536).to_le_bytes();
        [fp(a), fp(b), [0; 4], fp(c), fp(d), [0; 4], [0; 4], [0; 4], (1i32 << 30).to_le_bytes()].concat()
    }

    #[test]
    fn display_matrices_give_the_players_turn() {
        // What `ffmpeg -metadata:s:v rotate=90` stores into an MP4 (ffprobe: "rotation
        // of 90.00 degrees"), which the ffmpeg CLI shows turned counter-clockwise
        // (checked against `-vf transpose=cclock` by the integration test).
        assert_eq!(Rotation::from_display_matrix(&matrix(0, -1, 1, 0)), Rotation::Cw270);
        assert_eq!(Rotation::from_display_matrix(&matrix(0, 1, -1, 0)), Rotation::Cw90);
        assert_eq!(Rotation::from_display_matrix(&matrix(-1, 0, 0, -1)), Rotation::Half);
        assert_eq!(Rotation::from_display_matrix(&matrix(1, 0, 0, 1)), Rotation::None);
        assert_eq!(Rotation::from_display_matrix(&[0; 36]), Rotation::None);
        assert_eq!(Rotation::from_display_matrix(&[1, 2]), Rotation::None);
    }

    #[test]
    fn quarter_turns_move_corners_where_a_player_shows_them() {
        // 3 x 2 picture, one byte per pixel: a b c / d e f.
        let src = b"abcdef";
        let turn = |r: Rotation| {
            let (dw, dh) = r.display_size(3, 2);
            let mut out = vec![0u8; 6];
            rotate_plane(src, 3, (3, 2), 1, r, &mut out, dw as usize);
            (String::from_utf8(out).expect("ascii"), dw, dh)
        };
        assert_eq!(turn(Rotation::None), ("abcdef".into(), 3, 2));
        // Clockwise: the left column (a d) becomes the top row, read bottom-up.
        assert_eq!(turn(Rotation::Cw90), ("daebfc".into(), 2, 3));
        assert_eq!(turn(Rotation::Half), ("fedcba".into(), 3, 2));
        assert_eq!(turn(Rotation::Cw270), ("cfbead".into(), 2, 3));
    }
}
