//! Sharded production: `produce --shard i/K` makes the clips of a deterministic 1/K of
//! the songs (each shard resumable in its own folder, on its own machine), and
//! [`merge`] joins the K folders into one production the review page reads.

use crate::produce::{MANIFEST_FORMAT, ProductionManifest};
use crate::{Result, StudioError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// Share `index` of `count` of a production's songs ([`Shard::holds`] by song id).
pub use tuneclip_core::Shard;

/// What [`merge`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub manifest: ProductionManifest,
    /// Clips that show a shot another shard's clip shows too (shards cannot see each
    /// other's choices); each is sent to review with that reason.
    pub shared_shots: usize,
}

/// Join the productions in `dirs` (the K shards of one run, or any productions of one
/// snapshot, model and clip length) into `out`: one manifest, every clip and preview
/// linked (copied where a link cannot be made) under `out/clips`. Refused, naming the
/// folder and what differs: a folder without a manifest, another snapshot, model or
/// clip length, shards of different counts, a shard missing or given twice, a song in
/// two folders, `out` being one of `dirs`. A clip sharing a shot with another folder's
/// clip goes to review, counted in [`Merged::shared_shots`].
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Merged> {
    let refuse = |path: &Path, reason: String| StudioError::Manifest { path: path.to_path_buf(), reason };
    let first_dir = dirs.first().ok_or_else(|| StudioError::Config("merge: no production folders given".into()))?;
    let parts: Vec<(PathBuf, ProductionManifest)> =
        dirs.iter().map(|d| ProductionManifest::read(d).map(|m| (d.clone(), m))).collect::<Result<_>>()?;
    let same = |a: &Path, b: &Path| a.canonicalize().ok().is_some_and(|a| b.canonicalize().ok() == Some(a));
    if dirs.iter().any(|d| same(d, out)) {
        return Err(refuse(out, "the merged production must go to a folder of its own, not one of its parts".into()));
    }
    let head = &parts[0].1;
    for (dir, m) in &parts[1..] {
        for (field, a, b) in
            [("snapshot", &m.snapshot, &head.snapshot), ("model_version", &m.model_version, &head.model_version)]
        {
            if a != b {
                return Err(refuse(dir, format!("{field} {a:?} differs from {}'s {b:?}", first_dir.display())));
            }
        }
        if (m.clip_s - head.clip_s).abs() > 1e-9 {
            return Err(refuse(
                dir,
                format!("clip_s {} differs from {}'s {}", m.clip_s, first_dir.display(), head.clip_s),
            ));
        }
    }
    let shards: Vec<Option<Shard>> = parts.iter().map(|(_, m)| m.shard).collect();
    if shards.iter().any(Option::is_some) {
        let count = shards.iter().flatten().map(|s| s.count).next().unwrap_or(1);
        let mut seen = HashSet::new();
        for ((dir, _), s) in parts.iter().zip(&shards) {
            match s {
                None => return Err(refuse(dir, "not a shard, merged with shards".into())),
                Some(s) if s.count != count => {
                    return Err(refuse(dir, format!("shard {s} of a run of {} shards, not {count}", s.count)));
                }
                Some(s) if !seen.insert(s.index) => return Err(refuse(dir, format!("shard {s} given twice"))),
                Some(_) => {}
            }
        }
        let missing: Vec<String> = (0..count).filter(|i| !seen.contains(i)).map(|i| format!("{i}/{count}")).collect();
        if !missing.is_empty() {
            return Err(refuse(first_dir, format!("shards missing from the merge: {}", missing.join(", "))));
        }
    }
    let clips_dir = out.join("clips");
    std::fs::create_dir_all(&clips_dir).map_err(|e| StudioError::Io { path: clips_dir.clone(), source: e })?;
    let mut merged = ProductionManifest {
        format: MANIFEST_FORMAT,
        snapshot: head.snapshot.clone(),
        model_version: head.model_version.clone(),
        clip_s: head.clip_s,
        shard: None,
        clips: Vec::new(),
        failures: Vec::new(),
    };
    let mut song_dir: HashMap<String, &Path> = HashMap::new();
    // Which folder first showed each shot.
    let mut shot_owner: HashMap<(String, u32), usize> = HashMap::new();
    let mut shared_shots = 0;
    for (k, (dir, m)) in parts.iter().enumerate() {
        let songs = m.clips.iter().map(|c| &c.song_id).chain(m.failures.iter().map(|f| &f.song_id));
        for song in songs.collect::<HashSet<_>>() {
            if let Some(other) = song_dir.insert(song.clone(), dir) {
                return Err(refuse(dir, format!("song {song} is in {} too", other.display())));
            }
        }
        for c in &m.clips {
            for f in [&c.file, &c.preview] {
                link_or_copy(&dir.join(f), &out.join(f))?;
            }
            let mut c = c.clone();
            let shots: Vec<(String, u32)> = c.segments.iter().map(|&s| (c.video_id.clone(), s)).collect();
            if shots.iter().any(|s| shot_owner.get(s).is_some_and(|&o| o != k)) {
                shared_shots += 1;
                c.status = crate::ClipStatus::NeedsReview;
                c.review_reasons.push("shares shots with a clip of another shard".into());
            }
            for s in shots {
                shot_owner.entry(s).or_insert(k);
            }
            merged.clips.push(c);
        }
        merged.failures.extend(m.failures.iter().cloned());
    }
    merged.write(out)?;
    Ok(Merged { manifest: merged, shared_shots })
}

/// Hard-link `from` to `to` (replacing `to`), or copy it where links cannot be made
/// (another file system).
fn link_or_copy(from: &Path, to: &Path) -> Result<()> {
    if !from.is_file() {
        return Err(StudioError::Manifest {
            path: from.to_path_buf(),
            reason: "listed in its production's manifest but missing".into(),
        });
    }
    let _ = std::fs::remove_file(to);
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(|_| ()).map_err(|e| StudioError::Io { path: to.to_path_buf(), source: e })
}
