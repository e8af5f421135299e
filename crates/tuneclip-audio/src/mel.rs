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
        self.weights
            .iter()
            .zip(&self.support)
            .map(|(w, r)| tuneclip_core::dot(&w[r.clone()], &power[r.clone()]))
            .collect()
    }
}

/// `10 * log10(max(x, 1e-10))` (librosa `power_to_db` with `ref=1.0, top_db=None`).
pub fn power_to_db(x: f32) -> f32 {
    10.0 * x.max(1e-10).log10()
}

/// Log-mel spectrogram in dB, frame-major (`n_frames` rows of `n_mels`).
pub fn log_mel(signal: &[f32], stft: &Stft, bank: &MelFilterbank) -> Vec<Vec<f32>> {
    stft.power(signal).iter().map(|frame| bank.apply(frame).into_iter().map(power_to_db).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
