//! Song decoding with symphonia: every format it reads, downmixed to mono and
//! resampled to the analysis rate with a windowed-sinc filter.

use crate::{MediaError, Result};
use std::fs::File;
use std::path::Path;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// Mono PCM at `sample_rate`, with what the source was.
#[derive(Debug, Clone)]
pub struct MonoAudio {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub source_rate: u32,
    pub source_channels: usize,
}

impl MonoAudio {
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }
}

/// Decode the default audio track of `path`, average its channels, and resample to
/// `target_rate` Hz.
///
/// Corrupt packets inside an otherwise valid stream are skipped (as players do); a file
/// that yields no audio at all is an error naming the file.
pub fn decode_mono(path: &Path, target_rate: u32) -> Result<MonoAudio> {
    if !(8000..=192_000).contains(&target_rate) {
        return Err(MediaError::InvalidRequest {
            path: path.to_path_buf(),
            reason: format!("invalid target sample rate {target_rate} Hz (expected 8000..=192000)"),
        });
    }
    let native = decode_native_mono(path)?;
    let samples = resample(&native.samples, native.sample_rate, target_rate);
    Ok(MonoAudio {
        samples,
        sample_rate: target_rate,
        source_rate: native.source_rate,
        source_channels: native.source_channels,
    })
}

/// Shortest stream accepted as a song: anything shorter is a broken or empty file.
pub const MIN_SONG_S: f64 = 0.1;

/// Decode to mono at the file's own sample rate (encoder delay and padding trimmed
/// where the format records them).
pub fn decode_native_mono(path: &Path) -> Result<MonoAudio> {
    let audio = decode_symphonia(path)?;
    if audio.duration_s() < MIN_SONG_S {
        return Err(MediaError::TooShort {
            path: path.to_path_buf(),
            decoded_s: audio.duration_s(),
            min_s: MIN_SONG_S,
        });
    }
    Ok(audio)
}

fn decode_symphonia(path: &Path) -> Result<MonoAudio> {
    let open_err = |reason: String| MediaError::Open { path: path.to_path_buf(), reason };
    let dec_err = |reason: String| MediaError::Decode { path: path.to_path_buf(), reason };
    let file = File::open(path).map_err(|e| open_err(e.to_string()))?;
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(&hint, mss, FormatOptions::default(), MetadataOptions::default())
        .map_err(|e| open_err(format!("not a readable audio file ({e})")))?;
    let track =
        format.default_track(TrackType::Audio).ok_or_else(|| MediaError::NoAudioTrack { path: path.to_path_buf() })?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| MediaError::NoAudioTrack { path: path.to_path_buf() })?
        .clone();
    // AAC: symphonia does not trim the encoder delay that MP4 edit lists record, so
    // sample positions would be off by ~2k samples from every other tool; FFmpeg trims it.
    if params.codec == symphonia::core::codecs::audio::well_known::CODEC_ID_AAC {
        return crate::audio_ffmpeg::decode_native_mono(path);
    }
    let mut decoder =
        match symphonia::default::get_codecs().make_audio_decoder(&params, &AudioDecoderOptions::default()) {
            Ok(d) => d,
            // A container symphonia reads around a codec it lacks (Opus): FFmpeg decodes it.
            Err(SymError::Unsupported(_)) => return crate::audio_ffmpeg::decode_native_mono(path),
            Err(e) => return Err(dec_err(format!("cannot create a decoder ({e})"))),
        };

    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    let mut source_rate = params.sample_rate.unwrap_or(0);
    let mut channels = 0usize;
    let mut bad_packets = 0usize;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            // A truncated file ends like this: keep what decoded.
            Err(SymError::IoError(_)) => break,
            Err(e) if mono.is_empty() => return Err(dec_err(e.to_string())),
            Err(_) => break,
        };
        if packet.track_id != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let spec = buf.spec();
                source_rate = spec.rate();
                channels = spec.channels().count().max(1);
                buf.copy_to_vec_interleaved(&mut interleaved);
                mono.extend(
                    interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32),
                );
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                bad_packets += 1;
                if bad_packets > 1000 && mono.is_empty() {
                    return Err(dec_err("no decodable packet in the first 1000".into()));
                }
            }
            Err(e) => return Err(dec_err(e.to_string())),
        }
    }
    if mono.is_empty() || source_rate == 0 {
        return Err(MediaError::EmptyAudio { path: path.to_path_buf() });
    }
    // The header said how long the stream is; a file cut short decodes much less.
    if let Some(declared) = declared_frames
        && (mono.len() as u64) + 4096 < declared
    {
        let rate = f64::from(source_rate);
        return Err(MediaError::Truncated {
            path: path.to_path_buf(),
            decoded_s: mono.len() as f64 / rate,
            declared_s: declared as f64 / rate,
        });
    }
    Ok(MonoAudio { samples: mono, sample_rate: source_rate, source_rate, source_channels: channels })
}

/// Band-limited resampling by windowed-sinc interpolation (Hann window, 16 zero
/// crossings each side, cut-off just below the lower Nyquist frequency).
///
/// For a rational ratio `L/M` (after dividing by the gcd) the output phases repeat
/// every `L` samples, so the filter is tabulated once per phase (polyphase) and each
/// output sample is a plain dot product; `L` above 4096 falls back to direct evaluation.
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    if from_hz == to_hz || input.is_empty() || from_hz == 0 || to_hz == 0 {
        return input.to_vec();
    }
    const ZERO_CROSSINGS: f64 = 16.0;
    let ratio = f64::from(to_hz) / f64::from(from_hz);
    let cutoff = ratio.min(1.0) * 0.97; // leave a small transition band below Nyquist
    let half_width = ZERO_CROSSINGS / cutoff; // in input samples
    let kernel = |d: f64| -> f64 {
        if d.abs() > half_width {
            return 0.0;
        }
        let arg = d * cutoff;
        let sinc =
            if arg.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg) };
        let w = 0.5 + 0.5 * (std::f64::consts::PI * d / half_width).cos();
        sinc * w * cutoff
    };
    let g = gcd(from_hz, to_hz);
    let (l, m) = (u64::from(to_hz / g), u64::from(from_hz / g));
    let out_len = ((input.len() as f64) * ratio).round() as usize;
    let mut out = Vec::with_capacity(out_len);
    let reach = half_width.ceil() as i64;
    if l <= 4096 {
        // table[p][j + reach]: weight of input[base + j] for output phase p.
        let taps = (2 * reach + 2) as usize;
        let table: Vec<Vec<f32>> = (0..l)
            .map(|p| (0..taps).map(|t| kernel((t as i64 - reach) as f64 - p as f64 / l as f64) as f32).collect())
            .collect();
        for n in 0..out_len as u64 {
            let pos = n * m;
            let (base, phase) = ((pos / l) as i64, (pos % l) as usize);
            let w = &table[phase];
            let lo = base - reach;
            let acc: f32 = if lo >= 0 && (lo as usize + w.len()) <= input.len() {
                input[lo as usize..lo as usize + w.len()].iter().zip(w).map(|(x, k)| x * k).sum()
            } else {
                w.iter()
                    .enumerate()
                    .filter_map(|(t, k)| input.get(usize::try_from(lo + t as i64).ok()?).map(|x| x * k))
                    .sum()
            };
            out.push(acc);
        }
    } else {
        for n in 0..out_len {
            let centre = n as f64 / ratio;
            let lo = (centre - half_width).ceil().max(0.0) as usize;
            let hi = ((centre + half_width).floor() as usize).min(input.len() - 1);
            let acc: f64 = (lo..=hi).map(|k| f64::from(input[k]) * kernel(k as f64 - centre)).sum();
            out.push(acc as f32);
        }
    }
    out
}

fn gcd(mut a: u32, mut b: u32) -> u32 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n).map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32).collect()
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    #[test]
    fn resample_keeps_passband_and_removes_aliases() {
        // 1 kHz survives 44.1k -> 22.05k with its amplitude (RMS of a unit sine = 0.707).
        let pass = resample(&sine(1000.0, 44_100, 0.5), 44_100, 22_050);
        assert_eq!(pass.len(), 11_025);
        let mid = &pass[1000..10_000];
        assert!((rms(mid) - std::f64::consts::FRAC_1_SQRT_2).abs() < 0.01, "passband rms {}", rms(mid));
        // 15 kHz is above the new Nyquist (11.025 kHz): it must be attenuated, not aliased.
        let stop = resample(&sine(15_000.0, 44_100, 0.5), 44_100, 22_050);
        assert!(rms(&stop[1000..10_000]) < 0.02, "stopband rms {}", rms(&stop[1000..10_000]));
    }

    #[test]
    fn polyphase_matches_direct_evaluation() {
        // 48 kHz -> 22.05 kHz (L/M = 147/320) through the table, against the same
        // filter evaluated directly at a few output samples.
        let x: Vec<f32> =
            (0..4800).map(|i| ((i as f32) * 0.37).sin() * 0.5 + ((i as f32) * 0.05).cos() * 0.3).collect();
        let y = resample(&x, 48_000, 22_050);
        assert_eq!(y.len(), 2205);
        let ratio = 22_050.0 / 48_000.0;
        let cutoff = ratio * 0.97;
        let hw = 16.0 / cutoff;
        for n in [100usize, 777, 1500] {
            let c = n as f64 / ratio;
            let direct: f64 = (0..x.len())
                .map(|k| {
                    let d = k as f64 - c;
                    if d.abs() > hw {
                        return 0.0;
                    }
                    let a = d * cutoff;
                    let sinc = if a.abs() < 1e-9 {
                        1.0
                    } else {
                        (std::f64::consts::PI * a).sin() / (std::f64::consts::PI * a)
                    };
                    f64::from(x[k]) * sinc * (0.5 + 0.5 * (std::f64::consts::PI * d / hw).cos()) * cutoff
                })
                .sum();
            assert!((f64::from(y[n]) - direct).abs() < 1e-4, "sample {n}: {} vs {direct}", y[n]);
        }
    }

    #[test]
    fn non_audio_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("notes.ogg");
        std::fs::write(&p, b"this is not audio at all, just text").expect("write");
        let err = decode_mono(&p, 22_050).expect_err("text is not audio");
        assert!(err.to_string().contains("notes.ogg"), "{err}");
    }
}
