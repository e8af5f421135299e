//! The training options both binaries share: `tuneclip-train train` (which decodes the
//! pairs itself) and `tuneclip-fit` (which trains from a feature cache and links no media
//! decoder, so it runs on a machine that has only a GPU driver).

use crate::dataset::Dataset;
use crate::error::{Error, Result};
use crate::manifest::PairManifest;
use crate::train::{Mining, TrainConfig, train_on};
use std::path::Path;
use std::path::PathBuf;

#[derive(clap::Args, Clone)]
pub struct TrainArgs {
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f64,
    #[arg(long, default_value_t = 0.3)]
    pub margin: f64,
    /// Negative mining: semi-hard or batch-hard.
    #[arg(long, default_value = "semi-hard")]
    pub mining: String,
    /// Shared-space dimensions.
    #[arg(long, default_value_t = 32)]
    pub dim: usize,
    /// Width of the encoders' hidden layers.
    #[arg(long, default_value_t = 128)]
    pub hidden: usize,
    /// Read the shared rhythm and intensity profiles (what transfers across styles).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub profiles: bool,
    /// Read appearance too: convolutions over log-mel windows and thumbnails.
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub appearance: bool,
    /// Continue from the output folder's checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// cpu (burn's flex backend), or cuda / wgpu when built with those features.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Reviewers' rejections (`tuneclip review --export-negatives FILE`), pushed below a
    /// typical video by the loss's hard-negative term.
    #[arg(long)]
    pub hard_negatives: Option<PathBuf>,
    /// Weight of the hard-negative term.
    #[arg(long, default_value_t = 1.0)]
    pub hard_negative_weight: f64,
}

impl TrainArgs {
    /// The training configuration these options ask for, with the model's window set to
    /// the manifest's median pair length: songs and segment contexts are then embedded
    /// at the length the model was trained on.
    pub fn config(&self, manifest: &PairManifest) -> Result<TrainConfig> {
        let mining = match self.mining.as_str() {
            "semi-hard" => Mining::SemiHard,
            "batch-hard" => Mining::BatchHard,
            other => return Err(Error::BadOption(format!("--mining {other}: expected semi-hard or batch-hard"))),
        };
        let d = TrainConfig::default();
        let mut model = d
            .model
            .clone()
            .with_dim(self.dim)
            .with_hidden(self.hidden)
            .with_profiles(self.profiles)
            .with_appearance(self.appearance);
        let mut durations: Vec<f64> = manifest.pairs.iter().map(|p| p.duration_s).collect();
        durations.sort_by(f64::total_cmp);
        if let Some(w) = durations.get(durations.len() / 2) {
            model.window_s = *w;
        }
        Ok(TrainConfig {
            model,
            epochs: self.epochs,
            batch: self.batch.max(2),
            lr: self.lr,
            margin: self.margin,
            mining,
            hard_negative_weight: self.hard_negative_weight,
            ..d
        })
    }
}

/// Train `cfg` on `data` into `out` on the device `args` names, printing the device and,
/// at the end, the best epoch; returns the model folder.
pub fn fit(data: &Dataset, cfg: &TrainConfig, out: &Path, args: &TrainArgs) -> Result<PathBuf> {
    let (device, about) = tuneclip_model::learned::device_named(&args.device)?;
    eprintln!("training on {about}");
    let outcome = train_on(data, cfg, out, args.resume, &device)?;
    let best = outcome.state.best_epoch.unwrap_or(0);
    eprintln!(
        "trained {} epochs{}; best val epoch {best} (mean R@1/5/10 {:.3}); model in {}, curves in {}",
        outcome.state.epochs_done,
        if outcome.stopped_early { " (early stop)" } else { "" },
        outcome.state.best_score,
        outcome.model_dir.display(),
        out.join("curves.png").display()
    );
    Ok(outcome.model_dir)
}
