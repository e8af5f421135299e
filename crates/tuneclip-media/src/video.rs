//! Video decoding for analysis: frames sampled at a fixed rate and scaled down with
//! swscale. Only sampled frames are converted, and the decoder runs with FFmpeg's own
//! threads, so analysis costs little more than the decode itself.

use crate::rotate::{Rotation, rotate_rgb};
use crate::{MediaError, Result, ffmpeg_init};
use ff::format::Pixel;
use ff::media::Type;
use ff::software::scaling;
use ffmpeg_next as ff;
use std::path::Path;

pub use tuneclip_core::frame::{DecodeDamage, FrameSignature, SIGNATURE_GRID, SampledFrame, SampledVideo, VideoInfo};

/// Pixel formats whose first plane is 8-bit luma.
fn has_luma_plane(format: Pixel) -> bool {
    matches!(
        format,
        Pixel::YUV420P
            | Pixel::YUVJ420P
            | Pixel::YUV422P
            | Pixel::YUVJ422P
            | Pixel::YUV444P
            | Pixel::YUVJ444P
            | Pixel::YUV440P
            | Pixel::YUVJ440P
            | Pixel::YUV411P
            | Pixel::YUV410P
            | Pixel::NV12
            | Pixel::NV21
            | Pixel::GRAY8
            | Pixel::YUVA420P
    )
}

/// The signature of a decoded frame, or `None` without an 8-bit luma plane. Rotation is
/// ignored: a signature is only compared with its neighbours in time.
fn signature(frame: &ff::frame::Video, t_s: f64) -> Option<FrameSignature> {
    if !has_luma_plane(frame.format()) {
        return None;
    }
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    if w < SIGNATURE_GRID || h < SIGNATURE_GRID {
        return None;
    }
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut grid = [0u8; SIGNATURE_GRID * SIGNATURE_GRID];
    for (cell, g) in grid.iter_mut().enumerate() {
        let (cx, cy) = (cell % SIGNATURE_GRID, cell / SIGNATURE_GRID);
        let mut sum = 0u32;
        for sy in 0..4 {
            let y = (cy * 4 + sy) * h / (SIGNATURE_GRID * 4) + h / (SIGNATURE_GRID * 8);
            let row = &data[y.min(h - 1) * stride..];
            for sx in 0..4 {
                let x = (cx * 4 + sx) * w / (SIGNATURE_GRID * 4) + w / (SIGNATURE_GRID * 8);
                sum += u32::from(row[x.min(w - 1)]);
            }
        }
        *g = (sum / 16) as u8;
    }
    Some(FrameSignature { t_s, grid })
}

/// Read errors in a row after which a file is taken to end there.
const MAX_READ_ERRORS: u32 = 64;

/// How to sample a video for analysis.
#[derive(Debug, Clone, Copy)]
pub struct SamplingConfig {
    /// Frames kept per second of media time.
    pub fps: f64,
    /// Width of the scaled frames in pixels (height keeps the display aspect, even).
    pub width_px: u32,
    /// Let the decoder skip its in-loop deblocking filter: H.264/HEVC decode ~20-30%
    /// faster at the price of block edges that downscaling to analysis size hides. On
    /// for analysis (the default); off wherever full-quality pixels matter (borders at
    /// source resolution, text, checks on renders).
    pub skip_loop_filter: bool,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        Self { fps: 10.0, width_px: 192, skip_loop_filter: true }
    }
}

pub(crate) struct OpenVideo {
    pub ictx: ff::format::context::Input,
    pub stream_index: usize,
    pub time_base: ff::Rational,
    pub decoder: ff::decoder::Video,
    /// Size and timing as displayed: width and height after `rotation`.
    pub info: VideoInfo,
    /// The turn from decoded frames to the displayed picture.
    pub rotation: Rotation,
}

pub(crate) fn open_video(path: &Path) -> Result<OpenVideo> {
    ffmpeg_init()?;
    let ictx = ff::format::input(path).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: format!("not a readable media file ({e})"),
    })?;
    let stream =
        ictx.streams().best(Type::Video).ok_or_else(|| MediaError::NoVideoStream { path: path.to_path_buf() })?;
    let stream_index = stream.index();
    let time_base = stream.time_base();
    let rotation = stream
        .side_data()
        .find(|d| d.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
        .map_or(Rotation::None, |d| Rotation::from_display_matrix(d.data()));
    let rate = stream.avg_frame_rate();
    let fps = if rate.denominator() != 0 { f64::from(rate) } else { 0.0 };
    let stream_duration = if stream.duration() > 0 { stream.duration() as f64 * f64::from(time_base) } else { 0.0 };
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| MediaError::Decode { path: path.to_path_buf(), reason: format!("codec parameters: {e}") })?;
    ctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let decoder = ctx.decoder().video().map_err(|e| MediaError::Decode {
        path: path.to_path_buf(),
        reason: format!("no decoder for this codec ({e})"),
    })?;
    if decoder.width() == 0 || decoder.height() == 0 {
        return Err(MediaError::Decode {
            path: path.to_path_buf(),
            reason: "video stream declares a zero frame size".into(),
        });
    }
    let container_duration = if ictx.duration() > 0 { ictx.duration() as f64 / 1e6 } else { 0.0 };
    let duration_s = if stream_duration > 0.0 { stream_duration } else { container_duration };
    let (width, height) = rotation.display_size(decoder.width(), decoder.height());
    let info = VideoInfo { width, height, duration_s, fps };
    Ok(OpenVideo { ictx, stream_index, time_base, decoder, info, rotation })
}

/// Stream facts without decoding any frame.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    open_video(path).map(|v| v.info)
}

pub(crate) fn frame_time_s(frame: &ff::frame::Video, time_base: ff::Rational) -> Option<f64> {
    frame.timestamp().or(frame.pts()).map(|ts| ts as f64 * f64::from(time_base))
}

/// Copy a packed single-plane frame (RGB24) into a tight buffer, dropping row padding.
pub(crate) fn packed_rgb(frame: &ff::frame::Video) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    out
}

/// Decode `path` and keep one frame every `1 / config.fps` seconds, scaled to
/// `config.width_px` wide RGB24.
pub fn sample_frames(path: &Path, config: SamplingConfig) -> Result<SampledVideo> {
    sample_range(path, config, None)
}

/// Like [`sample_frames`], restricted to `[start_s, end_s)` when `range` is given
/// (seeks to the keyframe before the start and stops decoding after the end).
pub fn sample_range(
    path: &Path,
    config: SamplingConfig,
    range: Option<tuneclip_core::TimeRange>,
) -> Result<SampledVideo> {
    decode(path, config, range, None, None).map(|(video, _)| video)
}

/// Every decoded frame scaled to `width` x `height` RGB24 (bicubic, as the ffmpeg CLI's
/// `-s`), tightly packed, with its time, in presentation order: what a model that reads
/// every frame at a fixed small size (TransNetV2) takes.
#[derive(Debug, Clone, Default)]
pub struct Thumbnails {
    pub width: u32,
    pub height: u32,
    pub times_s: Vec<f64>,
    pub frames: Vec<Vec<u8>>,
}

/// [`sample_frames`] and, from the same decode, every frame's [`Thumbnails`] at
/// `width` x `height` as displayed (a rotated video's picture turned first), whatever
/// the picture's aspect, as the CLI's `-s` does. All are held in memory: 3.9 KB a frame
/// at 48x27, some 700 MB for two hours at 25 fps.
pub fn sample_with_thumbnails(
    path: &Path,
    config: SamplingConfig,
    (width, height): (u32, u32),
) -> Result<(SampledVideo, Thumbnails)> {
    if width < 2 || height < 2 {
        return Err(MediaError::InvalidRequest {
            path: path.to_path_buf(),
            reason: format!("thumbnails of {width}x{height} px (expected at least 2x2)"),
        });
    }
    let (video, thumbs) = decode(path, config, None, Some((width, height)), None)?;
    Ok((video, thumbs.expect("thumbnails were asked for")))
}

/// Larger copies of some sampled frames, handed to a callback as they are decoded
/// rather than held: what a detector that needs more pixels than the analysis frames
/// have (small faces) reads, at no second decode and no memory for the whole video.
pub struct DetailFrames<'a> {
    /// Width of the detail frames (height keeps the display aspect, even); never more
    /// than the source's. A source no wider than the analysis frames gets none (the
    /// callback is never called).
    pub width_px: u32,
    /// One detail frame every `every` sampled frames (1: all), on the sampled frames'
    /// own times, so a detail frame and the analysis frame of its time are one picture.
    pub every: usize,
    /// Called in presentation order of the sampled frames.
    pub on_frame: &'a mut dyn FnMut(SampledFrame),
}

/// [`sample_frames`], with [`DetailFrames`] and optionally [`Thumbnails`] (as
/// [`sample_with_thumbnails`]) from the same decode.
pub fn sample_with_detail(
    path: &Path,
    config: SamplingConfig,
    thumbnails: Option<(u32, u32)>,
    detail: DetailFrames<'_>,
) -> Result<(SampledVideo, Option<Thumbnails>)> {
    if detail.width_px < 16 || detail.every == 0 {
        return Err(MediaError::InvalidRequest {
            path: path.to_path_buf(),
            reason: format!(
                "detail frames of {} px every {} samples (expected width >= 16 px, every >= 1)",
                detail.width_px, detail.every
            ),
        });
    }
    decode(path, config, None, thumbnails, Some(detail))
}

fn decode(
    path: &Path,
    config: SamplingConfig,
    range: Option<tuneclip_core::TimeRange>,
    thumbnail_size: Option<(u32, u32)>,
    mut detail: Option<DetailFrames<'_>>,
) -> Result<(SampledVideo, Option<Thumbnails>)> {
    if !(config.fps > 0.0 && config.fps <= 120.0) || config.width_px < 16 {
        return Err(MediaError::InvalidRequest {
            path: path.to_path_buf(),
            reason: format!(
                "sampling {} fps at {} px (expected 0 < fps <= 120 and width >= 16 px)",
                config.fps, config.width_px
            ),
        });
    }
    let OpenVideo { mut ictx, stream_index, time_base, mut decoder, mut info, rotation } = open_video(path)?;
    if config.skip_loop_filter {
        decoder.skip_loop_filter(ff::Discard::All);
    }
    // Output size as displayed; frames are scaled as stored, then turned.
    let out_w = config.width_px.min(info.width) & !1;
    let out_h = (((f64::from(info.height) * f64::from(out_w) / f64::from(info.width)).round() as u32) & !1).max(2);
    let (scale_w, scale_h) = rotation.display_size(out_w, out_h);
    let mut scaler: Option<scaling::Context> = None;
    let (detail_w, detail_h) = detail.as_ref().map_or((0, 0), |d| {
        let w = d.width_px.min(info.width) & !1;
        (w, (((f64::from(info.height) * f64::from(w) / f64::from(info.width)).round() as u32) & !1).max(2))
    });
    // Detail frames no wider than the analysis frames would add nothing: none are made.
    if detail_w <= out_w {
        detail = None;
    }
    let (detail_scale_w, detail_scale_h) = rotation.display_size(detail_w, detail_h);
    let mut detail_scaler: Option<scaling::Context> = None;
    let mut frames = Vec::new();
    let mut next_t = f64::NEG_INFINITY;
    let mut last_t = 0.0f64;
    let mut decoded = 0usize;
    let step = 1.0 / config.fps;
    let (start_s, end_s) = range.map_or((f64::NEG_INFINITY, f64::INFINITY), |r| (r.start_s, r.end_s));
    if start_s > 0.0 {
        let us = (start_s * 1e6) as i64;
        ictx.seek(us, ..us).map_err(|e| MediaError::Decode {
            path: path.to_path_buf(),
            reason: format!("seek to {start_s:.3}s failed ({e})"),
        })?;
        decoder.flush();
    }

    let mut concealed_frames = 0u32;
    let concealed = &mut concealed_frames;
    let mut signatures = Vec::new();
    let mut thumbs: Vec<(f64, Vec<u8>)> = Vec::new();
    let mut thumb_scaler: Option<scaling::Context> = None;
    let mut take = |decoder: &mut ff::decoder::Video, frames: &mut Vec<SampledFrame>| -> Result<bool> {
        let mut past_end = false;
        let mut frame = ff::frame::Video::empty();
        while decoder.receive_frame(&mut frame).is_ok() {
            decoded += 1;
            if frame.has_decode_errors() || frame.is_corrupt() {
                *concealed += 1;
            }
            let t = frame_time_s(&frame, time_base).unwrap_or(decoded as f64 / info.fps.max(1.0));
            last_t = last_t.max(t);
            if t >= end_s {
                past_end = true;
                continue;
            }
            if t + 1e-6 >= start_s {
                signatures.extend(signature(&frame, t));
                if let Some((tw, th)) = thumbnail_size {
                    let (sw, sh) = rotation.display_size(tw, th);
                    let rgb = scale_rgb(&mut thumb_scaler, &frame, (sw, sh), scaling::Flags::BICUBIC).map_err(|e| {
                        MediaError::Decode { path: path.to_path_buf(), reason: format!("thumbnails: {e}") }
                    })?;
                    let rgb = if rotation == Rotation::None { rgb } else { rotate_rgb(&rgb, sw, sh, rotation).0 };
                    thumbs.push((t, rgb));
                }
            }
            if t + 1e-6 < next_t || t + 1e-6 < start_s {
                continue;
            }
            next_t = if next_t.is_finite() { next_t + step } else { t + step };
            while next_t <= t {
                next_t += step;
            }
            let rgb = scale_rgb(&mut scaler, &frame, (scale_w, scale_h), scaling::Flags::AREA)
                .map_err(|e| MediaError::Decode { path: path.to_path_buf(), reason: format!("scaling: {e}") })?;
            let rgb = if rotation == Rotation::None { rgb } else { rotate_rgb(&rgb, scale_w, scale_h, rotation).0 };
            if let Some(d) = detail.as_mut().filter(|d| frames.len().is_multiple_of(d.every)) {
                let big = scale_rgb(&mut detail_scaler, &frame, (detail_scale_w, detail_scale_h), scaling::Flags::AREA)
                    .map_err(|e| MediaError::Decode {
                        path: path.to_path_buf(),
                        reason: format!("detail frames: {e}"),
                    })?;
                let big = if rotation == Rotation::None {
                    big
                } else {
                    rotate_rgb(&big, detail_scale_w, detail_scale_h, rotation).0
                };
                (d.on_frame)(SampledFrame { t_s: t, width: detail_w, height: detail_h, rgb: big });
            }
            frames.push(SampledFrame { t_s: t, width: out_w, height: out_h, rgb });
        }
        Ok(past_end)
    };

    // A damaged packet is skipped like a player would (and counted); the file fails
    // only if nothing decodes at all.
    let mut damage = DecodeDamage::default();
    let mut errors_in_a_row = 0;
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut ictx) {
            Ok(()) => errors_in_a_row = 0,
            Err(ff::Error::Eof) => break,
            // A demuxer resyncs past invalid data; any other read error (I/O) is
            // latched and returned forever: the readable file ends here.
            Err(ff::Error::InvalidData) => {
                damage.bad_packets += 1;
                errors_in_a_row += 1;
                if errors_in_a_row >= MAX_READ_ERRORS {
                    break;
                }
                continue;
            }
            Err(_) => {
                damage.bad_packets += 1;
                break;
            }
        }
        if packet.stream() != stream_index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            damage.bad_packets += 1;
            continue;
        }
        if take(&mut decoder, &mut frames)? {
            break;
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder, &mut frames)?;
    damage.concealed_frames = concealed_frames;
    // Frames come out in presentation order; keep it so even for odd streams.
    signatures.sort_by(|a: &FrameSignature, b| a.t_s.total_cmp(&b.t_s));
    if frames.is_empty() {
        return Err(MediaError::EmptyVideo { path: path.to_path_buf() });
    }
    let frame_dur = if info.fps > 0.0 { 1.0 / info.fps } else { 0.0 };
    let decoded_end = last_t + frame_dur;
    // Short of the declared duration by more than a second (and 2%): truncated. Only
    // when the whole file was read.
    let short = info.duration_s - decoded_end > 1.0_f64.max(0.02 * info.duration_s);
    if range.is_none() && (short || cut_mid_packet(path, &ictx)) {
        damage.truncated_at_s = Some(decoded_end);
        info.duration_s = decoded_end;
    }
    info.duration_s = info.duration_s.max(decoded_end);
    let thumbnails = thumbnail_size.map(|(width, height)| {
        thumbs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (times_s, frames) = thumbs.into_iter().unzip();
        Thumbnails { width, height, times_s, frames }
    });
    Ok((SampledVideo { info, sample_fps: config.fps, frames, signatures, damage }, thumbnails))
}

/// `frame` scaled to `size` RGB24 by `flags`, through `scaler` (made again when the
/// input's size or format changes), tightly packed.
fn scale_rgb(
    scaler: &mut Option<scaling::Context>,
    frame: &ff::frame::Video,
    (w, h): (u32, u32),
    flags: scaling::Flags,
) -> std::result::Result<Vec<u8>, ff::Error> {
    let needs_new = scaler.as_ref().is_none_or(|s| {
        s.input().width != frame.width() || s.input().height != frame.height() || s.input().format != frame.format()
    });
    if needs_new {
        *scaler =
            Some(scaling::Context::get(frame.format(), frame.width(), frame.height(), Pixel::RGB24, w, h, flags)?);
    }
    let mut rgb = ff::frame::Video::empty();
    scaler.as_mut().expect("scaler was created above").run(frame, &mut rgb)?;
    Ok(packed_rgb(&rgb))
}

/// An MPEG transport stream (188-byte packets; 192 in M2TS) whose size is a whole
/// number of neither: the file was cut inside its last packet.
fn cut_mid_packet(path: &Path, ictx: &ff::format::context::Input) -> bool {
    ictx.format().name() == "mpegts" && std::fs::metadata(path).is_ok_and(|m| m.len() % 188 != 0 && m.len() % 192 != 0)
}

/// Name of the codec of the best video stream (e.g. "h264"), for checks on outputs.
pub fn codec_name(path: &Path) -> Result<String> {
    let v = open_video(path)?;
    Ok(v.decoder.codec().map(|c| c.name().to_string()).unwrap_or_default())
}
