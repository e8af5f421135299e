//! `tuneclip-fit`: train the encoders from a feature cache (`tuneclip-train features`)
//! without decoding any media. It links no FFmpeg, so a release build with
//! `--features wgpu` runs on a machine that has only a GPU driver (see
//! `training/gpu/run.sh` and README, "Training on a GPU").

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use tuneclip_training::cli::{TrainArgs, fit};
use tuneclip_training::manifest::PairManifest;

/// The binary's own error: any error, printed once by `main`.
type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

#[derive(Parser)]
#[command(version, about = "Train tuneclip's song/video encoders from a feature cache")]
struct Cli {
    /// The pair manifest the cache was made from.
    #[arg(long)]
    pairs: PathBuf,
    /// The feature cache (`tuneclip-train features --out FILE`).
    #[arg(long)]
    cache: PathBuf,
    #[arg(long)]
    out: PathBuf,
    /// Instead of training, time this many steps (after 3 warm-up steps) and print the
    /// pairs per second and the share of time spent feeding the device.
    #[arg(long)]
    throughput_steps: Option<usize>,
    #[command(flatten)]
    train: TrainArgs,
}

fn run(cli: &Cli) -> Result<()> {
    let manifest = PairManifest::load(&cli.pairs)?;
    let cfg = cli.train.config(&manifest)?;
    let data = tuneclip_training::cache::read(&cli.cache, &manifest, &cfg.model.input_shape())?;
    eprintln!("{} examples from {}", data.examples.len(), cli.cache.display());
    if let Some(steps) = cli.throughput_steps {
        let (device, about) = tuneclip_model::learned::device_named(&cli.train.device)?;
        let t = tuneclip_training::train::throughput(&data, &cfg, &device, steps)?;
        let m = &cfg.model;
        println!(
            "| {about} | dim {} hidden {} profiles {} appearance {} | batch {} | {:.0} pairs/s | {:.1}% feeding | {} steps |",
            m.dim,
            m.hidden,
            m.profiles,
            m.appearance,
            cfg.batch,
            t.pairs_per_s,
            t.input_share * 100.0,
            t.steps
        );
        return Ok(());
    }
    fit(&data, &cfg, &cli.out, &cli.train)?;
    Ok(())
}

fn main() -> ExitCode {
    match run(&Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
