//! A synthetic corpus of music videos whose sound and picture share latent factors.
//!
//! Each item draws, from `(seed, index)` alone:
//!
//! | latent | sound | picture |
//! |---|---|---|
//! | tempo (70–170 BPM) | kick on every beat, arpeggio note per beat | shapes move at a speed ∝ tempo, pulse on beats, cut every 2 or 4 beats |
//! | energy (0–1) | master gain, hi-hat level and density | brightness (HSV value), shape size, cuts every 2 beats when high |
//! | key (12) and mode | root and triad of the arpeggio | hue (key) and saturation (major vivid, minor muted) |
//! | timbre (0–1) | number and roll-off of the harmonics | spatial frequency of the background stripes |
//!
//! The audio is synthesised in-process and the frames drawn in-process; the `ffmpeg`
//! CLI (installed by `setup.sh`) encodes them into one H.264 + AAC MP4 per item, so the
//! training data goes through the same decoders as real music videos. The split (train,
//! val, test) is a function of the index: the held-out items are never trained on.

use crate::error::{Error, Result};
use crate::manifest::{PairManifest, PairSpec, Split};
use serde::{Deserialize, Serialize};
use std::f32::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tuneclip_core::SplitMix64;

/// The corpus generator: [`SplitMix64`] (a seed means the same corpus on every machine)
/// with the draws the corpus needs.
#[derive(Debug, Clone)]
pub struct Rng(SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

/// The hidden factors of one music video.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Latents {
    pub tempo_bpm: f32,
    pub energy: f32,
    pub key: u8,
    pub minor: bool,
    pub timbre: f32,
}

impl Latents {
    pub fn draw(rng: &mut Rng) -> Self {
        Self {
            tempo_bpm: rng.range(70.0, 170.0),
            energy: rng.unit(),
            key: rng.below(12) as u8,
            minor: rng.unit() < 0.5,
            timbre: rng.unit(),
        }
    }

    fn beat_s(&self) -> f32 {
        60.0 / self.tempo_bpm
    }

    fn cut_every_beats(&self) -> usize {
        if self.energy > 0.5 { 2 } else { 4 }
    }
}

/// Corpus size and media format.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CorpusConfig {
    pub seed: u64,
    pub train: usize,
    pub val: usize,
    pub test: usize,
    /// Length of each video; cut into windows of `window_s`.
    pub seconds: f32,
    pub window_s: f32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub sample_rate: u32,
}

impl Default for CorpusConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            train: 1200,
            val: 100,
            test: 250,
            seconds: 8.0,
            window_s: 4.0,
            width: 128,
            height: 72,
            fps: 24,
            sample_rate: 22_050,
        }
    }
}

impl CorpusConfig {
    pub fn len(&self) -> usize {
        self.train + self.val + self.test
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn split_of(&self, index: usize) -> Split {
        if index < self.train {
            Split::Train
        } else if index < self.train + self.val {
            Split::Val
        } else {
            Split::Test
        }
    }

    pub fn latents_of(&self, index: usize) -> Latents {
        Latents::draw(&mut Rng::new(self.seed.wrapping_mul(1_000_003).wrapping_add(index as u64)))
    }
}

/// The audio track of one item: mono at `sr`.
pub fn synth_audio(l: &Latents, seconds: f32, sr: u32, rng: &mut Rng) -> Vec<f32> {
    let n = (seconds * sr as f32) as usize;
    let beat = l.beat_s();
    let root = 110.0 * 2f32.powf(f32::from(l.key) / 12.0);
    let third = if l.minor { 3.0 } else { 4.0 };
    let arpeggio = [0.0, third, 7.0, 12.0];
    let harmonics = 1 + (l.timbre * 7.0).round() as usize;
    let rolloff = 1.8 - 1.2 * l.timbre;
    let master = 0.25 + 0.6 * l.energy;
    let hat_level = 0.03 + 0.25 * l.energy;
    let hat_step = if l.energy > 0.5 { beat / 4.0 } else { beat / 2.0 };
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f32 / sr as f32;
        let k = (t / beat).floor();
        let tb = t - k * beat;
        // Kick: a falling sine on every beat.
        let kick = (2.0 * PI * (50.0 * tb + 80.0 * (1.0 - (-tb * 30.0).exp()) / 30.0)).sin() * (-tb * 9.0).exp();
        // Arpeggio: one chord tone per beat with the item's harmonic colour.
        let f0 = root * 2f32.powf(arpeggio[(k as usize) % 4] / 12.0) * 2.0;
        let mut tone = 0.0;
        for h in 1..=harmonics {
            tone += (2.0 * PI * f0 * h as f32 * t).sin() / (h as f32).powf(rolloff);
        }
        let tone = tone * (-tb * 3.0).exp();
        // Hi-hat: noise bursts on eighths or sixteenths.
        let th = t - (t / hat_step).floor() * hat_step;
        let hat = (rng.unit() * 2.0 - 1.0) * (-th * 45.0).exp();
        out.push(master * (0.5 * kick + 0.3 * tone + hat_level * hat));
    }
    let peak = out.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    if peak > 0.98 {
        out.iter_mut().for_each(|v| *v *= 0.98 / peak);
    }
    out
}

fn hsv_to_rgb(h: f32, s: f32, v: f32) -> [f32; 3] {
    let h6 = (h.rem_euclid(1.0)) * 6.0;
    let c = v * s;
    let x = c * (1.0 - ((h6 % 2.0) - 1.0).abs());
    let (r, g, b) = match h6 as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [r + m, g + m, b + m]
}

/// Per-shot layout, redrawn at every cut.
struct Shot {
    hue_shift: f32,
    stripe_angle: f32,
    shapes: [(f32, f32, f32, f32); 3],
}

impl Shot {
    fn draw(rng: &mut Rng) -> Self {
        let hue_shift = rng.range(-0.04, 0.04);
        let stripe_angle = rng.range(0.0, PI);
        let mut shape = || {
            let a = rng.range(0.0, 2.0 * PI);
            (rng.unit(), rng.unit(), a.cos(), a.sin())
        };
        Self { hue_shift, stripe_angle, shapes: [shape(), shape(), shape()] }
    }
}

/// The frames of one item, RGB24, `fps` per second.
pub fn synth_frames(l: &Latents, cfg: &CorpusConfig, rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (cfg.width as usize, cfg.height as usize);
    let n_frames = (cfg.seconds * cfg.fps as f32) as usize;
    let beat = l.beat_s();
    let shot_len = beat * l.cut_every_beats() as f32;
    let hue = f32::from(l.key) / 12.0;
    let sat = if l.minor { 0.45 } else { 0.9 };
    let value = 0.3 + 0.6 * l.energy;
    let stripes = 2.0 + 10.0 * l.timbre;
    let speed = l.tempo_bpm / 120.0 * 0.35; // frame widths per second
    let radius = (0.08 + 0.08 * l.energy) * h as f32;
    let mut out = Vec::with_capacity(n_frames * w * h * 3);
    let mut shot_index = usize::MAX;
    let mut shot = Shot::draw(rng);
    for f in 0..n_frames {
        let t = f as f32 / cfg.fps as f32;
        let s = (t / shot_len).floor() as usize;
        if s != shot_index {
            shot_index = s;
            shot = Shot::draw(rng);
        }
        let ts = t - s as f32 * shot_len;
        let pulse = (-(t - (t / beat).floor() * beat) * 8.0).exp();
        let base = hsv_to_rgb(hue + shot.hue_shift, sat, value);
        let accent = hsv_to_rgb(hue + 0.5, sat, (value + 0.3).min(1.0));
        let (ca, sa) = (shot.stripe_angle.cos(), shot.stripe_angle.sin());
        let centres: Vec<(f32, f32)> = shot
            .shapes
            .iter()
            .map(|&(x0, y0, dx, dy)| {
                let x = (x0 + dx * speed * ts).rem_euclid(1.0) * w as f32;
                let y = (y0 + dy * speed * ts * (w as f32 / h as f32)).rem_euclid(1.0) * h as f32;
                (x, y)
            })
            .collect();
        let r = radius * (1.0 + 0.5 * pulse);
        for y in 0..h {
            for x in 0..w {
                let (xf, yf) = (x as f32 / w as f32, y as f32 / w as f32);
                let stripe = 0.8 + 0.2 * (2.0 * PI * stripes * (xf * ca + yf * sa)).sin();
                let mut px = base.map(|c| c * stripe);
                for &(cx, cy) in &centres {
                    let (ddx, ddy) = (x as f32 - cx, y as f32 - cy);
                    if ddx * ddx + ddy * ddy < r * r {
                        px = accent;
                    }
                }
                out.extend(px.map(|c| (c.clamp(0.0, 1.0) * 255.0) as u8));
            }
        }
    }
    out
}

fn encode(out: &Path, frames: &[u8], audio: &[f32], cfg: &CorpusConfig) -> Result<()> {
    encode_rgb(out, frames, (cfg.width, cfg.height, cfg.fps), audio, cfg.sample_rate)
}

/// Encode RGB24 `frames` of `(width, height, fps)` and mono `audio` at `sample_rate`
/// into one H.264 + AAC MP4 with the `ffmpeg` CLI (bit-exact flags: the same bytes on
/// every machine with the same FFmpeg).
pub(crate) fn encode_rgb(
    out: &Path,
    frames: &[u8],
    (width, height, fps): (u32, u32, u32),
    audio: &[f32],
    sample_rate: u32,
) -> Result<()> {
    let raw_audio = out.with_extension("f32");
    let bytes: Vec<u8> = audio.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&raw_audio, bytes).map_err(Error::io("write", &raw_audio))?;
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24"])
        .args(["-s", &format!("{width}x{height}"), "-r", &fps.to_string(), "-i", "-"])
        .args(["-f", "f32le", "-ar", &sample_rate.to_string(), "-ac", "1", "-i"])
        .arg(&raw_audio)
        .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-g", "48"])
        .args(["-c:a", "aac", "-b:a", "96k", "-shortest", "-threads", "1"])
        .args(["-fflags", "+bitexact", "-flags", "+bitexact"])
        .arg(out)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::media(out, format!("cannot run the ffmpeg CLI ({e}); run setup.sh")))?;
    let written = child.stdin.take().map(|mut s| s.write_all(frames));
    let output = child.wait_with_output().map_err(|e| Error::media(out, format!("ffmpeg did not finish ({e})")))?;
    let _ = std::fs::remove_file(&raw_audio);
    if !output.status.success() {
        return Err(Error::media(out, format!("ffmpeg failed: {}", String::from_utf8_lossy(&output.stderr).trim())));
    }
    if let Some(Err(e)) = written {
        return Err(Error::media(out, format!("ffmpeg closed its input early ({e})")));
    }
    Ok(())
}

/// File name of item `index`.
pub fn item_file(index: usize) -> String {
    format!("mv-{index:05}.mp4")
}

/// Write (or complete: existing files are kept) the corpus under `dir`, with its pair
/// manifest `dir/pairs.json` (one pair per window, the item's own audio as positive).
pub fn generate(dir: &Path, cfg: &CorpusConfig, workers: usize) -> Result<PairManifest> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let errors = std::sync::Mutex::new(Vec::new());
    crate::par_for(cfg.len(), workers, "synthesising music videos", |i| {
        let path = dir.join(item_file(i));
        if path.is_file() {
            return;
        }
        let l = cfg.latents_of(i);
        let mut rng = Rng::new(cfg.seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
        let audio = synth_audio(&l, cfg.seconds, cfg.sample_rate, &mut rng);
        let frames = synth_frames(&l, cfg, &mut rng);
        let tmp = dir.join(format!(".{}.partial.mp4", item_file(i)));
        let done = encode(&tmp, &frames, &audio, cfg)
            .and_then(|()| std::fs::rename(&tmp, &path).map_err(Error::io("publish", &path)));
        if let Err(e) = done
            && let Ok(mut errs) = errors.lock()
        {
            errs.push((path, e));
        }
    });
    Error::items(errors)?;
    let windows = (cfg.seconds / cfg.window_s).floor().max(1.0) as usize;
    let mut pairs = Vec::new();
    for i in 0..cfg.len() {
        for w in 0..windows {
            let file = PathBuf::from(item_file(i));
            let start = f64::from(w as f32 * cfg.window_s);
            pairs.push(PairSpec {
                song: file.clone(),
                song_start_s: start,
                video: file,
                video_start_s: start,
                duration_s: f64::from(cfg.window_s),
                group: format!("mv-{i:05}"),
                split: cfg.split_of(i),
                family: Some("synthetic".to_string()),
            });
        }
    }
    let manifest = PairManifest { pairs };
    manifest.save(&dir.join("pairs.json"))?;
    let latents: Vec<Latents> = (0..cfg.len()).map(|i| cfg.latents_of(i)).collect();
    let meta = serde_json::json!({ "config": cfg, "latents": latents });
    let meta_path = dir.join("corpus.json");
    let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| Error::bad_file(&meta_path, e))?;
    std::fs::write(&meta_path, bytes).map_err(Error::io("write", &meta_path))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_draws_the_same_latents_and_audio() {
        let cfg = CorpusConfig::default();
        assert_eq!(cfg.latents_of(3), cfg.latents_of(3));
        assert_ne!(cfg.latents_of(3), cfg.latents_of(4));
        let l = cfg.latents_of(0);
        let a = synth_audio(&l, 1.0, 22_050, &mut Rng::new(1));
        let b = synth_audio(&l, 1.0, 22_050, &mut Rng::new(1));
        assert_eq!(a, b);
        assert!(a.iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }

    #[test]
    fn splits_are_disjoint_and_in_order() {
        let cfg = CorpusConfig { train: 3, val: 2, test: 1, ..CorpusConfig::default() };
        let splits: Vec<Split> = (0..6).map(|i| cfg.split_of(i)).collect();
        assert_eq!(splits, [Split::Train, Split::Train, Split::Train, Split::Val, Split::Val, Split::Test]);
    }

    #[test]
    fn brighter_energy_draws_brighter_frames() {
        let cfg = CorpusConfig { seconds: 0.5, ..CorpusConfig::default() };
        let mut l = cfg.latents_of(0);
        let mean = |l: &Latents| {
            let f = synth_frames(l, &cfg, &mut Rng::new(2));
            f.iter().map(|&v| f32::from(v)).sum::<f32>() / f.len() as f32
        };
        l.energy = 0.1;
        let dark = mean(&l);
        l.energy = 0.9;
        let bright = mean(&l);
        assert!(bright > dark + 30.0, "dark {dark} bright {bright}");
    }
}
