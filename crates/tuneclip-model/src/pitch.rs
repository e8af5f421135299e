//! Note and onset posteriors from Spotify's Basic Pitch (ICASSP 2022, Apache-2.0; the
//! `basic-pitch` wheel's `nmp.onnx`, installed by setup.sh) through ONNX Runtime, and
//! the music features a song gets from them.
//!
//! Model contract (checked here against the Python package's own inference code):
//! input `[N, 43844, 1]`, mono at 22.05 kHz (2 s less one 256-sample hop); outputs
//! `StatefulPartitionedCall:1` = note `[N, 172, 88]` (a pitch sounds), `:2` = onset
//! `[N, 172, 88]` (a note starts), `:0` = pitch contour `[N, 172, 264]`, at 86 frames
//! per second over the 88 piano keys (MIDI 21..=108). Windows overlap by 30 frames:
//! the signal is padded with 15 frames of silence in front, windows start every 36,164
//! samples, and each window's first and last 15 frames are dropped, exactly as
//! `basic_pitch.inference` unwraps them.

use std::path::{Path, PathBuf};

/// Samples per model window.
pub const WINDOW_SAMPLES: usize = 43_844;
/// Sample rate the model was trained at.
pub const SAMPLE_RATE: u32 = 22_050;
/// Output frames per second (basic-pitch's `ANNOTATIONS_FPS`, 22050 // 256).
pub const FRAMES_PER_S: usize = 86;
/// Output frames per window.
const WINDOW_FRAMES: usize = 172;
/// Frames of overlap between windows (half dropped at each side).
const OVERLAP_FRAMES: usize = 30;
const HOP: usize = 256;
/// MIDI number of the first of the 88 pitch bins (A0).
pub const LOWEST_MIDI: u8 = 21;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PitchError {
    #[error("cannot load ONNX Runtime from {path}: {reason} (run setup.sh)")]
    Runtime { path: PathBuf, reason: String },
    #[error("cannot load the Basic Pitch model {path}: {reason} (run setup.sh)")]
    Model { path: PathBuf, reason: String },
    #[error("Basic Pitch inference failed: {0}")]
    Inference(String),
    #[error("Basic Pitch needs mono audio at 22050 Hz, got {0} Hz")]
    SampleRate(u32),
}

/// Where the runtime library and the model are (both installed by setup.sh).
#[derive(Debug, Clone)]
pub struct PitchModelConfig {
    pub onnxruntime_lib: PathBuf,
    pub model: PathBuf,
}

impl PitchModelConfig {
    /// The files setup.sh installs in a models folder (`index-data/assets` of the
    /// checkout; `--models-dir` / `TUNECLIP_MODELS` in the CLI): the ONNX Runtime library
    /// under `onnxruntime/`, the model under `models/`.
    pub fn from_models_dir(models: &Path) -> Self {
        Self {
            onnxruntime_lib: models.join("onnxruntime/libonnxruntime.so.1.32.0"),
            model: models.join("models/basic-pitch-nmp.onnx"),
        }
    }

    /// [`Self::from_models_dir`] of `<data>/assets`, where setup.sh puts them under its
    /// data folder (`index-data/`).
    pub fn from_data_dir(data: &Path) -> Self {
        Self::from_models_dir(&data.join("assets"))
    }

    pub fn build(&self) -> Result<PitchModel, PitchError> {
        PitchModel::new(self.clone())
    }
}

/// A loaded Basic Pitch session.
pub struct PitchModel {
    config: PitchModelConfig,
    session: ort::session::Session,
}

impl std::fmt::Debug for PitchModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PitchModel").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Per-frame posteriors over the 88 piano keys, [`FRAMES_PER_S`] frames per second
/// from the start of the audio given.
#[derive(Debug, Clone, PartialEq)]
pub struct NotePosteriors {
    /// Time of each frame in seconds. Each window's 142 kept frames cover 141.3 frames
    /// of audio (36,164 samples), so the grid is not quite uniform: a frame's time comes
    /// from its window's start and its place in the window.
    pub times_s: Vec<f64>,
    /// Probability that each key sounds in each frame.
    pub note: Vec<[f32; 88]>,
    /// Probability that a note of each key starts in each frame.
    pub onset: Vec<[f32; 88]>,
}

impl PitchModel {
    pub fn new(config: PitchModelConfig) -> Result<Self, PitchError> {
        let session = tuneclip_vision::open_session(&config.onnxruntime_lib, &config.model, "Basic Pitch model")
            .map_err(|e| match e {
                tuneclip_vision::OnnxError::Runtime { path, reason } => PitchError::Runtime { path, reason },
                tuneclip_vision::OnnxError::Model { path, reason, .. } => PitchError::Model { path, reason },
                other => PitchError::Inference(other.to_string()),
            })?;
        Ok(Self { config, session })
    }

    /// Posteriors for mono PCM at 22.05 kHz.
    pub fn posteriors(&mut self, samples: &[f32], sample_rate: u32) -> Result<NotePosteriors, PitchError> {
        if sample_rate != SAMPLE_RATE {
            return Err(PitchError::SampleRate(sample_rate));
        }
        let infer = |e: ort::Error| PitchError::Inference(e.to_string());
        let pad = OVERLAP_FRAMES * HOP / 2;
        let hop = WINDOW_SAMPLES - OVERLAP_FRAMES * HOP;
        let padded_len = samples.len() + pad;
        let wanted = samples.len() * FRAMES_PER_S / SAMPLE_RATE as usize;
        let (mut note, mut onset) = (Vec::with_capacity(wanted), Vec::with_capacity(wanted));
        let mut times_s = Vec::with_capacity(wanted);
        let mut window = vec![0f32; WINDOW_SAMPLES];
        let mut start = 0;
        while start < padded_len && note.len() < wanted {
            // Window of the padded signal: `pad` zeros, then the samples, then zeros.
            for (i, w) in window.iter_mut().enumerate() {
                let at = start + i;
                *w = if at >= pad && at - pad < samples.len() { samples[at - pad] } else { 0.0 };
            }
            let input = ort::value::TensorRef::from_array_view(([1usize, WINDOW_SAMPLES, 1], window.as_slice()))
                .map_err(infer)?;
            let outputs = self.session.run(ort::inputs!["serving_default_input_2:0" => input]).map_err(infer)?;
            let grid = |name: &str| -> Result<Vec<f32>, PitchError> {
                let (shape, data) = outputs
                    .get(name)
                    .ok_or_else(|| PitchError::Inference(format!("the model has no output {name}")))?
                    .try_extract_tensor::<f32>()
                    .map_err(infer)?;
                if shape.iter().product::<i64>() != (WINDOW_FRAMES * 88) as i64 {
                    return Err(PitchError::Inference(format!(
                        "output {name} has shape {shape:?}, expected [1, 172, 88]"
                    )));
                }
                Ok(data.to_vec())
            };
            let (n, o) = (grid("StatefulPartitionedCall:1")?, grid("StatefulPartitionedCall:2")?);
            let keep = OVERLAP_FRAMES / 2..WINDOW_FRAMES - OVERLAP_FRAMES / 2;
            for f in keep {
                if note.len() == wanted {
                    break;
                }
                times_s.push(((start + f * HOP) as f64 - pad as f64) / f64::from(SAMPLE_RATE));
                note.push(std::array::from_fn(|k| n[f * 88 + k]));
                onset.push(std::array::from_fn(|k| o[f * 88 + k]));
            }
            start += hop;
        }
        Ok(NotePosteriors { times_s, note, onset })
    }
}

/// A note found in the posteriors: where an onset peak rises above the threshold on a
/// key that then sounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteEvent {
    pub midi: u8,
    pub start_s: f64,
    pub confidence: f32,
}

/// Onset posterior a note start must reach.
pub const ONSET_THRESHOLD: f32 = 0.5;
/// Note posterior that counts a key as sounding.
pub const NOTE_THRESHOLD: f32 = 0.3;
/// Frames a note must sound after its onset (~128 ms).
pub const MIN_NOTE_FRAMES: usize = 11;

impl NotePosteriors {
    pub fn duration_s(&self) -> f64 {
        self.note.len() as f64 / FRAMES_PER_S as f64
    }

    /// Note starts: per key, frames where the onset posterior is a local maximum
    /// (over +-2 frames, ~23 ms each side) above [`ONSET_THRESHOLD`] and the key then
    /// sounds: its note posterior averages [`NOTE_THRESHOLD`] over the next
    /// [`MIN_NOTE_FRAMES`] (basic-pitch's own minimum note length), which drops the
    /// harmonics a piano's attack lights for an instant.
    pub fn note_events(&self) -> Vec<NoteEvent> {
        let n = self.onset.len();
        let mut events = Vec::new();
        for t in 0..n {
            for k in 0..88 {
                let v = self.onset[t][k];
                if v < ONSET_THRESHOLD {
                    continue;
                }
                let (lo, hi) = (t.saturating_sub(2), (t + 3).min(n));
                let peak = (lo..hi).all(|u| self.onset[u][k] < v || (u >= t && (u == t || self.onset[u][k] <= v)));
                let held = self.note[t..(t + MIN_NOTE_FRAMES).min(n)].iter().map(|f| f[k]).sum::<f32>()
                    / MIN_NOTE_FRAMES as f32;
                if peak && held >= NOTE_THRESHOLD {
                    events.push(NoteEvent { midi: LOWEST_MIDI + k as u8, start_s: self.times_s[t], confidence: v });
                }
            }
        }
        events
    }

    /// Summary features of the music's notes.
    pub fn features(&self) -> PitchFeatures {
        let frames = self.note.len().max(1) as f64;
        let mut classes = [0f64; 12];
        let mut sounding = 0usize;
        let mut pitches: Vec<u8> = Vec::new();
        for f in &self.note {
            for (k, &p) in f.iter().enumerate() {
                if p >= NOTE_THRESHOLD {
                    classes[(usize::from(LOWEST_MIDI) + k) % 12] += f64::from(p);
                    sounding += 1;
                    pitches.push(LOWEST_MIDI + k as u8);
                }
            }
        }
        let max = classes.iter().copied().fold(0.0, f64::max);
        let pitch_classes = classes.map(|c| if max > 0.0 { (c / max) as f32 } else { 0.0 });
        pitches.sort_unstable();
        let pct = |q: f64| pitches.get(((pitches.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(0);
        PitchFeatures {
            pitch_classes,
            note_rate_hz: (self.note_events().len() as f64 / self.duration_s().max(1e-9)) as f32,
            polyphony: (sounding as f64 / frames) as f32,
            median_midi: pct(0.5),
            range_semitones: pct(0.9).saturating_sub(pct(0.1)),
        }
    }
}

/// What Basic Pitch says about a stretch of music.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PitchFeatures {
    /// Note posterior mass per pitch class (C..B) over sounding keys, max-normalised.
    pub pitch_classes: [f32; 12],
    /// Note starts per second.
    pub note_rate_hz: f32,
    /// Mean number of keys sounding per frame.
    pub polyphony: f32,
    /// Median sounding MIDI pitch (60 = middle C); 0 when nothing sounds.
    pub median_midi: u8,
    /// Spread of sounding pitches, 10th to 90th percentile, in semitones.
    pub range_semitones: u8,
}
