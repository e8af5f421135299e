//! The `tuneclip` binary: `demo` (the whole path on a small catalogue), `ingest`
//! (songs + videos -> a published snapshot), `serve` (the gRPC server) and `query`
//! (a gRPC client). Every flag can also come from a `TUNECLIP_*` environment variable.
//! No business logic lives here: each command wires library crates together.

mod demo;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tuneclip_index::{Index, IngestConfig, Snapshot, ingest_incremental};
use tuneclip_model::Embedder;
use tuneclip_server::{Engine, IndexServiceClient, MatchServiceClient, ServerConfig};
use tuneclip_vision::FaceDetectorConfig;

#[derive(Debug, Parser)]
#[command(
    name = "tuneclip",
    version,
    about = "Find the best short video clips for every song and reframe them to 9:16"
)]
struct Cli {
    /// Home of snapshots, renders and demo media.
    #[arg(long, global = true, env = "TUNECLIP_DATA_DIR", default_value = "index-data")]
    data_dir: PathBuf,
    /// A trained model folder (config.json + weights.bpk, from `tuneclip-train`) to
    /// embed with; without it, the handcrafted model. Ingest, serve and demo must agree:
    /// a snapshot built by one model is refused by another.
    #[arg(long, global = true, env = "TUNECLIP_MODEL")]
    model: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build the demo catalogue, ingest it, serve it on 127.0.0.1, ask for the best
    /// clips of every song over gRPC, render the winners to 9:16 and print a table.
    Demo {
        /// Clip length in seconds.
        #[arg(long, env = "TUNECLIP_CLIP_S", default_value_t = 4.0)]
        clip_s: f64,
        /// Clips per song.
        #[arg(long, env = "TUNECLIP_K", default_value_t = 2)]
        k: u32,
    },
    /// Ingest songs and videos (files or directories) and publish a new snapshot.
    Ingest {
        #[arg(long, num_args = 1.., required = true)]
        songs: Vec<PathBuf>,
        #[arg(long, num_args = 1.., required = true)]
        videos: Vec<PathBuf>,
    },
    /// Serve the current snapshot over gRPC until Ctrl-C.
    Serve {
        #[arg(long, env = "TUNECLIP_ADDR", default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
    },
    /// Ask a running server for the best clips of a song.
    Query {
        #[arg(long, env = "TUNECLIP_SERVER", default_value = "http://127.0.0.1:50051")]
        server: String,
        /// Song id; without it, every song in the catalogue.
        #[arg(long)]
        song: Option<String>,
        #[arg(long, default_value_t = 4.0)]
        clip_s: f64,
        #[arg(long, default_value_t = 3)]
        k: u32,
        /// Also render the winners to 9:16 MP4 (written by the server).
        #[arg(long)]
        render: bool,
    },
}

/// Snapshots kept after a publish (the current one is always kept).
const KEEP_SNAPSHOTS: usize = 3;

pub(crate) fn snapshots_dir(data: &Path) -> PathBuf {
    data.join("snapshots")
}

fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            entries.sort();
            out.extend(entries);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The embedding model chosen by `--model` (handcrafted without it).
pub(crate) fn embedder(model: Option<&Path>) -> Result<Embedder> {
    match model {
        None => Ok(Embedder::Handcrafted),
        Some(dir) => Ok(Embedder::learned(dir)?),
    }
}

pub(crate) fn ingest_and_publish(
    data: &Path,
    model: &Embedder,
    songs: &[PathBuf],
    videos: &[PathBuf],
) -> Result<PathBuf> {
    let faces = FaceDetectorConfig::from_data_dir(data);
    let text = tuneclip_vision::TextDetectorConfig::from_data_dir(data);
    if !faces.model.is_file() {
        eprintln!("no face model at {} (run setup.sh): videos are analysed without faces", faces.model.display());
    }
    let cfg = IngestConfig {
        faces: faces.model.is_file().then_some(faces),
        text: text.model.is_file().then_some(text),
        model: model.clone(),
        ..IngestConfig::default()
    };
    // Files already in the served snapshot (same content hash) are not analysed again.
    let previous = Snapshot::current_catalogue(&snapshots_dir(data)).ok();
    let (catalogue, stats) = ingest_incremental(&expand(songs)?, &expand(videos)?, &cfg, previous.as_ref());
    eprintln!("ingest: {} analysed, {} reused unchanged, {} failed", stats.analysed, stats.reused, stats.failed);
    for f in &catalogue.failures {
        eprintln!("skipped {}: {}", f.path.display(), f.reason);
    }
    let dir = Snapshot::publish(&snapshots_dir(data), &catalogue)?;
    for old in Snapshot::prune(&snapshots_dir(data), KEEP_SNAPSHOTS)? {
        eprintln!("removed old snapshot {}", old.display());
    }
    eprintln!(
        "published {} ({} songs, {} videos, {} segments, {} failures)",
        dir.display(),
        catalogue.songs.len(),
        catalogue.videos.len(),
        catalogue.segments.len(),
        catalogue.failures.len()
    );
    Ok(dir)
}

pub(crate) fn load_engine(data: &Path, model: &Embedder) -> Result<std::sync::Arc<Engine>> {
    let index = Index::load_current(&snapshots_dir(data), &model.version())?;
    Ok(Engine::new(index, ServerConfig::new(data.join("renders"))))
}

pub(crate) struct Row {
    pub song: String,
    pub video: String,
    pub range: String,
    pub score: f32,
    pub output: String,
}

pub(crate) async fn query_all(
    server: String,
    song: Option<String>,
    k: u32,
    clip_s: f64,
    render: bool,
) -> Result<Vec<Row>> {
    let mut index =
        IndexServiceClient::connect(server.clone()).await.with_context(|| format!("cannot connect to {server}"))?;
    let mut matcher = MatchServiceClient::connect(server.clone()).await?;
    let songs: Vec<String> = match song {
        Some(s) => vec![s],
        None => {
            index.list_songs(tuneclip_proto_req::list()).await?.into_inner().songs.into_iter().map(|s| s.id).collect()
        }
    };
    let mut rows = Vec::new();
    for id in songs {
        let resp = matcher
            .best_clips(tuneclip_proto_req::best(id, k, clip_s, render))
            .await
            .map_err(|s| anyhow::anyhow!("BestClips failed: {} ({:?})", s.message(), s.code()))?
            .into_inner();
        if resp.clips.is_empty() {
            rows.push(Row {
                song: resp.song_title.clone(),
                video: "(no segment long enough)".into(),
                range: "-".into(),
                score: 0.0,
                output: "-".into(),
            });
        }
        for c in resp.clips {
            let r = c.range.unwrap_or_default();
            rows.push(Row {
                song: resp.song_title.clone(),
                video: c.video_title,
                range: format!("{:.2}-{:.2}s", r.start_s, r.end_s),
                score: c.score,
                output: c.rendered.map_or_else(|| "-".into(), |r| r.video_path),
            });
        }
    }
    Ok(rows)
}

/// Request builders, so the CLI does not spell protobuf structs in several places.
mod tuneclip_proto_req {
    pub fn list() -> tuneclip_server::pb::ListSongsRequest {
        tuneclip_server::pb::ListSongsRequest {}
    }
    pub fn best(song_id: String, k: u32, clip_s: f64, render: bool) -> tuneclip_server::pb::BestClipsRequest {
        tuneclip_server::pb::BestClipsRequest {
            song_id,
            k,
            clip_duration_s: clip_s,
            max_per_video: 1,
            render,
            song_audio: render,
            ..Default::default()
        }
    }
}

pub(crate) fn print_table(rows: &[Row]) {
    let w = |f: &dyn Fn(&Row) -> usize, h: &str| rows.iter().map(f).max().unwrap_or(0).max(h.len());
    let (ws, wv, wr) =
        (w(&|r| r.song.len(), "song"), w(&|r| r.video.len(), "video"), w(&|r| r.range.len(), "time range"));
    println!("{:ws$}  {:wv$}  {:wr$}  {:>6}  output", "song", "video", "time range", "score");
    println!("{}", "-".repeat(ws + wv + wr + 16 + 40));
    for r in rows {
        println!("{:ws$}  {:wv$}  {:wr$}  {:>6.3}  {}", r.song, r.video, r.range, r.score, r.output);
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TUNECLIP_LOG")
                .unwrap_or_else(|_| "warn,symphonia_core=off,symphonia=off".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let model = embedder(cli.model.as_deref())?;
    match cli.command {
        Command::Demo { clip_s, k } => demo::run(&cli.data_dir, &model, clip_s, k).await,
        Command::Ingest { songs, videos } => ingest_and_publish(&cli.data_dir, &model, &songs, &videos).map(|_| ()),
        Command::Serve { addr } => {
            let engine = load_engine(&cli.data_dir, &model)?;
            let (listener, local) = tuneclip_server::bind(addr).await?;
            eprintln!("serving {} on {local}", engine.index().manifest.name);
            tuneclip_server::serve(listener, engine, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
            Ok(())
        }
        Command::Query { server, song, clip_s, k, render } => {
            print_table(&query_all(server, song, k, clip_s, render).await?);
            Ok(())
        }
    }
}
