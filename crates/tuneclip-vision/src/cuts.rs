use tuneclip_core::frame::SampledFrame;

/// Joint colour histogram (4 levels per channel = 64 bins), normalised to sum 1.
/// A frame's colour histogram: 4 levels a channel, as shares of its pixels.
pub(crate) fn histogram(frame: &SampledFrame) -> [f32; 64] {
    let mut h = [0f32; 64];
    for p in frame.rgb.chunks_exact(3) {
        h[usize::from(p[0] >> 6) * 16 + usize::from(p[1] >> 6) * 4 + usize::from(p[2] >> 6)] += 1.0;
    }
    let n = (frame.rgb.len() / 3).max(1) as f32;
    h.iter_mut().for_each(|v| *v /= n);
    h
}

/// Half the L1 distance of the two frames' colour histograms: 0 (same colours) .. 1 (disjoint).
pub fn histogram_distance(a: &SampledFrame, b: &SampledFrame) -> f32 {
    distance_of(&histogram(a), &histogram(b))
}

fn distance_of(ha: &[f32; 64], hb: &[f32; 64]) -> f32 {
    0.5 * ha.iter().zip(hb).map(|(x, y)| (x - y).abs()).sum::<f32>()
}

/// Hard-cut detector settings.
#[derive(Debug, Clone, Copy)]
pub struct CutDetectorConfig {
    /// Minimum histogram distance for a cut.
    pub min_distance: f32,
    /// A cut must exceed this multiple of the largest other distance in its neighbourhood
    /// (so steady fast motion, whose distances are all high, yields no cut).
    pub local_ratio: f32,
    /// Neighbourhood half-width in sampled frames.
    pub window: usize,
    /// Minimum shot length in seconds.
    pub min_shot_s: f64,
}

impl Default for CutDetectorConfig {
    fn default() -> Self {
        Self { min_distance: 0.3, local_ratio: 2.0, window: 4, min_shot_s: 0.4 }
    }
}

/// Change between two frames, 0..1: the mean of the colour-histogram distance (blind to
/// where things are) and the mean absolute luma difference saturating at 48 levels
/// (blind to what colour they are). Two different shots of a grey street have similar
/// histograms but different pixels; a moving object keeps its histogram.
pub fn frame_change(a: &SampledFrame, b: &SampledFrame) -> f32 {
    if a.rgb.len() != b.rgb.len() {
        return 1.0;
    }
    Lumas::new([a, b]).change(0, 1, &histogram(a), &histogram(b))
}

/// Frames' luma planes in thousandths of a level (BT.601's weights as integers, so
/// differences are exact), each made on its first use and kept until the detector
/// has moved past it ([`Lumas::forget_before`]): a detector that compares every frame
/// with several neighbours converts each frame once, and holds only those near it.
pub(crate) struct Lumas<'a> {
    frames: Vec<&'a SampledFrame>,
    planes: Vec<Option<Vec<i32>>>,
    /// Planes before this one are dropped.
    forgotten: usize,
}

impl<'a> Lumas<'a> {
    pub(crate) fn new(frames: impl IntoIterator<Item = &'a SampledFrame>) -> Self {
        let frames: Vec<&SampledFrame> = frames.into_iter().collect();
        let planes = vec![None; frames.len()];
        Self { frames, planes, forgotten: 0 }
    }

    fn make(&mut self, i: usize) {
        if self.planes[i].is_none() {
            let plane = self.frames[i]
                .rgb
                .chunks_exact(3)
                .map(|p| 299 * i32::from(p[0]) + 587 * i32::from(p[1]) + 114 * i32::from(p[2]))
                .collect();
            self.planes[i] = Some(plane);
        }
    }

    /// Drop the planes of frames before `i`.
    pub(crate) fn forget_before(&mut self, i: usize) {
        let i = i.min(self.frames.len());
        if i > self.forgotten {
            self.planes[self.forgotten..i].iter_mut().for_each(|p| *p = None);
            self.forgotten = i;
        }
    }

    /// [`frame_change`] of frames `a` and `b` given their [`histogram`]s.
    pub(crate) fn change(&mut self, a: usize, b: usize, ha: &[f32; 64], hb: &[f32; 64]) -> f32 {
        let hist = distance_of(ha, hb);
        if self.frames[a].rgb.len() != self.frames[b].rgb.len() {
            return 1.0;
        }
        self.make(a);
        self.make(b);
        let (Some(la), Some(lb)) = (&self.planes[a], &self.planes[b]) else { unreachable!("made above") };
        let sum: u64 = la.iter().zip(lb).map(|(x, y)| u64::from((x - y).unsigned_abs())).sum();
        let mad = (sum as f64 / 1000.0 / la.len().max(1) as f64) as f32;
        0.5 * hist + 0.5 * (mad / 48.0).min(1.0)
    }
}

/// Times of hard cuts (the timestamp of the first frame of the new shot).
pub fn detect_cuts(frames: &[SampledFrame], cfg: &CutDetectorConfig) -> Vec<f64> {
    if frames.len() < 2 {
        return Vec::new();
    }
    let hists: Vec<[f32; 64]> = frames.iter().map(histogram).collect();
    detect_cuts_with(frames, &hists, cfg)
}

/// [`detect_cuts`] given every frame's [`histogram`].
pub(crate) fn detect_cuts_with(frames: &[SampledFrame], hists: &[[f32; 64]], cfg: &CutDetectorConfig) -> Vec<f64> {
    if frames.len() < 2 {
        return Vec::new();
    }
    // Each frame's change from the one before, the frames split over the cores.
    let d: Vec<f32> = crate::par::ranges(frames.len() - 1, |pairs| {
        let mut lumas = Lumas::new(frames);
        pairs
            .map(|k| {
                lumas.forget_before(k);
                lumas.change(k, k + 1, &hists[k], &hists[k + 1])
            })
            .collect()
    });
    // Again from the start, for the flash checks.
    let mut lumas = Lumas::new(frames);
    let mut cuts: Vec<f64> = Vec::new();
    for i in 0..d.len() {
        if d[i] < cfg.min_distance {
            continue;
        }
        let lo = i.saturating_sub(cfg.window);
        let hi = (i + cfg.window + 1).min(d.len());
        let local_max = (lo..hi).filter(|&j| j != i).map(|j| d[j]).fold(0.0f32, f32::max);
        let local_mean = (lo..hi).filter(|&j| j != i).map(|j| d[j]).sum::<f32>() / (hi - lo - 1).max(1) as f32;
        // A flash changes the picture and changes it back: the frame after the
        // flash matches the frame before it.
        // (and the change back out of a flash returns to the frame before it).
        // "Matches" is relative in fast motion: the pictures either side of the flash
        // differ far less than each differs from the flash. (Frames from i - 1 on.)
        lumas.forget_before(i.saturating_sub(1));
        let mut returns = |a: usize, b: usize, into: f32, out: f32| {
            let back = lumas.change(a, b, &hists[a], &hists[b]);
            back < cfg.min_distance * 0.5 || back < 0.5 * into.min(out)
        };
        let flash = (i + 2 < frames.len() && returns(i, i + 2, d[i], d[i + 1]))
            || (i >= 1 && returns(i - 1, i + 1, d[i - 1], d[i]));
        // Stands out from every neighbour, or (fast motion on one side of the cut) far
        // above their mean.
        let stands_out = d[i] >= cfg.local_ratio * local_max
            || (d[i] >= 2.0 * cfg.min_distance && d[i] >= 1.5 * cfg.local_ratio * local_mean);
        if stands_out && !flash {
            let t = frames[i + 1].t_s;
            if cuts.last().is_none_or(|&last| t - last >= cfg.min_shot_s) && t - frames[0].t_s >= cfg.min_shot_s {
                cuts.push(t);
            }
        }
    }
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(t_s: f64, rgb: [u8; 3]) -> SampledFrame {
        SampledFrame { t_s, width: 8, height: 8, rgb: rgb.iter().copied().cycle().take(8 * 8 * 3).collect() }
    }

    #[test]
    fn finds_the_cut_and_ignores_a_flash() {
        let mut frames: Vec<SampledFrame> = (0..20).map(|i| solid(i as f64 * 0.1, [200, 30, 30])).collect();
        frames[5] = solid(0.5, [255, 255, 255]); // a one-frame flash
        for (i, f) in frames.iter_mut().enumerate().skip(12) {
            *f = solid(i as f64 * 0.1, [20, 40, 220]);
        }
        let cuts = detect_cuts(&frames, &CutDetectorConfig::default());
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        assert!((cuts[0] - 1.2).abs() < 1e-9);
    }
}
