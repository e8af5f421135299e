//! The `tuneclip` binary: `demo` (the whole path on a small catalogue), `ingest`, `add`,
//! `remove` and `merge` (songs + videos -> a published snapshot, sharded or not),
//! `milvus` (upsert / publish / status / a local Milvus), `serve` (the gRPC server,
//! review page and metrics), `query` (a gRPC client), `produce` and `review`
//! (background clips), and the single-file tools `scenes` and `reframe` (no
//! catalogue). Most flags can also come from a `TUNECLIP_*` environment variable or
//! the `--config` file. Each command wires library crates together and says what they
//! did; the rebuild's workflow (ingest or remove, then publish) is `tuneclip-ingest`'s.

mod args;
mod config;
mod demo;
mod milvus;
mod single;

use args::{Cli, Command, MilvusAction, MilvusArgs, Vectors};
pub(crate) use tuneclip_ingest::{
    Analysers, Mode, Named, RebuildJob, Rebuilt, checked, expand, read_manifest, setup_models_dir, snapshots_dir,
};

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tuneclip_index::{Index, Snapshot};
use tuneclip_model::Embedder;
use tuneclip_server::{Engine, IndexServiceClient, MatchServiceClient, ReframeServiceClient, ServerConfig};
use tuneclip_studio::{ProduceConfig, ProductionManifest, ReviewPage, ReviewStore};

/// The embedding model chosen by `--model` (the default learned model without it).
pub(crate) fn embedder(model: Option<&Path>) -> Result<Embedder> {
    match model {
        None => Ok(Embedder::default_learned()?),
        Some(p) if p == Path::new("default") => Ok(Embedder::default_learned()?),
        Some(p) if p == Path::new("handcrafted") => Ok(Embedder::Handcrafted),
        Some(dir) => Ok(Embedder::learned(dir)?),
    }
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
    fetch_to: Option<&Path>,
) -> Result<Vec<Row>> {
    let mut index =
        IndexServiceClient::connect(server.clone()).await.with_context(|| format!("cannot connect to {server}"))?;
    let mut matcher = MatchServiceClient::connect(server.clone()).await?;
    let mut reframer = ReframeServiceClient::connect(server.clone()).await?;
    if let Some(dir) = fetch_to {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let render = fetch_to.is_some();
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
            let output = match (&c.rendered, fetch_to) {
                (Some(rendered), Some(dir)) => {
                    let mp4 = fetch_render(&mut reframer, &rendered.render_id, dir).await?;
                    mp4.display().to_string()
                }
                _ => "-".into(),
            };
            rows.push(Row {
                song: resp.song_title.clone(),
                video: c.video_title,
                range: format!("{:.2}-{:.2}s", r.start_s, r.end_s),
                score: c.score,
                sync: c.sync,
                output,
            });
        }
    }
    Ok(rows)
}

/// Fetch a render's MP4 and preview PNG over gRPC into `dir` (as `<render id>.mp4` and
/// `.png`, each written whole or not at all); the MP4's path comes back.
async fn fetch_render(
    client: &mut ReframeServiceClient<tonic::transport::Channel>,
    render_id: &str,
    dir: &Path,
) -> Result<PathBuf> {
    use tuneclip_server::pb::{FetchRenderRequest, RenderFile};
    let failed = |s: tonic::Status| anyhow::anyhow!("FetchRender {render_id} failed: {} ({:?})", s.message(), s.code());
    for (file, ext) in [(RenderFile::Video, "mp4"), (RenderFile::Preview, "png")] {
        let req = FetchRenderRequest { render_id: render_id.to_string(), file: file as i32 };
        let mut stream = client.fetch_render(req).await.map_err(failed)?.into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await.map_err(failed)? {
            bytes.extend_from_slice(&chunk.data);
        }
        let path = dir.join(format!("{render_id}.{ext}"));
        tuneclip_core::fs::write_atomic(&path, &bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(dir.join(format!("{render_id}.mp4")))
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
    // Clips are ranked by score + 6 x sync (`tuneclip_core::sync::SYNC_WEIGHT`).
    println!("{:ws$}  {:wv$}  {:wr$}  {:>6}  {:>6}  output", "song", "video", "time range", "score", "sync");
    println!("{}", "-".repeat(ws + wv + wr + 24 + 40));
    for r in rows {
        let sync = r.sync.map_or_else(|| "-".to_string(), |s| format!("{s:.3}"));
        println!("{:ws$}  {:wv$}  {:wr$}  {:>6.3}  {:>6}  {}", r.song, r.video, r.range, r.score, sync, r.output);
    }
}

/// Ingest `songs` and `videos` against what `data` serves and publish them
/// ([`tuneclip_ingest::ingest_and_publish`]), saying what was analysed, reused, skipped
/// and published.
pub(crate) fn rebuild(job: &RebuildJob<'_>) -> Result<Rebuilt> {
    for (off, what) in [
        (!job.with.faces, "faces"),
        (job.with.faces && !job.with.small_faces, "small faces (960-px frames)"),
        (!job.with.text, "text (subtitles, text share)"),
    ] {
        if off {
            eprintln!("videos analysed without {what}, as asked");
        }
    }
    let done = tuneclip_ingest::ingest_and_publish(job)?;
    if let Some(stats) = done.stats {
        eprintln!(
            "ingest: {} analysed, {} reused unchanged, {} failed, {} song(s) without note features (Basic Pitch failed)",
            stats.analysed, stats.reused, stats.failed, stats.without_pitch
        );
        if done.transnet {
            eprintln!("ingest: {}", stats.transnet);
        }
        if let Some(staging) = done.staging.as_ref().filter(|_| stats.unstaged > 0) {
            eprintln!(
                "ingest: {} result(s) could not be kept in {} (an interrupted rebuild would analyse them again)",
                stats.unstaged,
                staging.display()
            );
        }
    }
    say_published(&done);
    Ok(done)
}

/// `ingest` (`Mode::Replace`) or `add` (`Mode::Add`) of the files given.
fn ingest_files(data: &Path, models: &Path, model: &Embedder, files: &args::FileArgs, mode: Mode) -> Result<()> {
    let (songs, videos) = files.collect()?;
    let with = files.analysers(models);
    let job = RebuildJob { data, model, songs: &songs, videos: &videos, mode, workers: files.workers, with: &with };
    rebuild(&job).map(|_| ())
}

/// What a publish did: files skipped and damaged, old snapshots removed, the snapshot
/// and its counts, where the failures are listed.
fn say_published(done: &Rebuilt) {
    for f in &done.failures {
        eprintln!("skipped {}: {}", f.path.display(), f.reason);
    }
    for (path, damage) in &done.damaged {
        eprintln!("damaged {}: {damage} (kept what decoded)", path.display());
    }
    for old in &done.pruned {
        eprintln!("removed old snapshot {}", old.display());
    }
    eprintln!(
        "published {} ({} songs, {} videos, {} segments, {} failures)",
        done.snapshot.display(),
        done.songs,
        done.videos,
        done.segments,
        done.failures.len()
    );
    if !done.failures.is_empty() {
        eprintln!("{} failed files listed in {}", done.failures.len(), done.report.display());
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
        Command::Ingest { files } => ingest_files(&cli.data_dir, &cli.models_dir, &model, &files, Mode::Replace),
        Command::Add { files } => ingest_files(&cli.data_dir, &cli.models_dir, &model, &files, Mode::Add),
        Command::Remove { songs, videos } => {
            let (done, removed) = tuneclip_ingest::remove_and_publish(&cli.data_dir, &songs, &videos)?;
            eprintln!("remove: {} songs, {} videos ({} asked)", removed.songs, removed.videos, removed.asked);
            say_published(&done);
            Ok(())
        }
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
            say_published(&tuneclip_ingest::publish(&cli.data_dir, &merged, None)?);
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
            let index = engine.index();
            let codes = if index.segment_search_codes() { " (walked on 8-bit codes, re-ranked exactly)" } else { "" };
            eprintln!("vectors searched by {}{codes}", index.segment_search_kind());
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
        Command::Query { server, song, clip_s, k, render_to } => {
            print_table(&query_all(server, song, k, clip_s, render_to.as_deref()).await?);
            Ok(())
        }
    }
}
