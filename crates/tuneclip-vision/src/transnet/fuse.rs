//! TransNetV2's predictions as transitions ([`transition_runs`]), and fused with the
//! picture detector's ([`fuse`]): it adds only what the detector missed and the
//! picture confirms (a flash or a strobe comes back to the picture it left).

use super::TransNetScore;
use tuneclip_core::frame::FrameSignature;

/// Frames where a new shot starts, from the single-frame predictions as the reference's
/// `predictions_to_scenes` reads them: every run of frames above `threshold` is one
/// transition, `(first, last)` frame of the run.
pub fn transition_runs(scores: &[TransNetScore], threshold: f32) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut start = None;
    for (i, s) in scores.iter().enumerate() {
        match (s.single > threshold, start) {
            (true, None) => start = Some(i),
            (false, Some(a)) => {
                runs.push((a, i - 1));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(a) = start {
        runs.push((a, scores.len() - 1));
    }
    runs
}

/// The single-frame probability above which [`fuse`] considers a transition the typed
/// detector missed. Chosen on the truth set's development seeds (0-23, 120 transitions
/// at 320x180; `cargo bench --bench truth_set` with `TUNECLIP_TRUTH_TRANSNET`), with
/// the picture check below: cut F1 0.947 alone, 0.983 fused at every threshold from 0.2
/// to 0.9; gradual F1 0.902 alone, fused 0.918 / 0.929 / 0.916 / 0.916 / 0.902 at 0.2 /
/// 0.3 / 0.5 / 0.7 / 0.9 (without the check, cut F1 fell to 0.574 at 0.3 and 0.707 at
/// 0.5: flashes, strobes and fast motion). BENCHMARKS.md has the held-out figures.
pub const FUSE_THRESHOLD: f32 = 0.3;

/// A cut TransNetV2 proposes is kept only if the picture changes across it at least this
/// many times more than between the frames on either side (motion) ... (both constants
/// read off the development seeds' candidates: true cuts change 5-100x more across than
/// either side and stay changed; flashes come back, fast motion changes 3-4x) ...
const CUT_OVER_MOTION: f32 = 4.0;
/// ... and stays changed: the frames three before and two after differ by at least this
/// share of the change across (a flash or a strobe returns to the picture it left).
const CUT_STAYS: f32 = 0.7;

impl FuseStats {
    /// `other`'s counts added to these.
    pub fn add(&mut self, other: &Self) {
        self.added_cuts += other.added_cuts;
        self.added_gradual += other.added_gradual;
        self.refused_cuts += other.refused_cuts;
    }
}

impl std::fmt::Display for FuseStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "TransNetV2 added {} cut(s) and {} dissolve(s) the typed detector missed, and proposed {} cut(s) the picture check refused (a flash or fast motion)",
            self.added_cuts, self.added_gradual, self.refused_cuts
        )
    }
}

/// What [`fuse`] did (kept in the analysis, shown in the scene list and summed in the
/// ingest report).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FuseStats {
    /// Transitions TransNetV2 found that the detector had not: added as cuts.
    pub added_cuts: usize,
    /// The same, added as dissolves (the all-frames head marks more than two frames).
    pub added_gradual: usize,
    /// Cuts it proposed that the picture check refused (a flash, fast motion).
    pub refused_cuts: usize,
}

/// Whether the picture changes at `at` (the first frame of a new shot) as a cut does,
/// read from every decoded frame's luma signature: the change across the cut stands
/// out from the motion either side and the picture does not come back.
fn picture_cuts_at(signatures: &[FrameSignature], at: f64) -> bool {
    let i = signatures.partition_point(|s| s.t_s < at - 1e-4);
    if i < 3 || i + 2 >= signatures.len() {
        return false;
    }
    let d = |a: usize, b: usize| signatures[a].distance(&signatures[b]);
    let across = d(i - 1, i);
    let motion = d(i - 2, i - 1).max(d(i, i + 1)).max(0.5);
    across >= CUT_OVER_MOTION * motion && d(i - 3, i + 2) >= CUT_STAYS * across
}

/// Add to `found` (the typed detector's transitions, sorted by start) what TransNetV2
/// finds and the detector does not: every run of frames whose single-frame probability
/// is above `threshold` and that lies more than two frames from every transition in
/// `found` (`times_s[i]` is frame `i`'s time). Where the all-frames head marks more than
/// two frames around the run (above 0.5), the transition is a dissolve over them;
/// otherwise a cut on the frame after the run (the run's frame is the old shot's last),
/// kept only where the frames' luma signatures (`signatures`, every decoded frame)
/// change as a cut's do. The detector's own transitions keep their types and frames.
pub fn fuse(
    found: &mut Vec<crate::Transition>,
    scores: &[TransNetScore],
    times_s: &[f64],
    signatures: &[FrameSignature],
    threshold: f32,
) -> FuseStats {
    use crate::{Transition, TransitionKind};
    let mut stats = FuseStats::default();
    let n = scores.len().min(times_s.len());
    if n == 0 {
        return stats;
    }
    let frame_s = if n > 1 { (times_s[n - 1] - times_s[0]) / (n - 1) as f64 } else { 0.04 };
    let near = 2.0 * frame_s + 1e-3;
    let mut added = Vec::new();
    for (a, b) in transition_runs(&scores[..n], threshold) {
        // The all-frames head's run around the single-frame run.
        let (mut lo, mut hi) = (a, b);
        while lo > 0 && scores[lo - 1].many > 0.5 {
            lo -= 1;
        }
        while hi + 1 < n && scores[hi + 1].many > 0.5 {
            hi += 1;
        }
        let t = if hi > lo + 1 {
            Transition {
                kind: TransitionKind::Dissolve,
                start_s: times_s[lo],
                end_s: times_s[(hi + 1).min(n - 1)],
                colour: None,
            }
        } else {
            let at = times_s[(b + 1).min(n - 1)];
            Transition { kind: TransitionKind::Cut, start_s: at, end_s: at, colour: None }
        };
        if !found.iter().all(|f| t.end_s < f.start_s - near || t.start_s > f.end_s + near) {
            continue;
        }
        if t.kind == TransitionKind::Cut {
            if !picture_cuts_at(signatures, t.start_s) {
                stats.refused_cuts += 1;
                continue;
            }
            stats.added_cuts += 1;
        } else {
            stats.added_gradual += 1;
        }
        added.push(t);
    }
    found.extend(added);
    found.sort_by(|x, y| x.start_s.total_cmp(&y.start_s));
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(single: f32) -> TransNetScore {
        TransNetScore { single, many: 0.0 }
    }

    #[test]
    fn runs_above_the_threshold_are_transitions() {
        let s: Vec<_> = [0.1, 0.9, 0.8, 0.2, 0.6, 0.1, 0.7].into_iter().map(score).collect();
        assert_eq!(transition_runs(&s, 0.5), vec![(1, 2), (4, 4), (6, 6)]);
        assert!(transition_runs(&[], 0.5).is_empty());
    }

    #[test]
    fn fusion_adds_only_what_the_detector_missed_and_the_picture_confirms() {
        use crate::{Transition, TransitionKind};
        use tuneclip_core::frame::SIGNATURE_GRID;
        let times: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.04).collect();
        // The picture: grey 40 until frame 60, grey 120 after; a one-frame white flash
        // at frame 30.
        let level = |i: usize| {
            if i == 30 {
                250
            } else if i < 60 {
                40
            } else {
                120
            }
        };
        let sigs: Vec<FrameSignature> = (0..100)
            .map(|i| FrameSignature { t_s: times[i], grid: [level(i); SIGNATURE_GRID * SIGNATURE_GRID] })
            .collect();
        let mut scores = vec![TransNetScore { single: 0.0, many: 0.0 }; 100];
        // A cut the detector has (old shot's last frame 19), one it missed (59), the
        // flash (29: refused), and a dissolve it missed (the all-frames head marks
        // 78-84 around 81).
        for i in [19, 29, 59] {
            scores[i].single = 0.9;
        }
        scores[81].single = 0.8;
        for s in &mut scores[78..=84] {
            s.many = 0.9;
        }
        let cut = |t: f64| Transition { kind: TransitionKind::Cut, start_s: t, end_s: t, colour: None };
        let mut found = vec![cut(0.8)];
        let stats = fuse(&mut found, &scores, &times, &sigs, 0.5);
        assert_eq!(stats, FuseStats { added_cuts: 1, added_gradual: 1, refused_cuts: 1 });
        assert_eq!(found.len(), 3);
        assert!((found[1].start_s - 2.4).abs() < 1e-9 && found[1].kind == TransitionKind::Cut, "{:?}", found[1]);
        assert_eq!(found[2].kind, TransitionKind::Dissolve);
        assert!((found[2].start_s - 78.0 * 0.04).abs() < 1e-9 && (found[2].end_s - 85.0 * 0.04).abs() < 1e-9);
    }
}
