//! Review decisions, stored durably in SQLite (WAL, synchronous FULL: a decision the
//! page confirmed survives a crash or restart). Every decision is kept; the latest one
//! per clip is in force. The store keeps the decisions in force in memory as well, so
//! the gRPC path reads them without touching the database.

use crate::{Result, StudioError};
use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use tuneclip_core::TimeRange;

/// A reviewer's verdict on a produced clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Approved,
    Rejected,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "approved" | "approve" => Some(Self::Approved),
            "rejected" | "reject" => Some(Self::Rejected),
            _ => None,
        }
    }
}

/// What a decision is about: one produced clip, a window of a video for a song.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipRef {
    pub clip_id: String,
    pub song_id: String,
    pub song_path: PathBuf,
    /// Where the song's window under the clip starts.
    pub song_start_s: f64,
    pub video_id: String,
    pub video_path: PathBuf,
    pub range: TimeRange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub clip: ClipRef,
    pub verdict: Verdict,
    pub reason: String,
    /// Seconds since the Unix epoch.
    pub decided_at: i64,
}

pub use tuneclip_core::HardNegative;

/// Longest reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 500;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS decisions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    clip_id TEXT NOT NULL,
    song_id TEXT NOT NULL,
    song_path TEXT NOT NULL,
    song_start_s REAL NOT NULL,
    video_id TEXT NOT NULL,
    video_path TEXT NOT NULL,
    start_s REAL NOT NULL,
    end_s REAL NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('approved', 'rejected')),
    reason TEXT NOT NULL,
    decided_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_by_clip ON decisions (clip_id, seq);
";

/// The review database.
#[derive(Debug)]
pub struct ReviewStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    in_force: RwLock<Vec<Decision>>,
}

fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> StudioError + '_ {
    move |e| StudioError::Database { path: path.to_path_buf(), reason: e.to_string() }
}

impl ReviewStore {
    /// Open (or create) the database at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StudioError::Io { path: dir.to_path_buf(), source: e })?;
        }
        let err = db_error(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(&err)?;
        conn.execute_batch(SCHEMA).map_err(&err)?;
        let store = Self { path: path.to_path_buf(), conn: Mutex::new(conn), in_force: RwLock::new(Vec::new()) };
        store.refresh()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-read the decisions in force from the database.
    pub fn refresh(&self) -> Result<()> {
        let err = db_error(&self.path);
        let conn = self.conn();
        let mut stmt = conn
            .prepare(
                "SELECT clip_id, song_id, song_path, video_id, video_path, start_s, end_s, verdict, reason, decided_at, song_start_s
                 FROM decisions d WHERE seq = (SELECT MAX(seq) FROM decisions WHERE clip_id = d.clip_id)
                 ORDER BY seq",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map([], |r| {
                let verdict: String = r.get(7)?;
                Ok(Decision {
                    clip: ClipRef {
                        clip_id: r.get(0)?,
                        song_id: r.get(1)?,
                        song_path: PathBuf::from(r.get::<_, String>(2)?),
                        song_start_s: r.get(10)?,
                        video_id: r.get(3)?,
                        video_path: PathBuf::from(r.get::<_, String>(4)?),
                        range: TimeRange::new(r.get(5)?, r.get(6)?),
                    },
                    verdict: Verdict::parse(&verdict).unwrap_or(Verdict::Rejected),
                    reason: r.get(8)?,
                    decided_at: r.get(9)?,
                })
            })
            .map_err(&err)?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(&err)?;
        *self.in_force.write().unwrap_or_else(|e| e.into_inner()) = rows;
        Ok(())
    }

    /// Record a verdict on `clip`; it replaces any earlier one on the same clip.
    pub fn decide(&self, clip: &ClipRef, verdict: Verdict, reason: &str) -> Result<Decision> {
        let reason: String = reason.trim().chars().take(MAX_REASON_CHARS).collect();
        if verdict == Verdict::Rejected && reason.is_empty() {
            return Err(StudioError::InvalidDecision("reason: required when rejecting a clip".into()));
        }
        let decided_at =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.conn()
            .execute(
                "INSERT INTO decisions (clip_id, song_id, song_path, video_id, video_path, start_s, end_s, verdict, reason, decided_at, song_start_s)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![
                    clip.clip_id,
                    clip.song_id,
                    clip.song_path.to_string_lossy(),
                    clip.video_id,
                    clip.video_path.to_string_lossy(),
                    clip.range.start_s,
                    clip.range.end_s,
                    verdict.as_str(),
                    reason,
                    decided_at,
                    clip.song_start_s
                ],
            )
            .map_err(db_error(&self.path))?;
        self.refresh()?;
        Ok(Decision { clip: clip.clone(), verdict, reason, decided_at })
    }

    /// The decisions in force (the latest per clip), oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        self.in_force.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The decision in force on one clip.
    pub fn decision(&self, clip_id: &str) -> Option<Decision> {
        self.in_force.read().unwrap_or_else(|e| e.into_inner()).iter().find(|d| d.clip.clip_id == clip_id).cloned()
    }

    /// Video windows rejected for any song: a rejected clip is never served again.
    pub fn rejected_ranges(&self) -> Vec<(String, TimeRange)> {
        self.ranges(|d| d.verdict == Verdict::Rejected)
    }

    /// Video windows approved for `song_id`: preferred for that song.
    pub fn approved_ranges(&self, song_id: &str) -> Vec<(String, TimeRange)> {
        self.ranges(|d| d.verdict == Verdict::Approved && d.clip.song_id == song_id)
    }

    fn ranges(&self, keep: impl Fn(&Decision) -> bool) -> Vec<(String, TimeRange)> {
        self.in_force
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|d| keep(d))
            .map(|d| (d.clip.video_id.clone(), d.clip.range))
            .collect()
    }

    /// The rejected clips, as hard negatives for training.
    pub fn hard_negatives(&self) -> Vec<HardNegative> {
        self.decisions()
            .into_iter()
            .filter(|d| d.verdict == Verdict::Rejected)
            .map(|d| HardNegative {
                song_id: d.clip.song_id,
                song_path: d.clip.song_path,
                song_start_s: d.clip.song_start_s,
                video_id: d.clip.video_id,
                video_path: d.clip.video_path,
                start_s: d.clip.range.start_s,
                end_s: d.clip.range.end_s,
                reason: d.reason,
            })
            .collect()
    }

    /// Write the hard negatives to `path`, one JSON object per line; returns how many.
    pub fn export_hard_negatives(&self, path: &Path) -> Result<usize> {
        let negatives = self.hard_negatives();
        let mut text = String::new();
        for n in &negatives {
            text.push_str(&serde_json::to_string(n).map_err(|e| StudioError::Json { path: path.into(), source: e })?);
            text.push('\n');
        }
        crate::write_atomic(path, text.as_bytes())?;
        Ok(negatives.len())
    }
}

impl tuneclip_index::ReviewDecisions for ReviewStore {
    fn rejected_ranges(&self) -> Vec<(String, TimeRange)> {
        ReviewStore::rejected_ranges(self)
    }
    fn approved_ranges(&self, song_id: &str) -> Vec<(String, TimeRange)> {
        ReviewStore::approved_ranges(self, song_id)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, song: &str, video: &str, start: f64) -> ClipRef {
        ClipRef {
            clip_id: id.into(),
            song_id: song.into(),
            song_path: format!("{song}.ogg").into(),
            song_start_s: 12.5,
            video_id: video.into(),
            video_path: format!("{video}.mp4").into(),
            range: TimeRange::new(start, start + 4.0),
        }
    }

    #[test]
    fn decisions_survive_reopening_and_the_latest_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("review.sqlite");
        {
            let store = ReviewStore::open(&path).expect("open");
            store.decide(&clip("c1", "s1", "v1", 0.0), Verdict::Approved, "").expect("approve");
            store.decide(&clip("c2", "s2", "v2", 2.0), Verdict::Rejected, "blurry").expect("reject");
            store.decide(&clip("c3", "s1", "v3", 0.0), Verdict::Rejected, "text").expect("reject");
            store.decide(&clip("c3", "s1", "v3", 0.0), Verdict::Approved, "fine after all").expect("approve");
            assert!(matches!(
                store.decide(&clip("c4", "s1", "v4", 0.0), Verdict::Rejected, "  "),
                Err(StudioError::InvalidDecision(_))
            ));
        }
        let store = ReviewStore::open(&path).expect("reopen");
        let d = store.decisions();
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(store.decision("c3").expect("c3").verdict, Verdict::Approved);
        assert_eq!(store.rejected_ranges(), vec![("v2".to_string(), TimeRange::new(2.0, 6.0))]);
        let mut approved = store.approved_ranges("s1");
        approved.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(approved.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(), vec!["v1", "v3"]);
        assert!(store.approved_ranges("s2").is_empty());
        let out = dir.path().join("neg.jsonl");
        assert_eq!(store.export_hard_negatives(&out).expect("export"), 1);
        let line = std::fs::read_to_string(&out).expect("read");
        let n: HardNegative = serde_json::from_str(line.trim()).expect("json");
        assert_eq!((n.song_id.as_str(), n.video_id.as_str(), n.reason.as_str()), ("s2", "v2", "blurry"));
        assert_eq!(n.video_path, PathBuf::from("v2.mp4"));
        assert_eq!((n.song_start_s, n.start_s, n.end_s), (12.5, 2.0, 6.0));
    }
}
