//! Loudness per EBU R128 / ITU-R BS.1770-4: integrated (gated) loudness and a
//! short-term (3 s window) series.
//!
//! The meter is ours rather than the `ebur128` crate's because the crate re-sums every
//! 400 ms gating block and every 3 s short-term window sample by sample (7 passes over
//! the signal), which made it an eighth of the whole song analysis. Here each sample is
//! K-weighted and squared once into 100 ms sums; blocks and windows are sums of those.
//! Memory: 3 s of squared samples and one number per 400 ms block above the gate.
//! The crate stays as the reference in the tests (agreement within 0.01 LU), and the
//! integration tests compare with FFmpeg's `ebur128` filter.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loudness {
    /// Integrated (gated) loudness in LUFS; `None` for silence.
    pub integrated_lufs: Option<f64>,
    /// Short-term loudness (3 s window) every second, in LUFS (-inf for silence -> None).
    pub short_term_lufs: Vec<Option<f64>>,
}

/// Loudness of mono PCM. Note that a mono downmix of a stereo song measures about
/// 3 LU below the stereo file (BS.1770 sums channel powers).
pub fn loudness(samples: &[f32], sample_rate: u32) -> Option<Loudness> {
    let mut meter = LoudnessMeter::new(sample_rate)?;
    meter.push(samples);
    Some(meter.finish())
}

/// One biquad section, transposed direct form II, in f64 (the 38 Hz high-pass needs
/// the precision at audio rates).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    s: [f64; 2],
}

impl Biquad {
    #[inline]
    fn run(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.s[0];
        self.s[0] = self.b[1] * x - self.a[0] * y + self.s[1];
        self.s[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// The K-weighting pre-filter at `rate` Hz: a high shelf (+4 dB above ~1.7 kHz) then a
/// second-order high-pass at ~38 Hz, from their analogue prototypes by the bilinear
/// transform (the constants libebur128 and FFmpeg use, valid at any sample rate).
fn k_weighting(rate: f64) -> [Biquad; 2] {
    let (f0, gain_db, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(gain_db / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad {
        b: [(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        s: [0.0; 2],
    };
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass =
        Biquad { b: [1.0, -2.0, 1.0], a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0], s: [0.0; 2] };
    [shelf, high_pass]
}

/// Mean square -> LUFS for one channel (BS.1770: -0.691 + 10 log10).
fn lufs(mean_square: f64) -> Option<f64> {
    (mean_square > 0.0).then(|| -0.691 + 10.0 * mean_square.log10()).filter(|v| v.is_finite())
}

/// Streaming BS.1770 meter for mono PCM: feed chunks with [`push`](Self::push), read
/// the result with [`finish`](Self::finish). Memory: 3 s of squared samples plus one
/// number per 100 ms gating step.
#[derive(Debug, Clone)]
pub struct LoudnessMeter {
    rate: usize,
    filters: [Biquad; 2],
    /// Samples in one 100 ms step (libebur128's rounding).
    step: usize,
    /// Squared K-weighted samples of the step being filled, and how many it has.
    step_sum: f64,
    step_fill: usize,
    /// The last 30 completed 100 ms sums, a ring (4 make a 400 ms gating block, 30 a
    /// 3 s short-term window).
    recent_steps: [f64; 30],
    steps_done: usize,
    /// Energies (mean squares) of the 400 ms blocks above the absolute gate (-70 LUFS).
    blocks: Vec<f64>,
    /// Last 3 s of squared K-weighted samples (zeros before the song starts), a ring.
    window: Vec<f64>,
    window_pos: usize,
    /// Samples since the last short-term reading (one per second of input).
    since_reading: usize,
    short_term: Vec<Option<f64>>,
}

/// Absolute gate of BS.1770-4 as a mean square.
const ABSOLUTE_GATE: f64 = 1.1724653045822964e-7; // 10^((-70 + 0.691) / 10)

impl LoudnessMeter {
    /// `None` for a rate the filters cannot be built at.
    pub fn new(sample_rate: u32) -> Option<Self> {
        let rate = sample_rate as usize;
        if !(1000..=384_000).contains(&rate) {
            return None;
        }
        Some(Self {
            rate,
            filters: k_weighting(rate as f64),
            step: (rate + 5) / 10,
            step_sum: 0.0,
            step_fill: 0,
            recent_steps: [0.0; 30],
            steps_done: 0,
            blocks: Vec::new(),
            window: vec![0.0; 3 * rate],
            window_pos: 0,
            since_reading: 0,
            short_term: Vec::new(),
        })
    }

    pub fn push(&mut self, samples: &[f32]) {
        // Filter state and sums live in locals through each stretch between events (end
        // of a 100 ms step, a reading, the ring wrapping): a tight loop with the state in
        // registers, not stored to `self` per sample.
        let [mut shelf, mut high_pass] = self.filters;
        let mut rest = samples;
        while !rest.is_empty() {
            let n = rest
                .len()
                .min(self.step - self.step_fill)
                .min(self.rate - self.since_reading)
                .min(self.window.len() - self.window_pos);
            let mut sum = 0.0;
            for (x, slot) in rest[..n].iter().zip(&mut self.window[self.window_pos..self.window_pos + n]) {
                let y = high_pass.run(shelf.run(f64::from(*x)));
                *slot = y * y;
                sum += *slot;
            }
            rest = &rest[n..];
            self.step_sum += sum;
            self.step_fill += n;
            self.window_pos = (self.window_pos + n) % self.window.len();
            self.since_reading += n;
            if self.step_fill == self.step {
                self.close_step();
            }
            if self.since_reading == self.rate {
                self.read_short_term();
            }
        }
        self.filters = [shelf, high_pass];
    }

    fn close_step(&mut self) {
        self.recent_steps[self.steps_done % self.recent_steps.len()] = self.step_sum;
        self.steps_done += 1;
        self.step_sum = 0.0;
        self.step_fill = 0;
        if self.steps_done >= 4 {
            let last4: f64 = (1..=4).map(|k| self.recent_steps[(self.steps_done - k) % self.recent_steps.len()]).sum();
            let z = last4 / (4 * self.step) as f64;
            if z >= ABSOLUTE_GATE {
                self.blocks.push(z);
            }
        }
    }

    /// A short-term reading over the last 3 s (zeros before the song). When a second is
    /// exactly ten steps (every common rate) a reading on the second is the sum of the
    /// last 30 steps; otherwise (and for a final partial second) the ring is summed.
    fn read_short_term(&mut self) {
        let aligned = self.step * 10 == self.rate && self.since_reading == self.rate && self.step_fill == 0;
        let energy: f64 = if aligned { self.recent_steps.iter().sum() } else { self.window.iter().sum() };
        self.since_reading = 0;
        self.short_term.push(lufs(energy.max(0.0) / self.window.len() as f64));
    }

    /// Integrated loudness over everything pushed, and the short-term series (a last
    /// reading for a final partial second).
    pub fn finish(mut self) -> Loudness {
        if self.since_reading > 0 {
            self.read_short_term();
        }
        let integrated = if self.blocks.is_empty() {
            None
        } else {
            // Relative gate: 10 LU below the mean of the blocks above the absolute gate.
            let relative = 0.1 * self.blocks.iter().sum::<f64>() / self.blocks.len() as f64;
            let kept: Vec<f64> = self.blocks.iter().copied().filter(|z| *z >= relative).collect();
            lufs(kept.iter().sum::<f64>() / kept.len().max(1) as f64)
        };
        Loudness { integrated_lufs: integrated, short_term_lufs: self.short_term }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `ebur128` crate (a port of libebur128) on the same PCM, read every second.
    fn reference(samples: &[f32], rate: u32) -> Loudness {
        use ebur128::{EbuR128, Mode};
        let mut meter = EbuR128::new(1, rate, Mode::I | Mode::S).expect("meter");
        let mut short_term = Vec::new();
        for chunk in samples.chunks(rate as usize) {
            meter.add_frames_f32(chunk).expect("frames");
            short_term.push(meter.loudness_shortterm().ok().filter(|v| v.is_finite()));
        }
        Loudness {
            integrated_lufs: meter.loudness_global().ok().filter(|v| v.is_finite()),
            short_term_lufs: short_term,
        }
    }

    pub(crate) fn assert_close(ours: &Loudness, theirs: &Loudness, tol: f64) {
        match (ours.integrated_lufs, theirs.integrated_lufs) {
            (Some(a), Some(b)) => assert!((a - b).abs() <= tol, "integrated {a:.4} vs {b:.4}"),
            (a, b) => assert_eq!(a.is_some(), b.is_some(), "integrated {a:?} vs {b:?}"),
        }
        assert_eq!(ours.short_term_lufs.len(), theirs.short_term_lufs.len());
        for (i, (a, b)) in ours.short_term_lufs.iter().zip(&theirs.short_term_lufs).enumerate() {
            match (a, b) {
                (Some(a), Some(b)) => assert!((a - b).abs() <= tol, "short-term {i}: {a:.4} vs {b:.4}"),
                // Near-silence may fall either side of -inf; both must be very quiet.
                (Some(v), None) | (None, Some(v)) => assert!(*v < -100.0, "short-term {i}: {a:?} vs {b:?}"),
                (None, None) => {}
            }
        }
    }

    /// A tone that swells and a quiet stretch: the gates matter and the series moves.
    fn test_signal(rate: u32) -> Vec<f32> {
        (0..rate as usize * 17 + 1234)
            .map(|i| {
                let t = i as f32 / rate as f32;
                let amp = if (6.0..9.0).contains(&t) { 0.001 } else { 0.1 + 0.4 * (t * 0.7).sin().abs() };
                amp * ((2.0 * std::f32::consts::PI * 997.0 * t).sin()
                    + 0.5 * (2.0 * std::f32::consts::PI * 60.0 * t).sin())
            })
            .collect()
    }

    #[test]
    fn matches_the_ebur128_crate_at_common_rates() {
        for rate in [22_050u32, 44_100, 48_000, 16_000] {
            let x = test_signal(rate);
            assert_close(&loudness(&x, rate).expect("meter"), &reference(&x, rate), 0.01);
        }
    }

    #[test]
    fn streaming_in_odd_chunks_equals_one_push() {
        let x = test_signal(22_050);
        let whole = loudness(&x, 22_050).expect("meter");
        let mut meter = LoudnessMeter::new(22_050).expect("meter");
        for chunk in x.chunks(1237) {
            meter.push(chunk);
        }
        // Equal up to the order of additions inside a 100 ms step.
        assert_close(&meter.finish(), &whole, 1e-9);
    }

    #[test]
    fn silence_has_no_loudness() {
        let l = loudness(&vec![0.0; 22_050 * 5], 22_050).expect("meter");
        assert_eq!(l.integrated_lufs, None);
        assert!(l.short_term_lufs.iter().all(Option::is_none));
        assert!(LoudnessMeter::new(0).is_none());
    }
}
