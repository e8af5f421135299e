//! The training loop: triplet-margin loss in both directions (song -> video and
//! video -> song) with in-batch negative mining, AdamW with warm-up and cosine decay,
//! validation Recall@K each epoch, early stopping, checkpoints with resume, and the
//! best model exported in the folder layout `tuneclip_model::learned::LearnedModel`
//! loads.
//!
//! Output folder:
//! - `train.json`: the [`TrainConfig`] of the run;
//! - `checkpoint/`: `weights.bpk`, `optim.bpk`, `state.json` of the last finished epoch
//!   (replaced atomically; `--resume` continues from it);
//! - `model/`: `config.json` + `weights.bpk` of the best validation epoch;
//! - `history.json` and `curves.png`: loss and Recall@1/5/10 per epoch, both directions.

use crate::dataset::{Dataset, Example};
use crate::manifest::Split;
use crate::{RetrievalReport, evaluate};
use burn::nn::loss::{Reduction, TripletMarginLoss, TripletMarginLossConfig};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tuneclip_core::Embedding;
use tuneclip_model::learned::{
    AudioBatch, CONFIG_FILE, Encoders, EncodersConfig, VisualBatch, WEIGHTS_FILE, audio_batch, rows, visual_batch,
};

/// How negatives are chosen inside a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mining {
    /// The hardest negative that is still farther than the positive; the hardest one when
    /// none is (FaceNet).
    SemiHard,
    /// Always the hardest negative.
    BatchHard,
}

/// Everything that defines a run (saved as `train.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub model: EncodersConfig,
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    /// Final learning rate of the cosine decay, as a share of `lr`.
    pub min_lr_ratio: f64,
    pub warmup_steps: usize,
    pub weight_decay: f32,
    /// Triplet margin on Euclidean distances between unit vectors (0..2).
    pub margin: f64,
    pub mining: Mining,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    pub seed: u64,
    /// Weight of the hard-negative term (reviewers' rejections, see [`batch_loss`]).
    #[serde(default = "default_hard_negative_weight")]
    pub hard_negative_weight: f64,
    /// Hard negatives mixed into each batch (cycling through them).
    #[serde(default = "default_hard_per_batch")]
    pub hard_per_batch: usize,
}

fn default_hard_negative_weight() -> f64 {
    1.0
}

fn default_hard_per_batch() -> usize {
    8
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            model: EncodersConfig::new(),
            epochs: 30,
            batch: 64,
            lr: 2e-3,
            min_lr_ratio: 0.05,
            warmup_steps: 30,
            weight_decay: 1e-4,
            margin: 0.3,
            mining: Mining::SemiHard,
            patience: 6,
            seed: 11,
            hard_negative_weight: default_hard_negative_weight(),
            hard_per_batch: default_hard_per_batch(),
        }
    }
}

/// Recall of one direction at 1, 5, 10 and the median rank.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub lr: f64,
    pub pairs_per_s: f64,
    /// Share of the epoch's training time spent building batches and handing them to
    /// the device (the rest is the steps themselves).
    #[serde(default)]
    pub input_share: f64,
    pub song_to_video: RetrievalReport,
    pub video_to_song: RetrievalReport,
}

impl EpochRecord {
    /// The validation score early stopping watches: the mean of Recall@1, @5 and @10 over
    /// both directions (Recall@10 alone saturates on a small validation gallery).
    pub fn score(&self) -> f64 {
        let mean =
            |r: &RetrievalReport| r.recall_at.iter().map(|(_, v)| v).sum::<f64>() / r.recall_at.len().max(1) as f64;
        (mean(&self.song_to_video) + mean(&self.video_to_song)) / 2.0
    }
}

/// Saved after every epoch beside the checkpoint weights.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrainState {
    pub epochs_done: usize,
    pub step: usize,
    pub best_epoch: Option<usize>,
    pub best_score: f64,
    pub history: Vec<EpochRecord>,
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(
        "the loss became {value} at epoch {epoch}, step {step}; training stopped. The last good checkpoint is {checkpoint} (lower the learning rate or check the data)"
    )]
    NonFinite { value: f64, epoch: usize, step: usize, checkpoint: String },
    #[error("no {split:?} examples: {reason}")]
    NoData { split: Split, reason: String },
    #[error("{0}")]
    Io(String),
}

fn io(e: impl std::fmt::Display) -> TrainError {
    TrainError::Io(e.to_string())
}

/// Learning rate at `step` of `total`: linear warm-up, then cosine decay to
/// `lr * min_lr_ratio`.
pub fn learning_rate(cfg: &TrainConfig, step: usize, total: usize) -> f64 {
    if step < cfg.warmup_steps {
        return cfg.lr * (step + 1) as f64 / cfg.warmup_steps as f64;
    }
    let span = total.saturating_sub(cfg.warmup_steps).max(1) as f64;
    let p = ((step - cfg.warmup_steps) as f64 / span).min(1.0);
    let floor = cfg.lr * cfg.min_lr_ratio;
    floor + (cfg.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * p).cos())
}

/// For each anchor row of `sim` (`n x n`, `sim[i * n + j]` = anchor i . candidate j),
/// the index of its negative: never a candidate of the anchor's own group.
pub fn mine_negatives(sim: &[f32], n: usize, groups: &[usize], mining: Mining) -> Vec<i64> {
    (0..n)
        .map(|i| {
            let pos = sim[i * n + i];
            let candidates = (0..n).filter(|&j| groups[j] != groups[i]);
            let hardest = candidates.clone().max_by(|&a, &b| sim[i * n + a].total_cmp(&sim[i * n + b]));
            let chosen = match mining {
                Mining::BatchHard => hardest,
                Mining::SemiHard => candidates
                    .filter(|&j| sim[i * n + j] < pos)
                    .max_by(|&a, &b| sim[i * n + a].total_cmp(&sim[i * n + b]))
                    .or(hardest),
            };
            chosen.unwrap_or(i) as i64
        })
        .collect()
}

/// [`mine_negatives`] on the device: `sim` is `[n, n]` (anchor rows, candidate columns),
/// `same[i][j]` whether candidate j shares anchor i's group. Returns the `[n]` indices.
pub fn mine_on_device(sim: Tensor<2>, same: Tensor<2, Bool>, mining: Mining) -> Tensor<1, Int> {
    let [n, _] = sim.dims();
    let device = sim.device();
    // Cosines lie in [-1, 1]: -4 is below every candidate.
    let masked = sim.clone().mask_fill(same, -4.0);
    let best = masked.clone().max_dim(1);
    let hardest = masked.clone().argmax(1);
    let chosen = match mining {
        Mining::BatchHard => hardest,
        Mining::SemiHard => {
            // The positive's similarity: the diagonal (every other entry zeroed, row sums).
            let off_diagonal = Tensor::<2, Bool>::diag_mask([n, n], 0, &device);
            let pos = sim.mask_fill(off_diagonal, 0.0).sum_dim(1);
            let farther = masked.clone().lower(pos.expand([n, n]));
            let semi = masked.mask_fill(farther.bool_not(), -4.0);
            let found = semi.clone().max_dim(1).greater_elem(-3.0);
            hardest.mask_where(found, semi.argmax(1))
        }
    };
    // An anchor whose every candidate shares its group gets itself (a zero-margin term).
    let own = Tensor::<1, Int>::arange(0..n as i64, &device).reshape([n, 1]);
    own.mask_where(best.greater_elem(-3.0), chosen).reshape([n])
}

/// The hard negatives of training step `step`: `per_batch` of them, cycling.
fn hard_slice(hard: &[Example], step: usize, per_batch: usize) -> Vec<&Example> {
    if hard.is_empty() || per_batch == 0 {
        return Vec::new();
    }
    (0..per_batch.min(hard.len())).map(|i| &hard[(step * per_batch + i) % hard.len()]).collect()
}

/// A batch's encoder inputs, on `device`.
pub fn batch_inputs(batch: &[&Example], cfg: &TrainConfig, device: &Device) -> (AudioBatch, VisualBatch) {
    let audios: Vec<_> = batch.iter().map(|e| &e.audio).collect();
    let visuals: Vec<_> = batch.iter().map(|e| &e.visual).collect();
    (audio_batch(&audios, &cfg.model, device), visual_batch(&visuals, &cfg.model, device))
}

/// Loss of one batch (both directions averaged) given its inputs from [`batch_inputs`],
/// on `device` (autodiff for training).
///
/// `hard` are reviewers' rejections (a song window and a video window a person said do
/// not go together) whose song has no positive in the batch. Each adds
/// `max(0, margin + cos(song, rejected) - mean_j cos(song, video_j))` over the batch's
/// videos `j`, weighted by `cfg.hard_negative_weight`: the rejected window must score a
/// margin below what the song scores with a typical video.
pub fn batch_loss(
    model: &Encoders,
    (audio_in, visual_in): (AudioBatch, VisualBatch),
    batch: &[&Example],
    hard: &[&Example],
    cfg: &TrainConfig,
    loss: &TripletMarginLoss,
    device: &Device,
) -> Tensor<1> {
    let n = batch.len();
    let a = model.audio.forward(audio_in);
    let v = model.visual.forward(visual_in);
    // Negatives are mined on the device: reading the similarities back every step would
    // make the host wait for the GPU twice a step.
    let groups: Vec<usize> = batch.iter().map(|e| e.group).collect();
    let same: Vec<bool> = (0..n * n).map(|k| groups[k / n] == groups[k % n]).collect();
    let same = Tensor::<2, Bool>::from_data(TensorData::new(same, [n, n]), device);
    let sim = a.clone().detach().matmul(v.clone().detach().transpose());
    let idx_v = mine_on_device(sim.clone(), same.clone(), cfg.mining);
    let idx_a = mine_on_device(sim.transpose(), same, cfg.mining);
    let song_to_video = loss.forward(a.clone(), v.clone(), v.clone().select(0, idx_v), Reduction::Mean);
    let video_to_song = loss.forward(v.clone(), a.clone(), a.select(0, idx_a), Reduction::Mean);
    let pairs = (song_to_video + video_to_song) / 2.0;
    if hard.is_empty() || cfg.hard_negative_weight <= 0.0 {
        return pairs;
    }
    pairs + hard_negative_term(model, hard, v, cfg, device) * cfg.hard_negative_weight
}

/// The hard-negative term of [`batch_loss`], given the batch's video embeddings `v`.
fn hard_negative_term(
    model: &Encoders,
    hard: &[&Example],
    v: Tensor<2>,
    cfg: &TrainConfig,
    device: &Device,
) -> Tensor<1> {
    let audios: Vec<_> = hard.iter().map(|e| &e.audio).collect();
    let visuals: Vec<_> = hard.iter().map(|e| &e.visual).collect();
    let audio_in = audio_batch(&audios, &cfg.model, device);
    let visual_in = visual_batch(&visuals, &cfg.model, device);
    let songs = model.audio.forward(audio_in);
    let rejected = model.visual.forward(visual_in);
    // Unit vectors: the dot product is the cosine.
    let with_rejected = (songs.clone() * rejected).sum_dim(1);
    let typical = songs.matmul(v.transpose()).mean_dim(1);
    (with_rejected - typical + cfg.margin).clamp_min(0.0).mean()
}

/// Embed the examples' audio and visual inputs with `model` (any device).
pub fn embed(
    model: &Encoders,
    cfg: &EncodersConfig,
    examples: &[&Example],
    device: &Device,
) -> (Vec<Embedding>, Vec<Embedding>) {
    let (mut songs, mut videos) = (Vec::new(), Vec::new());
    for chunk in examples.chunks(128) {
        let audios: Vec<_> = chunk.iter().map(|e| &e.audio).collect();
        let visuals: Vec<_> = chunk.iter().map(|e| &e.visual).collect();
        let audio_in = audio_batch(&audios, cfg, device);
        let visual_in = visual_batch(&visuals, cfg, device);
        songs.extend(rows(model.audio.forward(audio_in)));
        videos.extend(rows(model.visual.forward(visual_in)));
    }
    (songs, videos)
}

/// Recall@1/5/10 and median rank both ways, each example's own window as the truth.
pub fn retrieval(songs: &[Embedding], videos: &[Embedding]) -> (RetrievalReport, RetrievalReport) {
    let truth: Vec<usize> = (0..songs.len()).collect();
    (evaluate(songs, videos, &truth, &[1, 5, 10]), evaluate(videos, songs, &truth, &[1, 5, 10]))
}

fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut rng = crate::corpus::Rng::new(seed);
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
}

/// Write `files` into `dir` atomically: a sibling temporary folder renamed over it.
fn replace_dir(dir: &Path, write: impl FnOnce(&Path) -> Result<(), TrainError>) -> Result<(), TrainError> {
    let tmp = dir.with_extension("tmp");
    let old = dir.with_extension("old");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io)?;
    write(&tmp)?;
    let _ = std::fs::remove_dir_all(&old);
    if dir.exists() {
        std::fs::rename(dir, &old).map_err(io)?;
    }
    std::fs::rename(&tmp, dir).map_err(io)?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TrainError> {
    std::fs::write(path, serde_json::to_vec_pretty(value).map_err(io)?).map_err(io)
}

/// Steps between reads of the loss: each read makes the host wait for the device, so the
/// losses are summed there and read (and checked for NaN) every this many steps.
const READ_EVERY: usize = 16;

/// Losses summed on the device since the last read.
#[derive(Default)]
struct LossReads {
    sum: Option<Tensor<1>>,
    steps: usize,
}

impl LossReads {
    fn add(&mut self, loss: Tensor<1>) {
        self.sum = Some(match self.sum.take() {
            Some(s) => s + loss,
            None => loss,
        });
        self.steps += 1;
    }

    fn due(&self, last: bool) -> bool {
        self.steps > 0 && (last || self.steps >= READ_EVERY)
    }

    /// The sum and the number of steps in it; starts a new sum.
    fn read(&mut self) -> (f64, usize) {
        let sum = self.sum.take().map_or(0.0, |s| f64::from(s.into_scalar::<f32>()));
        (sum, std::mem::take(&mut self.steps))
    }
}

/// A model that reads appearance needs examples that carry it (a carried feature cache
/// may leave it out).
fn check_inputs(data: &Dataset, cfg: &TrainConfig) -> Result<(), TrainError> {
    if cfg.model.appearance && !crate::cache::has_appearance(data) {
        return Err(TrainError::NoData {
            split: Split::Train,
            reason: "the model reads appearance (--appearance true) but the examples carry no log-mel windows or thumbnails (a feature cache written with --appearance false)".into(),
        });
    }
    Ok(())
}

/// What a finished run reports.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub state: TrainState,
    pub model_dir: PathBuf,
    pub stopped_early: bool,
}

/// Train on the `Train` split of `data`, validating on `Val`, into `out`, on the CPU.
/// With `resume`, continue from `out/checkpoint` when it exists.
pub fn train(data: &Dataset, cfg: &TrainConfig, out: &Path, resume: bool) -> Result<TrainOutcome, TrainError> {
    train_on(data, cfg, out, resume, &Device::flex())
}

/// [`train`] on `device` (see `tuneclip_model::learned::device_named`).
pub fn train_on(
    data: &Dataset,
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    device: &Device,
) -> Result<TrainOutcome, TrainError> {
    let train_set = data.split(Split::Train);
    let val_set = data.split(Split::Val);
    if train_set.len() < 2 {
        return Err(TrainError::NoData { split: Split::Train, reason: format!("{} usable pairs", train_set.len()) });
    }
    if val_set.is_empty() {
        return Err(TrainError::NoData { split: Split::Val, reason: "the manifest has no val pairs".into() });
    }
    check_inputs(data, cfg)?;
    std::fs::create_dir_all(out).map_err(io)?;
    write_json(&out.join("train.json"), cfg)?;
    let plain = device.clone();
    let device = device.clone().autodiff();
    let ckpt = out.join("checkpoint");
    let mut model = cfg.model.init(&device);
    let mut optim: ModuleOptimizer = AdamWConfig::new().with_weight_decay(cfg.weight_decay).init();
    let mut state = TrainState::default();
    if resume && ckpt.join("state.json").is_file() {
        let bytes = std::fs::read(ckpt.join("state.json")).map_err(io)?;
        state = serde_json::from_slice(&bytes).map_err(io)?;
        model = model
            .try_load_file(ckpt.join(WEIGHTS_FILE))
            .map_err(|e| TrainError::Io(format!("checkpoint weights: {e:?}")))?;
        let record = OptimizerRecord::load(ckpt.join("optim.bpk"))
            .map_err(|e| TrainError::Io(format!("checkpoint optimiser: {e:?}")))?;
        optim = optim.load_record(record);
    }
    let loss_fn = TripletMarginLossConfig::new().with_margin(cfg.margin).init();
    let steps_per_epoch = train_set.len().div_ceil(cfg.batch);
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut since_best = state.history.len().saturating_sub(state.best_epoch.unwrap_or(0));
    let mut stopped_early = false;
    for epoch in state.epochs_done + 1..=cfg.epochs {
        if since_best >= cfg.patience && state.best_epoch.is_some() {
            stopped_early = true;
            break;
        }
        let mut order: Vec<&Example> = train_set.clone();
        shuffle(&mut order, cfg.seed.wrapping_add(epoch as u64));
        let bar = ProgressBar::new(steps_per_epoch as u64);
        bar.set_style(
            ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg} [{elapsed} < {eta}]")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(format!("{epoch}/{}", cfg.epochs));
        let started = Instant::now();
        let (mut loss_sum, mut batches, mut lr, mut input_s) = (0.0f64, 0usize, cfg.lr, 0.0f64);
        let batches_of_epoch: Vec<&[&Example]> = order.chunks(cfg.batch).filter(|b| b.len() >= 2).collect();
        let mut pending = LossReads::default();
        for (i, batch) in batches_of_epoch.iter().enumerate() {
            lr = learning_rate(cfg, state.step, total_steps);
            let hard = hard_slice(&data.hard_negatives, state.step, cfg.hard_per_batch);
            let fed = Instant::now();
            let inputs = batch_inputs(batch, cfg, &device);
            input_s += fed.elapsed().as_secs_f64();
            let loss = batch_loss(&model, inputs, batch, &hard, cfg, &loss_fn, &device);
            pending.add(loss.clone().detach());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            state.step += 1;
            if pending.due(i + 1 == batches_of_epoch.len()) {
                let (sum, steps) = pending.read();
                if !sum.is_finite() {
                    bar.abandon();
                    return Err(TrainError::NonFinite {
                        value: sum,
                        epoch,
                        step: state.step,
                        checkpoint: if ckpt.is_dir() { ckpt.display().to_string() } else { "none yet".into() },
                    });
                }
                loss_sum += sum;
                batches += steps;
                bar.set_message(format!("loss {:.4}", loss_sum / batches as f64));
                bar.inc(steps as u64);
            }
        }
        bar.finish_and_clear();
        let train_s = started.elapsed().as_secs_f64();
        let pairs_per_s = (batches * cfg.batch).min(train_set.len()) as f64 / train_s;
        let valid = model.valid();
        let (songs, videos) = embed(&valid, &cfg.model, &val_set, &plain);
        let (s2v, v2s) = retrieval(&songs, &videos);
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / batches.max(1) as f64,
            lr,
            pairs_per_s,
            input_share: input_s / train_s,
            song_to_video: s2v,
            video_to_song: v2s,
        };
        let score = record.score();
        eprintln!(
            "epoch {epoch}: loss {:.4}, val R@10 song->video {:.3} video->song {:.3}, {:.0} pairs/s ({:.0}% feeding)",
            record.train_loss,
            record.song_to_video.recall_at[2].1,
            record.video_to_song.recall_at[2].1,
            pairs_per_s,
            record.input_share * 100.0
        );
        state.history.push(record);
        state.epochs_done = epoch;
        if state.best_epoch.is_none() || score > state.best_score {
            state.best_epoch = Some(epoch);
            state.best_score = score;
            since_best = 0;
            replace_dir(&out.join("model"), |dir| {
                cfg.model.save(dir.join(CONFIG_FILE)).map_err(io)?;
                valid.clone().save_file(dir.join(WEIGHTS_FILE)).map_err(|e| io(format!("{e:?}")))
            })?;
        } else {
            since_best += 1;
        }
        replace_dir(&ckpt, |dir| {
            model.clone().save_file(dir.join(WEIGHTS_FILE)).map_err(|e| io(format!("{e:?}")))?;
            optim.to_record().save(dir.join("optim.bpk")).map_err(|e| io(format!("{e:?}")))?;
            write_json(&dir.join("state.json"), &state)
        })?;
        write_json(&out.join("history.json"), &state.history)?;
        if let Err(e) = crate::plot::curves(&state.history, &out.join("curves.png")) {
            eprintln!("warning: curves.png not drawn: {e}");
        }
    }
    Ok(TrainOutcome { state, model_dir: out.join("model"), stopped_early })
}

/// Training speed measured on real examples: pairs per second through whole steps and
/// the share of that time spent building and handing over batches.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Throughput {
    pub pairs_per_s: f64,
    pub input_share: f64,
    pub steps: usize,
}

/// Run `steps` training steps of `cfg` (after 3 warm-up steps, which also compile the
/// GPU's kernels) on the train split of `data` on `device`, cycling through it, and
/// time them. The loss is read back as in training (every few steps and after the
/// last), so the time includes the device's work.
pub fn throughput(data: &Dataset, cfg: &TrainConfig, device: &Device, steps: usize) -> Result<Throughput, TrainError> {
    let train_set = data.split(Split::Train);
    if train_set.len() < cfg.batch {
        return Err(TrainError::NoData {
            split: Split::Train,
            reason: format!("{} examples, fewer than one batch of {}", train_set.len(), cfg.batch),
        });
    }
    check_inputs(data, cfg)?;
    let device = device.clone().autodiff();
    let mut model = cfg.model.init(&device);
    let mut optim: ModuleOptimizer = AdamWConfig::new().with_weight_decay(cfg.weight_decay).init();
    let loss_fn = TripletMarginLossConfig::new().with_margin(cfg.margin).init();
    let batches: Vec<&[&Example]> = train_set.chunks_exact(cfg.batch).collect();
    let (mut input_s, mut started, mut pending) = (0.0, Instant::now(), LossReads::default());
    for step in 0..steps + 3 {
        if step == 3 {
            (input_s, started) = (0.0, Instant::now());
        }
        let batch = batches[step % batches.len()];
        let fed = Instant::now();
        let inputs = batch_inputs(batch, cfg, &device);
        input_s += fed.elapsed().as_secs_f64();
        let loss = batch_loss(&model, inputs, batch, &[], cfg, &loss_fn, &device);
        pending.add(loss.clone().detach());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(cfg.lr, model, grads);
        if pending.due(step == 2 || step == steps + 2) {
            let (value, _) = pending.read();
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    value,
                    epoch: 0,
                    step,
                    checkpoint: "none (throughput run)".into(),
                });
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    Ok(Throughput { pairs_per_s: (steps * cfg.batch) as f64 / elapsed, input_share: input_s / elapsed, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_never_come_from_the_anchor_group_and_semi_hard_stays_beyond_the_positive() {
        // 3 anchors; 0 and 1 share a group.
        let sim = [0.9, 0.95, 0.5, /**/ 0.2, 0.8, 0.7, /**/ 0.6, 0.99, 0.7];
        let groups = [0, 0, 1];
        let hard = mine_negatives(&sim, 3, &groups, Mining::BatchHard);
        assert_eq!(hard, vec![2, 2, 1]);
        let semi = mine_negatives(&sim, 3, &groups, Mining::SemiHard);
        // Anchor 2: candidate 1 (0.99) is closer than its positive (0.7), candidate 0 (0.6) is not.
        assert_eq!(semi, vec![2, 2, 0]);
    }

    #[test]
    fn negatives_mined_on_the_device_are_the_host_reference_ones() {
        let n = 12;
        let mut rng = crate::corpus::Rng::new(3);
        let device = Device::flex();
        let groups: Vec<usize> = (0..n).map(|i| i / 3).collect();
        let same: Vec<bool> = (0..n * n).map(|k| groups[k / n] == groups[k % n]).collect();
        for round in 0..20 {
            let sim: Vec<f32> = (0..n * n).map(|_| rng.range(-1.0, 1.0)).collect();
            let t = Tensor::<2>::from_data(TensorData::new(sim.clone(), [n, n]), &device);
            let mask = Tensor::<2, Bool>::from_data(TensorData::new(same.clone(), [n, n]), &device);
            for mining in [Mining::SemiHard, Mining::BatchHard] {
                let got: Vec<i64> = mine_on_device(t.clone(), mask.clone(), mining)
                    .into_data()
                    .convert::<i64>()
                    .try_to_vec::<i64>()
                    .expect("ints");
                assert_eq!(got, mine_negatives(&sim, n, &groups, mining), "round {round}, {mining:?}");
            }
        }
        // One group only: every anchor gets itself.
        let one = Tensor::<2, Bool>::from_data(TensorData::new(vec![true; 9], [3, 3]), &device);
        let sim = Tensor::<2>::from_data(TensorData::new(vec![0.5f32; 9], [3, 3]), &device);
        let got: Vec<i64> =
            mine_on_device(sim, one, Mining::SemiHard).into_data().convert::<i64>().try_to_vec::<i64>().expect("ints");
        assert_eq!(got, vec![0, 1, 2]);
    }

    #[test]
    fn learning_rate_warms_up_then_decays_to_the_floor() {
        let cfg = TrainConfig { lr: 1.0, warmup_steps: 10, min_lr_ratio: 0.1, ..TrainConfig::default() };
        assert!((learning_rate(&cfg, 0, 100) - 0.1).abs() < 1e-9);
        assert!((learning_rate(&cfg, 9, 100) - 1.0).abs() < 1e-9);
        assert!(learning_rate(&cfg, 50, 100) < 1.0);
        assert!((learning_rate(&cfg, 100, 100) - 0.1).abs() < 1e-9);
    }
}
