//! The `tuneclip` binary: `demo` (the whole path on a small catalogue), `ingest`, `add`,
//! `remove` and `merge` (songs + videos -> a published snapshot, sharded or not),
//! `milvus` (upsert / publish / status / a local Milvus), `serve` (the gRPC server,
//! review page and metrics), `query` (a gRPC client), `produce` and `review`
//! (background clips), and the single-file tools `scenes` and `reframe` (no
//! catalogue). Most flags can also come from a `TUNECLIP_*` environment variable or
//! the `--config` file. Each command wires library crates together; the one workflow
//! still here is the rebuild's (ingest or remove, then publish, per shard), which
//! belongs in an ingest crate below the CLI.

mod config;
mod demo;
mod milvus;
mod single;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tuneclip_index::{Index, IngestConfig, Snapshot, ingest_incremental};
use tuneclip_model::Embedder;
use tuneclip_server::{Engine, IndexServiceClient, MatchServiceClient, ServerConfig};
use tuneclip_studio::{ProduceConfig, ProductionManifest, ReviewPage, ReviewStore};
use tuneclip_vision::FaceDetectorConfig;
use tuneclip_vision::transnet::TransNetConfig;

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
    /// Where the ONNX Runtime and the ONNX models are (`onnxruntime/`, `models/`):
    /// by default the folder setup.sh fills, `index-data/assets` of the checkout this
    /// binary was built from, wherever --data-dir points. A model a command needs that
    /// is missing or does not load is an error (naming the flag that goes without it).
    #[arg(long, global = true, env = "TUNECLIP_MODELS", default_value_os_t = setup_models_dir())]
    models_dir: PathBuf,
    /// The embedding model: `default` (the learned model compiled into tuneclip),
    /// `handcrafted` (the four perceptual axes), or a trained model folder (with
    /// config.json and weights.bpk, from `tuneclip-train`). Ingest, serve and demo must
    /// agree: a snapshot built by one model is refused by another.
    #[arg(long, global = true, env = "TUNECLIP_MODEL")]
    model: Option<PathBuf>,
    /// A TOML file of settings: top-level keys for global flags, a table per command
    /// (`[serve]`, `[produce]`, ...), keys named as the flags. Flags and environment
    /// variables override it.
    #[arg(long, global = true, env = "TUNECLIP_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Vectors {
    Embedded,
    Milvus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum MilvusAction {
    Upsert,
    Publish,
    Status,
    /// Run a Milvus 2.3.5 standalone on this machine (the set-up's binaries) with its
    /// state in `--data`, on 127.0.0.1 at --milvus-addr's port, until Ctrl-C.
    Local,
}

#[derive(Debug, Clone, clap::Args)]
struct MilvusArgs {
    /// The Milvus proxy, host:port.
    #[arg(long, env = "TUNECLIP_MILVUS_ADDR", default_value = "127.0.0.1:19530")]
    milvus_addr: String,
    /// Collection names start with it (`<prefix>_segments_<generation>`, alias
    /// `<prefix>_segments`).
    #[arg(long, env = "TUNECLIP_MILVUS_PREFIX", default_value = "tuneclip")]
    milvus_prefix: String,
}

impl MilvusArgs {
    fn backend(&self) -> tuneclip_milvus::MilvusBackend {
        tuneclip_milvus::MilvusBackend {
            addr: self.milvus_addr.clone(),
            prefix: self.milvus_prefix.clone(),
            timeout: std::time::Duration::from_secs(30),
        }
    }
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
    /// Rebuild: the catalogue becomes exactly these songs and videos (files, directory
    /// trees, or a manifest), published as a new snapshot. Files already in the served
    /// snapshot, or finished by an interrupted rebuild, are not analysed again.
    Ingest {
        #[command(flatten)]
        files: FileArgs,
    },
    /// Add songs and videos to the served catalogue (nothing already there is dropped
    /// or analysed again) and publish a new snapshot.
    Add {
        #[command(flatten)]
        files: FileArgs,
    },
    /// Remove songs or videos (by id or source path) from the served catalogue and
    /// publish a new snapshot; nothing is analysed.
    Remove {
        #[arg(long, num_args = 1..)]
        songs: Vec<String>,
        #[arg(long, num_args = 1..)]
        videos: Vec<String>,
    },
    /// Serve the current snapshot over gRPC until Ctrl-C or SIGTERM.
    Serve {
        #[arg(long, env = "TUNECLIP_ADDR", default_value = "127.0.0.1:50051")]
        addr: SocketAddr,
        /// Directories whose songs BestClips may analyse by `song_uri` (none by default).
        #[arg(long = "media-root", env = "TUNECLIP_MEDIA_ROOTS", value_delimiter = ',')]
        media_roots: Vec<PathBuf>,
        /// Where Prometheus metrics are served (`GET /metrics`).
        #[arg(long, env = "TUNECLIP_METRICS_ADDR", default_value = "127.0.0.1:9464")]
        metrics_addr: SocketAddr,
        /// Require `authorization: Bearer <token>` on every tuneclip call (and on the
        /// review page, whose forms then need it as a cookie set by `/?token=<token>`).
        #[arg(long, env = "TUNECLIP_AUTH_TOKEN", hide_env_values = true)]
        auth_token: Option<String>,
        /// Where the review page is served (beyond loopback only with --auth-token).
        #[arg(long, env = "TUNECLIP_REVIEW_ADDR", default_value = "127.0.0.1:8090")]
        review_addr: SocketAddr,
        /// Production folders the review page lists (default: <data-dir>/production).
        #[arg(long = "production", env = "TUNECLIP_PRODUCTIONS", value_delimiter = ',')]
        productions: Vec<PathBuf>,
        /// Serve gRPC over TLS with this PEM certificate chain (with --tls-key).
        #[arg(long, env = "TUNECLIP_TLS_CERT", requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// The PEM private key of --tls-cert.
        #[arg(long, env = "TUNECLIP_TLS_KEY", requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Require client certificates that chain to this PEM CA (mutual TLS).
        #[arg(long, env = "TUNECLIP_TLS_CLIENT_CA", requires = "tls_cert")]
        tls_client_ca: Option<PathBuf>,
        /// Where vectors are searched: the snapshot's own HNSW index, or the generation
        /// published to Milvus (`tuneclip milvus publish`).
        #[arg(long, env = "TUNECLIP_VECTORS", value_enum, default_value = "embedded")]
        vectors: Vectors,
        #[command(flatten)]
        milvus: MilvusArgs,
    },
    /// Merge the snapshots of a sharded rebuild (`ingest --shard i/K`, one data folder
    /// per shard) into one snapshot published under --data-dir. Nothing is analysed.
    Merge {
        /// The shards' data folders (their current snapshots are read).
        #[arg(long = "from", num_args = 1.., required = true)]
        from: Vec<PathBuf>,
    },
    /// The Milvus backend: `upsert` the current snapshot's vectors (or one shard of
    /// them, `--shard i/K`, on as many machines as you like) into a generation, then
    /// `publish` it once every shard is in (checks, HNSW index, load, alias switch);
    /// `status` shows what is published; `local --data DIR` runs a Milvus on this
    /// machine (loopback only) to try all of it before there is a cluster.
    Milvus {
        #[arg(value_enum)]
        action: MilvusAction,
        /// Where `local` keeps Milvus's state (kept across runs).
        #[arg(long, required_if_eq("action", "local"))]
        data: Option<PathBuf>,
        #[command(flatten)]
        milvus: MilvusArgs,
        /// The generation to write or publish (default: the current snapshot's name).
        /// Every shard of one rebuild must name the same one.
        #[arg(long)]
        generation: Option<String>,
        /// This process's share of the rows, i/K (upsert only).
        #[arg(long, default_value = "0/1")]
        shard: tuneclip_milvus::Shard,
        /// Rows per upsert call.
        #[arg(long, default_value_t = 2000)]
        batch: usize,
    },
    /// Make a vertical background clip for every song (or the songs named): the song's
    /// highlight window over the best window of video, reframed, rendered and checked.
    /// Resumes: songs already produced in the output folder are kept.
    Produce {
        /// Songs by catalogue id or source path; without them (and without
        /// --songs-file), every song in the catalogue.
        #[arg(long, num_args = 1..)]
        songs: Vec<String>,
        /// A file of songs, one id or source path per line (`#` comments allowed;
        /// relative paths are relative to the file).
        #[arg(long)]
        songs_file: Option<PathBuf>,
        /// Output folder (default: <data-dir>/production).
        #[arg(long, env = "TUNECLIP_PRODUCTION_DIR")]
        out: Option<PathBuf>,
        /// Clip length in seconds.
        #[arg(long, env = "TUNECLIP_PRODUCE_CLIP_S", default_value_t = 30.0)]
        clip_s: f64,
        /// Windows tried per song before the best failing one goes to review.
        #[arg(long, default_value_t = 4)]
        candidates: usize,
        /// Songs produced at once (0: half the cores).
        #[arg(long, env = "TUNECLIP_WORKERS", default_value_t = 0)]
        workers: usize,
        /// Prefer windows whose shot changes fall on the song's beats (among windows
        /// within 0.01 of the best similarity); false chooses by similarity alone.
        #[arg(long, env = "TUNECLIP_BEAT_AWARE", default_value_t = true, action = clap::ArgAction::Set)]
        beat_aware: bool,
        /// Choose windows by similarity and sync together (whether the picture's
        /// events, kept by the analysis, fall on the song's onsets as the clip plays;
        /// a window may start on any frame for it); false: similarity alone.
        #[arg(long, env = "TUNECLIP_SYNC", default_value_t = true, action = clap::ArgAction::Set)]
        sync: bool,
        /// Check clips without the text detector (the text-coverage check then fails
        /// as not measured and sends clips to review); without this flag a missing
        /// text model is an error.
        #[arg(long)]
        no_text: bool,
        /// Produce only share i of K of the songs (`0/4` .. `3/4`: a deterministic split
        /// by song id), e.g. one shard per machine, each into its own --out; join them
        /// with --merge.
        #[arg(long)]
        shard: Option<tuneclip_studio::Shard>,
        /// Produce nothing: merge these production folders (the K shards of one run)
        /// into --out, one manifest for the review page.
        #[arg(long, num_args = 1.., conflicts_with_all = ["songs", "songs_file", "shard"])]
        merge: Vec<PathBuf>,
    },
    /// Analyse one video file (no catalogue needed) and print its scene list:
    /// transitions with their type, shots with their frames, faces, subtitles and
    /// flags, the active area and logos. Times are given as seconds, timecode and frame
    /// number (from 0).
    Scenes {
        file: PathBuf,
        /// JSON (the whole list).
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        /// CSV, one row per shot (PySceneDetect's columns first).
        #[arg(long)]
        csv: bool,
        #[command(flatten)]
        detectors: DetectorFlags,
    },
    /// Reframe one video file to vertical (no catalogue needed): analyse it, plan the
    /// virtual camera and render an H.264 MP4 with a preview PNG beside it.
    Reframe {
        input: PathBuf,
        /// The MP4 to write (never the input).
        output: PathBuf,
        /// Output aspect, W:H.
        #[arg(long, default_value = "9:16", value_parser = single::parse_aspect)]
        aspect: f64,
        /// Where the clip starts in the input, in seconds.
        #[arg(long, default_value_t = 0.0)]
        start: f64,
        /// Clip length in seconds (default: to the end of the input).
        #[arg(long)]
        duration: Option<f64>,
        /// Also write the crop plan (the camera's keyframes, per-shot modes) as JSON.
        #[arg(long)]
        plan_json: Option<PathBuf>,
        /// Where the preview contact sheet goes (default: OUT with .png).
        #[arg(long)]
        preview: Option<PathBuf>,
        /// Sound from this song instead of the input's own sound.
        #[arg(long)]
        audio: Option<PathBuf>,
        /// Where in --audio the sound starts, in seconds.
        #[arg(long, default_value_t = 0.0, requires = "audio")]
        audio_start: f64,
        #[command(flatten)]
        detectors: DetectorFlags,
    },
    /// Review decisions: export the rejected clips as hard negatives for training.
    Review {
        /// JSON Lines file to write (one rejected clip per line).
        #[arg(long)]
        export_negatives: PathBuf,
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

/// Songs and videos to ingest.
#[derive(Debug, clap::Args)]
struct FileArgs {
    /// Song files or directories (searched recursively).
    #[arg(long, num_args = 1..)]
    songs: Vec<PathBuf>,
    /// Video files or directories (searched recursively).
    #[arg(long, num_args = 1..)]
    videos: Vec<PathBuf>,
    /// A manifest: one `song PATH` or `video PATH` per line (`#` comments, blank lines
    /// allowed; relative paths are relative to the manifest).
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Files analysed at once (0: one per core).
    #[arg(long, env = "TUNECLIP_WORKERS", default_value_t = 0)]
    workers: usize,
    /// Analyse only this share of the files, i/K: a deterministic 1/K chosen by each
    /// file's path as given (a manifest entry as written: use relative entries when the
    /// machines mount the media at different places). Run K of these (any machines,
    /// each its own --data-dir), then `tuneclip merge` their snapshots.
    #[arg(long, default_value = "0/1")]
    shard: tuneclip_milvus::Shard,
    /// Also run Basic Pitch (installed by setup.sh) over each song's highlight window
    /// for note features (pitch classes, note rate, polyphony, register): about 0.6 s
    /// more per song on one core.
    #[arg(long)]
    pitch: bool,
    #[command(flatten)]
    detectors: DetectorFlags,
}

/// The detectors a video analysis may go without.
#[derive(Debug, Clone, Copy, clap::Args)]
struct DetectorFlags {
    /// Analyse videos without the face detector (no subject lock on faces); without
    /// this flag a missing face model is an error.
    #[arg(long)]
    no_faces: bool,
    /// Analyse videos without the text detector (no subtitle bands or text share);
    /// without this flag a missing text model is an error.
    #[arg(long)]
    no_text: bool,
    /// Also run TransNetV2 (the learned shot-boundary model, on every frame at 48x27)
    /// and add the transitions the typed detector misses; costs several times the
    /// decode on a CPU.
    #[arg(long)]
    transnet: bool,
}

impl DetectorFlags {
    fn analysers(self, models: &Path, pitch: bool) -> Analysers {
        Analysers {
            models: models.to_path_buf(),
            faces: !self.no_faces,
            text: !self.no_text,
            pitch,
            transnet: self.transnet,
        }
    }
}

impl FileArgs {
    fn analysers(&self, models: &Path) -> Analysers {
        self.detectors.analysers(models, self.pitch)
    }

    fn collect(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
        // Each file with the name it is sharded by: its path as given on the command
        // line, or its entry as written in the manifest (relative entries are then the
        // same on every machine, wherever the manifest and media are mounted).
        let given = |paths: Vec<PathBuf>| -> Vec<Named> {
            paths.into_iter().map(|p| (p.clone(), p.to_string_lossy().into_owned())).collect()
        };
        let (mut songs, mut videos) = (given(expand(&self.songs)?), given(expand(&self.videos)?));
        if let Some(m) = &self.manifest {
            let (s, v) = read_manifest(m)?;
            songs.extend(s);
            videos.extend(v);
        }
        if songs.is_empty() && videos.is_empty() {
            anyhow::bail!("nothing to ingest: give --songs, --videos or --manifest");
        }
        if self.shard.count > 1 {
            let mine =
                |(_, name): &(PathBuf, String)| self.shard.owns(tuneclip_milvus::generation::key_of(&["file", name]));
            songs.retain(mine);
            videos.retain(mine);
            eprintln!(
                "shard {}/{}: {} songs and {} videos are this shard's",
                self.shard.index,
                self.shard.count,
                songs.len(),
                videos.len()
            );
        }
        let paths = |v: Vec<Named>| v.into_iter().map(|(p, _)| p).collect();
        Ok((paths(songs), paths(videos)))
    }
}

/// `song PATH` / `video PATH` lines.
/// A file to ingest and the name it is sharded by.
type Named = (PathBuf, String);

/// Songs and videos of a manifest: each resolved path with its entry as written.
fn read_manifest(path: &Path) -> Result<(Vec<Named>, Vec<Named>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read manifest {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (mut songs, mut videos) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, file) = line.split_once(char::is_whitespace).ok_or_else(|| {
            anyhow::anyhow!("{}:{}: expected `song PATH` or `video PATH`, found {line:?}", path.display(), n + 1)
        })?;
        let file = (base.join(file.trim()), file.trim().to_string());
        match kind {
            "song" => songs.push(file),
            "video" => videos.push(file),
            other => anyhow::bail!("{}:{}: unknown kind {other:?} (expected song or video)", path.display(), n + 1),
        }
    }
    Ok((songs, videos))
}

/// Snapshots kept after a publish (the current one is always kept).
const KEEP_SNAPSHOTS: usize = 3;

pub(crate) fn snapshots_dir(data: &Path) -> PathBuf {
    data.join("snapshots")
}

/// Files named, and every file under the directories named (recursively, sorted,
/// hidden entries skipped).
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot list {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
                .collect();
            entries.sort();
            out.extend(expand(&entries)?);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// The embedding model chosen by `--model` (the default learned model without it).
pub(crate) fn embedder(model: Option<&Path>) -> Result<Embedder> {
    match model {
        None => Ok(Embedder::default_learned()?),
        Some(p) if p == Path::new("default") => Ok(Embedder::default_learned()?),
        Some(p) if p == Path::new("handcrafted") => Ok(Embedder::Handcrafted),
        Some(dir) => Ok(Embedder::learned(dir)?),
    }
}

/// How a rebuild treats what is already served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The catalogue becomes exactly the files given.
    Replace,
    /// The files given are added to what is served.
    Add,
}

/// What an ingest analyses besides the picture and the sound: the models it needs
/// (from `models`) and the ones it was told to go without.
#[derive(Debug, Clone)]
pub(crate) struct Analysers {
    pub models: PathBuf,
    pub faces: bool,
    pub text: bool,
    pub pitch: bool,
    /// TransNetV2 beside the typed transition detector (opt-in: `--transnet`).
    pub transnet: bool,
}

impl Analysers {
    /// An ingest's settings with the detectors asked for, each loaded once here so that
    /// a missing or broken model stops the command before any work (and says which flag
    /// goes without it).
    pub(crate) fn ingest_config(&self, model: &Embedder) -> Result<IngestConfig> {
        let face_cfg = FaceDetectorConfig::from_models_dir(&self.models);
        let faces =
            checked(self.faces, face_cfg.clone(), &face_cfg.model, "face detection", "--no-faces", |c| c.build())?;
        let text_cfg = tuneclip_vision::TextDetectorConfig::from_models_dir(&self.models);
        let text = checked(self.text, text_cfg.clone(), &text_cfg.model, "text detection", "--no-text", |c| c.build())?;
        let pitch_cfg = tuneclip_model::pitch::PitchModelConfig::from_models_dir(&self.models);
        let pitch =
            checked(self.pitch, pitch_cfg.clone(), &pitch_cfg.model, "Basic Pitch", "leaving out --pitch", |c| {
                c.build()
            })?;
        let transnet_cfg = TransNetConfig {
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            ..TransNetConfig::from_models_dir(&self.models)
        };
        let transnet = checked(
            self.transnet,
            transnet_cfg.clone(),
            &transnet_cfg.model,
            "TransNetV2",
            "leaving out --transnet",
            |c| c.build(),
        )?;
        for (off, what) in [(faces.is_none(), "faces"), (text.is_none(), "text (subtitles, text share)")] {
            if off {
                eprintln!("videos analysed without {what}, as asked");
            }
        }
        Ok(IngestConfig { faces, text, pitch, transnet, model: model.clone(), ..IngestConfig::default() })
    }
}

/// The folder setup.sh fills with the ONNX Runtime and models: `index-data/assets` of
/// the checkout this binary was built from.
fn setup_models_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap_or(Path::new("."));
    root.join("index-data/assets")
}

/// `config` when `wanted`, after loading it once (`load`): a model that is missing or
/// does not load is an error naming the file, how to install it, and `flag`.
fn checked<C, T, E: std::fmt::Display>(
    wanted: bool,
    config: C,
    model: &Path,
    what: &str,
    flag: &str,
    load: impl Fn(&C) -> std::result::Result<T, E>,
) -> Result<Option<C>> {
    if !wanted {
        return Ok(None);
    }
    if !model.is_file() {
        anyhow::bail!(
            "{what}: no model at {} (run setup.sh, or point --models-dir / TUNECLIP_MODELS at the folder it filled); \
             {flag} goes on without {what}",
            model.display()
        );
    }
    load(&config).map_err(|e| anyhow::anyhow!("{what}: {e}; {flag} goes on without {what}"))?;
    Ok(Some(config))
}

pub(crate) fn ingest_and_publish(
    data: &Path,
    model: &Embedder,
    songs: &[PathBuf],
    videos: &[PathBuf],
    mode: Mode,
    workers: usize,
    with: &Analysers,
) -> Result<PathBuf> {
    let staging = data.join("staging");
    let mut cfg = IngestConfig { workers, staging: Some(staging.clone()), ..with.ingest_config(model)? };
    // Files run in parallel already: TransNetV2's windows take one thread each.
    if let Some(t) = cfg.transnet.as_mut()
        && workers != 1
    {
        t.threads = 1;
    }
    // Files already in the served snapshot (same content hash) are not analysed again.
    let previous = Snapshot::current_catalogue(&snapshots_dir(data)).ok();
    if mode == Mode::Add && previous.is_none() && Snapshot::current(&snapshots_dir(data)).is_ok() {
        anyhow::bail!(
            "the served snapshot cannot be read, so nothing can be added to it; rebuild with `tuneclip ingest`"
        );
    }
    let (mut catalogue, stats) = ingest_incremental(&expand(songs)?, &expand(videos)?, &cfg, previous.as_ref());
    eprintln!(
        "ingest: {} analysed, {} reused unchanged, {} failed, {} song(s) without note features (Basic Pitch failed)",
        stats.analysed, stats.reused, stats.failed, stats.without_pitch
    );
    if cfg.transnet.is_some() {
        eprintln!("ingest: {}", stats.transnet);
    }
    if stats.unstaged > 0 {
        eprintln!(
            "ingest: {} result(s) could not be kept in {} (an interrupted rebuild would analyse them again)",
            stats.unstaged,
            staging.display()
        );
    }
    for f in &catalogue.failures {
        eprintln!("skipped {}: {}", f.path.display(), f.reason);
    }
    for v in catalogue.videos.iter().filter(|v| !v.analysis.damage.is_clean()) {
        eprintln!("damaged {}: {} (kept what decoded)", v.path.display(), v.analysis.damage);
    }
    if mode == Mode::Add
        && let Some(prev) = &previous
    {
        catalogue.keep_missing_from(prev);
    }
    let dir = publish(data, &catalogue)?;
    write_report(data, &dir, &catalogue, Some(stats))?;
    tuneclip_index::clear_staging(&staging)?;
    Ok(dir)
}

/// Publish `catalogue`, prune old snapshots, say what happened.
fn publish(data: &Path, catalogue: &tuneclip_index::Catalogue) -> Result<PathBuf> {
    let opts = tuneclip_index::PublishOptions { progress: true, ..Default::default() };
    let dir = Snapshot::publish_with(&snapshots_dir(data), catalogue, &opts)?;
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

/// The quarantine report of a rebuild: `reports/<snapshot>.json` with every failed
/// file and why, the videos kept despite damage (skipped packets, truncation), and the
/// counts.
fn write_report(
    data: &Path,
    snapshot: &Path,
    catalogue: &tuneclip_index::Catalogue,
    stats: Option<tuneclip_index::IngestStats>,
) -> Result<()> {
    let dir = data.join("reports");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let name = snapshot.file_name().map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
    let report = serde_json::json!({
        "snapshot": name,
        "songs": catalogue.songs.len(),
        "videos": catalogue.videos.len(),
        "segments": catalogue.segments.len(),
        "analysed": stats.map(|s| s.analysed),
        "reused": stats.map(|s| s.reused),
        "without_pitch": stats.map(|s| s.without_pitch),
        "unstaged": stats.map(|s| s.unstaged),
        "transnet": stats.map(|s| s.transnet),
        "failures": catalogue.failures.iter().map(|f| serde_json::json!({"path": f.path, "reason": f.reason})).collect::<Vec<_>>(),
        "damaged": catalogue
            .videos
            .iter()
            .filter(|v| !v.analysis.damage.is_clean())
            .map(|v| serde_json::json!({"path": v.path, "damage": v.analysis.damage, "note": v.analysis.damage.to_string()}))
            .collect::<Vec<_>>(),
    });
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !catalogue.failures.is_empty() {
        eprintln!("{} failed files listed in {}", catalogue.failures.len(), path.display());
    }
    Ok(())
}

/// Remove songs and videos from the served catalogue and publish the rest.
fn remove_and_publish(data: &Path, songs: &[String], videos: &[String]) -> Result<PathBuf> {
    if songs.is_empty() && videos.is_empty() {
        anyhow::bail!("nothing to remove: give --songs or --videos (ids or source paths)");
    }
    let mut catalogue = Snapshot::current_catalogue(&snapshots_dir(data))?;
    let (gone_songs, gone_videos) = (catalogue.remove_songs(songs), catalogue.remove_videos(videos));
    let asked = songs.len() + videos.len();
    eprintln!("remove: {} songs, {} videos ({} asked)", gone_songs.len(), gone_videos.len(), asked);
    if gone_songs.len() + gone_videos.len() == 0 {
        anyhow::bail!("none of {asked} ids or paths is in the served catalogue; nothing published");
    }
    let dir = publish(data, &catalogue)?;
    write_report(data, &dir, &catalogue, None)?;
    Ok(dir)
}

pub(crate) fn load_engine(
    data: &Path,
    model: &Embedder,
    media_roots: Vec<PathBuf>,
    auth_token: Option<String>,
    review: Option<std::sync::Arc<ReviewStore>>,
    vectors: Option<std::sync::Arc<dyn tuneclip_index::VectorBackend>>,
    tls: Option<tuneclip_server::TlsSettings>,
) -> Result<std::sync::Arc<Engine>> {
    let index = Index::load_current_with(&snapshots_dir(data), &model.version(), vectors.as_deref())?;
    let config = ServerConfig {
        model: model.clone(),
        media_roots,
        auth_token,
        review: review.map(|r| r as std::sync::Arc<dyn tuneclip_index::ReviewDecisions>),
        vectors,
        tls,
        ..ServerConfig::new(data.join("renders"))
    };
    Ok(Engine::new(index, config))
}

/// The review database under the data folder.
pub(crate) fn review_db(data: &Path) -> PathBuf {
    data.join("review.sqlite")
}

/// Catalogue ids for songs named by id or source path, on the command line or in a
/// file; a name that matches nothing is kept as given (the production reports it).
fn song_ids(index: &Index, names: &[String], file: Option<&Path>) -> Result<Vec<String>> {
    let mut all: Vec<(String, Option<PathBuf>)> = names.iter().map(|n| (n.clone(), None)).collect();
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read songs file {}", file.display()))?;
        let base = file.parent().unwrap_or(Path::new("."));
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            all.push((line.to_string(), Some(base.join(line))));
        }
    }
    let by_path: std::collections::HashMap<PathBuf, &str> =
        index.catalogue.songs.iter().filter_map(|s| s.path.canonicalize().ok().map(|p| (p, s.id.0.as_str()))).collect();
    Ok(all
        .into_iter()
        .map(|(name, relative)| {
            if index.song(&name).is_some() {
                return name;
            }
            [Some(PathBuf::from(&name)), relative]
                .into_iter()
                .flatten()
                .find_map(|p| p.canonicalize().ok().and_then(|p| by_path.get(&p).map(|id| id.to_string())))
                .unwrap_or(name)
        })
        .collect())
}

/// What `produce` (and the demo's production) asks for.
pub(crate) struct ProduceOptions {
    pub clip_s: f64,
    pub candidates: usize,
    pub workers: usize,
    pub beat_aware: bool,
    /// Choose windows by similarity and sync (`--sync`).
    pub sync: bool,
    /// Only this share of the songs (`--shard`).
    pub shard: Option<tuneclip_studio::Shard>,
    /// The models folder (`--models-dir`).
    pub models: PathBuf,
    /// Check clips with the text detector (false: `--no-text`).
    pub text: bool,
}

/// Run a production over `index` into `out`.
pub(crate) fn produce_clips(
    index: &Index,
    songs: &[String],
    out: PathBuf,
    opts: &ProduceOptions,
    review: &ReviewStore,
) -> Result<ProductionManifest> {
    let text_cfg = tuneclip_vision::TextDetectorConfig::from_models_dir(&opts.models);
    let text = checked(opts.text, text_cfg.clone(), &text_cfg.model, "text detection", "--no-text", |c| c.build())?;
    if text.is_none() {
        eprintln!("produce: clips checked without the text detector, as asked (text coverage goes to review)");
    }
    let cfg = ProduceConfig {
        clip_s: opts.clip_s,
        candidates: opts.candidates,
        workers: opts.workers,
        beat_aware: opts.beat_aware,
        sync: opts.sync,
        shard: opts.shard,
        text,
        ..ProduceConfig::new(out)
    };
    Ok(tuneclip_studio::produce(index, songs, &cfg, Some(review))?)
}

pub(crate) fn print_production(m: &ProductionManifest, out: &Path) {
    println!(
        "{:24}  {:22}  {:13}  {:>6}  {:>6}  {:>7}  {:12}  file",
        "song", "video", "time range", "score", "sync", "on beat", "checks"
    );
    for c in &m.clips {
        let failed: Vec<&str> = c.checks.iter().filter(|k| !k.pass).map(|k| k.name.as_str()).collect();
        let checks = if failed.is_empty() { "all passed".to_string() } else { format!("review: {}", failed.join(",")) };
        // Shot changes inside the clip within 60 ms of a beat, of all inside it.
        let on_beat = c.beat_fit.map_or_else(|| "-".to_string(), |f| format!("{}/{}", f.on_beat, f.cuts));
        println!(
            "{:24}  {:22}  {:13}  {:>6.3}  {:>6}  {:>7}  {:12}  {}",
            c.song_title,
            c.video_title,
            format!("{:.2}-{:.2}s", c.range.start_s, c.range.end_s),
            c.score,
            c.sync.map_or_else(|| "-".to_string(), |s| format!("{s:.3}")),
            on_beat,
            checks,
            out.join(&c.file).display()
        );
    }
    for f in &m.failures {
        println!("{:24}  no clip: {}", f.song_id, f.reason);
    }
    println!("manifest: {}", out.join(tuneclip_studio::MANIFEST).display());
}

pub(crate) struct Row {
    pub song: String,
    pub video: String,
    pub range: String,
    pub score: f32,
    /// How the clip's picture events fall on the song's onsets (absent: not measured).
    pub sync: Option<f32>,
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
                sync: None,
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
                sync: c.sync,
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
            k: Some(k),
            clip_duration_s: Some(clip_s),
            max_per_video: Some(1),
            render,
            song_audio: render,
            ..tuneclip_server::pb::BestClipsRequest::catalogue_song(song_id)
        }
    }
}

pub(crate) fn print_table(rows: &[Row]) {
    let w = |f: &dyn Fn(&Row) -> usize, h: &str| rows.iter().map(f).max().unwrap_or(0).max(h.len());
    let (ws, wv, wr) =
        (w(&|r| r.song.len(), "song"), w(&|r| r.video.len(), "video"), w(&|r| r.range.len(), "time range"));
    // Clips are ranked by score + 3 x sync (`tuneclip_core::sync::SYNC_WEIGHT`).
    println!("{:ws$}  {:wv$}  {:wr$}  {:>6}  {:>6}  output", "song", "video", "time range", "score", "sync");
    println!("{}", "-".repeat(ws + wv + wr + 24 + 40));
    for r in rows {
        let sync = r.sync.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"));
        println!("{:ws$}  {:wv$}  {:wr$}  {:>6.3}  {:>6}  {}", r.song, r.video, r.range, r.score, sync, r.output);
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
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = config::with_file_defaults(<Cli as clap::CommandFactory>::command(), &args)?;
    let parsed = command.try_get_matches_from(&args).and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let model = embedder(cli.model.as_deref())?;
    match cli.command {
        Command::Demo { clip_s, k } => demo::run(&cli.data_dir, &cli.models_dir, &model, clip_s, k).await,
        Command::Ingest { files } => {
            let (songs, videos) = files.collect()?;
            let with = files.analysers(&cli.models_dir);
            ingest_and_publish(&cli.data_dir, &model, &songs, &videos, Mode::Replace, files.workers, &with).map(|_| ())
        }
        Command::Add { files } => {
            let (songs, videos) = files.collect()?;
            let with = files.analysers(&cli.models_dir);
            ingest_and_publish(&cli.data_dir, &model, &songs, &videos, Mode::Add, files.workers, &with).map(|_| ())
        }
        Command::Remove { songs, videos } => remove_and_publish(&cli.data_dir, &songs, &videos).map(|_| ()),
        Command::Merge { from } => {
            let mut parts = Vec::new();
            for d in &from {
                let cat = Snapshot::current_catalogue(&snapshots_dir(d))
                    .with_context(|| format!("shard {}: no readable snapshot", d.display()))?;
                if cat.model_version != model.version() {
                    anyhow::bail!(
                        "shard {} was built by model {}, this run uses {}",
                        d.display(),
                        cat.model_version,
                        model.version()
                    );
                }
                parts.push(cat);
            }
            let merged = tuneclip_index::Catalogue::merge(parts)?;
            let dir = publish(&cli.data_dir, &merged)?;
            write_report(&cli.data_dir, &dir, &merged, None)?;
            eprintln!(
                "merged {} shards: {} songs, {} videos, {} segments",
                from.len(),
                merged.songs.len(),
                merged.videos.len(),
                merged.segments.len()
            );
            Ok(())
        }
        Command::Milvus { action: MilvusAction::Local, milvus, data, .. } => {
            let data = data.context("--data DIR: where Milvus keeps its state")?;
            crate::milvus::local(&cli.models_dir.join("milvus"), &data, &milvus).await
        }
        Command::Milvus { action, milvus, generation, shard, batch, .. } => {
            crate::milvus::run(&cli.data_dir, &model, action, &milvus, generation, shard, batch).await
        }
        Command::Serve {
            addr,
            media_roots,
            metrics_addr,
            auth_token,
            review_addr,
            productions,
            tls_cert,
            tls_key,
            tls_client_ca,
            vectors,
            milvus,
        } => {
            let tls = match (&tls_cert, &tls_key) {
                (Some(c), Some(k)) => Some(tuneclip_server::TlsSettings::load(c, k, tls_client_ca.as_deref())?),
                _ => None,
            };
            if !addr.ip().is_loopback() && auth_token.is_none() {
                eprintln!(
                    "warning: serving on {addr} beyond loopback without --auth-token: anyone who reaches it can call it"
                );
            }
            if !review_addr.ip().is_loopback() && auth_token.is_none() {
                anyhow::bail!("the review page changes what is served: bind it beyond loopback only with --auth-token");
            }
            let review = std::sync::Arc::new(ReviewStore::open(&review_db(&cli.data_dir))?);
            let backend: Option<std::sync::Arc<dyn tuneclip_index::VectorBackend>> = match vectors {
                Vectors::Embedded => None,
                Vectors::Milvus => Some(std::sync::Arc::new(milvus.backend())),
            };
            let engine = load_engine(
                &cli.data_dir,
                &model,
                media_roots,
                auth_token.clone(),
                Some(std::sync::Arc::clone(&review)),
                backend,
                tls,
            )?;
            eprintln!("vectors searched by {}", engine.index().segment_search_kind());
            let productions = if productions.is_empty() { vec![cli.data_dir.join("production")] } else { productions };
            let page = std::sync::Arc::new(ReviewPage::new(review, productions, auth_token)?);
            let (review_listener, review_local) = tuneclip_server::bind(review_addr).await?;
            eprintln!("review page on http://{review_local}/");
            tokio::spawn(tuneclip_studio::serve_review(review_listener, page, std::future::pending()));
            let (metrics_listener, metrics_local) = tuneclip_server::bind(metrics_addr).await?;
            eprintln!("metrics on http://{metrics_local}/metrics");
            tokio::spawn(tuneclip_server::serve_metrics(
                metrics_listener,
                std::sync::Arc::clone(&engine.metrics),
                std::future::pending(),
            ));
            let (listener, local) = tuneclip_server::bind(addr).await?;
            eprintln!("serving {} on {local}", engine.index().manifest.name);
            // Ctrl-C, or SIGTERM from a service manager (deploy/tuneclip.service): stop
            // accepting, drain what is in flight, exit 0.
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
            tuneclip_server::serve(listener, engine, async move {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => eprintln!("Ctrl-C: draining requests in flight"),
                    _ = term.recv() => eprintln!("SIGTERM: draining requests in flight"),
                }
            })
            .await?;
            Ok(())
        }
        Command::Produce {
            songs,
            songs_file,
            out,
            clip_s,
            candidates,
            workers,
            beat_aware,
            sync,
            no_text,
            shard,
            merge,
        } => {
            let out = out.unwrap_or_else(|| cli.data_dir.join("production"));
            if !merge.is_empty() {
                let merged = tuneclip_studio::merge(&merge, &out)?;
                print_production(&merged.manifest, &out);
                println!(
                    "merged {} productions: {} clips, {} songs without one; {} clips share a shot with another part's clip (sent to review)",
                    merge.len(),
                    merged.manifest.clips.len(),
                    merged.manifest.failures.len(),
                    merged.shared_shots
                );
                return Ok(());
            }
            let index = Index::load_current(&snapshots_dir(&cli.data_dir), &model.version())?;
            let songs = song_ids(&index, &songs, songs_file.as_deref())?;
            let review = ReviewStore::open(&review_db(&cli.data_dir))?;
            let models = cli.models_dir.clone();
            let opts = ProduceOptions { clip_s, candidates, workers, beat_aware, sync, shard, models, text: !no_text };
            let m = produce_clips(&index, &songs, out.clone(), &opts, &review)?;
            print_production(&m, &out);
            Ok(())
        }
        Command::Scenes { file, json, csv, detectors } => {
            let format = match (json, csv) {
                (true, _) => single::SceneFormat::Json,
                (_, true) => single::SceneFormat::Csv,
                _ => single::SceneFormat::Table,
            };
            single::scenes(&file, &detectors.analysers(&cli.models_dir, false), format)
        }
        Command::Reframe {
            input,
            output,
            aspect,
            start,
            duration,
            plan_json,
            preview,
            audio,
            audio_start,
            detectors,
        } => {
            let job = single::ReframeJob {
                input,
                output,
                aspect,
                start_s: start,
                duration_s: duration,
                plan_json,
                preview,
                audio,
                audio_start_s: audio_start,
            };
            single::reframe(&job, &detectors.analysers(&cli.models_dir, false))
        }
        Command::Review { export_negatives } => {
            let review = ReviewStore::open(&review_db(&cli.data_dir))?;
            let n = review.export_hard_negatives(&export_negatives)?;
            eprintln!("{n} rejected clips written to {}", export_negatives.display());
            Ok(())
        }
        Command::Query { server, song, clip_s, k, render } => {
            print_table(&query_all(server, song, k, clip_s, render).await?);
            Ok(())
        }
    }
}
