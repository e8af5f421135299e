//! The rebuild workflow: files (named, in folders, or in a manifest) ingested against
//! what is served, published as a new snapshot with its report, old snapshots pruned;
//! and removals published the same way. Each step returns what it did ([`Rebuilt`]);
//! saying it is the caller's.

use crate::analyse::IngestConfig;
use crate::run::{IngestStats, clear_staging, ingest_incremental};
use std::path::{Path, PathBuf};
use tuneclip_index::{Catalogue, Failure, IndexError, Snapshot};
use tuneclip_model::Embedder;
use tuneclip_vision::FaceDetectorConfig;
use tuneclip_vision::transnet::TransNetConfig;

/// Why a rebuild, a removal or a publish stopped. Files that fail to analyse do not stop
/// one: they are the catalogue's [`Failure`]s.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RebuildError {
    /// A manifest line that is not `song PATH` or `video PATH`.
    #[error("{path}:{line}: {reason}")]
    Manifest { path: PathBuf, line: usize, reason: String },
    /// A file or folder that could not be read or written.
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    /// A detector asked for whose model file is not there.
    #[error(
        "{what}: no model at {} (run setup.sh, or point --models-dir / TUNECLIP_MODELS at the folder it filled); \
         {flag} goes on without {what}",
        model.display()
    )]
    MissingModel { what: String, model: PathBuf, flag: String },
    /// A detector whose model is there but does not load.
    #[error("{what}: {reason}; {flag} goes on without {what}")]
    BadModel { what: String, reason: String, flag: String },
    /// An add (`Mode::Add`) where a snapshot is served but its catalogue cannot be read.
    #[error("the served snapshot cannot be read, so nothing can be added to it; rebuild with `tuneclip ingest`")]
    ServedUnreadable,
    #[error("nothing to remove: give --songs or --videos (ids or source paths)")]
    NothingToRemove,
    #[error("none of {0} ids or paths is in the served catalogue; nothing published")]
    NoneToRemove(usize),
    /// Reading the served snapshot, publishing or pruning.
    #[error(transparent)]
    Index(#[from] IndexError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RebuildError + '_ {
    move |source| RebuildError::Io { path: path.to_path_buf(), source }
}

/// A file to ingest and the name it is sharded by.
pub type Named = (PathBuf, String);

/// Songs and videos of a manifest (`song PATH` / `video PATH` lines): each resolved
/// path with its entry as written.
pub fn read_manifest(path: &Path) -> Result<(Vec<Named>, Vec<Named>), RebuildError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let (mut songs, mut videos) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = |reason: String| RebuildError::Manifest { path: path.to_path_buf(), line: n + 1, reason };
        let (kind, file) = line
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad(format!("expected `song PATH` or `video PATH`, found {line:?}")))?;
        let file = (base.join(file.trim()), file.trim().to_string());
        match kind {
            "song" => songs.push(file),
            "video" => videos.push(file),
            other => return Err(bad(format!("unknown kind {other:?} (expected song or video)"))),
        }
    }
    Ok((songs, videos))
}

/// Keep the files that are `shard`'s ([`tuneclip_core::Shard::owns`] of
/// `key_of(["file", name])`): each machine of a sharded rebuild ingests a deterministic
/// 1/K of the files by the names they were given under (the same on every machine).
pub fn keep_shard(files: &mut Vec<Named>, shard: tuneclip_core::Shard) {
    if shard.count > 1 {
        files.retain(|(_, name)| shard.owns(tuneclip_core::shard::key_of(&["file", name])));
    }
}

/// Snapshots kept after a publish (the current one is always kept).
const KEEP_SNAPSHOTS: usize = 3;

/// Where a data folder keeps its snapshots.
pub fn snapshots_dir(data: &Path) -> PathBuf {
    data.join("snapshots")
}

/// Files named, and every file under the directories named (recursively, sorted,
/// hidden entries skipped).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, RebuildError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(io(p))?
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
pub enum Mode {
    /// The catalogue becomes exactly the files given.
    Replace,
    /// The files given are added to what is served.
    Add,
}

/// What an ingest analyses besides the picture and the sound: the models it needs
/// (from `models`) and the ones it was told to go without.
#[derive(Debug, Clone)]
pub struct Analysers {
    pub models: PathBuf,
    pub faces: bool,
    /// With `faces`: also scan larger frames for small faces (off: `--no-small-faces`).
    pub small_faces: bool,
    pub text: bool,
    pub pitch: bool,
    /// TransNetV2 beside the typed transition detector (opt-in: `--transnet`).
    pub transnet: bool,
}

impl Analysers {
    /// An ingest's settings with the detectors asked for, each loaded once here so that
    /// a missing or broken model stops the command before any work (and says which flag
    /// goes without it).
    pub fn ingest_config(&self, model: &Embedder) -> Result<IngestConfig, RebuildError> {
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
        let small_faces_px = if self.small_faces { tuneclip_vision::small_faces::DETAIL_WIDTH_PX } else { 0 };
        Ok(IngestConfig {
            faces,
            small_faces_px,
            text,
            pitch,
            transnet,
            model: model.clone(),
            ..IngestConfig::default()
        })
    }
}

/// The folder setup.sh fills with the ONNX Runtime and models: `index-data/assets` of
/// the checkout this binary was built from.
pub fn setup_models_dir() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap_or(Path::new("."));
    root.join("index-data/assets")
}

/// `config` when `wanted`, after loading it once (`load`): a model that is missing or
/// does not load is an error naming the file, how to install it, and `flag`.
pub fn checked<C, T, E: std::fmt::Display>(
    wanted: bool,
    config: C,
    model: &Path,
    what: &str,
    flag: &str,
    load: impl Fn(&C) -> std::result::Result<T, E>,
) -> Result<Option<C>, RebuildError> {
    if !wanted {
        return Ok(None);
    }
    if !model.is_file() {
        return Err(RebuildError::MissingModel { what: what.into(), model: model.to_path_buf(), flag: flag.into() });
    }
    load(&config).map_err(|e| RebuildError::BadModel {
        what: what.into(),
        reason: e.to_string(),
        flag: flag.into(),
    })?;
    Ok(Some(config))
}

/// What a rebuild, a removal or a publish did.
#[derive(Debug, Clone)]
pub struct Rebuilt {
    /// The snapshot published.
    pub snapshot: PathBuf,
    /// Its quarantine report ([`write_report`]).
    pub report: PathBuf,
    /// Old snapshots removed after it.
    pub pruned: Vec<PathBuf>,
    /// What the ingest did (`None` for a removal or a merge: nothing analysed).
    pub stats: Option<IngestStats>,
    /// Whether TransNetV2 ran beside the typed detector (its counts are in `stats`).
    pub transnet: bool,
    /// The staging folder results were kept in (`stats.unstaged` could not be).
    pub staging: Option<PathBuf>,
    pub songs: usize,
    pub videos: usize,
    pub segments: usize,
    /// Files that could not be ingested, and why.
    pub failures: Vec<Failure>,
    /// Videos kept despite damage, with what was damaged.
    pub damaged: Vec<(PathBuf, String)>,
}

/// One rebuild: what [`ingest_and_publish`] is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct RebuildJob<'a> {
    /// The data folder (snapshots, staging, reports).
    pub data: &'a Path,
    pub model: &'a Embedder,
    /// Song and video files, or folders of them ([`expand`]).
    pub songs: &'a [PathBuf],
    pub videos: &'a [PathBuf],
    pub mode: Mode,
    /// Files analysed at once (0: one per core).
    pub workers: usize,
    pub with: &'a Analysers,
}

/// Ingest the job's songs and videos into its data folder against what it serves
/// (unchanged content reused, results staged so a killed rebuild resumes), publish the
/// catalogue and its report, prune old snapshots.
pub fn ingest_and_publish(job: &RebuildJob<'_>) -> Result<Rebuilt, RebuildError> {
    let RebuildJob { data, model, songs, videos, mode, workers, with } = *job;
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
        return Err(RebuildError::ServedUnreadable);
    }
    let (mut catalogue, stats) = ingest_incremental(&expand(songs)?, &expand(videos)?, &cfg, previous.as_ref());
    if mode == Mode::Add
        && let Some(prev) = &previous
    {
        catalogue.keep_missing_from(prev);
    }
    let mut done = publish(data, &catalogue, Some(stats))?;
    clear_staging(&staging)?;
    done.transnet = cfg.transnet.is_some();
    done.staging = Some(staging);
    Ok(done)
}

/// Publish `catalogue` with its report (`stats`: what the ingest that made it did),
/// prune old snapshots.
pub fn publish(data: &Path, catalogue: &Catalogue, stats: Option<IngestStats>) -> Result<Rebuilt, RebuildError> {
    let opts = tuneclip_index::PublishOptions { progress: true, ..Default::default() };
    let snapshot = Snapshot::publish_with(&snapshots_dir(data), catalogue, &opts)?;
    let pruned = Snapshot::prune(&snapshots_dir(data), KEEP_SNAPSHOTS)?;
    let report = write_report(data, &snapshot, catalogue, stats)?;
    Ok(Rebuilt {
        snapshot,
        report,
        pruned,
        stats,
        transnet: false,
        staging: None,
        songs: catalogue.songs.len(),
        videos: catalogue.videos.len(),
        segments: catalogue.segments.len(),
        failures: catalogue.failures.clone(),
        damaged: catalogue
            .videos
            .iter()
            .filter(|v| !v.analysis.damage.is_clean())
            .map(|v| (v.path.clone(), v.analysis.damage.to_string()))
            .collect(),
    })
}

/// The quarantine report of a rebuild: `reports/<snapshot>.json` with every failed
/// file and why, the videos kept despite damage (skipped packets, truncation), and the
/// counts.
pub fn write_report(
    data: &Path,
    snapshot: &Path,
    catalogue: &Catalogue,
    stats: Option<IngestStats>,
) -> Result<PathBuf, RebuildError> {
    let dir = data.join("reports");
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let name = snapshot.file_name().map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
    let manifest = Snapshot::manifest(snapshot)?;
    let report = serde_json::json!({
        "snapshot": name,
        // How segments are searched: an HNSW graph (or every segment scored), and
        // whether the graph walks 8-bit codes (re-ranked exactly).
        "segment_search": {
            "graph": manifest.segment_graph.is_some(),
            "codes": manifest.segment_codes,
        },
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
    let bytes = serde_json::to_vec_pretty(&report).map_err(|e| io(&path)(e.into()))?;
    tuneclip_core::fs::write_atomic(&path, &bytes).map_err(|e| RebuildError::Io { path: e.path, source: e.source })?;
    Ok(path)
}

/// Remove songs and videos (ids or source paths) from the served catalogue and publish
/// the rest; `Rebuilt::songs` and `videos` are what is left, the removed ids are
/// returned beside it.
pub fn remove_and_publish(
    data: &Path,
    songs: &[String],
    videos: &[String],
) -> Result<(Rebuilt, Removed), RebuildError> {
    if songs.is_empty() && videos.is_empty() {
        return Err(RebuildError::NothingToRemove);
    }
    let mut catalogue = Snapshot::current_catalogue(&snapshots_dir(data))?;
    let (gone_songs, gone_videos) = (catalogue.remove_songs(songs), catalogue.remove_videos(videos));
    let asked = songs.len() + videos.len();
    if gone_songs.len() + gone_videos.len() == 0 {
        return Err(RebuildError::NoneToRemove(asked));
    }
    let done = publish(data, &catalogue, None)?;
    Ok((done, Removed { songs: gone_songs.len(), videos: gone_videos.len(), asked }))
}

/// What a removal took out: songs and videos found, of the ids or paths asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removed {
    pub songs: usize,
    pub videos: usize,
    pub asked: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_names_its_files_beside_it_and_its_bad_lines_by_number() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("list.txt");
        std::fs::write(&path, "# catalogue\nsong a.mp3\n\nvideo  clips/b.mp4\n").expect("write");
        let (songs, videos) = read_manifest(&path).expect("manifest");
        assert_eq!(songs, vec![(dir.path().join("a.mp3"), "a.mp3".to_string())]);
        assert_eq!(videos, vec![(dir.path().join("clips/b.mp4"), "clips/b.mp4".to_string())]);

        std::fs::write(&path, "song a.mp3\npicture b.mp4\n").expect("write");
        let e = read_manifest(&path).expect_err("unknown kind");
        assert!(matches!(&e, RebuildError::Manifest { line: 2, .. }), "{e:?}");
        assert!(e.to_string().contains("list.txt:2: unknown kind \"picture\""), "{e}");
        std::fs::write(&path, "song\n").expect("write");
        assert!(read_manifest(&path).expect_err("no path").to_string().contains("expected `song PATH`"));
        let missing = dir.path().join("absent.txt");
        assert!(matches!(read_manifest(&missing), Err(RebuildError::Io { path, .. }) if path == missing));
    }

    #[test]
    fn folders_expand_to_their_files_sorted_without_hidden_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["b.mp4", "a/c.mp4", "a/.hidden.mp4", ".git/x"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, b"").expect("write");
        }
        let got = expand(&[dir.path().to_path_buf(), dir.path().join("b.mp4")]).expect("expand");
        let want: Vec<PathBuf> = ["a/c.mp4", "b.mp4", "b.mp4"].iter().map(|f| dir.path().join(f)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn shards_split_the_files_by_name_whole_and_without_overlap() {
        let files: Vec<Named> = (0..40).map(|i| (PathBuf::from(format!("/m{i}/v.mp4")), format!("v{i}.mp4"))).collect();
        let mut parts = Vec::new();
        for index in 0..3 {
            let mut mine = files.clone();
            keep_shard(&mut mine, tuneclip_core::Shard { index, count: 3 });
            assert!(!mine.is_empty() && mine.len() < files.len(), "shard {index}: {}", mine.len());
            parts.extend(mine);
        }
        parts.sort();
        let mut all = files.clone();
        all.sort();
        assert_eq!(parts, all, "every file in exactly one shard");
        // One shard of one keeps everything.
        let mut one = files.clone();
        keep_shard(&mut one, tuneclip_core::Shard::all());
        assert_eq!(one, files);
    }

    #[test]
    fn removing_nothing_or_what_is_not_served_publishes_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(matches!(remove_and_publish(dir.path(), &[], &[]), Err(RebuildError::NothingToRemove)));
        // No snapshot at all: the index says so, naming the folder.
        let e = remove_and_publish(dir.path(), &["x".into()], &[]).expect_err("no snapshot");
        assert!(matches!(e, RebuildError::Index(IndexError::NoSnapshot(_))), "{e:?}");
        let empty = Catalogue {
            model_version: Embedder::Handcrafted.version(),
            dim: Embedder::Handcrafted.dim(),
            songs: Vec::new(),
            videos: Vec::new(),
            segments: Vec::new(),
            failures: Vec::new(),
        };
        let first = publish(dir.path(), &empty, None).expect("publish");
        let e = remove_and_publish(dir.path(), &["x".into()], &["y".into()]).expect_err("none served");
        assert!(matches!(e, RebuildError::NoneToRemove(2)), "{e:?}");
        assert_eq!(Snapshot::current(&snapshots_dir(dir.path())).expect("current"), first.snapshot);
        assert!(first.report.is_file());
    }
}
