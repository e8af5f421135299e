//! What a decoder hands analysis: stream facts, sampled RGB frames, every frame's luma
//! signature, and the damage met on the way. Plain data, made by `tuneclip-media`'s
//! decoders and read by vision, the model and the reframer without linking a decoder.

use serde::{Deserialize, Serialize};

/// Stream facts needed downstream (at source resolution).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct VideoInfo {
    pub width: u32,
    pub height: u32,
    pub duration_s: f64,
    /// Average frame rate of the stream (frames per second), 0 when unknown.
    pub fps: f64,
}

/// One sampled frame, RGB24, tightly packed (`width * 3` bytes a row).
#[derive(Debug, Clone)]
pub struct SampledFrame {
    pub t_s: f64,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl SampledFrame {
    /// Luma (BT.601) of pixel (x, y), 0..255.
    pub fn luma(&self, x: u32, y: u32) -> f32 {
        let i = ((y * self.width + x) * 3) as usize;
        0.299 * f32::from(self.rgb[i]) + 0.587 * f32::from(self.rgb[i + 1]) + 0.114 * f32::from(self.rgb[i + 2])
    }

    /// The whole luma plane, row-major.
    pub fn luma_plane(&self) -> Vec<f32> {
        self.rgb
            .chunks_exact(3)
            .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
            .collect()
    }
}

/// A video as analysis sees it.
#[derive(Debug, Clone)]
pub struct SampledVideo {
    pub info: VideoInfo,
    pub sample_fps: f64,
    pub frames: Vec<SampledFrame>,
    /// Every decoded frame's luma signature, sampled or not (empty when the decoder's
    /// pixel format has no luma plane): what places a cut on its exact frame.
    pub signatures: Vec<FrameSignature>,
    /// What was wrong with the file, though it decoded.
    pub damage: DecodeDamage,
}

/// Side of the luma grid of a [`FrameSignature`].
pub const SIGNATURE_GRID: usize = 8;

/// A decoded frame reduced to the mean luma of an 8x8 grid (16 samples a cell, read
/// straight from the decoder's luma plane: no scaling), with its time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameSignature {
    pub t_s: f64,
    pub grid: [u8; SIGNATURE_GRID * SIGNATURE_GRID],
}

impl FrameSignature {
    /// Mean absolute difference of two signatures, in luma levels.
    pub fn distance(&self, other: &Self) -> f32 {
        let sum: u32 = self.grid.iter().zip(&other.grid).map(|(a, b)| u32::from(a.abs_diff(*b))).sum();
        sum as f32 / self.grid.len() as f32
    }
}

/// Damage met while decoding a file that still gave frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DecodeDamage {
    /// Packets the demuxer could not read or the decoder refused; skipped, as a player
    /// skips them.
    pub bad_packets: u32,
    /// Frames the decoder still output but with errors concealed (the frame's decode
    /// error flags or its corrupt flag set): damaged data inside a packet, or a frame
    /// whose reference was lost. Counted over every decoded frame, not only samples.
    #[serde(default)]
    pub concealed_frames: u32,
    /// The file ends before the duration its header declares (a truncated download or
    /// copy): the time, in seconds, where the decodable picture stops. The video's
    /// duration is then that time. MPEG-TS declares no duration: a transport stream
    /// whose size is not a whole number of its packets was cut mid-packet and counts
    /// as truncated where its picture stops (a cut exactly on a packet boundary, one in
    /// 188, cannot be told from a shorter file).
    pub truncated_at_s: Option<f64>,
}

impl DecodeDamage {
    pub fn is_clean(&self) -> bool {
        self.bad_packets == 0 && self.concealed_frames == 0 && self.truncated_at_s.is_none()
    }
}

impl std::fmt::Display for DecodeDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        if self.bad_packets > 0 {
            parts.push(format!("{} damaged packets skipped", self.bad_packets));
        }
        if self.concealed_frames > 0 {
            parts.push(format!("{} frames with concealed errors", self.concealed_frames));
        }
        if let Some(t) = self.truncated_at_s {
            parts.push(format!("truncated: picture ends at {t:.2} s"));
        }
        if parts.is_empty() { f.write_str("clean") } else { f.write_str(&parts.join(", ")) }
    }
}
