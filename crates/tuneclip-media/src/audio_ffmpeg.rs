//! Audio decoding through FFmpeg, for codecs symphonia lacks (Opus) and for MP4/M4A
//! AAC, whose encoder delay symphonia does not trim but FFmpeg does (from the edit list).

use crate::audio::{DecodeInfo, Sink};
use crate::{MediaError, Result, ffmpeg_init};
use ff::format::sample::{Sample, Type as SampleType};
use ffmpeg_next as ff;
use std::path::Path;

fn is_planar(fmt: Sample) -> bool {
    matches!(
        fmt,
        Sample::F32(SampleType::Planar)
            | Sample::F64(SampleType::Planar)
            | Sample::I16(SampleType::Planar)
            | Sample::I32(SampleType::Planar)
            | Sample::I64(SampleType::Planar)
            | Sample::U8(SampleType::Planar)
    )
}

fn read_sample(fmt: Sample, b: &[u8]) -> std::result::Result<f32, String> {
    Ok(match fmt {
        Sample::F32(_) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        Sample::F64(_) => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        Sample::I16(_) => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0,
        Sample::I32(_) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
        Sample::I64(_) => i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32 / 9.223_372e18,
        Sample::U8(_) => (f32::from(b[0]) - 128.0) / 128.0,
        Sample::None => return Err("decoder produced no sample format".into()),
    })
}

/// Mean of the channels of one decoded frame, appended to `out`.
fn downmix(frame: &ff::frame::Audio, out: &mut Vec<f32>) -> std::result::Result<(), String> {
    let (n, ch) = (frame.samples(), usize::from(frame.channels()).max(1));
    let fmt = frame.format();
    let bytes_per = fmt.bytes();
    let planar = is_planar(fmt);
    out.reserve(n);
    for i in 0..n {
        let mut acc = 0.0f32;
        for c in 0..ch {
            let (plane, off) = if planar { (c, i * bytes_per) } else { (0, (i * ch + c) * bytes_per) };
            acc += read_sample(fmt, &frame.data(plane)[off..off + bytes_per])?;
        }
        out.push(acc / ch as f32);
    }
    Ok(())
}

struct OpenAudio {
    ictx: ff::format::context::Input,
    index: usize,
    time_base: ff::Rational,
    decoder: ff::decoder::Audio,
}

/// Open the best audio stream of `path` and its decoder.
fn open_audio(path: &Path) -> Result<OpenAudio> {
    ffmpeg_init()?;
    let dec_err = |reason: String| MediaError::Decode { path: path.to_path_buf(), reason };
    let ictx = ff::format::input(path).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: format!("not a readable media file ({e})"),
    })?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Audio)
        .ok_or_else(|| MediaError::NoAudioTrack { path: path.to_path_buf() })?;
    let (index, time_base) = (stream.index(), stream.time_base());
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| dec_err(format!("codec parameters: {e}")))?;
    let decoder = ctx.decoder().audio().map_err(|e| dec_err(format!("no decoder for this codec ({e})")))?;
    Ok(OpenAudio { ictx, index, time_base, decoder })
}

/// Decode the best audio stream of `path` with FFmpeg, handing mono chunks at the
/// source rate to `sink`.
pub(crate) fn decode(path: &Path, sink: &mut Sink) -> Result<DecodeInfo> {
    let dec_err = |reason: String| MediaError::Decode { path: path.to_path_buf(), reason };
    let OpenAudio { mut ictx, index, mut decoder, .. } = open_audio(path)?;
    let mut mono = Vec::new();
    let mut frames = 0u64;
    let mut frame = ff::frame::Audio::empty();
    let (mut rate, mut channels) = (0u32, 0usize);
    let mut drain = |decoder: &mut ff::decoder::Audio, mono: &mut Vec<f32>| -> Result<()> {
        while decoder.receive_frame(&mut frame).is_ok() {
            rate = frame.rate();
            channels = usize::from(frame.channels());
            mono.clear();
            downmix(&frame, mono).map_err(dec_err)?;
            frames += mono.len() as u64;
            sink(mono, rate);
        }
        Ok(())
    };
    for (s, packet) in ictx.packets() {
        if s.index() == index && decoder.send_packet(&packet).is_ok() {
            drain(&mut decoder, &mut mono)?;
        }
    }
    let _ = decoder.send_eof();
    drain(&mut decoder, &mut mono)?;
    if frames == 0 || rate == 0 {
        return Err(MediaError::EmptyAudio { path: path.to_path_buf() });
    }
    Ok(DecodeInfo { rate, channels, frames })
}

/// Stereo PCM (left, right) at the file's own rate.
#[derive(Debug, Clone)]
pub struct StereoWindow {
    pub rate: u32,
    pub left: Vec<f32>,
    pub right: Vec<f32>,
}

/// Decode `duration_s` of `path` from `start_s` as stereo (mono is duplicated, channels
/// beyond two are dropped), sample-exact: leading samples before `start_s` are cut.
pub fn decode_stereo_window(path: &Path, start_s: f64, duration_s: f64) -> Result<StereoWindow> {
    let dec_err = |reason: String| MediaError::Decode { path: path.to_path_buf(), reason };
    let OpenAudio { mut ictx, index, time_base: tb, mut decoder } = open_audio(path)?;
    if start_s > 0.0 {
        let us = (start_s * 1e6) as i64;
        ictx.seek(us, ..us).map_err(|e| dec_err(format!("seek to {start_s:.3}s failed ({e})")))?;
        decoder.flush();
    }
    let mut out = StereoWindow { rate: 0, left: Vec::new(), right: Vec::new() };
    let mut frame = ff::frame::Audio::empty();
    let mut mono = Vec::new();
    let mut wanted = usize::MAX;
    let mut take = |frame: &ff::frame::Audio, out: &mut StereoWindow| -> Result<bool> {
        let rate = frame.rate();
        if out.rate == 0 {
            out.rate = rate;
            wanted = (duration_s * f64::from(rate)).round() as usize;
        }
        let t0 = frame.pts().map_or(0.0, |p| p as f64 * f64::from(tb));
        // Per channel, through the same sample reader as the mono path.
        let channels = usize::from(frame.channels()).max(1);
        let mut per_channel: Vec<Vec<f32>> = Vec::with_capacity(2);
        for c in 0..channels.min(2) {
            mono.clear();
            channel(frame, c, &mut mono).map_err(dec_err)?;
            per_channel.push(mono.clone());
        }
        if per_channel.len() == 1 {
            per_channel.push(per_channel[0].clone());
        }
        let skip = ((start_s - t0) * f64::from(rate)).round().max(0.0) as usize;
        let first = skip.min(frame.samples());
        let room = wanted.saturating_sub(out.left.len());
        let last = frame.samples().min(first + room);
        out.left.extend_from_slice(&per_channel[0][first..last]);
        out.right.extend_from_slice(&per_channel[1][first..last]);
        Ok(out.left.len() >= wanted)
    };
    let mut done = false;
    for (s, packet) in ictx.packets() {
        if s.index() != index || decoder.send_packet(&packet).is_err() {
            continue;
        }
        while decoder.receive_frame(&mut frame).is_ok() {
            done |= take(&frame, &mut out)?;
        }
        if done {
            break;
        }
    }
    if !done {
        let _ = decoder.send_eof();
        while decoder.receive_frame(&mut frame).is_ok() {
            take(&frame, &mut out)?;
        }
    }
    if out.left.is_empty() {
        return Err(MediaError::EmptyAudio { path: path.to_path_buf() });
    }
    Ok(out)
}

/// One channel of a decoded frame as f32, appended to `out`.
fn channel(frame: &ff::frame::Audio, c: usize, out: &mut Vec<f32>) -> std::result::Result<(), String> {
    let (n, ch) = (frame.samples(), usize::from(frame.channels()).max(1));
    let fmt = frame.format();
    let bytes_per = fmt.bytes();
    let planar = is_planar(fmt);
    let data = frame.data(if planar { c } else { 0 });
    for i in 0..n {
        let off = if planar { i * bytes_per } else { (i * ch + c) * bytes_per };
        out.push(read_sample(fmt, &data[off..off + bytes_per])?);
    }
    Ok(())
}
