use crate::{AudioError, Result};
use realfft::{RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Short-time Fourier transform: periodic Hann window, frames centred on
/// `t = i * hop` with zero padding of `n_fft / 2` at both ends (librosa's
/// `center=True, pad_mode="constant"`).
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    /// Real-input FFT (half the work of a complex FFT of the same length).
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft").field("n_fft", &self.n_fft).field("hop", &self.hop).finish()
    }
}

impl Stft {
    pub fn new(n_fft: usize, hop: usize) -> Result<Self> {
        if n_fft < 16 || hop == 0 || hop > n_fft {
            return Err(AudioError::InvalidStft { n_fft, hop });
        }
        let window =
            (0..n_fft).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n_fft as f32).cos()).collect();
        let fft = RealFftPlanner::new().plan_fft_forward(n_fft);
        Ok(Self { n_fft, hop, window, fft })
    }

    pub fn n_fft(&self) -> usize {
        self.n_fft
    }
    pub fn hop(&self) -> usize {
        self.hop
    }
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }
    pub fn n_frames(&self, n_samples: usize) -> usize {
        1 + n_samples / self.hop
    }

    /// Power spectrogram `|X|^2`, frame-major: `n_frames` rows of `n_bins` values.
    pub fn power(&self, signal: &[f32]) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(self.n_frames(signal.len()));
        self.for_each_power(signal, |frame| out.push(frame.to_vec()));
        out
    }

    /// Buffers for [`frame_power`](Self::frame_power), made once per stream.
    pub fn scratch(&self) -> StftScratch {
        StftScratch {
            input: self.fft.make_input_vec(),
            spectrum: self.fft.make_output_vec(),
            scratch: self.fft.make_scratch_vec(),
            power: vec![0f32; self.n_bins()],
        }
    }

    /// Power spectrum of the frame whose first sample is `signal[start]`; samples before
    /// the slice (negative `start`) or past its end are zeros, as the centred padding
    /// at both ends of a song needs.
    pub fn frame_power<'a>(&self, signal: &[f32], start: isize, s: &'a mut StftScratch) -> &'a [f32] {
        if start >= 0 && start as usize + self.n_fft <= signal.len() {
            let at = start as usize;
            for ((b, x), w) in s.input.iter_mut().zip(&signal[at..at + self.n_fft]).zip(&self.window) {
                *b = x * w;
            }
        } else {
            for (i, b) in s.input.iter_mut().enumerate() {
                let idx = start + i as isize;
                let x = if idx >= 0 && (idx as usize) < signal.len() { signal[idx as usize] } else { 0.0 };
                *b = x * self.window[i];
            }
        }
        // The lengths come from the plan itself, so this cannot fail.
        let _ = self.fft.process_with_scratch(&mut s.input, &mut s.spectrum, &mut s.scratch);
        for (p, c) in s.power.iter_mut().zip(&s.spectrum) {
            *p = c.norm_sqr();
        }
        &s.power
    }

    /// Call `f` with the power spectrum of each frame in order, reusing one buffer, so
    /// a long song never holds its whole spectrogram in memory.
    pub fn for_each_power(&self, signal: &[f32], mut f: impl FnMut(&[f32])) {
        let pad = (self.n_fft / 2) as isize;
        let mut scratch = self.scratch();
        for frame in 0..self.n_frames(signal.len()) {
            f(self.frame_power(signal, (frame * self.hop) as isize - pad, &mut scratch));
        }
    }
}

/// Reusable buffers of one STFT stream.
pub struct StftScratch {
    input: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    scratch: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for StftScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StftScratch").field("n_fft", &self.input.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_peaks_at_its_bin_with_parseval_energy() {
        let (sr, n_fft) = (8000.0f32, 512usize);
        let freq = 1000.0; // exactly bin 64
        let x: Vec<f32> = (0..8000).map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / sr).sin()).collect();
        let stft = Stft::new(n_fft, 128).expect("valid");
        let p = stft.power(&x);
        assert_eq!(p.len(), 1 + 8000 / 128);
        let mid = &p[30];
        let peak = mid.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
        assert_eq!(peak, Some(64));
        // Hann-windowed unit sine: |X(k)|^2 = (A * sum(w) / 4)^2 = (n_fft/4)^2 at the peak bin.
        let expected = (n_fft as f32 / 4.0).powi(2);
        assert!((mid[64] - expected).abs() / expected < 0.01, "{} vs {}", mid[64], expected);
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Stft::new(8, 4).is_err());
        assert!(Stft::new(512, 0).is_err());
        assert!(Stft::new(512, 1024).is_err());
    }
}
