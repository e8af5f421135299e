//! The learned encoders (burn): an [`AudioEncoder`] over log-mel windows plus a rhythm
//! vector, and a [`VisualEncoder`] over thumbnails plus a motion vector, both projecting
//! into one L2-normalised space of `dim` dimensions. Trained by `tuneclip-training`.
//!
//! On disk a model is a folder with `config.json` ([`EncodersConfig`]) and
//! `weights.bpk` (burnpack); [`LearnedModel::load`] reads it and names the model
//! `learned-<first 12 hex digits of the weights' sha256>`, the version recorded in
//! every index snapshot built with it.

use crate::inputs::{AudioInput, InputShape, MOTION_DIMS, VisualInput};
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
        Encoders {
            audio: AudioEncoder {
                conv1: Conv1dConfig::new(self.n_mels, h, 5).with_padding(PaddingConfig1d::Explicit(2, 2)).init(device),
                conv2: Conv1dConfig::new(h, h, 5)
                    .with_stride(2)
                    .with_padding(PaddingConfig1d::Explicit(2, 2))
                    .init(device),
                rhythm: LinearConfig::new(self.rhythm_lags, h / 2).init(device),
                fc: LinearConfig::new(2 * h + h / 2, h).init(device),
                out: LinearConfig::new(h, self.dim).init(device),
            },
            visual: VisualEncoder {
                conv1: Conv2dConfig::new([3, 16], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                conv2: Conv2dConfig::new([16, 32], [3, 3])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
                motion: LinearConfig::new(MOTION_DIMS, h / 2).init(device),
                fc: LinearConfig::new(2 * 32 + h / 2, h).init(device),
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

/// Log-mel `[batch, n_mels, mel_frames]` + rhythm `[batch, lags]` -> `[batch, dim]`.
#[derive(Module, Debug)]
pub struct AudioEncoder {
    conv1: Conv1d,
    conv2: Conv1d,
    rhythm: Linear,
    fc: Linear,
    out: Linear,
}

impl AudioEncoder {
    pub fn forward(&self, mel: Tensor<3>, rhythm: Tensor<2>) -> Tensor<2> {
        let x = relu(self.conv1.forward(mel));
        let x = relu(self.conv2.forward(x));
        let [b, c, _] = x.dims();
        let mean = x.clone().mean_dim(2).reshape([b, c]);
        let max = x.max_dim(2).reshape([b, c]);
        let r = relu(self.rhythm.forward(rhythm));
        let h = relu(self.fc.forward(Tensor::cat(vec![mean, max, r], 1)));
        l2_rows(self.out.forward(h))
    }
}

/// Thumbnails `[batch * frames, 3, px, px]` + motion `[batch, MOTION_DIMS]` -> `[batch, dim]`.
#[derive(Module, Debug)]
pub struct VisualEncoder {
    conv1: Conv2d,
    conv2: Conv2d,
    motion: Linear,
    fc: Linear,
    out: Linear,
    frames: usize,
}

impl VisualEncoder {
    pub fn forward(&self, pixels: Tensor<4>, motion: Tensor<2>) -> Tensor<2> {
        let x = relu(self.conv1.forward(pixels));
        let x = relu(self.conv2.forward(x));
        let [n, c, _, _] = x.dims();
        let b = n / self.frames;
        // Per-frame global average, then mean and spread over the frames of a window.
        let per_frame = x.flatten::<3>(2, 3).mean_dim(2).reshape([b, self.frames, c]);
        let mean = per_frame.clone().mean_dim(1).reshape([b, c]);
        let spread = per_frame.var(1).reshape([b, c]).clamp_min(1e-8).sqrt();
        let m = relu(self.motion.forward(motion));
        let h = relu(self.fc.forward(Tensor::cat(vec![mean, spread, m], 1)));
        l2_rows(self.out.forward(h))
    }
}

/// Both encoders: the module that is trained, saved and loaded as one.
#[derive(Module, Debug)]
pub struct Encoders {
    pub audio: AudioEncoder,
    pub visual: VisualEncoder,
}

/// Batch tensors from inputs (shapes checked by the caller's config).
pub fn audio_batch(items: &[&AudioInput], cfg: &EncodersConfig, device: &Device) -> (Tensor<3>, Tensor<2>) {
    let b = items.len();
    let mel: Vec<f32> = items.iter().flat_map(|a| a.mel.iter().copied()).collect();
    let rhythm: Vec<f32> = items.iter().flat_map(|a| a.rhythm.iter().copied()).collect();
    (
        Tensor::from_data(TensorData::new(mel, [b, cfg.n_mels, cfg.mel_frames]), device),
        Tensor::from_data(TensorData::new(rhythm, [b, cfg.rhythm_lags]), device),
    )
}

pub fn visual_batch(items: &[&VisualInput], cfg: &EncodersConfig, device: &Device) -> (Tensor<4>, Tensor<2>) {
    let b = items.len();
    let px: Vec<f32> = items.iter().flat_map(|v| v.pixels.iter().copied()).collect();
    let motion: Vec<f32> = items.iter().flat_map(|v| v.motion.iter().copied()).collect();
    (
        Tensor::from_data(TensorData::new(px, [b * cfg.frames, 3, cfg.frame_px, cfg.frame_px]), device),
        Tensor::from_data(TensorData::new(motion, [b, MOTION_DIMS]), device),
    )
}

/// The device called `name`: `cpu` (burn's flex backend, always there), `cuda` (GPU 0)
/// or `wgpu` when built with those cargo features.
pub fn device_named(name: &str) -> Result<Device, String> {
    match name {
        "cpu" | "flex" => Ok(Device::flex()),
        #[cfg(feature = "cuda")]
        "cuda" => Ok(Device::cuda(0)),
        #[cfg(feature = "wgpu")]
        "wgpu" => Ok(Device::wgpu(Default::default())),
        other => Err(format!(
            "device {other:?} is not available in this build (cpu always; cuda and wgpu with the cargo features of the same names)"
        )),
    }
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
        if a.mel.len() != want {
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
        if v.pixels.len() != want {
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
        let (mel, rhythm) = audio_batch(items, &self.config, &self.device);
        Ok(rows(self.encoders.audio.forward(mel, rhythm)))
    }

    /// Embeddings of video windows (one per input, L2-normalised).
    pub fn embed_visual(&self, items: &[&VisualInput]) -> Result<Vec<Embedding>, LearnedError> {
        items.iter().try_for_each(|v| self.check_visual(v))?;
        if items.is_empty() {
            return Ok(Vec::new());
        }
        let (px, motion) = visual_batch(items, &self.config, &self.device);
        Ok(rows(self.encoders.visual.forward(px, motion)))
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
        let v = visual_input(&frames, None, &shape).expect("visual");
        let ea = model.embed_audio(&[&a, &a]).expect("audio embeds");
        let ev = model.embed_visual(&[&v]).expect("visual embeds");
        assert_eq!((ea.len(), ea[0].len(), ev.len(), ev[0].len()), (2, 8, 1, 8));
        for e in [&ea[0], &ev[0]] {
            assert!((tuneclip_core::dot(e, e) - 1.0).abs() < 1e-4);
        }
        // Same weights in memory and on disk give the same embedding.
        let (mel, rhythm) = audio_batch(&[&a], &cfg, &device);
        let direct = rows(enc.audio.forward(mel, rhythm));
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
