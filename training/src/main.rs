//! `tuneclip-train`: make the synthetic corpus, train the encoders, evaluate them.
//!
//! `tuneclip-train run` does all three with the defaults and prints the held-out table
//! (learned beside handcrafted and chance): the reproducible evaluation.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tuneclip_model::learned::LearnedModel;
use tuneclip_training::corpus::{CorpusConfig, generate};
use tuneclip_training::dataset;
use tuneclip_training::eval::evaluate_model;
use tuneclip_training::manifest::Split;
use tuneclip_training::train::{Mining, TrainConfig, train_on};

#[derive(Parser)]
#[command(version, about = "Train and evaluate tuneclip's song/video encoders")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct CorpusArgs {
    /// Training items (music videos).
    #[arg(long, default_value_t = 1200)]
    train: usize,
    /// Validation items.
    #[arg(long, default_value_t = 100)]
    val: usize,
    /// Held-out test items (two windows each: a gallery of twice as many segments).
    #[arg(long, default_value_t = 250)]
    test: usize,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

#[derive(clap::Args, Clone)]
struct TrainArgs {
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 0.3)]
    margin: f64,
    /// Negative mining: semi-hard or batch-hard.
    #[arg(long, default_value = "semi-hard")]
    mining: String,
    /// Shared-space dimensions.
    #[arg(long, default_value_t = 32)]
    dim: usize,
    /// Continue from the output folder's checkpoint.
    #[arg(long)]
    resume: bool,
    /// cpu (burn's flex backend), or cuda / wgpu when built with those features.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Reviewers' rejections (`tuneclip review --export-negatives FILE`), pushed below a
    /// typical video by the loss's hard-negative term.
    #[arg(long)]
    hard_negatives: Option<PathBuf>,
    /// Weight of the hard-negative term.
    #[arg(long, default_value_t = 1.0)]
    hard_negative_weight: f64,
}

#[derive(Subcommand)]
enum Command {
    /// Synthesise the corpus (MP4 music videos) and its pair manifest.
    Corpus {
        #[arg(long, default_value = "index-data/training/corpus")]
        out: PathBuf,
        #[command(flatten)]
        corpus: CorpusArgs,
    },
    /// Train on a pair manifest's train split, validating on its val split.
    Train {
        /// A pair manifest (the corpus writes `pairs.json`).
        #[arg(long, default_value = "index-data/training/corpus/pairs.json")]
        pairs: PathBuf,
        #[arg(long, default_value = "index-data/training/run")]
        out: PathBuf,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Held-out Recall@K of a trained model beside the handcrafted baseline and chance.
    Eval {
        #[arg(long, default_value = "index-data/training/corpus/pairs.json")]
        pairs: PathBuf,
        #[arg(long, default_value = "index-data/training/run/model")]
        model: PathBuf,
    },
    /// Corpus, training and held-out evaluation in one go.
    Run {
        #[arg(long, default_value = "index-data/training")]
        dir: PathBuf,
        #[command(flatten)]
        corpus: CorpusArgs,
        #[command(flatten)]
        train: TrainArgs,
    },
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn load_data(pairs: &Path, cfg: &TrainConfig) -> Result<dataset::Dataset, String> {
    let cache = pairs.parent().unwrap_or(Path::new(".")).join("cache");
    let ds = dataset::load(pairs, &cfg.model.input_shape(), &cache, workers())?;
    for (file, reason) in &ds.skipped {
        eprintln!("skipped {}: {reason}", file.display());
    }
    eprintln!("{} usable pairs from {} ({} skipped)", ds.examples.len(), pairs.display(), ds.skipped.len());
    Ok(ds)
}

fn train_config(a: &TrainArgs) -> Result<TrainConfig, String> {
    let mining = match a.mining.as_str() {
        "semi-hard" => Mining::SemiHard,
        "batch-hard" => Mining::BatchHard,
        other => return Err(format!("--mining {other}: expected semi-hard or batch-hard")),
    };
    let d = TrainConfig::default();
    Ok(TrainConfig {
        model: d.model.clone().with_dim(a.dim),
        epochs: a.epochs,
        batch: a.batch.max(2),
        lr: a.lr,
        margin: a.margin,
        mining,
        hard_negative_weight: a.hard_negative_weight,
        ..d
    })
}

fn corpus_config(a: &CorpusArgs) -> CorpusConfig {
    CorpusConfig { seed: a.seed, train: a.train, val: a.val, test: a.test, ..CorpusConfig::default() }
}

fn do_train(pairs: &Path, out: &Path, args: &TrainArgs) -> Result<PathBuf, String> {
    let cfg = train_config(args)?;
    let mut data = load_data(pairs, &cfg)?;
    if let Some(file) = &args.hard_negatives {
        let negatives = tuneclip_training::manifest::read_hard_negatives(file)?;
        let (hard, skipped) = dataset::hard_negative_examples(&negatives, &cfg.model.input_shape(), workers());
        for (f, reason) in &skipped {
            eprintln!("skipped hard negative {}: {reason}", f.display());
        }
        eprintln!("{} hard negatives from {} ({} skipped)", hard.len(), file.display(), skipped.len());
        data.hard_negatives = hard;
    }
    let device = tuneclip_model::learned::device_named(&args.device)?;
    let outcome = train_on(&data, &cfg, out, args.resume, &device).map_err(|e| e.to_string())?;
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

fn do_eval(pairs: &Path, model_dir: &Path) -> Result<(), String> {
    let model = LearnedModel::load(model_dir).map_err(|e| e.to_string())?;
    let cfg = TrainConfig { model: model.config.clone(), ..TrainConfig::default() };
    let data = load_data(pairs, &cfg)?;
    let report = evaluate_model(&model, &data, Split::Test)?;
    println!("{}", report.table());
    let json = model_dir.join("eval.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&report).map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot write {} ({e})", json.display()))?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Corpus { out, corpus } => generate(&out, &corpus_config(&corpus), workers()).map(|m| {
            eprintln!("{} pairs in {}", m.pairs.len(), out.join("pairs.json").display());
        }),
        Command::Train { pairs, out, train } => do_train(&pairs, &out, &train).map(|_| ()),
        Command::Eval { pairs, model } => do_eval(&pairs, &model),
        Command::Run { dir, corpus, train } => {
            let corpus_dir = dir.join("corpus");
            generate(&corpus_dir, &corpus_config(&corpus), workers()).and_then(|_| {
                let pairs = corpus_dir.join("pairs.json");
                let model = do_train(&pairs, &dir.join("run"), &train)?;
                do_eval(&pairs, &model)
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
