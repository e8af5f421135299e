//! Song decoding with symphonia: every format it reads, downmixed to mono and
//! resampled to the analysis rate with a windowed-sinc filter.

use crate::{MediaError, Result};
use std::fs::File;
use std::path::Path;
use symphonia::core::audio::{Audio, GenericAudioBufferRef};
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
    // Resample while decoding: the song is never held at its source rate.
    let mut samples = Vec::new();
    let info = decode_mono_streaming(path, target_rate, &mut |chunk| samples.extend_from_slice(chunk))?;
    Ok(MonoAudio {
        samples,
        sample_rate: target_rate,
        source_rate: info.source_rate,
        source_channels: info.source_channels,
    })
}

/// What a streamed decode delivered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamedAudio {
    /// Mono samples handed to the sink, at the requested rate.
    pub samples: u64,
    pub sample_rate: u32,
    pub source_rate: u32,
    pub source_channels: usize,
}

impl StreamedAudio {
    pub fn duration_s(&self) -> f64 {
        self.samples as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// [`decode_mono`] without collecting: the mono PCM at `target_rate` goes to `sink`
/// chunk by chunk as it is decoded, so memory does not grow with the song (an
/// hour-long file is analysed in a few MB with `tuneclip_audio::SongAnalyzer`).
pub fn decode_mono_streaming(path: &Path, target_rate: u32, sink: &mut dyn FnMut(&[f32])) -> Result<StreamedAudio> {
    if !(8000..=192_000).contains(&target_rate) {
        return Err(MediaError::InvalidRequest {
            path: path.to_path_buf(),
            reason: format!("invalid target sample rate {target_rate} Hz (expected 8000..=192000)"),
        });
    }
    let mut out = Vec::new();
    let mut delivered = 0u64;
    let mut resampler: Option<StreamResampler> = None;
    let info = decode_checked(path, &mut |chunk, rate| {
        out.clear();
        resampler.get_or_insert_with(|| StreamResampler::new(rate, target_rate)).push(chunk, &mut out);
        delivered += out.len() as u64;
        sink(&out);
    })?;
    if let Some(r) = resampler {
        out.clear();
        r.finish(&mut out);
        delivered += out.len() as u64;
        sink(&out);
    }
    Ok(StreamedAudio {
        samples: delivered,
        sample_rate: target_rate,
        source_rate: info.rate,
        source_channels: info.channels,
    })
}

/// Shortest stream accepted as a song: anything shorter is a broken or empty file.
pub const MIN_SONG_S: f64 = 0.1;

/// Decode to mono at the file's own sample rate (encoder delay and padding trimmed
/// where the format records them).
pub fn decode_native_mono(path: &Path) -> Result<MonoAudio> {
    let mut samples = Vec::new();
    let info = decode_checked(path, &mut |chunk, _| samples.extend_from_slice(chunk))?;
    Ok(MonoAudio { samples, sample_rate: info.rate, source_rate: info.rate, source_channels: info.channels })
}

/// What a decode saw: source rate, channel count and mono frames delivered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DecodeInfo {
    pub rate: u32,
    pub channels: usize,
    pub frames: u64,
}

/// Receives mono chunks at the source rate, in order.
pub(crate) type Sink<'a> = dyn FnMut(&[f32], u32) + 'a;

fn decode_checked(path: &Path, sink: &mut Sink) -> Result<DecodeInfo> {
    let info = decode_symphonia(path, sink)?;
    let decoded_s = info.frames as f64 / f64::from(info.rate.max(1));
    if decoded_s < MIN_SONG_S {
        return Err(MediaError::TooShort { path: path.to_path_buf(), decoded_s, min_s: MIN_SONG_S });
    }
    Ok(info)
}

fn decode_symphonia(path: &Path, sink: &mut Sink) -> Result<DecodeInfo> {
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
        return crate::audio_ffmpeg::decode(path, sink);
    }
    let mut decoder =
        match symphonia::default::get_codecs().make_audio_decoder(&params, &AudioDecoderOptions::default()) {
            Ok(d) => d,
            // A container symphonia reads around a codec it lacks (Opus): FFmpeg decodes it.
            Err(SymError::Unsupported(_)) => return crate::audio_ffmpeg::decode(path, sink),
            Err(e) => return Err(dec_err(format!("cannot create a decoder ({e})"))),
        };

    let mut mono: Vec<f32> = Vec::new();
    let mut frames = 0u64;
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
            Err(e) if frames == 0 => return Err(dec_err(e.to_string())),
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
                mono.clear();
                match &buf {
                    // Float planes (MP3, Vorbis, ...): summed plane by plane, which
                    // vectorises, in the per-frame sum's order (the same bits); skips
                    // the interleaved copy (3-4% of a whole song's analysis, measured).
                    GenericAudioBufferRef::F32(b) if b.num_planes() == channels => {
                        for c in 0..channels {
                            let plane = b.plane(c).unwrap_or_default();
                            if c == 0 {
                                mono.extend_from_slice(plane);
                            } else {
                                mono.iter_mut().zip(plane).for_each(|(m, x)| *m += x);
                            }
                        }
                        if channels > 1 {
                            let n = channels as f32;
                            mono.iter_mut().for_each(|m| *m /= n);
                        }
                    }
                    _ => {
                        buf.copy_to_vec_interleaved(&mut interleaved);
                        mono.extend(
                            interleaved.chunks_exact(channels).map(|frame| frame.iter().sum::<f32>() / channels as f32),
                        );
                    }
                }
                frames += mono.len() as u64;
                sink(&mono, source_rate);
            }
            Err(SymError::DecodeError(_)) | Err(SymError::IoError(_)) => {
                bad_packets += 1;
                if bad_packets > 1000 && frames == 0 {
                    return Err(dec_err("no decodable packet in the first 1000".into()));
                }
            }
            Err(e) => return Err(dec_err(e.to_string())),
        }
    }
    if frames == 0 || source_rate == 0 {
        return Err(MediaError::EmptyAudio { path: path.to_path_buf() });
    }
    // The header said how long the stream is; a file cut short decodes much less.
    if let Some(declared) = declared_frames
        && frames + 4096 < declared
    {
        let rate = f64::from(source_rate);
        return Err(MediaError::Truncated {
            path: path.to_path_buf(),
            decoded_s: frames as f64 / rate,
            declared_s: declared as f64 / rate,
        });
    }
    Ok(DecodeInfo { rate: source_rate, channels, frames })
}

/// Zero crossings of the windowed sinc on each side. 8 keeps aliases below -46 dB
/// (tested) at half the cost of 16; analysis features do not need more.
const ZERO_CROSSINGS: f64 = 8.0;

/// The windowed-sinc filter both resamplers use: Hann window, [`ZERO_CROSSINGS`] each
/// side, cut-off just below the lower Nyquist frequency.
struct SincFilter {
    cutoff: f64,
    half_width: f64,
}

impl SincFilter {
    fn new(from_hz: u32, to_hz: u32) -> Self {
        // Exact 2:1 (44.1 -> 22.05 kHz, the common case) uses a half-band filter: cut-off
        // at the new Nyquist frequency, where every other tap is zero and the rest are
        // symmetric, so an output costs 9 multiplies instead of 40. Its transition band
        // is centred on the new Nyquist frequency, 0.3 kHz above the general filter's.
        let cutoff = if from_hz == 2 * to_hz { 0.5 } else { (f64::from(to_hz) / f64::from(from_hz)).min(1.0) * 0.97 };
        Self { cutoff, half_width: ZERO_CROSSINGS / cutoff }
    }

    fn half_band(&self) -> bool {
        self.cutoff == 0.5
    }

    fn weight(&self, d: f64) -> f64 {
        if d.abs() > self.half_width {
            return 0.0;
        }
        // The half-band filter's even taps are exactly zero (the sinc's zeros).
        if self.half_band() && d != 0.0 && d.fract() == 0.0 && (d as i64) % 2 == 0 {
            return 0.0;
        }
        let arg = d * self.cutoff;
        let sinc =
            if arg.abs() < 1e-9 { 1.0 } else { (std::f64::consts::PI * arg).sin() / (std::f64::consts::PI * arg) };
        sinc * (0.5 + 0.5 * (std::f64::consts::PI * d / self.half_width).cos()) * self.cutoff
    }

    fn reach(&self) -> i64 {
        self.half_width.ceil() as i64
    }
}

/// Largest number of phases tabulated; rarer rate pairs are evaluated directly.
const MAX_PHASES: u64 = 4096;

/// Polyphase table for `L/M`: `table[p][t]` weighs input `base - reach + t` for phase `p`.
/// Rows are padded with zero weights to a multiple of 8 so every dot product runs in
/// whole SIMD-sized chunks.
fn phase_table(filter: &SincFilter, l: u64) -> Vec<Vec<f32>> {
    let reach = filter.reach();
    let taps = (2 * reach + 2) as usize;
    let padded = taps.div_ceil(8) * 8;
    (0..l)
        .map(|p| {
            (0..padded)
                .map(
                    |t| {
                        if t < taps {
                            filter.weight((t as i64 - reach) as f64 - p as f64 / l as f64) as f32
                        } else {
                            0.0
                        }
                    },
                )
                .collect()
        })
        .collect()
}

/// Band-limited resampling of a whole signal (see [`StreamResampler`] for the same
/// filter applied chunk by chunk; both give identical samples).
pub fn resample(input: &[f32], from_hz: u32, to_hz: u32) -> Vec<f32> {
    let mut out = Vec::with_capacity((input.len() as f64 * f64::from(to_hz) / f64::from(from_hz.max(1))) as usize + 1);
    let mut r = StreamResampler::new(from_hz, to_hz);
    // In slices, so the resampler's buffer stays small (it copies what it is given).
    for chunk in input.chunks(1 << 16) {
        r.push(chunk, &mut out);
    }
    r.finish(&mut out);
    out
}

/// Streaming windowed-sinc resampler. For a rational ratio `L/M` (after dividing by the
/// gcd) the output phases repeat every `L` samples, so the filter is tabulated once per
/// phase and each output sample is one dot product; only the filter's reach of input
/// is kept between chunks. Output length is `round(input_len * to / from)`.
pub struct StreamResampler {
    from_hz: u32,
    to_hz: u32,
    filter: SincFilter,
    l: u64,
    m: u64,
    table: Option<Vec<Vec<f32>>>,
    /// For the 2:1 half-band filter: the centre tap and the taps at odd offsets 1, 3, .. 15.
    half_band: Option<(f32, [f32; 8])>,
    /// Scratch for the half-band filter's gathered samples.
    odd_samples: Vec<f32>,
    /// Input not yet fully consumed; `buf[0]` is input sample `buf_start`.
    buf: Vec<f32>,
    buf_start: u64,
    n_in: u64,
    n_out: u64,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler").field("from_hz", &self.from_hz).field("to_hz", &self.to_hz).finish()
    }
}

impl StreamResampler {
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        let filter = SincFilter::new(from_hz.max(1), to_hz.max(1));
        let g = gcd(from_hz.max(1), to_hz.max(1));
        let (l, m) = (u64::from(to_hz.max(1) / g), u64::from(from_hz.max(1) / g));
        let table = (from_hz != to_hz && l <= MAX_PHASES).then(|| phase_table(&filter, l));
        // ZERO_CROSSINGS = 8 at cut-off 0.5: taps reach 16 samples, the odd ones are 1..=15.
        let half_band = (filter.half_band() && filter.reach() == 16)
            .then(|| (filter.weight(0.0) as f32, std::array::from_fn(|k| filter.weight((2 * k + 1) as f64) as f32)));
        Self {
            from_hz,
            to_hz,
            filter,
            l,
            m,
            table,
            half_band,
            odd_samples: Vec::new(),
            buf: Vec::new(),
            buf_start: 0,
            n_in: 0,
            n_out: 0,
        }
    }

    fn passthrough(&self) -> bool {
        self.from_hz == self.to_hz || self.from_hz == 0 || self.to_hz == 0
    }

    /// Output sample `n`, treating input beyond `known` (or before 0) as silence.
    fn output(&self, n: u64, known: u64) -> f32 {
        let pos = n * self.m;
        let (base, phase) = ((pos / self.l) as i64, (pos % self.l) as usize);
        let reach = self.filter.reach();
        let lo = base - reach;
        let sample = |i: i64| -> f32 {
            if i < 0 || i as u64 >= known || (i as u64) < self.buf_start {
                0.0
            } else {
                self.buf.get((i as u64 - self.buf_start) as usize).copied().unwrap_or(0.0)
            }
        };
        match &self.table {
            Some(table) => {
                let w = &table[phase];
                let start = lo - self.buf_start as i64;
                if lo >= 0 && start >= 0 && (lo as u64 + w.len() as u64) <= known {
                    let s = start as usize;
                    tuneclip_core::dot(&self.buf[s..s + w.len()], w)
                } else {
                    w.iter().enumerate().map(|(t, k)| sample(lo + t as i64) * k).sum()
                }
            }
            None => {
                let centre = pos as f64 / self.l as f64;
                (lo..=base + reach + 1)
                    .map(|i| f64::from(sample(i)) * self.filter.weight(i as f64 - centre))
                    .sum::<f64>() as f32
            }
        }
    }

    fn first_needed(&self, n: u64) -> u64 {
        ((n * self.m / self.l) as i64 - self.filter.reach()).max(0) as u64
    }

    /// Feed the next chunk of input; writes every output sample it completes.
    pub fn push(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if self.passthrough() {
            out.extend_from_slice(input);
            return;
        }
        self.buf.extend_from_slice(input);
        self.n_in += input.len() as u64;
        let reach = self.filter.reach();
        let taps = self.table.as_ref().and_then(|t| t.first()).map_or(2 * reach as u64 + 2, |row| row.len() as u64);
        // Walk the output positions incrementally (no division per sample): output n
        // reads from input `base - reach` with filter phase `phase`, `n * M = base * L + phase`.
        let pos = self.n_out * self.m;
        let (mut base, mut phase) = (pos / self.l, pos % self.l);
        let (step_base, step_phase) = (self.m / self.l, self.m % self.l);
        loop {
            let lo = base as i64 - reach;
            if (lo.max(0) as u64) + taps > self.n_in {
                break;
            }
            if let Some((centre, odd)) = &self.half_band
                && lo >= self.buf_start as i64
            {
                // Every output this chunk completes, in one vectorised pass.
                let count = ((self.n_in - taps - lo as u64) / 2 + 1) as usize;
                let x = &self.buf[(base - self.buf_start) as usize - 15..];
                half_band_block(x, *centre, odd, count, &mut self.odd_samples, out);
                self.n_out += count as u64;
                base += 2 * count as u64;
                continue;
            }
            let y = match &self.table {
                Some(table) if lo >= self.buf_start as i64 => {
                    let s = (lo - self.buf_start as i64) as usize;
                    tuneclip_core::dot(&self.buf[s..s + taps as usize], &table[phase as usize])
                }
                _ => self.output(self.n_out, self.n_in),
            };
            out.push(y);
            self.n_out += 1;
            base += step_base;
            phase += step_phase;
            if phase >= self.l {
                phase -= self.l;
                base += 1;
            }
        }
        let keep_from = self.first_needed(self.n_out);
        if keep_from > self.buf_start {
            let drop = ((keep_from - self.buf_start) as usize).min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_start += drop as u64;
        }
    }

    /// End of input: write the remaining output samples.
    pub fn finish(mut self, out: &mut Vec<f32>) {
        if self.passthrough() {
            return;
        }
        let total = (self.n_in as f64 * f64::from(self.to_hz) / f64::from(self.from_hz)).round() as u64;
        while self.n_out < total {
            out.push(self.output(self.n_out, self.n_in));
            self.n_out += 1;
        }
    }
}

/// `count` outputs of the 2:1 half-band filter: output `n` is centred on `x[15 + 2n]`
/// and is its centre tap plus the symmetric pairs at odd offsets 1, 3, .. 15. The
/// odd-offset samples are gathered once into `odd_samples` (every output reads
/// sixteen of them), then each tap is one pass over all outputs: plain lane-wise
/// arithmetic the compiler vectorises.
fn half_band_block(
    x: &[f32],
    centre: f32,
    odd: &[f32; 8],
    count: usize,
    odd_samples: &mut Vec<f32>,
    out: &mut Vec<f32>,
) {
    // odd_samples[i] = x[2i]: offsets -15, -13, .. of output 0.
    odd_samples.clear();
    odd_samples.extend(x.chunks_exact(2).take(count + 15).map(|p| p[0]));
    let start = out.len();
    out.extend(x[15..].chunks(2).take(count).map(|p| centre * p[0]));
    let y = &mut out[start..];
    // The pair at offsets -(2k + 1) and +(2k + 1) of output n: odd_samples[n + 7 - k]
    // and odd_samples[n + 8 + k].
    for (k, w) in odd.iter().enumerate() {
        let (before, after) = (&odd_samples[7 - k..7 - k + count], &odd_samples[8 + k..8 + k + count]);
        for ((y, b), a) in y.iter_mut().zip(before).zip(after) {
            *y += w * (b + a);
        }
    }
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
        assert!(rms(&stop[1000..10_000]) < 0.005, "stopband rms {}", rms(&stop[1000..10_000]));
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
        for n in [100usize, 777, 1500] {
            let direct = direct_sinc(&x, n as f64 / ratio, ratio * 0.97);
            assert!((f64::from(y[n]) - direct).abs() < 1e-4, "sample {n}: {} vs {direct}", y[n]);
        }
    }

    /// The Hann-windowed sinc of [`ZERO_CROSSINGS`] a side at `cutoff` (cycles per
    /// input sample, doubled), applied to `x` around input position `centre`, evaluated
    /// directly in f64: what every resampler output must equal.
    fn direct_sinc(x: &[f32], centre: f64, cutoff: f64) -> f64 {
        let hw = ZERO_CROSSINGS / cutoff;
        (0..x.len())
            .map(|k| {
                let d = k as f64 - centre;
                if d.abs() > hw {
                    return 0.0;
                }
                let a = std::f64::consts::PI * d * cutoff;
                let sinc = if a.abs() < 1e-12 { 1.0 } else { a.sin() / a };
                f64::from(x[k]) * sinc * (0.5 + 0.5 * (std::f64::consts::PI * d / hw).cos()) * cutoff
            })
            .sum()
    }

    #[test]
    fn half_band_two_to_one_matches_direct_evaluation() {
        // 44.1 -> 22.05 kHz: output n is the half-band filter (cut-off 0.5, Hann-windowed
        // sinc of 8 zero crossings a side) centred on input 2n.
        let x: Vec<f32> =
            (0..4410).map(|i| ((i as f32) * 0.37).sin() * 0.5 + ((i as f32) * 0.05).cos() * 0.3).collect();
        let y = resample(&x, 44_100, 22_050);
        assert_eq!(y.len(), 2205);
        // Every output: the first ones (the filter reaching before the signal) are
        // evaluated one by one, the rest in vectorised blocks.
        for (n, v) in y.iter().enumerate() {
            let direct = direct_sinc(&x, 2.0 * n as f64, 0.5);
            assert!((f64::from(*v) - direct).abs() < 1e-4, "sample {n}: {v} vs {direct}");
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_whole_signal_resampling() {
        let x: Vec<f32> = (0..30_000).map(|i| ((i as f32) * 0.013).sin() + ((i as f32) * 0.29).cos() * 0.2).collect();
        for (from, to) in [(44_100, 22_050), (48_000, 22_050), (22_050, 44_100), (8_000, 22_050)] {
            let whole = resample(&x, from, to);
            let mut r = StreamResampler::new(from, to);
            let mut streamed = Vec::new();
            let mut rest = &x[..];
            let mut size = 1;
            while !rest.is_empty() {
                let n = size.min(rest.len());
                r.push(&rest[..n], &mut streamed);
                rest = &rest[n..];
                size = size * 3 % 4097 + 1;
            }
            r.finish(&mut streamed);
            assert_eq!(whole.len(), streamed.len(), "{from} -> {to}");
            let worst = whole.iter().zip(&streamed).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 1e-5, "{from} -> {to}: max difference {worst}");
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
