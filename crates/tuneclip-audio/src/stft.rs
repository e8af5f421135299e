use crate::{AudioError, Result};
use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};
use std::sync::Arc;

/// Short-time Fourier transform: periodic Hann window, frames centred on
/// `t = i * hop` with zero padding of `n_fft / 2` at both ends (librosa's
/// `center=True, pad_mode="constant"`).
///
/// A real frame of `n_fft` samples is transformed as `n_fft / 2` complex samples
/// (even samples real, odd imaginary) by one rustfft FFT of half the length, and the
/// power spectrum is unpacked from it directly (the standard real-FFT split: `X[k] =
/// E + W^k O` and `X[n/2 - k] = conj(E - W^k O)` from `Z[k]` and `Z[n/2 - k]`). This is
/// what realfft does, but realfft's split is a scalar loop writing the complex
/// spectrum (about 1.0 us after its 0.9 us half-length FFT for 2048 points); here it is
/// one lane-wise loop over a mirrored copy that yields `|X|^2` directly. Measured per
/// 2048-point frame, window and power included: 1.9 us, against 2.3 us through realfft.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    /// Complex FFT of `n_fft / 2` points.
    fft: Arc<dyn Fft<f32>>,
    /// `W^k = exp(-2 pi i k / n_fft)` for `k = 0..=n_fft / 2`.
    twiddles: Vec<Complex<f32>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft").field("n_fft", &self.n_fft).field("hop", &self.hop).finish()
    }
}

impl Stft {
    pub fn new(n_fft: usize, hop: usize) -> Result<Self> {
        if n_fft < 16 || !n_fft.is_multiple_of(2) || hop == 0 || hop > n_fft {
            return Err(AudioError::InvalidStft { n_fft, hop });
        }
        let window =
            (0..n_fft).map(|i| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / n_fft as f32).cos()).collect();
        let fft = FftPlanner::new().plan_fft_forward(n_fft / 2);
        let twiddles = (0..=n_fft / 2)
            .map(|k| {
                let a = -2.0 * std::f64::consts::PI * k as f64 / n_fft as f64;
                Complex::new(a.cos() as f32, a.sin() as f32)
            })
            .collect();
        Ok(Self { n_fft, hop, window, fft, twiddles })
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
        let zero = Complex::new(0f32, 0.0);
        let half = self.n_fft / 2;
        StftScratch {
            input: vec![zero; half],
            spectrum: vec![zero; half + 1],
            mirror: vec![zero; half + 1],
            scratch: vec![zero; self.fft.get_outofplace_scratch_len()],
            power: vec![0f32; self.n_bins()],
        }
    }

    /// Power spectrum of the frame whose first sample is `signal[start]`; samples before
    /// the slice (negative `start`) or past its end are zeros, as the centred padding
    /// at both ends of a song needs.
    pub fn frame_power<'a>(&self, signal: &[f32], start: isize, s: &'a mut StftScratch) -> &'a [f32] {
        // Windowed samples in pairs: even ones real, odd ones imaginary.
        if start >= 0 && start as usize + self.n_fft <= signal.len() {
            let at = start as usize;
            let pairs = signal[at..at + self.n_fft].chunks_exact(2).zip(self.window.chunks_exact(2));
            for (z, (x, w)) in s.input.iter_mut().zip(pairs) {
                *z = Complex::new(x[0] * w[0], x[1] * w[1]);
            }
        } else {
            let sample = |i: usize| {
                let idx = start + i as isize;
                let x = if idx >= 0 && (idx as usize) < signal.len() { signal[idx as usize] } else { 0.0 };
                x * self.window[i]
            };
            for (j, z) in s.input.iter_mut().enumerate() {
                *z = Complex::new(sample(2 * j), sample(2 * j + 1));
            }
        }
        let half = self.n_fft / 2;
        self.fft.process_outofplace_with_scratch(&mut s.input, &mut s.spectrum[..half], &mut s.scratch);
        // Z is periodic: Z[half] = Z[0]; mirror[k] = Z[half - k].
        s.spectrum[half] = s.spectrum[0];
        for (m, z) in s.mirror.iter_mut().zip(s.spectrum.iter().rev()) {
            *m = *z;
        }
        for (((p, z), r), w) in s.power.iter_mut().zip(&s.spectrum).zip(&s.mirror).zip(&self.twiddles) {
            // E = (Z[k] + conj(Z[half - k])) / 2: the spectrum of the even samples;
            // O = (Z[k] - conj(Z[half - k])) / 2i: of the odd ones; X[k] = E + W^k O.
            let (e_re, e_im) = (0.5 * (z.re + r.re), 0.5 * (z.im - r.im));
            let (o_re, o_im) = (0.5 * (z.im + r.im), -0.5 * (z.re - r.re));
            let x_re = e_re + (w.re * o_re - w.im * o_im);
            let x_im = e_im + (w.re * o_im + w.im * o_re);
            *p = x_re * x_re + x_im * x_im;
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
    input: Vec<Complex<f32>>,
    /// The half-length FFT with `Z[0]` repeated at the end, and it reversed.
    spectrum: Vec<Complex<f32>>,
    mirror: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for StftScratch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StftScratch").field("n_fft", &(2 * self.input.len())).finish()
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
    fn power_equals_realfft_and_a_direct_dft() {
        use realfft::RealFftPlanner;
        let n_fft = 512;
        let stft = Stft::new(n_fft, 128).expect("valid");
        let x: Vec<f32> =
            (0..3000).map(|i| ((i as f32) * 0.37).sin() * 0.6 + ((i * i % 97) as f32 / 97.0 - 0.5)).collect();
        let mut scratch = stft.scratch();
        let real = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let (mut input, mut out) = (real.make_input_vec(), real.make_output_vec());
        // Interior frames and both padded edges.
        for start in [-256isize, -3, 0, 1000, 2600, 2900] {
            let ours = stft.frame_power(&x, start, &mut scratch).to_vec();
            let frame: Vec<f32> = (0..n_fft)
                .map(|i| {
                    let j = start + i as isize;
                    if j >= 0 && (j as usize) < x.len() { x[j as usize] * stft.window[i] } else { 0.0 }
                })
                .collect();
            input.copy_from_slice(&frame);
            real.process(&mut input, &mut out).expect("lengths from the plan");
            let peak = out.iter().map(|c| c.norm_sqr()).fold(0f32, f32::max);
            for (k, (p, c)) in ours.iter().zip(&out).enumerate() {
                assert!((p - c.norm_sqr()).abs() <= 1e-5 * peak, "frame {start} bin {k}: {p} vs {}", c.norm_sqr());
            }
            // And one bin against the definition, in f64.
            let k = 37;
            let (re, im) = frame.iter().enumerate().fold((0f64, 0f64), |(re, im), (i, v)| {
                let a = -2.0 * std::f64::consts::PI * (k * i) as f64 / n_fft as f64;
                (re + f64::from(*v) * a.cos(), im + f64::from(*v) * a.sin())
            });
            let exact = re * re + im * im;
            assert!((f64::from(ours[k]) - exact).abs() <= 1e-5 * f64::from(peak), "bin {k}: {} vs {exact}", ours[k]);
        }
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Stft::new(8, 4).is_err());
        assert!(Stft::new(512, 0).is_err());
        assert!(Stft::new(512, 1024).is_err());
        assert!(Stft::new(513, 128).is_err(), "odd lengths are not supported");
    }
}
