//! Pairs from a manifest, decoded with tuneclip's own media stack and turned into
//! encoder inputs (plus the handcrafted model's embeddings of the same windows, the
//! baseline every learned model is compared with). Each file is decoded once; a file
//! that cannot be decoded is skipped and reported, never fatal. The result is cached
//! in a flat binary file keyed by the manifest and input shapes.

use crate::manifest::{PairManifest, Split};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tuneclip_audio::SongFeatures;
use tuneclip_core::TimeRange;
use tuneclip_core::sync::SyncEnvelope;
use tuneclip_media::audio::decode_mono;
use tuneclip_media::video::{SampledFrame, SamplingConfig, sample_frames};
use tuneclip_model::HandcraftedModel;
use tuneclip_model::inputs::{
    AudioInput, InputShape, MOTION_DIMS, SAMPLE_RATE, VisualInput, audio_input, beat_grid, onset_envelope, visual_input,
};
use tuneclip_vision::{CutDetectorConfig, SegmentStats, colourfulness, detect_cuts, picture_events};

/// Frames per second and width at which video windows are sampled.
pub const VIDEO_SAMPLING: SamplingConfig = SamplingConfig { fps: 10.0, width_px: 64, skip_loop_filter: true };

/// One training example: a song window and the video window that goes with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Index into the manifest's pairs.
    pub pair: usize,
    /// Dense id of the pair's group (never a negative of the same group).
    pub group: usize,
    pub split: Split,
    pub audio: AudioInput,
    pub visual: VisualInput,
    /// The handcrafted model's embeddings of the same windows.
    pub baseline_song: Vec<f32>,
    pub baseline_segment: Vec<f32>,
    /// The sync envelopes of the same windows: the song's onsets
    /// ([`tuneclip_model::inputs::onset_envelope`]) and the picture's events as the
    /// catalogue stores them (the whole video's [`picture_events`], one byte a bin, cut
    /// to the window), so that what is measured here is what search reads.
    pub song_envelope: Vec<f32>,
    pub video_envelope: Vec<f32>,
    /// The whole song's beat grid (its analysis' beats) cut to the song window, on the
    /// sync grid ([`tuneclip_model::inputs::beat_grid`]).
    pub song_beats: Vec<f32>,
}

/// Examples of a manifest, with what could not be used.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub examples: Vec<Example>,
    pub groups: Vec<String>,
    /// `(file, reason)` for every skipped file or pair.
    pub skipped: Vec<(PathBuf, String)>,
    /// Reviewers' rejections (song window, video window that do not go together), used
    /// by the hard-negative term of the loss; not part of any split.
    pub hard_negatives: Vec<Example>,
}

impl Dataset {
    pub fn split(&self, split: Split) -> Vec<&Example> {
        self.examples.iter().filter(|e| e.split == split).collect()
    }
}

struct DecodedVideo {
    frames: Vec<SampledFrame>,
    /// The whole video's picture events (from every decoded frame's luma signature).
    events: SyncEnvelope,
}

fn window_frames(v: &DecodedVideo, start: f64, dur: f64) -> Vec<SampledFrame> {
    v.frames.iter().filter(|f| f.t_s >= start && f.t_s < start + dur).cloned().collect()
}

fn baseline_segment(frames: &[SampledFrame], dur: f64) -> Vec<f32> {
    let lumas: Vec<Vec<f32>> = frames.iter().map(SampledFrame::luma_plane).collect();
    let motion = if lumas.len() > 1 {
        lumas
            .windows(2)
            .map(|w| w[0].iter().zip(&w[1]).map(|(a, b)| (a - b).abs()).sum::<f32>() / w[0].len().max(1) as f32)
            .sum::<f32>()
            / (lumas.len() - 1) as f32
    } else {
        0.0
    };
    let n = frames.len().max(1) as f32;
    let brightness = lumas.iter().map(|l| l.iter().sum::<f32>() / l.len().max(1) as f32).sum::<f32>() / n;
    let colour =
        frames.iter().map(|f| colourfulness(f, tuneclip_core::Rect::new(0, 0, f.width, f.height))).sum::<f32>() / n;
    // The handcrafted model reads pace from shot length: the window over its shot count.
    let cuts = detect_cuts(frames, &CutDetectorConfig::default()).len();
    let shot = dur / (cuts + 1) as f64;
    HandcraftedModel.embed_segment(&SegmentStats {
        range: TimeRange::new(0.0, shot),
        motion,
        brightness,
        colourfulness: colour,
        blank: false,
        subtitles: None,
        text_share: None,
    })
}

fn baseline_song(samples: &[f32]) -> Option<Vec<f32>> {
    SongFeatures::compute(samples, SAMPLE_RATE).ok().map(|f| HandcraftedModel.embed_song(&f))
}

fn resolve(root: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() { p.to_path_buf() } else { root.join(p) }
}

fn cache_key(manifest: &PairManifest, shape: &InputShape) -> String {
    let mut h = Sha256::new();
    h.update(serde_json::to_vec(manifest).unwrap_or_default());
    h.update(format!("{shape:?} motion={MOTION_DIMS} sampling={VIDEO_SAMPLING:?} v5").as_bytes());
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Load the examples of `manifest_path`, from the cache in `cache_dir` when it holds
/// them, else by decoding (with `workers` threads) and then caching.
pub fn load(
    manifest_path: &Path,
    shape: &InputShape,
    cache_dir: &Path,
    workers: usize,
) -> crate::error::Result<Dataset> {
    let manifest = PairManifest::load(manifest_path)?;
    let root = manifest_path.parent().unwrap_or(Path::new("."));
    let key = cache_key(&manifest, shape);
    let cache = cache_dir.join(format!("features-{key}.bin"));
    if let Ok(ds) = crate::cache::read(&cache, &manifest, shape) {
        return Ok(ds);
    }
    let ds = extract(&manifest, root, shape, workers);
    std::fs::create_dir_all(cache_dir).map_err(crate::error::Error::io("create", cache_dir))?;
    crate::cache::write(&cache, &ds, shape)?;
    Ok(ds)
}

/// Decode reviewers' rejections into examples for [`Dataset::hard_negatives`]; the
/// ones whose files cannot be read are returned with the reason.
pub fn hard_negative_examples(
    negatives: &[crate::manifest::HardNegative],
    shape: &InputShape,
    workers: usize,
) -> (Vec<Example>, Vec<(PathBuf, String)>) {
    let manifest = crate::manifest::hard_negative_pairs(negatives);
    let ds = extract(&manifest, Path::new("."), shape, workers);
    (ds.examples, ds.skipped)
}

/// Decode every file of `manifest` once and build its examples.
pub fn extract(manifest: &PairManifest, root: &Path, shape: &InputShape, workers: usize) -> Dataset {
    let mut groups: BTreeMap<String, usize> = BTreeMap::new();
    for p in &manifest.pairs {
        let n = groups.len();
        groups.entry(p.group.clone()).or_insert(n);
    }
    // Pairs by the files they need, so each file is decoded once.
    let mut by_file: BTreeMap<(PathBuf, PathBuf), Vec<usize>> = BTreeMap::new();
    for (i, p) in manifest.pairs.iter().enumerate() {
        by_file.entry((resolve(root, &p.song), resolve(root, &p.video))).or_default().push(i);
    }
    let jobs: Vec<_> = by_file.into_iter().collect();
    let results = std::sync::Mutex::new(Vec::new());
    crate::par_for(jobs.len(), workers, "decoding pairs", |j| {
        let ((song, video), idx) = &jobs[j];
        let out = examples_of(manifest, &groups, song, video, idx, shape);
        if let Ok(mut r) = results.lock() {
            r.push(out);
        }
    });
    let mut ds = Dataset { groups: vec![String::new(); groups.len()], ..Dataset::default() };
    for (name, id) in groups {
        ds.groups[id] = name;
    }
    for (examples, skipped) in results.into_inner().unwrap_or_default() {
        ds.examples.extend(examples);
        ds.skipped.extend(skipped);
    }
    ds.examples.sort_by_key(|e| e.pair);
    ds.skipped.sort();
    ds
}

type FileResult = (Vec<Example>, Vec<(PathBuf, String)>);

fn examples_of(
    manifest: &PairManifest,
    groups: &BTreeMap<String, usize>,
    song: &Path,
    video: &Path,
    pairs: &[usize],
    shape: &InputShape,
) -> FileResult {
    let audio = match decode_mono(song, SAMPLE_RATE) {
        Ok(a) => a,
        Err(e) => return (Vec::new(), vec![(song.to_path_buf(), format!("audio: {e}"))]),
    };
    let frames = match sample_frames(video, VIDEO_SAMPLING) {
        Ok(v) => DecodedVideo { events: picture_events(&v.signatures), frames: v.frames },
        Err(e) => return (Vec::new(), vec![(video.to_path_buf(), format!("video: {e}"))]),
    };
    // The beats of the whole song, as ingest finds them (a window's own analysis would
    // see a few seconds only).
    let beats = match tuneclip_audio::SongAnalysis::compute(&audio.samples, SAMPLE_RATE, 30.0) {
        Ok(a) => a.beats_s,
        Err(e) => return (Vec::new(), vec![(song.to_path_buf(), format!("song analysis (beats): {e}"))]),
    };
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    let group_of: HashMap<&str, usize> = groups.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    for &i in pairs {
        let p = &manifest.pairs[i];
        let sr = f64::from(SAMPLE_RATE);
        let (a0, a1) = ((p.song_start_s * sr) as usize, ((p.song_start_s + p.duration_s) * sr) as usize);
        let window = &audio.samples[a0.min(audio.samples.len())..a1.min(audio.samples.len())];
        let vf = window_frames(&frames, p.video_start_s, p.duration_s);
        let song_envelope = onset_envelope(window);
        let song_beats = beat_grid(&beats, p.song_start_s, song_envelope.len());
        let built = audio_input(window, shape).zip(visual_input(&vf, None, None, shape)).zip(baseline_song(window));
        match built {
            Some(((a, v), bs)) => out.push(Example {
                pair: i,
                group: group_of.get(p.group.as_str()).copied().unwrap_or(0),
                split: p.split,
                audio: a,
                visual: v,
                baseline_song: bs,
                baseline_segment: baseline_segment(&vf, p.duration_s),
                song_envelope,
                song_beats,
                video_envelope: frames.events.window(p.video_start_s, p.duration_s),
            }),
            None => skipped.push((
                video.to_path_buf(),
                format!(
                    "pairs[{i}]: the window {:.2}+{:.2} s is outside the media (audio {:.2} s, {} frames in range)",
                    p.song_start_s,
                    p.duration_s,
                    audio.duration_s(),
                    vf.len()
                ),
            )),
        }
    }
    (out, skipped)
}
