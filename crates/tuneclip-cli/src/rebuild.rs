//! The rebuild workflow: files (named, in folders, or in a manifest) ingested against
//! what is served, published as a new snapshot with its report, old snapshots pruned;
//! and removals published the same way. What belongs in an ingest crate below the CLI
//! once one exists; here it is one module, apart from argument parsing.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tuneclip_index::{IngestConfig, Snapshot, ingest_incremental};
use tuneclip_model::Embedder;
use tuneclip_vision::FaceDetectorConfig;
use tuneclip_vision::transnet::TransNetConfig;

/// A file to ingest and the name it is sharded by.
pub(crate) type Named = (PathBuf, String);

/// Songs and videos of a manifest (`song PATH` / `video PATH` lines): each resolved
/// path with its entry as written.
pub(crate) fn read_manifest(path: &Path) -> Result<(Vec<Named>, Vec<Named>)> {
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
pub(crate) fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
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
pub(crate) fn setup_models_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap_or(Path::new("."));
    root.join("index-data/assets")
}

/// `config` when `wanted`, after loading it once (`load`): a model that is missing or
/// does not load is an error naming the file, how to install it, and `flag`.
pub(crate) fn checked<C, T, E: std::fmt::Display>(
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
pub(crate) fn publish(data: &Path, catalogue: &tuneclip_index::Catalogue) -> Result<PathBuf> {
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
pub(crate) fn write_report(
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
pub(crate) fn remove_and_publish(data: &Path, songs: &[String], videos: &[String]) -> Result<PathBuf> {
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
