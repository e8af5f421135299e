//! Beat tracking by dynamic programming over the onset envelope (Ellis 2007, the
//! method behind librosa's `beat_track`): beats sit on strong onsets and are spaced
//! close to the tempo period, traded off by `tightness`.

/// Beat times in seconds for an onset envelope sampled at `frame_rate` Hz (frame `i`
/// centred at `i / frame_rate` s) and a tempo estimate.
pub fn track_beats(onset: &[f32], frame_rate: f64, tempo_bpm: f64) -> Vec<f64> {
    const TIGHTNESS: f64 = 100.0;
    if onset.len() < 4 || tempo_bpm.is_nan() || tempo_bpm <= 0.0 {
        return Vec::new();
    }
    let period = 60.0 * frame_rate / tempo_bpm; // frames per beat
    let mean = onset.iter().map(|&v| f64::from(v)).sum::<f64>() / onset.len() as f64;
    let sd = (onset.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / onset.len() as f64).sqrt();
    if sd <= 1e-12 {
        return Vec::new();
    }
    // Local score: the normalised envelope smoothed by a Gaussian a sixteenth of a beat wide.
    let half = period.round() as isize;
    let kernel: Vec<f64> = (-half..=half).map(|i| (-0.5 * (i as f64 * 32.0 / period).powi(2)).exp()).collect();
    let n = onset.len();
    let local: Vec<f64> = (0..n)
        .map(|t| {
            kernel
                .iter()
                .enumerate()
                .filter_map(|(k, w)| {
                    let j = t as isize + k as isize - half;
                    (0..n as isize).contains(&j).then(|| w * f64::from(onset[j as usize]) / sd)
                })
                .sum()
        })
        .collect();
    // Cumulative score with a log-Gaussian penalty on the distance to the previous beat.
    let (lo, hi) = ((period / 2.0).round() as usize, (2.0 * period).round() as usize);
    let mut cum = vec![0.0f64; n];
    let mut back = vec![usize::MAX; n];
    for t in 0..n {
        let mut best = (0.0f64, usize::MAX);
        let lo = lo.max(1);
        let first = t.saturating_sub(hi);
        let last = t.checked_sub(lo);
        for prev in last.map_or(1..1, |l| first..l + 1) {
            let gap = (t - prev) as f64;
            let s = cum[prev] - TIGHTNESS * (gap / period).ln().powi(2);
            if best.1 == usize::MAX || s > best.0 {
                best = (s, prev);
            }
        }
        cum[t] = local[t] + if best.1 == usize::MAX { 0.0 } else { best.0 };
        back[t] = best.1;
    }
    // The last beat: the latest local maximum of the cumulative score that reaches half
    // the median of all local maxima (librosa's rule), then follow the back-pointers.
    let maxima: Vec<usize> = (1..n - 1).filter(|&t| cum[t] > cum[t - 1] && cum[t] >= cum[t + 1]).collect();
    if maxima.is_empty() {
        return Vec::new();
    }
    let mut vals: Vec<f64> = maxima.iter().map(|&t| cum[t]).collect();
    vals.sort_by(f64::total_cmp);
    let threshold = 0.5 * vals[vals.len() / 2];
    let Some(&last) = maxima.iter().rev().find(|&&t| cum[t] >= threshold) else { return Vec::new() };
    let mut beats = vec![last];
    while let Some(&b) = beats.last() {
        let p = back[b];
        if p == usize::MAX {
            break;
        }
        beats.push(p);
    }
    beats.reverse();
    // Drop weak beats at the ends (silence before and after the music).
    let strong = |b: &usize| local[*b] > 0.5 * local.iter().sum::<f64>() / n as f64;
    let first = beats.iter().position(strong).unwrap_or(0);
    let end = beats.iter().rposition(strong).map_or(beats.len(), |i| i + 1);
    beats[first..end].iter().map(|&b| b as f64 / frame_rate).collect()
}

/// F-measure of `estimated` beat times against `reference` ones: a beat counts as
/// found when an estimate lies within `window_s` of it, each estimate used once.
pub fn beat_f_measure(reference: &[f64], estimated: &[f64], window_s: f64) -> f64 {
    if reference.is_empty() || estimated.is_empty() {
        return 0.0;
    }
    let mut used = vec![false; estimated.len()];
    let mut hits = 0usize;
    for r in reference {
        if let Some((i, _)) = estimated
            .iter()
            .enumerate()
            .filter(|(i, e)| !used[*i] && (*e - r).abs() <= window_s)
            .min_by(|a, b| (a.1 - r).abs().total_cmp(&(b.1 - r).abs()))
        {
            used[i] = true;
            hits += 1;
        }
    }
    let p = hits as f64 / estimated.len() as f64;
    let r = hits as f64 / reference.len() as f64;
    if p + r == 0.0 { 0.0 } else { 2.0 * p * r / (p + r) }
}
