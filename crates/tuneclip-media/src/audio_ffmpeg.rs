//! Audio decoding through FFmpeg, for codecs symphonia lacks (Opus) and for MP4/M4A
//! AAC, whose encoder delay symphonia does not trim but FFmpeg does (from the edit list).

use crate::audio::{DecodeInfo, Sink};
use crate::{MediaError, Result, ffmpeg_init};
use ff::format::sample::{Sample, Type as SampleType};
use ffmpeg_next as ff;
use std::path::Path;

/// Mean of the channels of one decoded frame, appended to `out`.
fn downmix(frame: &ff::frame::Audio, out: &mut Vec<f32>) -> std::result::Result<(), String> {
    let (n, ch) = (frame.samples(), usize::from(frame.channels()).max(1));
    let fmt = frame.format();
    let bytes_per = fmt.bytes();
    let read = |b: &[u8]| -> f32 {
        match fmt {
            Sample::F32(_) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Sample::F64(_) => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
            Sample::I16(_) => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32_768.0,
            Sample::I32(_) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0,
            Sample::I64(_) => {
                i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32 / 9.223_372e18
            }
            Sample::U8(_) => (f32::from(b[0]) - 128.0) / 128.0,
            Sample::None => 0.0,
        }
    };
    if matches!(fmt, Sample::None) {
        return Err("decoder produced no sample format".into());
    }
    let planar = matches!(
        fmt,
        Sample::F32(SampleType::Planar)
            | Sample::F64(SampleType::Planar)
            | Sample::I16(SampleType::Planar)
            | Sample::I32(SampleType::Planar)
            | Sample::I64(SampleType::Planar)
            | Sample::U8(SampleType::Planar)
    );
    out.reserve(n);
    for i in 0..n {
        let mut acc = 0.0f32;
        for c in 0..ch {
            let (plane, off) = if planar { (c, i * bytes_per) } else { (0, (i * ch + c) * bytes_per) };
            let data = frame.data(plane);
            acc += read(&data[off..off + bytes_per]);
        }
        out.push(acc / ch as f32);
    }
    Ok(())
}

/// Decode the best audio stream of `path` with FFmpeg, handing mono chunks at the
/// source rate to `sink`.
pub(crate) fn decode(path: &Path, sink: &mut Sink) -> Result<DecodeInfo> {
    ffmpeg_init()?;
    let dec_err = |reason: String| MediaError::Decode { path: path.to_path_buf(), reason };
    let mut ictx = ff::format::input(path).map_err(|e| MediaError::Open {
        path: path.to_path_buf(),
        reason: format!("not a readable media file ({e})"),
    })?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Audio)
        .ok_or_else(|| MediaError::NoAudioTrack { path: path.to_path_buf() })?;
    let index = stream.index();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| dec_err(format!("codec parameters: {e}")))?;
    let mut decoder = ctx.decoder().audio().map_err(|e| dec_err(format!("no decoder for this codec ({e})")))?;
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
