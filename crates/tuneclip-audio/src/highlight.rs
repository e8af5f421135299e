//! The highlight: the window of a song that best serves as its background clip — the
//! chorus, found as the part that both repeats elsewhere in the song and is energetic,
//! not merely the loudest stretch (a one-off loud bridge does not repeat).

use serde::{Deserialize, Serialize};
use tuneclip_core::TimeRange;

/// Length of the analysis blocks the song is cut into.
const BLOCK_S: f64 = 0.5;
/// A repetition is a matching run of this many blocks (2 s), not one similar instant.
const RUN_BLOCKS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Highlight {
    pub range: TimeRange,
    /// Window score: mean repetition plus mean energy, each as a z-score over the song.
    pub score: f64,
}

fn zscore(v: &[f64]) -> Vec<f64> {
    let n = v.len().max(1) as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n).sqrt();
    v.iter().map(|x| if sd > 1e-12 { (x - m) / sd } else { 0.0 }).collect()
}

/// Find the best `window_s` window. `log_mel` and `chroma` are per STFT frame at
/// `frame_rate` Hz; `beats_s`, when given, snaps the start to the nearest beat.
pub fn find_highlight(
    log_mel: &[Vec<f32>],
    chroma: &[[f32; 12]],
    frame_rate: f64,
    duration_s: f64,
    window_s: f64,
    beats_s: &[f64],
) -> Highlight {
    let mut blocks = HighlightBlocks::new(frame_rate, log_mel.first().map_or(0, Vec::len));
    for (m, c) in log_mel.iter().zip(chroma) {
        let power: Vec<f32> = m.iter().map(|db| 10f32.powf(db / 10.0)).collect();
        blocks.push_frame(m, &power, c);
    }
    blocks.finish(duration_s, window_s, beats_s)
}

/// The highlight's inputs gathered frame by frame: per 0.5 s block, the summed chroma,
/// a coarse spectral envelope and the energy, so a song is never held as a whole
/// spectrogram (an hour is 7,200 blocks of 29 numbers).
#[derive(Debug, Clone)]
pub struct HighlightBlocks {
    per_block: usize,
    n_mels: usize,
    bands: usize,
    frames: usize,
    /// The coarse band of each mel band (`m * bands / n_mels`).
    band_of: Vec<usize>,
    current: Vec<f64>,
    current_energy: f64,
    feats: Vec<Vec<f64>>,
    energy: Vec<f64>,
}

impl HighlightBlocks {
    pub fn new(frame_rate: f64, n_mels: usize) -> Self {
        let bands = 16.min(n_mels);
        Self {
            per_block: (BLOCK_S * frame_rate).round().max(1.0) as usize,
            n_mels,
            bands,
            frames: 0,
            band_of: (0..n_mels).map(|m| m * bands / n_mels).collect(),
            current: vec![0f64; 12 + bands],
            current_energy: 0.0,
            feats: Vec::new(),
            energy: Vec::new(),
        }
    }

    /// Add one frame's log-mel (dB), the mel power it came from, and its chroma.
    pub fn push_frame(&mut self, log_mel: &[f32], mel_power: &[f32], chroma: &[f32; 12]) {
        let (n_mels, bands) = (self.n_mels, self.bands);
        for (i, c) in chroma.iter().enumerate() {
            self.current[i] += f64::from(*c);
        }
        let scale = 1.0 / (n_mels / bands) as f64 / 10.0;
        for (band, v) in self.band_of.iter().zip(log_mel) {
            self.current[12 + band] += f64::from(*v) * scale;
        }
        // The power the dB values stand for (floored as they are).
        self.current_energy += f64::from(mel_power.iter().take(n_mels).map(|p| p.max(1e-10)).sum::<f32>());
        self.frames += 1;
        if self.frames.is_multiple_of(self.per_block) {
            let e = std::mem::take(&mut self.current_energy);
            self.energy.push(10.0 * (e / (self.per_block * n_mels) as f64).max(1e-10).log10());
            self.feats.push(std::mem::replace(&mut self.current, vec![0f64; 12 + bands]));
        }
    }

    /// The best `window_s` window of a song of `duration_s`; `beats_s`, when given,
    /// snaps the start to the nearest beat. A final partial block is left out.
    pub fn finish(self, duration_s: f64, window_s: f64, beats_s: &[f64]) -> Highlight {
        if duration_s <= window_s || self.frames == 0 {
            return Highlight { range: TimeRange::new(0.0, duration_s.min(window_s).max(0.0)), score: 0.0 };
        }
        let Self { bands, mut feats, energy, .. } = self;
        let n_blocks = feats.len();
        let mean_env: Vec<f64> =
            (0..bands).map(|k| feats.iter().map(|f| f[12 + k]).sum::<f64>() / n_blocks.max(1) as f64).collect();
        for f in &mut feats {
            for k in 0..bands {
                f[12 + k] -= mean_env[k];
            }
            let norm = f.iter().map(|x| x * x).sum::<f64>().sqrt();
            if norm > 1e-12 {
                f.iter_mut().for_each(|x| *x /= norm);
            }
        }
        let dim = 12 + bands;
        let flat: Vec<f64> = feats.iter().flatten().copied().collect();
        let sim = |i: usize, j: usize| {
            flat[i * dim..(i + 1) * dim].iter().zip(&flat[j * dim..(j + 1) * dim]).map(|(a, b)| a * b).sum::<f64>()
        };
        let win = (window_s / BLOCK_S).round() as usize;
        // Repetition of block i: the best matching run starting there, elsewhere in the song
        // (at least a window away: a section that merely goes on, like a long bridge on one
        // chord, must not count as repeating itself). A run may extend forwards or backwards
        // from the block, so the last blocks of a section (whose forward run spills into what
        // follows) still count as repeated. A pair's runs are the same seen from either
        // block, so each diagonal of the similarity matrix (lag L, pairs (k, k + L)) is
        // computed once and its runs credited to both blocks: O(n^2) time, O(n) memory.
        let min_lag = win.max(RUN_BLOCKS);
        let mut rep = vec![0f64; n_blocks];
        let mut diag = Vec::with_capacity(n_blocks);
        for lag in min_lag..n_blocks {
            diag.clear();
            diag.extend((0..n_blocks - lag).map(|k| sim(k, k + lag)));
            for i in 0..diag.len() {
                let j = i + lag;
                let fwd_len = RUN_BLOCKS.min(n_blocks - j);
                let fwd = diag[i..i + fwd_len].iter().sum::<f64>() / fwd_len as f64;
                let bwd_len = RUN_BLOCKS.min(i + 1);
                let bwd = diag[i + 1 - bwd_len..=i].iter().rev().sum::<f64>() / bwd_len as f64;
                let v = fwd.max(bwd);
                rep[i] = rep[i].max(v);
                rep[j] = rep[j].max(v);
            }
        }
        let (rep_z, energy_z) = (zscore(&rep), zscore(&energy));
        let score: Vec<f64> = rep_z.iter().zip(&energy_z).map(|(r, e)| r + e).collect();
        let n_windows = n_blocks.saturating_sub(win) + 1;
        let (best, best_score) = (0..n_windows)
            .map(|w| (w, score[w..(w + win).min(n_blocks)].iter().sum::<f64>() / win as f64))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        let mut start = best as f64 * BLOCK_S;
        if let Some(b) = beats_s.iter().min_by(|a, b| (*a - start).abs().total_cmp(&(*b - start).abs()))
            && (b - start).abs() <= BLOCK_S
        {
            start = *b;
        }
        let start = start.clamp(0.0, duration_s - window_s);
        Highlight { range: TimeRange::new(start, start + window_s), score: best_score }
    }
}

#[cfg(test)]
mod tests {
    use crate::SongAnalysis;

    /// Sum of sines for a chord, `amp` each, with a soft attack every `beat_s`.
    fn section(freqs: &[f32], amp: f32, seconds: f32, beat_s: f32, sr: u32) -> Vec<f32> {
        (0..(seconds * sr as f32) as usize)
            .map(|i| {
                let t = i as f32 / sr as f32;
                let env = 0.6 + 0.4 * (-(t % beat_s) * 8.0).exp();
                amp * env * freqs.iter().map(|f| (2.0 * std::f32::consts::PI * f * t).sin()).sum::<f32>()
            })
            .collect()
    }

    #[test]
    fn highlight_of_verse_chorus_song_lands_on_a_chorus_not_the_loud_bridge() {
        let sr = 22_050u32;
        let verse = section(&[220.0, 261.63, 329.63], 0.08, 8.0, 0.5, sr); // A minor, quiet
        let chorus = section(&[261.63, 329.63, 392.0, 523.25], 0.15, 8.0, 0.5, sr); // C major, louder
        let bridge = section(&[233.08, 311.13, 369.99, 466.16], 0.25, 8.0, 0.25, sr); // loudest, heard once
        let song: Vec<f32> = [&verse, &chorus, &verse, &chorus, &bridge].into_iter().flatten().copied().collect();
        let a = SongAnalysis::compute(&song, sr, 8.0).expect("analysis");
        let start = a.highlight.range.start_s;
        let on_chorus = (start - 8.0).abs() <= 1.0 || (start - 24.0).abs() <= 1.0;
        assert!(on_chorus, "highlight starts at {start:.2} s; choruses start at 8 s and 24 s, the bridge at 32 s");
        assert!((a.highlight.range.duration_s() - 8.0).abs() < 1e-9);
    }
}
