use crate::{Catalogue, IndexError, Result, io_err};
use hnsw_rs::prelude::{AnnT, DistDot, Hnsw};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const CATALOGUE_FILE: &str = "catalogue.json";
pub(crate) const MANIFEST_FILE: &str = "manifest.json";
pub(crate) const HNSW_BASENAME: &str = "segments";
const CURRENT: &str = "CURRENT";

/// HNSW build parameters (hnsw_rs: `file_dump` requires 16 layers).
pub(crate) const HNSW_M: usize = 16;
pub(crate) const HNSW_LAYERS: usize = 16;
pub(crate) const HNSW_EF_CONSTRUCTION: usize = 200;

/// What a snapshot directory holds, with a sha256 for every file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub name: String,
    pub model_version: String,
    pub dim: usize,
    pub songs: usize,
    pub videos: usize,
    pub segments: usize,
    /// hnsw_rs dump basename (`<basename>.hnsw.graph`, `<basename>.hnsw.data`); absent
    /// when the catalogue has no segments.
    pub hnsw_basename: Option<String>,
    pub files: BTreeMap<String, String>,
}

/// Publishing and locating snapshots under a root directory (`index-data/snapshots`).
#[derive(Debug, Clone)]
pub struct Snapshot;

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Crash-test hook: abort the process at the named point of a publish when
/// `TUNECLIP_FAILPOINT` names it, as a power cut or `kill -9` would. Tests use it to
/// prove that no interruption leaves a half-published snapshot visible.
fn failpoint(name: &str) {
    if std::env::var("TUNECLIP_FAILPOINT").is_ok_and(|v| v == name) {
        std::process::abort();
    }
}

/// Publish time (ms) encoded in a snapshot name `snap-<ms>-<pid>-<seq>`.
fn snap_time(name: &str) -> u128 {
    name.split('-').nth(1).and_then(|t| t.parse().ok()).unwrap_or(0)
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).map_err(io_err(path))?;
    f.write_all(bytes).map_err(io_err(path))?;
    f.sync_all().map_err(io_err(path))
}

fn sync_dir(dir: &Path) -> Result<()> {
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// Unit-norm vectors, shrunk by one part in a million so that rounding never makes a
/// self-dot exceed 1 (hnsw_rs's `DistDot` asserts `1 - dot >= 0`).
pub(crate) fn for_dot(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(f32::MIN_POSITIVE);
    v.iter().map(|x| x / n * (1.0 - 1e-6)).collect()
}

impl Snapshot {
    /// Write `catalogue` as a new snapshot under `root` and make it current.
    ///
    /// Everything is written into a hidden temporary directory, fsynced, renamed into
    /// place, and only then is `CURRENT` replaced by rename. A crash at any point leaves
    /// the previous snapshot current and intact.
    pub fn publish(root: &Path, catalogue: &Catalogue) -> Result<PathBuf> {
        fs::create_dir_all(root).map_err(io_err(root))?;
        // Unique per publish: time, process, and a per-process sequence number.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "snap-{}-{}-{}",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis()),
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let tmp = root.join(format!(".tmp-{name}"));
        fs::create_dir_all(&tmp).map_err(io_err(&tmp))?;

        let cat_json = serde_json::to_vec(catalogue)
            .map_err(|e| IndexError::Json { path: tmp.join(CATALOGUE_FILE), reason: e.to_string() })?;
        write_synced(&tmp.join(CATALOGUE_FILE), &cat_json)?;
        failpoint("publish:catalogue-written");

        let hnsw_basename = if catalogue.segments.is_empty() {
            None
        } else {
            let vectors: Vec<Vec<f32>> = catalogue.segments.iter().map(|s| for_dot(&s.embedding)).collect();
            let hnsw: Hnsw<f32, DistDot> =
                Hnsw::new(HNSW_M, vectors.len(), HNSW_LAYERS, HNSW_EF_CONSTRUCTION, DistDot {});
            for (i, v) in vectors.iter().enumerate() {
                hnsw.insert((v.as_slice(), i));
            }
            let base =
                hnsw.file_dump(&tmp, HNSW_BASENAME).map_err(|e| IndexError::Hnsw(format!("dump failed: {e}")))?;
            for ext in ["hnsw.graph", "hnsw.data"] {
                let p = tmp.join(format!("{base}.{ext}"));
                fs::File::open(&p).and_then(|f| f.sync_all()).map_err(io_err(&p))?;
            }
            Some(base)
        };

        let mut files = BTreeMap::new();
        for entry in fs::read_dir(&tmp).map_err(io_err(&tmp))? {
            let entry = entry.map_err(io_err(&tmp))?;
            let fname = entry.file_name().to_string_lossy().into_owned();
            files.insert(fname, sha256_file(&entry.path())?);
        }
        let manifest = Manifest {
            format_version: FORMAT_VERSION,
            name: name.clone(),
            model_version: catalogue.model_version.clone(),
            dim: catalogue.dim,
            songs: catalogue.songs.len(),
            videos: catalogue.videos.len(),
            segments: catalogue.segments.len(),
            hnsw_basename,
            files,
        };
        let m_json = serde_json::to_vec_pretty(&manifest)
            .map_err(|e| IndexError::Json { path: tmp.join(MANIFEST_FILE), reason: e.to_string() })?;
        failpoint("publish:graph-written");
        write_synced(&tmp.join(MANIFEST_FILE), &m_json)?;
        sync_dir(&tmp)?;

        let dir = root.join(&name);
        fs::rename(&tmp, &dir).map_err(io_err(&dir))?;
        failpoint("publish:snapshot-renamed");
        let cur_tmp = root.join(format!(".{CURRENT}.tmp"));
        write_synced(&cur_tmp, name.as_bytes())?;
        fs::rename(&cur_tmp, root.join(CURRENT)).map_err(io_err(root.join(CURRENT)))?;
        sync_dir(root)?;
        Ok(dir)
    }

    /// Directory of the current snapshot under `root`.
    pub fn current(root: &Path) -> Result<PathBuf> {
        let p = root.join(CURRENT);
        let name = fs::read_to_string(&p).map_err(|_| IndexError::NoSnapshot(root.to_path_buf()))?;
        let name = name.trim();
        if name.is_empty() || name.contains('/') || name.starts_with('.') {
            return Err(IndexError::Corrupt {
                dir: root.to_path_buf(),
                reason: format!("CURRENT names {name:?}, not a snapshot directory"),
            });
        }
        Ok(root.join(name))
    }

    /// Remove old snapshots under `root`, keeping the `keep` newest (by name, which
    /// starts with the publish time) and always the current one. Leftover temporary
    /// directories of interrupted publishes are removed too. Returns what was removed.
    pub fn prune(root: &Path, keep: usize) -> Result<Vec<PathBuf>> {
        let current = Self::current(root).ok();
        let mut snaps = Vec::new();
        let mut removed = Vec::new();
        for entry in fs::read_dir(root).map_err(io_err(root))? {
            let path = entry.map_err(io_err(root))?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if name.starts_with(".tmp-") && Some(&path) != current.as_ref() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                removed.push(path);
            } else if name.starts_with("snap-") && path.is_dir() {
                snaps.push((snap_time(&name), name, path));
            }
        }
        snaps.sort();
        let excess = snaps.len().saturating_sub(keep);
        for (_, _, path) in snaps.into_iter().take(excess) {
            if Some(&path) != current.as_ref() {
                fs::remove_dir_all(&path).map_err(io_err(&path))?;
                removed.push(path);
            }
        }
        Ok(removed)
    }

    /// The catalogue of a snapshot directory (call [`Snapshot::verify`] first to check it).
    pub fn read_catalogue(dir: &Path) -> Result<Catalogue> {
        let path = dir.join(CATALOGUE_FILE);
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        serde_json::from_slice(&bytes).map_err(|e| IndexError::Json { path, reason: e.to_string() })
    }

    /// The verified catalogue of the current snapshot under `root`, if there is one.
    pub fn current_catalogue(root: &Path) -> Result<Catalogue> {
        let dir = Self::current(root)?;
        Self::verify(&dir)?;
        Self::read_catalogue(&dir)
    }

    /// Read and verify a snapshot's manifest: every listed file must exist with its sha256.
    pub fn verify(dir: &Path) -> Result<Manifest> {
        let mpath = dir.join(MANIFEST_FILE);
        let bytes = fs::read(&mpath).map_err(io_err(&mpath))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| IndexError::Json { path: mpath.clone(), reason: e.to_string() })?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(IndexError::Corrupt {
                dir: dir.to_path_buf(),
                reason: format!("format version {} (expected {FORMAT_VERSION})", manifest.format_version),
            });
        }
        for (file, expected) in &manifest.files {
            let found = sha256_file(&dir.join(file))?;
            if &found != expected {
                return Err(IndexError::Checksum {
                    dir: dir.to_path_buf(),
                    file: file.clone(),
                    expected: expected.clone(),
                    found,
                });
            }
        }
        Ok(manifest)
    }
}
