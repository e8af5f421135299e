use crate::{AudioError, Result, Stft};

/// Slaney-style mel scale (librosa `htk=False`): linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if hz >= min_log_hz { min_log_mel + (hz / min_log_hz).ln() / logstep } else { hz / f_sp }
}

pub fn mel_to_hz(mel: f64) -> f64 {
    let (f_sp, min_log_hz) = (200.0 / 3.0, 1000.0);
    let min_log_mel = min_log_hz / f_sp;
    let logstep = (6.4f64).ln() / 27.0;
    if mel >= min_log_mel { min_log_hz * (logstep * (mel - min_log_mel)).exp() } else { f_sp * mel }
}

/// Triangular mel filters with Slaney area normalisation (librosa `norm="slaney"`).
#[derive(Debug, Clone)]
pub struct MelFilterbank {
    /// `n_mels` rows over `n_bins` FFT bins.
    pub weights: Vec<Vec<f32>>,
    /// Per mel band, the range of bins with non-zero weight (the filters are sparse).
    support: Vec<std::ops::Range<usize>>,
    /// Per mel band, the frequency where its triangle peaks.
    centres_hz: Vec<f64>,
}

impl MelFilterbank {
    pub fn new(sample_rate: u32, n_fft: usize, n_mels: usize, f_min: f64, f_max: f64) -> Result<Self> {
        let nyquist = f64::from(sample_rate) / 2.0;
        if n_mels == 0 || !(0.0..nyquist).contains(&f_min) || f_max <= f_min || f_max > nyquist {
            return Err(AudioError::InvalidMel(format!(
                "{n_mels} mels over {f_min}..{f_max} Hz at {sample_rate} Hz (expected n_mels > 0 and 0 <= f_min < f_max <= {nyquist})"
            )));
        }
        let n_bins = n_fft / 2 + 1;
        let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * f64::from(sample_rate) / n_fft as f64).collect();
        let (m_lo, m_hi) = (hz_to_mel(f_min), hz_to_mel(f_max));
        let edges: Vec<f64> =
            (0..n_mels + 2).map(|i| mel_to_hz(m_lo + (m_hi - m_lo) * i as f64 / (n_mels + 1) as f64)).collect();
        let weights = (0..n_mels)
            .map(|m| {
                let (lo, c, hi) = (edges[m], edges[m + 1], edges[m + 2]);
                let enorm = 2.0 / (hi - lo);
                fft_freqs
                    .iter()
                    .map(|&f| {
                        let w = ((f - lo) / (c - lo)).min((hi - f) / (hi - c)).max(0.0);
                        (w * enorm) as f32
                    })
                    .collect()
            })
            .collect::<Vec<Vec<f32>>>();
        let support = weights
            .iter()
            .map(|w| {
                let lo = w.iter().position(|v| *v != 0.0).unwrap_or(0);
                let hi = w.iter().rposition(|v| *v != 0.0).map_or(lo, |i| i + 1);
                lo..hi
            })
            .collect();
        let centres_hz = edges[1..=n_mels].to_vec();
        Ok(Self { weights, support, centres_hz })
    }

    pub fn n_mels(&self) -> usize {
        self.weights.len()
    }

    /// Number of leading bands whose filter peaks below `hz`.
    pub fn bands_below(&self, hz: f64) -> usize {
        self.centres_hz.iter().take_while(|c| **c < hz).count()
    }

    /// Mel power of one power-spectrum frame.
    pub fn apply(&self, power: &[f32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.n_mels());
        self.apply_into(power, &mut out);
        out
    }

    /// [`apply`](Self::apply) into a buffer kept between frames.
    pub fn apply_into(&self, power: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend(
            self.weights.iter().zip(&self.support).map(|(w, r)| tuneclip_core::dot(&w[r.clone()], &power[r.clone()])),
        );
    }
}

/// `10 * log10(max(x, 1e-10))` (librosa `power_to_db` with `ref=1.0, top_db=None`).
///
/// Computed without a libm call so a frame's bands vectorise: the exponent is read
/// from the bits and the logarithm of the mantissa, taken in [0.707, 1.414), from the
/// series `ln m = 2 atanh(s)`, `s = (m - 1) / (m + 1)`, to its s^9 term (|s| <= 0.172,
/// so the next term is below 4e-10). Within 4e-7 of the exact value relative to it
/// (or within 4e-7 dB near 0 dB) over the f32 range (tested); `+inf` gives 385.3 dB rather than infinity.
#[inline]
pub fn power_to_db(x: f32) -> f32 {
    let x = x.max(1e-10);
    let bits = x.to_bits();
    // Split x = 2^e * m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of
    // sqrt(1/2) puts the boundary of the exponent field there.
    let shifted = bits.wrapping_sub(0x3f35_04f3);
    let e = (shifted as i32) >> 23;
    let m = f32::from_bits(bits.wrapping_sub((e as u32) << 23));
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let ln_m = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    // 10 log10(x) = 10 / ln 10 * (e ln 2 + ln m)
    const DB_PER_NEPER: f32 = 10.0 / std::f32::consts::LN_10;
    DB_PER_NEPER * (e as f32 * std::f32::consts::LN_2 + ln_m)
}

/// Log-mel spectrogram in dB, frame-major (`n_frames` rows of `n_mels`).
pub fn log_mel(signal: &[f32], stft: &Stft, bank: &MelFilterbank) -> Vec<Vec<f32>> {
    stft.power(signal).iter().map(|frame| bank.apply(frame).into_iter().map(power_to_db).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_to_db_matches_log10() {
        // Error against the exact value, relative to it (f32 rounds the dB value to
        // about 6e-8 of itself), for ours and for the libm call it replaces.
        let (mut worst, mut libm) = (0f64, 0f64);
        let mut x = 1e-12f32;
        while x < 1e30 {
            let exact = 10.0 * f64::from(x.max(1e-10)).log10();
            let err = |v: f32| (f64::from(v) - exact).abs() / exact.abs().max(1.0);
            worst = worst.max(err(power_to_db(x)));
            libm = libm.max(err(10.0 * x.max(1e-10).log10()));
            x *= 1.000_37;
        }
        assert!(worst < 4e-7, "worst relative error {worst} (libm {libm})");
        assert!((power_to_db(0.0) + 100.0).abs() < 1e-5, "floored at 1e-10");
        assert_eq!(power_to_db(1.0), 0.0);
        assert!(power_to_db(f32::NAN).is_finite(), "NaN is floored like max() does");
    }

    #[test]
    fn mel_scale_round_trips_and_matches_slaney_breakpoint() {
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-9);
        for hz in [0.0, 200.0, 999.0, 1000.0, 4000.0, 11_025.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-6);
        }
    }

    #[test]
    fn tone_energy_lands_in_the_band_containing_it() {
        let sr = 22_050u32;
        let x: Vec<f32> = (0..sr).map(|i| (2.0 * std::f32::consts::PI * 2000.0 * i as f32 / sr as f32).sin()).collect();
        let stft = Stft::new(2048, 512).expect("valid");
        let bank = MelFilterbank::new(sr, 2048, 64, 0.0, 11_025.0).expect("valid");
        let spec = log_mel(&x, &stft, &bank);
        let frame = &spec[spec.len() / 2];
        let peak = frame.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).expect("non-empty");
        // The peak filter's centre must be the one nearest to 2 kHz on the mel axis.
        let (lo, hi) = (hz_to_mel(0.0), hz_to_mel(11_025.0));
        let centre = |m: usize| mel_to_hz(lo + (hi - lo) * (m + 1) as f64 / 65.0);
        let nearest = (0..64)
            .min_by(|&a, &b| (centre(a) - 2000.0).abs().total_cmp(&(centre(b) - 2000.0).abs()))
            .expect("64 bands");
        assert!(peak.abs_diff(nearest) <= 1, "peak band {peak}, expected near {nearest}");
        assert!(frame[peak] - frame[5] > 40.0, "tone should stand 40 dB above an empty band");
    }
}
