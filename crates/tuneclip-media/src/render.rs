//! Rendering a crop plan: decode the clip's time range, crop each frame to the plan's
//! window, scale to the output size, and encode H.264 (libx264) into MP4.

use crate::video::{OpenVideo, frame_time_s, open_video};
use crate::{MediaError, Result};
use ff::format::Pixel;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use tuneclip_core::CropPlan;

/// Output settings for a vertical render.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// Largest output size; the output is never upscaled beyond the crop unless `upscale`.
    pub max_width_px: u32,
    pub max_height_px: u32,
    pub upscale: bool,
    /// libx264 preset (ultrafast .. veryslow).
    pub preset: String,
    /// libx264 constant rate factor (0..51, lower is better quality).
    pub crf: u8,
    /// Sound for the clip: `None` renders silent video; `Some` puts a window of a song
    /// under it (the background-video use), AAC stereo at the song's rate.
    pub audio: Option<SongAudio>,
    /// Source frames to keep while rendering, evenly spaced from the clip's start, as
    /// RGB at most `thumbnail_width_px` wide (for a preview, without decoding again).
    pub thumbnails: usize,
    pub thumbnail_width_px: u32,
}

impl RenderConfig {
    /// Refuse settings no encoder should be asked for, naming the field.
    pub fn check(&self) -> std::result::Result<(), RenderConfigError> {
        const PRESETS: [&str; 10] =
            ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
        let bad = |field, reason| Err(RenderConfigError { field, reason });
        for (field, v) in [("max_width_px", self.max_width_px), ("max_height_px", self.max_height_px)] {
            if !(16..=8192).contains(&v) {
                return bad(field, format!("{v} is outside 16..=8192"));
            }
        }
        if self.crf > 51 {
            return bad("crf", format!("{} is outside 0..=51", self.crf));
        }
        if !PRESETS.contains(&self.preset.as_str()) {
            return bad("preset", format!("{:?} is not one of {}", self.preset, PRESETS.join(", ")));
        }
        Ok(())
    }
}

/// A [`RenderConfig`] field no encoder should be asked for, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {reason}")]
pub struct RenderConfigError {
    pub field: &'static str,
    pub reason: String,
}

/// A window of a song to use as a clip's sound track; its length is the clip's.
#[derive(Debug, Clone, PartialEq)]
pub struct SongAudio {
    pub path: PathBuf,
    pub start_s: f64,
}

impl Default for RenderConfig {
    fn default() -> Self {
        Self {
            max_width_px: 1080,
            max_height_px: 1920,
            upscale: false,
            preset: "veryfast".into(),
            crf: 20,
            audio: None,
            thumbnails: 0,
            thumbnail_width_px: 320,
        }
    }
}

/// What was written.
#[derive(Debug, Clone)]
pub struct RenderReport {
    pub path: PathBuf,
    pub width: u32,
    pub height: u32,
    pub frames: u64,
    pub duration_s: f64,
    /// The source frames asked for by `RenderConfig::thumbnails` (whole source frame,
    /// not the crop).
    pub thumbnails: Vec<crate::video::SampledFrame>,
}

/// Output size for a crop of `crop` size: same aspect, at most the configured maximum,
/// not upscaled unless asked, both sides even (H.264 4:2:0 needs it).
pub fn output_size(crop_w: u32, crop_h: u32, cfg: &RenderConfig) -> (u32, u32) {
    let fit = (f64::from(cfg.max_width_px) / f64::from(crop_w)).min(f64::from(cfg.max_height_px) / f64::from(crop_h));
    let scale = if cfg.upscale { fit } else { fit.min(1.0) };
    let w = ((f64::from(crop_w) * scale).round() as u32 & !1).max(2);
    let h = ((f64::from(crop_h) * scale).round() as u32 & !1).max(2);
    (w, h)
}

/// Render `plan` from `source` into an H.264 MP4 at `out`.
pub fn render_crop(source: &Path, plan: &CropPlan, out: &Path, cfg: &RenderConfig) -> Result<RenderReport> {
    let invalid = |reason: String| MediaError::InvalidRequest { path: source.to_path_buf(), reason };
    let enc_err = |reason: String| MediaError::Encode { path: out.to_path_buf(), reason };
    // Writing over the source would destroy it while it is being read.
    let same_file = |a: &Path, b: &Path| a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b);
    if same_file(source, out) || cfg.audio.as_ref().is_some_and(|a| same_file(&a.path, out)) {
        return Err(invalid(format!("the output {} is an input of the render", out.display())));
    }
    let OpenVideo { mut ictx, stream_index, time_base, mut decoder, info, rotation } = open_video(source)?;
    if plan.keyframes.is_empty() {
        return Err(invalid("crop plan has no keyframes".into()));
    }
    if plan.source_width != info.width || plan.source_height != info.height {
        return Err(invalid(format!(
            "crop plan is for {}x{} but the video is {}x{}",
            plan.source_width, plan.source_height, info.width, info.height
        )));
    }
    if !(0.05..=20.0).contains(&plan.aspect) {
        return Err(invalid(format!("crop plan aspect {} is outside 0.05..=20", plan.aspect)));
    }
    for k in &plan.keyframes {
        let r = k.rect;
        if r.right() > info.width || r.bottom() > info.height || r.width < 2 || r.height < 2 {
            return Err(invalid(format!("crop window {r:?} at {:.2}s is outside the frame", k.t_s)));
        }
        if f64::from(r.width) < f64::from(r.height) * plan.aspect * 0.95 {
            return Err(invalid(format!(
                "crop window {r:?} at {:.2}s is narrower than the output aspect {:.3}",
                k.t_s, plan.aspect
            )));
        }
    }
    cfg.check().map_err(|e| invalid(e.to_string()))?;
    // The output: the tallest window of the output aspect in the plan, at most the
    // configured size (padded windows are fitted into it, never widen it).
    let nominal_h = plan.keyframes.iter().map(|k| k.rect.height & !1).max().unwrap_or(2);
    let nominal_w = plan
        .keyframes
        .iter()
        .filter(|k| !plan.is_padded(&k.rect) && k.rect.height & !1 == nominal_h)
        .map(|k| k.rect.width & !1)
        .max()
        .unwrap_or(((f64::from(nominal_h) * plan.aspect) as u32 & !1).max(2));
    let (start_s, end_s) = (plan.range.start_s, plan.range.end_s);
    if !(end_s > start_s && start_s >= 0.0) {
        return Err(invalid(format!("empty time range {}", plan.range)));
    }
    let (out_w, out_h) = output_size(nominal_w, nominal_h, cfg);

    let codec = ff::encoder::find_by_name("libx264")
        .or_else(|| ff::encoder::find(ff::codec::Id::H264))
        .ok_or_else(|| enc_err("no H.264 encoder in this FFmpeg build (install libx264)".into()))?;
    let mut octx = ff::format::output(out).map_err(|e| enc_err(format!("cannot create output ({e})")))?;
    let global_header = octx.format().flags().contains(ff::format::Flags::GLOBAL_HEADER);
    let rate = if info.fps > 0.0 { ff::Rational::from(info.fps) } else { ff::Rational(25, 1) };
    let mut enc =
        ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| enc_err(e.to_string()))?;
    enc.set_width(out_w);
    enc.set_height(out_h);
    enc.set_format(Pixel::YUV420P);
    enc.set_time_base(time_base);
    enc.set_frame_rate(Some(rate));
    if global_header {
        enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = ff::Dictionary::new();
    opts.set("preset", &cfg.preset);
    opts.set("crf", &cfg.crf.to_string());
    // libavcodec's default is one thread; 0 lets x264 use every core, as the ffmpeg CLI does.
    opts.set("threads", "0");
    let mut encoder = enc.open_with(opts).map_err(|e| enc_err(format!("cannot open H.264 encoder ({e})")))?;
    let ost_index = {
        let mut ost = octx.add_stream(codec).map_err(|e| enc_err(e.to_string()))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(time_base);
        ost.index()
    };
    let mut audio = match &cfg.audio {
        Some(song) => Some(AudioTrack::new(&mut octx, song, end_s - start_s, global_header, out)?),
        None => None,
    };
    octx.write_header().map_err(|e| enc_err(format!("cannot write header ({e})")))?;
    let ost_tb = octx.stream(ost_index).map(|s| s.time_base()).unwrap_or(time_base);
    let frame_dur_tb = (1.0 / f64::from(rate) / f64::from(time_base)).round().max(1.0) as i64;
    let frame_dur_s = 1.0 / f64::from(rate);

    // Seek to the keyframe at or before the start, then decode forward.
    let seek_us = (start_s * 1e6) as i64;
    if seek_us > 0 {
        ictx.seek(seek_us, ..seek_us).map_err(|e| MediaError::Decode {
            path: source.to_path_buf(),
            reason: format!("seek to {start_s:.3}s failed ({e})"),
        })?;
        decoder.flush();
    }

    let mut to_yuv: Option<scaling::Context> = None;
    let mut framer = crate::compose::Framer::new(out_w, out_h, plan.aspect);
    let thumb_times: Vec<f64> =
        (0..cfg.thumbnails).map(|i| start_s + i as f64 * (end_s - start_s) / cfg.thumbnails as f64).collect();
    let thumb_w = cfg.thumbnail_width_px.min(info.width).max(2) & !1;
    let thumb_h = ((f64::from(info.height) * f64::from(thumb_w) / f64::from(info.width)).round() as u32).max(2) & !1;
    let mut thumbnails: Vec<crate::video::SampledFrame> = Vec::with_capacity(cfg.thumbnails);
    let mut to_thumb: Option<scaling::Context> = None;
    let mut first_pts: Option<i64> = None;
    let mut last_pts = 0i64;
    let mut frames = 0u64;
    let mut done = false;

    let drain = |encoder: &mut ff::encoder::Video, octx: &mut ff::format::context::Output| -> Result<()> {
        let mut pkt = ff::Packet::empty();
        while encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(ost_index);
            if pkt.duration() == 0 {
                pkt.set_duration(frame_dur_tb);
            }
            pkt.rescale_ts(time_base, ost_tb);
            pkt.write_interleaved(octx).map_err(|e| enc_err(format!("write packet ({e})")))?;
        }
        Ok(())
    };

    let mut process = |frame: &ff::frame::Video,
                       encoder: &mut ff::encoder::Video,
                       octx: &mut ff::format::context::Output|
     -> Result<bool> {
        let Some(t) = frame_time_s(frame, time_base) else { return Ok(false) };
        // Keep the frame on screen at `start_s` (it may have started a little before).
        if t + frame_dur_s <= start_s + 1e-6 {
            return Ok(false);
        }
        if t >= end_s - 1e-6 {
            return Ok(true);
        }
        let yuv_owned;
        let yuv: &ff::frame::Video = if frame.format() == Pixel::YUV420P {
            frame
        } else {
            let needs_new = to_yuv.as_ref().is_none_or(|s| {
                s.input().format != frame.format()
                    || s.input().width != frame.width()
                    || s.input().height != frame.height()
            });
            if needs_new {
                to_yuv = Some(
                    scaling::Context::get(
                        frame.format(),
                        frame.width(),
                        frame.height(),
                        Pixel::YUV420P,
                        frame.width(),
                        frame.height(),
                        scaling::Flags::BICUBIC,
                    )
                    .map_err(|e| enc_err(format!("scaler: {e}")))?,
                );
            }
            let mut tmp = ff::frame::Video::empty();
            to_yuv.as_mut().expect("created above").run(frame, &mut tmp).map_err(|e| enc_err(e.to_string()))?;
            yuv_owned = tmp;
            &yuv_owned
        };
        // Plans are in display orientation: turn the picture as a player would.
        let turned;
        let yuv: &ff::frame::Video = if rotation == crate::rotate::Rotation::None {
            yuv
        } else {
            turned = crate::rotate::rotate_yuv420(yuv, rotation);
            &turned
        };
        if thumb_times.get(thumbnails.len()).is_some_and(|&at| t + 1e-6 >= at) {
            if to_thumb.is_none() {
                to_thumb = Some(
                    scaling::Context::get(
                        Pixel::YUV420P,
                        yuv.width(),
                        yuv.height(),
                        Pixel::RGB24,
                        thumb_w,
                        thumb_h,
                        scaling::Flags::AREA,
                    )
                    .map_err(|e| enc_err(format!("scaler: {e}")))?,
                );
            }
            let mut rgb = ff::frame::Video::empty();
            to_thumb.as_mut().expect("created above").run(yuv, &mut rgb).map_err(|e| enc_err(e.to_string()))?;
            let rgb = crate::video::packed_rgb(&rgb);
            thumbnails.push(crate::video::SampledFrame { t_s: t, width: thumb_w, height: thumb_h, rgb });
        }
        let mut rect = plan.rect_at(t);
        rect.x &= !1;
        rect.y &= !1;
        rect.width &= !1;
        rect.height &= !1;
        let mut out_frame =
            framer.frame(yuv, rect, plan.is_padded(&rect)).map_err(|e| enc_err(format!("compose ({e})")))?;
        let pts = frame.timestamp().or(frame.pts()).unwrap_or(0);
        let base = *first_pts.get_or_insert(pts);
        if frames > 0 && pts - base <= last_pts {
            return Ok(false); // duplicate or out-of-order timestamp: drop, keep pts monotonic
        }
        last_pts = pts - base;
        out_frame.set_pts(Some(pts - base));
        encoder.send_frame(&out_frame).map_err(|e| enc_err(format!("encode ({e})")))?;
        frames += 1;
        drain(encoder, octx)?;
        Ok(false)
    };

    let mut decoded = ff::frame::Video::empty();
    for (stream, packet) in ictx.packets() {
        if stream.index() != stream_index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue;
        }
        while decoder.receive_frame(&mut decoded).is_ok() {
            if process(&decoded, &mut encoder, &mut octx)? {
                done = true;
            }
        }
        if done {
            break;
        }
    }
    if !done {
        let _ = decoder.send_eof();
        while decoder.receive_frame(&mut decoded).is_ok() {
            process(&decoded, &mut encoder, &mut octx)?;
        }
    }
    encoder.send_eof().map_err(|e| enc_err(e.to_string()))?;
    drain(&mut encoder, &mut octx)?;
    if let Some(track) = audio.as_mut() {
        track.encode_all(&mut octx).map_err(|e| enc_err(format!("audio: {e}")))?;
    }
    octx.write_trailer().map_err(|e| enc_err(format!("write trailer ({e})")))?;
    if frames == 0 {
        return Err(MediaError::EmptyVideo { path: source.to_path_buf() });
    }
    let duration_s = (last_pts + frame_dur_tb) as f64 * f64::from(time_base);
    Ok(RenderReport { path: out.to_path_buf(), width: out_w, height: out_h, frames, duration_s, thumbnails })
}

/// An AAC track made from a window of a song.
struct AudioTrack {
    encoder: ff::encoder::Audio,
    stream_index: usize,
    window: crate::StereoWindow,
}

impl AudioTrack {
    fn new(
        octx: &mut ff::format::context::Output,
        song: &SongAudio,
        duration_s: f64,
        global_header: bool,
        out: &Path,
    ) -> Result<Self> {
        let enc_err = |reason: String| MediaError::Encode { path: out.to_path_buf(), reason };
        let window = crate::decode_stereo_window(&song.path, song.start_s, duration_s)?;
        let codec = ff::encoder::find(ff::codec::Id::AAC)
            .ok_or_else(|| enc_err("no AAC encoder in this FFmpeg build".into()))?;
        let mut enc =
            ff::codec::context::Context::new_with_codec(codec).encoder().audio().map_err(|e| enc_err(e.to_string()))?;
        enc.set_rate(window.rate as i32);
        enc.set_channel_layout(ff::ChannelLayout::STEREO);
        enc.set_channels(2);
        enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Planar));
        enc.set_bit_rate(160_000);
        enc.set_time_base(ff::Rational(1, window.rate as i32));
        if global_header {
            enc.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let encoder = enc.open_as(codec).map_err(|e| enc_err(format!("cannot open the AAC encoder ({e})")))?;
        let mut ost = octx.add_stream(codec).map_err(|e| enc_err(e.to_string()))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(ff::Rational(1, window.rate as i32));
        Ok(Self { stream_index: ost.index(), encoder, window })
    }

    fn encode_all(&mut self, octx: &mut ff::format::context::Output) -> std::result::Result<(), ff::Error> {
        let rate = self.window.rate;
        let tb = ff::Rational(1, rate as i32);
        let ost_tb = octx.stream(self.stream_index).map_or(tb, |s| s.time_base());
        let frame_size = (self.encoder.frame_size() as usize).max(1);
        let total = self.window.left.len();
        let mut pos = 0usize;
        while pos < total {
            // Every frame is full (the AAC encoder wants fixed frames); the last is padded.
            let n = frame_size;
            let mut frame = ff::frame::Audio::new(
                ff::format::Sample::F32(ff::format::sample::Type::Planar),
                n,
                ff::ChannelLayout::STEREO,
            );
            frame.set_rate(rate);
            for (plane, src) in [&self.window.left, &self.window.right].into_iter().enumerate() {
                let dst = frame.plane_mut::<f32>(plane);
                let avail = (total - pos).min(n);
                dst[..avail].copy_from_slice(&src[pos..pos + avail]);
                dst[avail..].iter_mut().for_each(|v| *v = 0.0);
            }
            frame.set_pts(Some(pos as i64));
            self.encoder.send_frame(&frame)?;
            self.write_packets(octx, tb, ost_tb)?;
            pos += n;
        }
        self.encoder.send_eof()?;
        self.write_packets(octx, tb, ost_tb)
    }

    fn write_packets(
        &mut self,
        octx: &mut ff::format::context::Output,
        tb: ff::Rational,
        ost_tb: ff::Rational,
    ) -> std::result::Result<(), ff::Error> {
        let mut pkt = ff::Packet::empty();
        while self.encoder.receive_packet(&mut pkt).is_ok() {
            pkt.set_stream(self.stream_index);
            pkt.rescale_ts(tb, ost_tb);
            pkt.write_interleaved(octx)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_never_upscales_and_stays_even() {
        let cfg = RenderConfig::default();
        assert_eq!(output_size(306, 544, &cfg), (306, 544));
        assert_eq!(output_size(1215, 2160, &cfg), (1080, 1920));
        let up = RenderConfig { upscale: true, ..RenderConfig::default() };
        assert_eq!(output_size(306, 544, &up), (1080, 1920));
    }

    #[test]
    fn absurd_settings_are_refused_by_name() {
        assert!(RenderConfig::default().check().is_ok());
        let huge = RenderConfig { max_height_px: 100_000, ..RenderConfig::default() };
        assert_eq!(huge.check().expect_err("too tall").field, "max_height_px");
        let tiny = RenderConfig { max_width_px: 0, ..RenderConfig::default() };
        assert_eq!(tiny.check().expect_err("too small").field, "max_width_px");
        let preset = RenderConfig { preset: "warp".into(), ..RenderConfig::default() };
        let e = preset.check().expect_err("no such preset");
        assert!(e.field == "preset" && e.to_string().starts_with("preset \""), "{e}");
    }
}
