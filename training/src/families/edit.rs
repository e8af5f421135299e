//! The editor: a music video's frames from footage and a song, cut, moved and lit as
//! its family's style says ([`edit`]), on the song's beats and onsets as its analysis
//! found them (moved by the editor's timing error when asked: [`jitter`]).

use super::{FPS, Family, Footage, HEIGHT, Song, WIDTH};
use crate::corpus::Rng;

/// One camera shot of the edit: a footage source from a frame, at a playback speed,
/// with a pan (pixels per second) and a zoom from `zoom.0` to `zoom.1` over the shot.
#[derive(Debug, Clone, Copy)]
struct Shot {
    start_s: f64,
    source: usize,
    first_frame: f64,
    speed: f64,
    pan: (f64, f64),
    zoom: (f64, f64),
    offset: (f64, f64),
}

fn draw_shot(rng: &mut Rng, start_s: f64, sources: usize, speed: f64, moving: bool) -> Shot {
    let (pan, zoom) = if moving {
        let a = rng.range(0.0, std::f32::consts::TAU);
        let v = f64::from(rng.range(4.0, 14.0));
        ((v * f64::from(a.cos()), v * f64::from(a.sin())), (1.05, f64::from(rng.range(1.15, 1.4))))
    } else {
        ((0.0, 0.0), (1.0, 1.0))
    };
    Shot {
        start_s,
        source: rng.below(sources),
        first_frame: f64::from(rng.range(0.0, 200.0)),
        speed,
        pan,
        zoom,
        offset: (f64::from(rng.range(-0.1, 0.1)), f64::from(rng.range(-0.1, 0.1))),
    }
}

/// Move every time by a normal draw of standard deviation `sd_s` (Box-Muller), keeping
/// them in order and not before 0.
pub(super) fn jitter(times: &mut [f64], sd_s: f64, rng: &mut Rng) {
    for t in times.iter_mut() {
        let (u1, u2) = (f64::from(rng.unit()).max(1e-9), f64::from(rng.unit()));
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        *t = (*t + sd_s * z).max(0.0);
    }
    times.sort_by(f64::total_cmp);
}

/// Shot starts: every `every` beats from the first beat (and 0).
fn cuts_every(beats: &[f64], every: usize) -> Vec<f64> {
    let mut out = vec![0.0];
    out.extend(beats.iter().step_by(every.max(1)).copied().filter(|t| *t > 0.05));
    out
}

/// A shot start at 0 and on every one of `times` at least `min_gap_s` after the last.
fn cuts_on(times: &[f64], min_gap_s: f64) -> Vec<f64> {
    let mut out = vec![0.0];
    for &t in times {
        if t - out[out.len() - 1] >= min_gap_s {
            out.push(t);
        }
    }
    out
}

fn last_before(times: &[f64], t: f64) -> Option<f64> {
    let i = times.partition_point(|x| *x <= t);
    (i > 0).then(|| times[i - 1])
}

/// Per-frame picture treatment.
#[derive(Debug, Clone, Copy)]
struct Look {
    gain: f32,
    saturation: f32,
    flash: f32,
    extra_zoom: f64,
    caption: bool,
}

impl Default for Look {
    fn default() -> Self {
        Self { gain: 1.0, saturation: 1.0, flash: 0.0, extra_zoom: 1.0, caption: false }
    }
}

/// Sample `src` (WIDTH x HEIGHT RGB) through a zoomed, panned window into `out`.
fn render_view(src: &[u8], zoom: f64, centre: (f64, f64), out: &mut [f32]) {
    let (w, h) = (WIDTH as f64, HEIGHT as f64);
    let (vw, vh) = (w / zoom, h / zoom);
    let cx = (centre.0).clamp(vw / 2.0, w - vw / 2.0);
    let cy = (centre.1).clamp(vh / 2.0, h - vh / 2.0);
    for y in 0..HEIGHT {
        let sy = (cy - vh / 2.0 + (y as f64 + 0.5) * vh / h - 0.5).clamp(0.0, h - 1.0);
        let (y0, fy) = (sy.floor() as usize, (sy - sy.floor()) as f32);
        let y1 = (y0 + 1).min(HEIGHT - 1);
        for x in 0..WIDTH {
            let sx = (cx - vw / 2.0 + (x as f64 + 0.5) * vw / w - 0.5).clamp(0.0, w - 1.0);
            let (x0, fx) = (sx.floor() as usize, (sx - sx.floor()) as f32);
            let x1 = (x0 + 1).min(WIDTH - 1);
            for c in 0..3 {
                let p = |xx: usize, yy: usize| f32::from(src[(yy * WIDTH + xx) * 3 + c]);
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                out[(y * WIDTH + x) * 3 + c] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
}

fn apply_look(px: &mut [f32], look: Look, caption_row: usize) {
    for (i, p) in px.chunks_exact_mut(3).enumerate() {
        let l = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
        for c in p.iter_mut() {
            let v = (l + (*c - l) * look.saturation) * look.gain;
            *c = v + (255.0 - v) * look.flash;
        }
        if look.caption {
            let (x, y) = (i % WIDTH, i / WIDTH);
            // A caption: a dark band with white glyph-like blocks.
            if (caption_row..caption_row + 14).contains(&y) && (24..WIDTH - 24).contains(&x) {
                let glyph = (x / 5) % 3 != 2 && (y - caption_row) > 3 && (y - caption_row) < 11 && (x / 23) % 4 != 3;
                let v = if glyph { 240.0 } else { 20.0 };
                p.iter_mut().for_each(|c| *c = v);
            }
        }
    }
}

/// The frames (RGB24, [`FPS`] per second) of one item of `family` over `song`.
pub(super) fn edit(family: Family, song: &Song, footage: &[Footage], seconds: f64, rng: &mut Rng) -> Vec<u8> {
    let n_frames = (seconds * FPS as f64) as usize;
    let beats = &song.beats;
    let period = if beats.len() > 1 { (beats[beats.len() - 1] - beats[0]) / (beats.len() - 1) as f64 } else { 0.5 };
    let tempo = 60.0 / period.max(0.2);
    let energy_at = |t: f64| song.energy.get((t * FPS as f64) as usize).copied().unwrap_or(0.0);
    let bars = cuts_every(beats, 4);
    // Shot starts per family, and how shots are filmed.
    let (starts, speed, moving) = match family {
        Family::CutBeat => (cuts_every(beats, 1), 1.0, false),
        Family::CutBar | Family::Mixed => (bars.clone(), 1.0, family == Family::Mixed),
        Family::PhraseMove | Family::Slowmo | Family::BrightnessBeat | Family::FlashOnsets => {
            (cuts_every(beats, 8), if family == Family::Slowmo { 0.35 } else { 1.0 }, family == Family::PhraseMove)
        }
        Family::MotionTempo => (cuts_every(beats, 16), tempo / 100.0, true),
        Family::ZoomBeat => (cuts_every(beats, 4), 1.0, false),
        Family::TextOverlay => (cuts_every(beats, 2), 1.0, false),
        Family::CutOnsets => (cuts_on(&song.onsets, 0.3), 1.0, false),
        Family::ColourEnergy => {
            let mut s = vec![0.0];
            let mut k = 0;
            while k < beats.len() {
                if beats[k] > 0.05 {
                    s.push(beats[k]);
                }
                k += if energy_at(beats[k]) > 0.5 { 4 } else { 8 };
            }
            (s, 1.0, false)
        }
        Family::ShotlenEnergy => {
            let mut s = vec![0.0];
            let mut k = 0;
            while k < beats.len() {
                if beats[k] > 0.05 {
                    s.push(beats[k]);
                }
                let e = energy_at(beats[k]);
                k += if e > 0.66 {
                    1
                } else if e > 0.33 {
                    2
                } else {
                    4
                };
            }
            (s, 1.0, false)
        }
        Family::Synthetic => unreachable!("the synthetic family is drawn by corpus::synth_frames"),
    };
    let mut shots: Vec<Shot> = starts.iter().map(|&t| draw_shot(rng, t, footage.len(), speed, moving)).collect();
    if family == Family::MotionTempo {
        for s in &mut shots {
            let scale = tempo / 4.0 / (s.pan.0.hypot(s.pan.1)).max(1e-3);
            s.pan = (s.pan.0 * scale, s.pan.1 * scale);
            s.zoom = (1.3, 1.3);
        }
    }
    // Mixed: each bar's style drawn once.
    let bar_styles: Vec<usize> = (0..bars.len()).map(|_| rng.below(4)).collect();
    let caption_rows = [HEIGHT - 22, 8];
    let mut out = Vec::with_capacity(n_frames * WIDTH * HEIGHT * 3);
    let mut px = vec![0f32; WIDTH * HEIGHT * 3];
    let mut prev = vec![0f32; WIDTH * HEIGHT * 3];
    let shot_at = |t: f64| shots.partition_point(|s| s.start_s <= t).saturating_sub(1);
    let view = |shot: &Shot, t: f64, extra_zoom: f64, buf: &mut [f32]| {
        let ts = (t - shot.start_s).max(0.0);
        let src = &footage[shot.source].frames;
        // Ping-pong through the source so a long shot never jumps.
        let pos = (shot.first_frame + ts * FPS as f64 * shot.speed) as usize;
        let m = src.len().max(2);
        let cycle = 2 * (m - 1);
        let idx = if pos % cycle < m { pos % cycle } else { cycle - pos % cycle };
        let shot_len = 4.0;
        let z = shot.zoom.0 + (shot.zoom.1 - shot.zoom.0) * (ts / shot_len).min(1.0);
        let centre = (
            WIDTH as f64 * (0.5 + shot.offset.0) + shot.pan.0 * ts,
            HEIGHT as f64 * (0.5 + shot.offset.1) + shot.pan.1 * ts,
        );
        render_view(&src[idx.min(src.len() - 1)], z * extra_zoom, centre, buf);
    };
    for f in 0..n_frames {
        let t = f as f64 / FPS as f64;
        let since_beat = last_before(beats, t).map_or(10.0, |b| t - b);
        let bar_index = bars.partition_point(|b| *b <= t).saturating_sub(1);
        let mut look = Look::default();
        let mut style = family;
        if family == Family::Mixed {
            style =
                [Family::CutBeat, Family::ZoomBeat, Family::BrightnessBeat, Family::PhraseMove][bar_styles[bar_index]];
        }
        match style {
            Family::BrightnessBeat => look.gain = 0.7 + 0.7 * (-since_beat / 0.12).exp() as f32,
            Family::ZoomBeat => look.extra_zoom = 1.0 + 0.25 * (-since_beat / 0.15).exp(),
            Family::ColourEnergy => {
                let e = energy_at(t);
                look.saturation = 0.2 + 1.4 * e;
                look.gain = 0.6 + 0.6 * e;
            }
            Family::FlashOnsets => {
                look.gain = 0.35;
                let since = last_before(&song.onsets, t).map_or(10.0, |o| t - o);
                look.flash = 0.85 * (-since / 0.08).exp() as f32;
            }
            Family::TextOverlay => {
                let since_bar = t - bars[bar_index];
                look.caption = since_bar < 2.0 * period;
            }
            _ => {}
        }
        // Mixed cuts within a bar on every beat when its style is beat cuts.
        let mut shot = shots[shot_at(t)];
        if style == Family::CutBeat && family == Family::Mixed {
            let k = beats.partition_point(|b| *b <= t);
            let mut r = Rng::new(k as u64 ^ 0x5EED);
            shot.source = r.below(footage.len());
            shot.first_frame = f64::from(r.range(0.0, 200.0));
        }
        view(&shot, t, look.extra_zoom, &mut px);
        // Slow motion dissolves over 0.4 s into each new shot.
        if family == Family::Slowmo {
            let i = shot_at(t);
            let into = t - shots[i].start_s;
            if i > 0 && into < 0.4 {
                view(&shots[i - 1], t, 1.0, &mut prev);
                let a = (into / 0.4) as f32;
                px.iter_mut().zip(&prev).for_each(|(p, q)| *p = *p * a + q * (1.0 - a));
            }
        }
        apply_look(&mut px, look, caption_rows[bar_index % 2]);
        out.extend(px.iter().map(|v| v.clamp(0.0, 255.0) as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::SAMPLE_RATE;
    use super::*;

    fn song_with_beats(beats: Vec<f64>, seconds: f64) -> Song {
        Song {
            samples: vec![0.0; (seconds * f64::from(SAMPLE_RATE)) as usize],
            label: "test".into(),
            beats,
            energy: vec![0.5; (seconds * FPS as f64) as usize],
            onsets: vec![1.0, 2.0],
        }
    }

    fn footage() -> Vec<Footage> {
        // Two flat sources of different brightness, so a cut is a jump in mean luma.
        [40u8, 200]
            .iter()
            .enumerate()
            .map(|(i, v)| Footage { name: format!("flat{i}"), frames: vec![vec![*v; WIDTH * HEIGHT * 3]; 50] })
            .collect()
    }

    fn mean_luma(frames: &[u8]) -> Vec<f32> {
        frames
            .chunks_exact(WIDTH * HEIGHT * 3)
            .map(|f| f.iter().map(|v| f32::from(*v)).sum::<f32>() / f.len() as f32)
            .collect()
    }

    #[test]
    fn brightness_beat_pulses_on_the_beats_it_was_given() {
        let beats: Vec<f64> = (0..8).map(|k| 0.2 + 0.5 * f64::from(k)).collect();
        let song = song_with_beats(beats.clone(), 4.0);
        let frames = edit(Family::BrightnessBeat, &song, &footage()[..1], 4.0, &mut Rng::new(1));
        let luma = mean_luma(&frames);
        assert_eq!(luma.len(), 100);
        // The frame on each beat is brighter than the frame just before it.
        for b in &beats[..7] {
            let f = (b * FPS as f64).round() as usize;
            assert!(luma[f] > luma[f - 1] + 10.0, "beat {b}: {} vs {}", luma[f], luma[f - 1]);
        }
    }

    #[test]
    fn the_editors_timing_error_moves_times_by_about_its_spread() {
        let times: Vec<f64> = (1..=400).map(|k| f64::from(k) * 0.5).collect();
        let mut moved = times.clone();
        jitter(&mut moved, 0.03, &mut Rng::new(5));
        assert!(moved.windows(2).all(|w| w[0] <= w[1]), "kept in order");
        let d: Vec<f64> = times.iter().zip(&moved).map(|(a, b)| b - a).collect();
        let mean = d.iter().sum::<f64>() / d.len() as f64;
        let sd = (d.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / d.len() as f64).sqrt();
        assert!(mean.abs() < 0.006, "unbiased: mean {mean}");
        assert!((0.025..0.035).contains(&sd), "spread {sd}");
    }

    #[test]
    fn cut_beat_changes_shot_only_on_beats() {
        let beats: Vec<f64> = (0..10).map(|k| 0.4 * f64::from(k) + 0.2).collect();
        let song = song_with_beats(beats.clone(), 4.0);
        let frames = edit(Family::CutBeat, &song, &footage(), 4.0, &mut Rng::new(3));
        let luma = mean_luma(&frames);
        // The first frame at or after each beat.
        let beat_frames: Vec<usize> =
            beats.iter().filter_map(|b| (0..100).find(|f| *f as f64 / FPS as f64 >= *b)).collect();
        let mut jumps = 0;
        for f in 1..luma.len() {
            if (luma[f] - luma[f - 1]).abs() > 50.0 {
                jumps += 1;
                assert!(beat_frames.contains(&f), "a cut at frame {f} is not on a beat {beat_frames:?}");
            }
        }
        assert!(jumps >= 2, "two sources drawn at random over 10 beats cut visibly at least twice ({jumps})");
    }

    #[test]
    fn cut_onsets_changes_shot_only_on_strong_onsets_off_the_beat() {
        // Onsets off the beat grid, two closer than the 0.3 s gap.
        let beats: Vec<f64> = (0..10).map(|k| 0.4 * f64::from(k)).collect();
        let mut song = song_with_beats(beats.clone(), 4.0);
        song.onsets = vec![0.62, 0.74, 1.42, 2.22, 2.7, 3.5];
        assert_eq!(cuts_on(&song.onsets, 0.3), vec![0.0, 0.62, 1.42, 2.22, 2.7, 3.5]);
        let frames = edit(Family::CutOnsets, &song, &footage(), 4.0, &mut Rng::new(5));
        let luma = mean_luma(&frames);
        let onset_frames: Vec<usize> =
            [0.62, 1.42, 2.22, 2.7, 3.5].iter().map(|t: &f64| (t * FPS as f64).ceil() as usize).collect();
        let mut jumps = 0;
        for f in 1..luma.len() {
            if (luma[f] - luma[f - 1]).abs() > 50.0 {
                jumps += 1;
                assert!(onset_frames.contains(&f), "a cut at frame {f} is not on an onset {onset_frames:?}");
            }
        }
        assert!(jumps >= 1, "two sources over five onset cuts change at least once ({jumps})");
    }
}
