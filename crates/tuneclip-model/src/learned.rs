//! The learned encoders (burn): an [`AudioEncoder`] over log-mel windows plus a rhythm
//! vector, and a [`VisualEncoder`] over thumbnails plus a motion vector, both projecting
//! into one L2-normalised space of `dim` dimensions. Trained by `tuneclip-training`.
//!
//! On disk a model is a folder with `config.json` ([`EncodersConfig`]) and
//! `weights.bpk` (burnpack); [`LearnedModel::load`] reads it and names the model
//! `learned-<first 12 hex digits of the weights' sha256>`, the version recorded in
//! every index snapshot built with it.

use crate::inputs::{AUDIO_PROFILE_DIMS, AudioInput, InputShape, MOTION_DIMS, VISUAL_PROFILE_DIMS, VisualInput};
use burn::nn::conv::{Conv1d, Conv1dConfig, Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig1d, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tuneclip_core::Embedding;

/// File names inside a model folder.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "weights.bpk";

/// Shapes and widths of both encoders; saved as JSON beside the weights.
#[derive(Config, Debug, PartialEq)]
pub struct EncodersConfig {
    /// Dimensions of the shared space.
    #[config(default = 32)]
    pub dim: usize,
    #[config(default = 48)]
    pub n_mels: usize,
    #[config(default = 64)]
    pub mel_frames: usize,
    #[config(default = 24)]
    pub rhythm_lags: usize,
    #[config(default = 6)]
    pub frames: usize,
    #[config(default = 24)]
    pub frame_px: usize,
    /// Width of the hidden layers.
    #[config(default = 96)]
    pub hidden: usize,
    /// Whether the encoders read the shared profiles (rhythm and intensity on one time
    /// grid, see `inputs`): what transfers across editing styles.
    #[config(default = false)]
    pub profiles: bool,
    /// Whether they read appearance: convolutions over the log-mel window and over the
    /// thumbnails.
    #[config(default = true)]
    pub appearance: bool,
    /// Seconds of one window: training pairs, the song windows averaged into a song's
    /// embedding, and the context a segment's profile is read from.
    #[config(default = 4.0)]
    pub window_s: f64,
}

impl EncodersConfig {
    pub fn input_shape(&self) -> InputShape {
        InputShape {
            n_mels: self.n_mels,
            mel_frames: self.mel_frames,
            rhythm_lags: self.rhythm_lags,
            frames: self.frames,
            frame_px: self.frame_px,
        }
    }

    pub fn init(&self, device: &Device) -> Encoders {
        let h = self.hidden;
        let app = self.appearance;
        let profile_width = if self.profiles { h } else { 0 };
        let audio_width = if app { 2 * h } else { 0 } + h / 2 + profile_width;
        let visual_width = if app { 2 * 32 } else { 0 } + h / 2 + profile_width;
        Encoders {
            audio: AudioEncoder {
                conv1: app.then(|| {
                    Conv1dConfig::new(self.n_mels, h, 5).with_padding(PaddingConfig1d::Explicit(2, 2)).init(device)
                }),
                conv2: app.then(|| {
                    Conv1dConfig::new(h, h, 5).with_stride(2).with_padding(PaddingConfig1d::Explicit(2, 2)).init(device)
                }),
                rhythm: LinearConfig::new(self.rhythm_lags, h / 2).init(device),
                profile: self.profiles.then(|| LinearConfig::new(AUDIO_PROFILE_DIMS, h).init(device)),
                fc: LinearConfig::new(audio_width, h).init(device),
                out: LinearConfig::new(h, self.dim).init(device),
            },
            visual: VisualEncoder {
                conv1: app.then(|| {
                    Conv2dConfig::new([3, 16], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                }),
                conv2: app.then(|| {
                    Conv2dConfig::new([16, 32], [3, 3])
                        .with_stride([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                }),
                motion: LinearConfig::new(MOTION_DIMS, h / 2).init(device),
                profile: self.profiles.then(|| LinearConfig::new(VISUAL_PROFILE_DIMS, h).init(device)),
                fc: LinearConfig::new(visual_width, h).init(device),
                out: LinearConfig::new(h, self.dim).init(device),
                frames: self.frames,
            },
        }
    }
}

/// L2-normalise the rows of `x`.
pub fn l2_rows(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-6);
    x / norm
}

/// One batch of audio inputs as tensors: log-mel `[batch, n_mels, mel_frames]`, rhythm
/// `[batch, lags]`, profile `[batch, AUDIO_PROFILE_DIMS]`.
#[derive(Debug, Clone)]
pub struct AudioBatch {
    pub mel: Tensor<3>,
    pub rhythm: Tensor<2>,
    pub profile: Tensor<2>,
}

/// One batch of visual inputs: thumbnails `[batch * frames, 3, px, px]`, motion
/// `[batch, MOTION_DIMS]`, profile `[batch, VISUAL_PROFILE_DIMS]`.
#[derive(Debug, Clone)]
pub struct VisualBatch {
    pub pixels: Tensor<4>,
    pub motion: Tensor<2>,
    pub profile: Tensor<2>,
}

/// Audio batch -> `[batch, dim]`. The convolutions exist when the config reads
/// appearance, the profile layer when it reads profiles.
#[derive(Module, Debug)]
pub struct AudioEncoder {
    conv1: Option<Conv1d>,
    conv2: Option<Conv1d>,
    rhythm: Linear,
    profile: Option<Linear>,
    fc: Linear,
    out: Linear,
}

impl AudioEncoder {
    pub fn forward(&self, x: AudioBatch) -> Tensor<2> {
        let mut parts = Vec::with_capacity(4);
        if let (Some(c1), Some(c2)) = (&self.conv1, &self.conv2) {
            let m = relu(c2.forward(relu(c1.forward(x.mel))));
            let [b, c, _] = m.dims();
            parts.push(m.clone().mean_dim(2).reshape([b, c]));
            parts.push(m.max_dim(2).reshape([b, c]));
        }
        parts.push(relu(self.rhythm.forward(x.rhythm)));
        if let Some(p) = &self.profile {
            parts.push(relu(p.forward(x.profile)));
        }
        let h = relu(self.fc.forward(Tensor::cat(parts, 1)));
        l2_rows(self.out.forward(h))
    }
}

/// Visual batch -> `[batch, dim]`.
#[derive(Module, Debug)]
pub struct VisualEncoder {
    conv1: Option<Conv2d>,
    conv2: Option<Conv2d>,
    motion: Linear,
    profile: Option<Linear>,
    fc: Linear,
    out: Linear,
    frames: usize,
}

impl VisualEncoder {
    pub fn forward(&self, x: VisualBatch) -> Tensor<2> {
        let mut parts = Vec::with_capacity(4);
        if let (Some(c1), Some(c2)) = (&self.conv1, &self.conv2) {
            let m = relu(c2.forward(relu(c1.forward(x.pixels))));
            let [n, c, _, _] = m.dims();
            let b = n / self.frames;
            // Per-frame global average, then mean and spread over the frames of a window.
            let per_frame = m.flatten::<3>(2, 3).mean_dim(2).reshape([b, self.frames, c]);
            parts.push(per_frame.clone().mean_dim(1).reshape([b, c]));
            parts.push(per_frame.var(1).reshape([b, c]).clamp_min(1e-8).sqrt());
        }
        parts.push(relu(self.motion.forward(x.motion)));
        if let Some(p) = &self.profile {
            parts.push(relu(p.forward(x.profile)));
        }
        let h = relu(self.fc.forward(Tensor::cat(parts, 1)));
        l2_rows(self.out.forward(h))
    }
}

/// Both encoders: the module that is trained, saved and loaded as one.
#[derive(Module, Debug)]
pub struct Encoders {
    pub audio: AudioEncoder,
    pub visual: VisualEncoder,
}

/// Batch tensors from inputs (shapes checked by the caller's config). Appearance
/// tensors are left empty-sized when the config does not read them.
pub fn audio_batch(items: &[&AudioInput], cfg: &EncodersConfig, device: &Device) -> AudioBatch {
    let b = items.len();
    let (mel, mel_shape) = if cfg.appearance {
        (items.iter().flat_map(|a| a.mel.iter().copied()).collect(), [b, cfg.n_mels, cfg.mel_frames])
    } else {
        (vec![0.0; b], [b, 1, 1])
    };
    let rhythm: Vec<f32> = items.iter().flat_map(|a| a.rhythm.iter().copied()).collect();
    let (profile, profile_w) = if cfg.profiles {
        (items.iter().flat_map(|a| a.profile.iter().copied()).collect(), AUDIO_PROFILE_DIMS)
    } else {
        (vec![0.0; b], 1)
    };
    AudioBatch {
        mel: Tensor::from_data(TensorData::new(mel, mel_shape), device),
        rhythm: Tensor::from_data(TensorData::new(rhythm, [b, cfg.rhythm_lags]), device),
        profile: Tensor::from_data(TensorData::new(profile, [b, profile_w]), device),
    }
}

pub fn visual_batch(items: &[&VisualInput], cfg: &EncodersConfig, device: &Device) -> VisualBatch {
    let b = items.len();
    let (px, px_shape) = if cfg.appearance {
        (items.iter().flat_map(|v| v.pixels.iter().copied()).collect(), [b * cfg.frames, 3, cfg.frame_px, cfg.frame_px])
    } else {
        (vec![0.0; b], [b, 1, 1, 1])
    };
    let motion: Vec<f32> = items.iter().flat_map(|v| v.motion.iter().copied()).collect();
    let (profile, profile_w) = if cfg.profiles {
        (items.iter().flat_map(|v| v.profile.iter().copied()).collect(), VISUAL_PROFILE_DIMS)
    } else {
        (vec![0.0; b], 1)
    };
    VisualBatch {
        pixels: Tensor::from_data(TensorData::new(px, px_shape), device),
        motion: Tensor::from_data(TensorData::new(motion, [b, MOTION_DIMS]), device),
        profile: Tensor::from_data(TensorData::new(profile, [b, profile_w]), device),
    }
}

/// The device called `name` and a line describing it: `cpu` (burn's flex backend, always
/// there), `cuda` (GPU 0) or `wgpu` (the first high-power GPU wgpu finds) when built with
/// those cargo features.
///
/// `wgpu` is opened at once rather than lazily, so a machine without a usable GPU gets an
/// error here naming what to check, not a panic at the first tensor; a software adapter
/// (llvmpipe, lavapipe) is refused, since training on it would be the CPU in disguise.
pub fn device_named(name: &str) -> Result<(Device, String), DeviceError> {
    match name {
        "cpu" | "flex" => Ok((Device::flex(), "cpu (burn flex)".into())),
        #[cfg(feature = "cuda")]
        "cuda" => Ok((Device::cuda(0), "cuda:0".into())),
        #[cfg(feature = "wgpu")]
        "wgpu" => wgpu_device(),
        other => Err(DeviceError::NotBuilt(other.to_string())),
    }
}

/// Why [`device_named`] has no device to give.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    #[error(
        "device {0:?} is not available in this build (cpu always; cuda and wgpu with the cargo features of the same names)"
    )]
    NotBuilt(String),
    /// wgpu found no adapter it could open.
    #[error("wgpu: no usable GPU adapter ({0}); {WGPU_HINT}")]
    NoAdapter(String),
    /// The only adapter is a software one: training on it would be the CPU in disguise.
    #[error("wgpu: the only adapter is a software one ({0}), not a GPU; {WGPU_HINT}")]
    SoftwareAdapter(String),
}

/// What to check when wgpu finds no GPU.
pub const WGPU_HINT: &str = "check that the GPU driver's Vulkan ICD is found (VK_DRIVER_FILES or VK_ICD_FILENAMES naming its JSON file), that libvulkan.so.1 is on LD_LIBRARY_PATH, and WGPU_BACKEND / CUBECL_WGPU_DEFAULT_DEVICE if set";

#[cfg(feature = "wgpu")]
fn wgpu_device() -> Result<(Device, String), DeviceError> {
    let (device, setup) =
        Device::wgpu_options().init_with_setup().map_err(|e| DeviceError::NoAdapter(e.to_string()))?;
    let info = setup.adapter.get_info();
    if info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu {
        return Err(DeviceError::SoftwareAdapter(format!("{} on {:?}", info.name, info.backend)));
    }
    Ok((device, format!("wgpu: {} ({:?}, driver {} {})", info.name, info.backend, info.driver, info.driver_info)))
}

/// Errors of loading or running a learned model.
#[derive(Debug, thiserror::Error)]
pub enum LearnedError {
    #[error("model folder {dir}: {reason}")]
    Load { dir: PathBuf, reason: String },
    #[error("input {field} has {found} values, the model expects {expected}")]
    Shape { field: &'static str, found: usize, expected: usize },
}

/// A trained model ready for inference on the CPU.
#[derive(Debug)]
pub struct LearnedModel {
    pub config: EncodersConfig,
    encoders: Encoders,
    device: Device,
    version: String,
}

/// `learned-` and the first 12 hex digits of the sha256 of the weight bytes.
pub fn version_of(weights: &[u8]) -> String {
    let digest = Sha256::digest(weights);
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("learned-{hex}")
}

impl LearnedModel {
    /// Load `dir/config.json` and `dir/weights.bpk`.
    pub fn load(dir: &Path) -> Result<Self, LearnedError> {
        let err = |reason: String| LearnedError::Load { dir: dir.to_path_buf(), reason };
        let config = EncodersConfig::load(dir.join(CONFIG_FILE))
            .map_err(|e| err(format!("{CONFIG_FILE} is not a valid encoder config ({e})")))?;
        let weights_path = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path).map_err(|e| err(format!("cannot read {WEIGHTS_FILE} ({e})")))?;
        let device = Device::flex();
        let encoders = config
            .init(&device)
            .try_load_file(&weights_path)
            .map_err(|e| err(format!("{WEIGHTS_FILE} does not fit {CONFIG_FILE} ({e:?})")))?;
        Ok(Self { config, encoders, device, version: version_of(&bytes) })
    }

    /// A model from the bytes of its `config.json` and `weights.bpk` (the default model
    /// is compiled into the binary this way); `source` names it in errors.
    pub fn from_bytes(config_json: &[u8], weights: &[u8], source: &Path) -> Result<Self, LearnedError> {
        let err = |reason: String| LearnedError::Load { dir: source.to_path_buf(), reason };
        let config: EncodersConfig = serde_json::from_slice(config_json)
            .map_err(|e| err(format!("{CONFIG_FILE} is not a valid encoder config ({e})")))?;
        let device = Device::flex();
        let record = burn::store::ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(weights.to_vec()))
            .map_err(|e| err(format!("{WEIGHTS_FILE} is not a burnpack file ({e:?})")))?;
        let encoders = config
            .init(&device)
            .try_load_record(record)
            .map_err(|e| err(format!("{WEIGHTS_FILE} does not fit {CONFIG_FILE} ({e:?})")))?;
        Ok(Self { config, encoders, device, version: version_of(weights) })
    }

    /// Wrap trained encoders (the training crate's export path uses [`Self::load`]).
    pub fn from_parts(config: EncodersConfig, encoders: Encoders, version: String) -> Self {
        Self { config, encoders, device: Device::flex(), version }
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn dim(&self) -> usize {
        self.config.dim
    }

    fn check_audio(&self, a: &AudioInput) -> Result<(), LearnedError> {
        let want = self.config.n_mels * self.config.mel_frames;
        if self.config.profiles && a.profile.len() != AUDIO_PROFILE_DIMS {
            return Err(LearnedError::Shape {
                field: "audio.profile",
                found: a.profile.len(),
                expected: AUDIO_PROFILE_DIMS,
            });
        }
        if self.config.appearance && a.mel.len() != want {
            return Err(LearnedError::Shape { field: "audio.mel", found: a.mel.len(), expected: want });
        }
        if a.rhythm.len() != self.config.rhythm_lags {
            return Err(LearnedError::Shape {
                field: "audio.rhythm",
                found: a.rhythm.len(),
                expected: self.config.rhythm_lags,
            });
        }
        Ok(())
    }

    fn check_visual(&self, v: &VisualInput) -> Result<(), LearnedError> {
        let want = self.config.frames * 3 * self.config.frame_px * self.config.frame_px;
        if self.config.profiles && v.profile.len() != VISUAL_PROFILE_DIMS {
            return Err(LearnedError::Shape {
                field: "visual.profile",
                found: v.profile.len(),
                expected: VISUAL_PROFILE_DIMS,
            });
        }
        if self.config.appearance && v.pixels.len() != want {
            return Err(LearnedError::Shape { field: "visual.pixels", found: v.pixels.len(), expected: want });
        }
        if v.motion.len() != MOTION_DIMS {
            return Err(LearnedError::Shape { field: "visual.motion", found: v.motion.len(), expected: MOTION_DIMS });
        }
        Ok(())
    }

    /// Embeddings of audio windows (one per input, L2-normalised).
    pub fn embed_audio(&self, items: &[&AudioInput]) -> Result<Vec<Embedding>, LearnedError> {
        items.iter().try_for_each(|a| self.check_audio(a))?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        Ok(rows(self.encoders.audio.forward(audio_batch(items, &self.config, &self.device))))
    }

    /// Embeddings of video windows (one per input, L2-normalised).
    pub fn embed_visual(&self, items: &[&VisualInput]) -> Result<Vec<Embedding>, LearnedError> {
        items.iter().try_for_each(|v| self.check_visual(v))?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        Ok(rows(self.encoders.visual.forward(visual_batch(items, &self.config, &self.device))))
    }
}

/// The rows of a `[n, dim]` tensor.
pub fn rows(t: Tensor<2>) -> Vec<Embedding> {
    let [_, d] = t.dims();
    let flat: Vec<f32> = t.into_data().try_to_vec().unwrap_or_default();
    flat.chunks(d.max(1)).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{SAMPLE_RATE, audio_input, visual_input};
    use tuneclip_media::video::SampledFrame;

    fn small() -> EncodersConfig {
        EncodersConfig::new().with_dim(8).with_n_mels(16).with_mel_frames(16).with_frames(2).with_frame_px(8)
    }

    #[test]
    fn saved_model_loads_with_the_same_outputs_and_a_weight_derived_version() {
        let cfg = small();
        let device = Device::flex();
        let enc = cfg.init(&device);
        let dir = tempfile::tempdir().expect("tempdir");
        cfg.save(dir.path().join(CONFIG_FILE)).expect("config saved");
        enc.clone().save_file(dir.path().join(WEIGHTS_FILE)).expect("weights saved");
        let model = LearnedModel::load(dir.path()).expect("loads");
        assert!(model.version().starts_with("learned-") && model.version().len() == 20, "{}", model.version());

        let shape = cfg.input_shape();
        let samples: Vec<f32> = (0..SAMPLE_RATE * 2).map(|i| (i as f32 * 0.05).sin()).collect();
        let a = audio_input(&samples, &shape).expect("audio");
        let frames: Vec<SampledFrame> = (0..6)
            .map(|i| SampledFrame { t_s: f64::from(i), width: 16, height: 8, rgb: vec![(i * 40) as u8; 16 * 8 * 3] })
            .collect();
        let v = visual_input(&frames, None, None, &shape).expect("visual");
        let ea = model.embed_audio(&[&a, &a]).expect("audio embeds");
        let ev = model.embed_visual(&[&v]).expect("visual embeds");
        assert_eq!((ea.len(), ea[0].len(), ev.len(), ev[0].len()), (2, 8, 1, 8));
        for e in [&ea[0], &ev[0]] {
            assert!((tuneclip_core::dot(e, e) - 1.0).abs() < 1e-4);
        }
        // Same weights in memory and on disk give the same embedding.
        let direct = rows(enc.audio.forward(audio_batch(&[&a], &cfg, &device)));
        for (x, y) in direct[0].iter().zip(&ea[0]) {
            assert!((x - y).abs() < 1e-5);
        }
        // Wrong shapes are refused by name.
        let mut bad = a.clone();
        bad.rhythm.pop();
        assert!(matches!(model.embed_audio(&[&bad]), Err(LearnedError::Shape { field: "audio.rhythm", .. })));
    }

    #[test]
    fn a_missing_or_corrupt_model_folder_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let e = LearnedModel::load(dir.path()).expect_err("empty folder");
        assert!(e.to_string().contains(CONFIG_FILE), "{e}");
        small().save(dir.path().join(CONFIG_FILE)).expect("config");
        std::fs::write(dir.path().join(WEIGHTS_FILE), b"not weights").expect("write");
        let e = LearnedModel::load(dir.path()).expect_err("corrupt weights");
        assert!(e.to_string().contains(WEIGHTS_FILE), "{e}");
    }
}

#[cfg(all(test, feature = "wgpu"))]
mod wgpu_tests {
    /// `cargo test -p tuneclip-model --features wgpu wgpu`: on a machine without a GPU
    /// (CI, this project's build machine) opening wgpu is an error naming what to check,
    /// never a panic or a software adapter; on a machine with one, the adapter is named.
    #[test]
    fn wgpu_without_a_gpu_is_a_clear_error() {
        match super::device_named("wgpu") {
            Err(e) => {
                let said = e.to_string();
                assert!(said.contains("VK_DRIVER_FILES") && said.contains("LD_LIBRARY_PATH"), "{said}");
            }
            Ok((_, about)) => assert!(about.starts_with("wgpu: ") && !about.contains("llvmpipe"), "{about}"),
        }
    }
}
