//! The command line as clap parses it: the commands, their flags and the environment
//! variables behind them, and the few conversions of parsed flags into settings.

use crate::{Analysers, Named, expand, read_manifest, setup_models_dir, single};
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Parser)]
#[command(
    name = "tuneclip",
    version,
    about = "Find the best short video clips for every song and reframe them to 9:16"
)]
pub(crate) struct Cli {
    /// Home of snapshots, renders and demo media.
    #[arg(long, global = true, env = "TUNECLIP_DATA_DIR", default_value = "index-data")]
    pub(crate) data_dir: PathBuf,
    /// Where the ONNX Runtime and the ONNX models are (`onnxruntime/`, `models/`):
    /// by default the folder setup.sh fills, `index-data/assets` of the checkout this
    /// binary was built from, wherever --data-dir points. A model a command needs that
    /// is missing or does not load is an error (naming the flag that goes without it).
    #[arg(long, global = true, env = "TUNECLIP_MODELS", default_value_os_t = setup_models_dir())]
    pub(crate) models_dir: PathBuf,
    /// The embedding model: `default` (the learned model compiled into tuneclip),
    /// `handcrafted` (the four perceptual axes), or a trained model folder (with
    /// config.json and weights.bpk, from `tuneclip-train`). Ingest, serve and demo must
    /// agree: a snapshot built by one model is refused by another.
    #[arg(long, global = true, env = "TUNECLIP_MODEL")]
    pub(crate) model: Option<PathBuf>,
    /// A TOML file of settings: top-level keys for global flags, a table per command
    /// (`[serve]`, `[produce]`, ...), keys named as the flags. Flags and environment
    /// variables override it.
    #[arg(long, global = true, env = "TUNECLIP_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Vectors {
    Embedded,
    Milvus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MilvusAction {
    Upsert,
    Publish,
    Status,
    /// Run a Milvus 2.3.5 standalone on this machine (the set-up's binaries) with its
    /// state in `--data`, on 127.0.0.1 at --milvus-addr's port, until Ctrl-C.
    Local,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct MilvusArgs {
    /// The Milvus proxy, host:port.
    #[arg(long, env = "TUNECLIP_MILVUS_ADDR", default_value = "127.0.0.1:19530")]
    pub(crate) milvus_addr: String,
    /// Collection names start with it (`<prefix>_segments_<generation>`, alias
    /// `<prefix>_segments`).
    #[arg(long, env = "TUNECLIP_MILVUS_PREFIX", default_value = "tuneclip")]
    pub(crate) milvus_prefix: String,
}

impl MilvusArgs {
    pub(crate) fn backend(&self) -> tuneclip_milvus::MilvusBackend {
        tuneclip_milvus::MilvusBackend {
            addr: self.milvus_addr.clone(),
            prefix: self.milvus_prefix.clone(),
            timeout: std::time::Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Also render the winners to 9:16 MP4 on the server and fetch each (with its
        /// preview PNG) into this folder over gRPC.
        #[arg(long, value_name = "DIR")]
        render_to: Option<PathBuf>,
    },
}

/// Songs and videos to ingest.
#[derive(Debug, clap::Args)]
pub(crate) struct FileArgs {
    /// Song files or directories (searched recursively).
    #[arg(long, num_args = 1..)]
    pub(crate) songs: Vec<PathBuf>,
    /// Video files or directories (searched recursively).
    #[arg(long, num_args = 1..)]
    pub(crate) videos: Vec<PathBuf>,
    /// A manifest: one `song PATH` or `video PATH` per line (`#` comments, blank lines
    /// allowed; relative paths are relative to the manifest).
    #[arg(long)]
    pub(crate) manifest: Option<PathBuf>,
    /// Files analysed at once (0: one per core).
    #[arg(long, env = "TUNECLIP_WORKERS", default_value_t = 0)]
    pub(crate) workers: usize,
    /// Analyse only this share of the files, i/K: a deterministic 1/K chosen by each
    /// file's path as given (a manifest entry as written: use relative entries when the
    /// machines mount the media at different places). Run K of these (any machines,
    /// each its own --data-dir), then `tuneclip merge` their snapshots.
    #[arg(long, default_value = "0/1")]
    pub(crate) shard: tuneclip_milvus::Shard,
    /// Also run Basic Pitch (installed by setup.sh) over each song's highlight window
    /// for note features (pitch classes, note rate, polyphony, register): about 0.6 s
    /// more per song on one core.
    #[arg(long)]
    pub(crate) pitch: bool,
    #[command(flatten)]
    pub(crate) detectors: DetectorFlags,
}

/// The detectors a video analysis may go without.
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct DetectorFlags {
    /// Analyse videos without the face detector (no subject lock on faces); without
    /// this flag a missing face model is an error.
    #[arg(long)]
    pub(crate) no_faces: bool,
    /// Look for faces on the analysis frames only, not also on 960-px frames of the same
    /// decode: faster, but faces under ~200 px tall in 1080p are then missed.
    #[arg(long)]
    pub(crate) no_small_faces: bool,
    /// Analyse videos without the text detector (no subtitle bands or text share);
    /// without this flag a missing text model is an error.
    #[arg(long)]
    pub(crate) no_text: bool,
    /// Also run TransNetV2 (the learned shot-boundary model, on every frame at 48x27)
    /// and add the transitions the typed detector misses; costs several times the
    /// decode on a CPU.
    #[arg(long)]
    pub(crate) transnet: bool,
}

impl DetectorFlags {
    pub(crate) fn analysers(self, models: &Path, pitch: bool) -> Analysers {
        Analysers {
            models: models.to_path_buf(),
            faces: !self.no_faces,
            small_faces: !self.no_small_faces,
            text: !self.no_text,
            pitch,
            transnet: self.transnet,
        }
    }
}

impl FileArgs {
    pub(crate) fn analysers(&self, models: &Path) -> Analysers {
        self.detectors.analysers(models, self.pitch)
    }

    pub(crate) fn collect(&self) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
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
            tuneclip_ingest::keep_shard(&mut songs, self.shard);
            tuneclip_ingest::keep_shard(&mut videos, self.shard);
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
