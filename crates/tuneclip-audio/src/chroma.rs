//! Chroma: the power of each pitch class (C, C#, .. B) per frame, from the STFT.
//!
//! Convention: each FFT bin between 55 Hz and 5 kHz adds its power to the pitch class
//! of its nearest equal-tempered semitone (A4 = 440 Hz); each frame is then divided by
//! its largest class (librosa's `norm=np.inf`), so values lie in 0..=1. Silent frames
//! stay all zero.

pub fn chroma(power: &[Vec<f32>], sample_rate: u32, n_fft: usize) -> Vec<[f32; 12]> {
    let map = ChromaMap::new(sample_rate, n_fft);
    power.iter().map(|frame| map.apply(frame)).collect()
}

/// The bin -> pitch-class assignment for one sample rate and FFT size, as runs of
/// consecutive bins sharing a class (one bin each at low frequencies, a dozen near
/// 5 kHz), so a frame is a few hundred contiguous sums instead of a branch per bin.
#[derive(Debug, Clone)]
pub struct ChromaMap {
    runs: Vec<(usize, std::ops::Range<usize>)>,
}

impl ChromaMap {
    pub fn new(sample_rate: u32, n_fft: usize) -> Self {
        let bin_hz = f64::from(sample_rate) / n_fft as f64;
        let mut runs: Vec<(usize, std::ops::Range<usize>)> = Vec::new();
        for k in 0..n_fft / 2 + 1 {
            let f = k as f64 * bin_hz;
            if !(55.0..=5000.0).contains(&f) {
                continue;
            }
            let class = ((69.0 + 12.0 * (f / 440.0).log2()).round() as i64).rem_euclid(12) as usize;
            match runs.last_mut() {
                Some((c, r)) if *c == class && r.end == k => r.end = k + 1,
                _ => runs.push((class, k..k + 1)),
            }
        }
        Self { runs }
    }

    /// Chroma of one power-spectrum frame, normalised to a maximum of 1.
    pub fn apply(&self, frame: &[f32]) -> [f32; 12] {
        let mut c = [0f32; 12];
        for (class, bins) in &self.runs {
            c[*class] += frame.get(bins.clone()).map_or(0.0, |p| p.iter().sum::<f32>());
        }
        let max = c.iter().copied().fold(0.0f32, f32::max);
        if max > 1e-10 {
            c.iter_mut().for_each(|v| *v /= max);
        } else {
            c = [0.0; 12];
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Stft;

    #[test]
    fn a_major_triad_lights_a_c_sharp_and_e() {
        let sr = 22_050u32;
        let x: Vec<f32> = (0..sr as usize)
            .map(|i| {
                let t = i as f32 / sr as f32;
                [220.0f32, 277.18, 329.63].iter().map(|f| (2.0 * std::f32::consts::PI * f * t).sin()).sum::<f32>()
            })
            .collect();
        let c = chroma(&Stft::new(4096, 1024).expect("stft").power(&x), sr, 4096);
        let mid = c[c.len() / 2];
        let mut order: Vec<usize> = (0..12).collect();
        order.sort_by(|a, b| mid[*b].total_cmp(&mid[*a]));
        let mut top3 = order[..3].to_vec();
        top3.sort_unstable();
        assert_eq!(top3, vec![1, 4, 9], "chroma {mid:?}"); // C#, E, A
        assert!(mid[order[3]] < 0.2, "fourth class should be weak: {mid:?}");
    }
}
