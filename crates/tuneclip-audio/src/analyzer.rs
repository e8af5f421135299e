//! Streaming song analysis: PCM goes in chunk by chunk as it is decoded, and only
//! compact per-frame series stay (onset envelopes, chroma, frame levels: about 60
//! bytes per 23 ms frame) plus the highlight's 0.5 s blocks. An hour-long song needs
//! about 12 MB here, whatever its sample rate; neither the signal nor its spectrogram
//! is ever held whole.

use crate::features::{AnalysisConfig, positive_flux, power_and_moment};
use crate::highlight::HighlightBlocks;
use crate::{
    AudioError, ChromaMap, LoudnessMeter, MelFilterbank, Result, SongAnalysis, SongFeatures, Stft, StftScratch,
    choose_beat_phase, estimate_tempo, harmony_change, power_to_db, steady_grid, track_beats,
};

/// Input kept before the oldest sample a future frame needs is dropped from the buffer
/// (dropping per frame would move the buffer 20,000 times a minute).
const DRAIN_AT: usize = 1 << 16;

/// Bass onsets come from the mel bands centred below this.
const BASS_ONSET_HZ: f64 = 150.0;

/// Frames each side of the harmonic-change comparison (~190 ms).
const HARMONY_HALF: usize = 8;

/// Push mono PCM at one sample rate with [`push`](Self::push), in chunks of any size,
/// then [`finish`](Self::finish). The result equals [`SongAnalysis::compute`] on the
/// whole signal (up to the order of additions inside the loudness meter).
pub struct SongAnalyzer {
    cfg: AnalysisConfig,
    sample_rate: u32,
    highlight_s: f64,
    stft: Stft,
    scratch: StftScratch,
    /// Input not yet behind every future frame; `buf[0]` is sample `buf_start`.
    buf: Vec<f32>,
    buf_start: usize,
    n_samples: usize,
    next_frame: usize,
    frames: FrameStats,
    /// `None` when only [`SongFeatures`] are wanted.
    meter: Option<LoudnessMeter>,
}

impl std::fmt::Debug for SongAnalyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SongAnalyzer")
            .field("sample_rate", &self.sample_rate)
            .field("n_samples", &self.n_samples)
            .field("frames", &self.next_frame)
            .finish()
    }
}

impl SongAnalyzer {
    /// Everything [`SongAnalysis`] holds, with a highlight of `highlight_s` seconds.
    pub fn new(sample_rate: u32, highlight_s: f64) -> Result<Self> {
        let mut a = Self::features_only(sample_rate)?;
        a.highlight_s = highlight_s;
        // A rate the K-weighting cannot be built at leaves the loudness out.
        a.meter = LoudnessMeter::new(sample_rate);
        Ok(a)
    }

    /// Only what [`finish_features`](Self::finish_features) needs (no loudness meter).
    pub fn features_only(sample_rate: u32) -> Result<Self> {
        let cfg = AnalysisConfig::default();
        let stft = Stft::new(cfg.n_fft, cfg.hop)?;
        let bank = MelFilterbank::new(sample_rate, cfg.n_fft, cfg.n_mels, 0.0, f64::from(sample_rate) / 2.0)?;
        let bin_hz = f64::from(sample_rate) / cfg.n_fft as f64;
        let frame_rate = f64::from(sample_rate) / cfg.hop as f64;
        Ok(Self {
            cfg,
            sample_rate,
            highlight_s: 0.0,
            scratch: stft.scratch(),
            stft,
            buf: Vec::new(),
            buf_start: 0,
            n_samples: 0,
            next_frame: 0,
            frames: FrameStats {
                bass_bands: bank.bands_below(BASS_ONSET_HZ).max(1),
                bank,
                chroma_map: ChromaMap::new(sample_rate, cfg.n_fft),
                bass_bins: (250.0 / bin_hz).ceil() as usize,
                bin_hz,
                n_fft: cfg.n_fft,
                mel: Vec::new(),
                spare_log_mel: Vec::new(),
                prev_log_mel: Vec::new(),
                onset: Vec::new(),
                low_onset: Vec::new(),
                chroma: Vec::new(),
                levels: Vec::new(),
                centroid_acc: 0.0,
                centroid_w: 0.0,
                bass: 0.0,
                total: 0.0,
                blocks: HighlightBlocks::new(frame_rate, cfg.n_mels),
            },
            meter: None,
        })
    }

    /// The next chunk of the song.
    pub fn push(&mut self, samples: &[f32]) {
        // Large inputs go through in slices so the buffer stays small.
        for chunk in samples.chunks(DRAIN_AT) {
            if let Some(m) = self.meter.as_mut() {
                m.push(chunk);
            }
            self.buf.extend_from_slice(chunk);
            self.n_samples += chunk.len();
            self.run_frames(false);
        }
    }

    /// First sample of frame `i` (frames are centred on `i * hop`).
    fn frame_start(&self, i: usize) -> isize {
        (i * self.cfg.hop) as isize - (self.cfg.n_fft / 2) as isize
    }

    /// Analyse every frame the input now covers (at the end, every frame, zero-padded).
    fn run_frames(&mut self, at_end: bool) {
        let last = if at_end { self.stft.n_frames(self.n_samples) } else { usize::MAX };
        while self.next_frame < last {
            let start = self.frame_start(self.next_frame);
            if !at_end && start + self.cfg.n_fft as isize > self.n_samples as isize {
                break;
            }
            let local = start - self.buf_start as isize;
            let power = self.stft.frame_power(&self.buf, local, &mut self.scratch);
            self.frames.add(power);
            self.next_frame += 1;
        }
        // Drop what no later frame reads.
        let keep_from = self.frame_start(self.next_frame).max(0) as usize;
        if keep_from > self.buf_start + DRAIN_AT || at_end {
            let drop = (keep_from.saturating_sub(self.buf_start)).min(self.buf.len());
            self.buf.drain(..drop);
            self.buf_start += drop;
        }
    }

    fn frame_rate(&self) -> f64 {
        f64::from(self.sample_rate) / self.cfg.hop as f64
    }

    /// Features only; the song must be at least four FFT windows long.
    pub fn finish_features(mut self) -> Result<SongFeatures> {
        self.complete()?;
        Ok(self.features())
    }

    /// The whole analysis.
    pub fn finish(mut self) -> Result<SongAnalysis> {
        self.complete()?;
        let mut features = self.features();
        let frame_rate = self.frame_rate();
        let tempo = f64::from(features.tempo_bpm);
        let tracked = track_beats(&self.frames.onset, frame_rate, tempo);
        // Steady music (most of it is made to a click) gets one constant grid, placed
        // on the beat by where chords change; music that moves keeps the tracked beats,
        // on or off the beat by bass onsets and harmonic change.
        let beats_s = match steady_grid(&tracked, &self.frames.onset, &self.frames.chroma, frame_rate, tempo) {
            Some(grid) => {
                // The grid's period is fitted to hundreds of beats: a closer tempo than
                // the estimate (ten MIDI songs within 0.002%, against 0.017%).
                if let (Some(a), Some(b)) = (grid.first(), grid.last())
                    && grid.len() > 1
                {
                    features.tempo_bpm = (60.0 * (grid.len() - 1) as f64 / (b - a)) as f32;
                }
                grid
            }
            None => choose_beat_phase(
                &tracked,
                &self.frames.low_onset,
                &harmony_change(&self.frames.chroma, HARMONY_HALF),
                frame_rate,
            ),
        };
        let mut chroma_mean = [0f32; 12];
        for c in &self.frames.chroma {
            for (m, v) in chroma_mean.iter_mut().zip(c) {
                *m += v / self.frames.chroma.len() as f32;
            }
        }
        let highlight = self.frames.blocks.finish(features.duration_s, self.highlight_s, &beats_s);
        let loudness = self.meter.map(LoudnessMeter::finish);
        Ok(SongAnalysis { features, beats_s, loudness, chroma_mean, highlight })
    }

    fn complete(&mut self) -> Result<()> {
        let needed = self.cfg.n_fft * 4;
        if self.n_samples < needed {
            return Err(AudioError::TooShort { samples: self.n_samples, needed });
        }
        self.run_frames(true);
        Ok(())
    }

    fn features(&self) -> SongFeatures {
        // Silence does not describe the song: level statistics over frames within 60 dB of the peak.
        let levels = &self.frames.levels;
        let peak = levels.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let active: Vec<f64> = levels.iter().cloned().filter(|l| *l > peak - 60.0).collect();
        let mean_db = active.iter().sum::<f64>() / active.len().max(1) as f64;
        let std_db = (active.iter().map(|l| (l - mean_db).powi(2)).sum::<f64>() / active.len().max(1) as f64).sqrt();

        let onset = &self.frames.onset;
        let frame_rate = self.frame_rate();
        let o_mean = onset.iter().sum::<f32>() / onset.len() as f32;
        let o_std = (onset.iter().map(|v| (v - o_mean).powi(2)).sum::<f32>() / onset.len() as f32).sqrt();
        let threshold = o_mean + o_std;
        // A peak is the maximum of its +-100 ms neighbourhood (librosa's peak_pick waits similarly).
        let half = (0.1 * frame_rate).round().max(1.0) as usize;
        let peaks = (0..onset.len())
            .filter(|&i| {
                let lo = i.saturating_sub(half);
                let hi = (i + half + 1).min(onset.len());
                onset[i] > threshold
                    && onset[lo..hi]
                        .iter()
                        .enumerate()
                        .all(|(j, v)| *v < onset[i] || (lo + j >= i && (lo + j == i || *v <= onset[i])))
            })
            .count();
        let duration_s = self.n_samples as f64 / f64::from(self.sample_rate);
        SongFeatures {
            duration_s,
            loudness_db: mean_db as f32,
            dynamics_db: std_db as f32,
            centroid_hz: if self.frames.centroid_w > 0.0 {
                (self.frames.centroid_acc / self.frames.centroid_w) as f32
            } else {
                0.0
            },
            bass_ratio: if self.frames.total > 0.0 { (self.frames.bass / self.frames.total) as f32 } else { 0.0 },
            onset_mean: o_mean,
            onset_rate_hz: (peaks as f64 / duration_s) as f32,
            tempo_bpm: estimate_tempo(onset, frame_rate).unwrap_or(0.0) as f32,
        }
    }
}

/// What each STFT frame leaves behind: the compact series and sums the song-level
/// results are computed from.
struct FrameStats {
    bank: MelFilterbank,
    chroma_map: ChromaMap,
    /// Mel bands below [`BASS_ONSET_HZ`] and FFT bins below 250 Hz.
    bass_bands: usize,
    bass_bins: usize,
    bin_hz: f64,
    n_fft: usize,
    /// Buffers reused from frame to frame: mel power, and the log-mel before last.
    mel: Vec<f32>,
    spare_log_mel: Vec<f32>,
    prev_log_mel: Vec<f32>,
    onset: Vec<f32>,
    low_onset: Vec<f32>,
    chroma: Vec<[f32; 12]>,
    levels: Vec<f64>,
    centroid_acc: f64,
    centroid_w: f64,
    bass: f64,
    total: f64,
    blocks: HighlightBlocks,
}

impl FrameStats {
    fn add(&mut self, frame: &[f32]) {
        self.bank.apply_into(frame, &mut self.mel);
        let mut log_mel = std::mem::take(&mut self.spare_log_mel);
        log_mel.clear();
        log_mel.extend(self.mel.iter().map(|&p| power_to_db(p)));
        let chroma = self.chroma_map.apply(frame);
        // Onset strength (librosa's `onset_strength`, lag 1, mean over bands); 0 for the
        // first frame. The same over the bass bands alone for the beat-phase check.
        let (onset, low) = if self.prev_log_mel.is_empty() {
            (0.0, 0.0)
        } else {
            let bass = self.bass_bands.min(log_mel.len());
            (positive_flux(&log_mel, &self.prev_log_mel), positive_flux(&log_mel[..bass], &self.prev_log_mel[..bass]))
        };
        self.onset.push(onset);
        self.low_onset.push(low);
        // One pass for the frame's total power and its first moment.
        let (p, moment) = power_and_moment(frame);
        let (p, moment) = (f64::from(p), f64::from(moment));
        // Parseval: mean square of the windowed frame from its one-sided spectrum
        // (interior bins count twice; the Hann window's squares sum to 3/8 n_fft).
        let edges = f64::from(frame[0]) + f64::from(frame[frame.len() - 1]);
        let e = (2.0 * p - edges) / (self.n_fft as f64 * (self.n_fft as f64 * 0.375));
        self.levels.push(10.0 * e.max(1e-10).log10());
        if p > 1e-12 {
            // Power-weighted mean of the frame centroids = sum(k p) / sum(p) over frames.
            self.centroid_acc += moment * self.bin_hz;
            self.centroid_w += p;
        }
        self.bass += frame[..self.bass_bins.min(frame.len())].iter().map(|v| f64::from(*v)).sum::<f64>();
        self.total += p;
        self.blocks.push_frame(&log_mel, &self.mel, &chroma);
        self.chroma.push(chroma);
        self.spare_log_mel = std::mem::replace(&mut self.prev_log_mel, log_mel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A song-like signal: a chord whose notes change every second, with clicks.
    fn signal(sr: u32, seconds: f64) -> Vec<f32> {
        (0..(f64::from(sr) * seconds) as usize)
            .map(|i| {
                let t = i as f32 / sr as f32;
                let root = [220.0f32, 261.63, 196.0, 293.66][(t as usize) % 4];
                let beat = (-(t % 0.5) * 30.0).exp();
                0.2 * (2.0 * std::f32::consts::PI * root * t).sin()
                    + 0.1 * (2.0 * std::f32::consts::PI * root * 1.5 * t).sin()
                    + 0.3 * beat * (2.0 * std::f32::consts::PI * 60.0 * t).sin()
            })
            .collect()
    }

    #[test]
    fn chunks_of_any_size_give_the_whole_signal_analysis() {
        let sr = 22_050;
        let x = signal(sr, 47.3);
        let whole = SongAnalysis::compute(&x, sr, 10.0).expect("analysis");
        for size in [1usize, 511, 4096, 100_000] {
            let mut a = SongAnalyzer::new(sr, 10.0).expect("analyzer");
            for chunk in x.chunks(size) {
                a.push(chunk);
            }
            let streamed = a.finish().expect("analysis");
            assert_eq!(streamed.features, whole.features, "chunks of {size}");
            assert_eq!(streamed.beats_s, whole.beats_s, "chunks of {size}");
            assert_eq!(streamed.highlight, whole.highlight, "chunks of {size}");
            assert_eq!(streamed.chroma_mean, whole.chroma_mean, "chunks of {size}");
            let (a, b) = (streamed.loudness.expect("meter"), whole.loudness.clone().expect("meter"));
            let (a, b) = (a.integrated_lufs.expect("loud"), b.integrated_lufs.expect("loud"));
            assert!((a - b).abs() < 1e-9, "chunks of {size}: {a} vs {b} LUFS");
        }
    }

    #[test]
    fn the_buffer_stays_small() {
        let sr = 22_050;
        let x = signal(sr, 30.0);
        let mut a = SongAnalyzer::new(sr, 10.0).expect("analyzer");
        for chunk in x.chunks(1000) {
            a.push(chunk);
            assert!(a.buf.len() <= DRAIN_AT + 2 * a.cfg.n_fft + 1000, "buffer of {} samples", a.buf.len());
        }
        assert!(a.finish().is_ok());
    }

    #[test]
    fn too_short_is_refused_at_the_end() {
        let mut a = SongAnalyzer::new(22_050, 10.0).expect("analyzer");
        a.push(&[0.1; 1000]);
        assert!(matches!(a.finish(), Err(AudioError::TooShort { samples: 1000, .. })));
    }
}
