//! A snapshot's per-frame analysis (saliency points and face detections) in one binary
//! file, `frames.bin`, with a per-second time index, so that planning a clip's crop reads
//! only the few hundred records around the clip instead of parsing the video's whole
//! analysis.
//!
//! One block per video, at the byte range the catalogue records; all numbers little
//! endian:
//!
//! ```text
//! header      n_saliency u32, n_tracks u32, n_detections u32, n_seconds u32
//! tracks      n_tracks x (id u32)                              in the analysis' order
//! time index  (n_seconds + 1) x (saliency u32, detection u32)  first record at t >= k s
//! saliency    n_saliency x 36 bytes: t f64, flags u32 (1 centre, 2 extent),
//!             centre x f32, y f32, extent x u32, y u32, width u32, height u32
//! detections  n_detections x 32 bytes: t f64, track u32 (position in the table),
//!             x u32, y u32, width u32, height u32, confidence f32
//! ```
//!
//! Saliency points and detections are in time order (detections of one instant in track
//! order). A video's whole per-frame analysis comes back exactly as it was written; a
//! window returns the records whose time lies inside it, with the tracks seen there.

use crate::{IndexError, Result, io_err};
use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use tuneclip_core::Rect;
use tuneclip_vision::{FaceTrack, FrameSaliency, VideoAnalysis};

pub(crate) const FRAMES_FILE: &str = "frames.bin";
const HEADER: usize = 16;
const TRACK: usize = 4;
const INDEX: usize = 8;
const SALIENCY: usize = 36;
const DETECTION: usize = 32;

/// Encode one video's per-frame analysis as a block.
pub(crate) fn encode(a: &VideoAnalysis) -> Vec<u8> {
    let mut saliency: Vec<&FrameSaliency> = a.saliency.iter().collect();
    saliency.sort_by(|x, y| x.t_s.total_cmp(&y.t_s));
    let mut detections: Vec<(f64, u32, Rect, f32)> = a
        .faces
        .iter()
        .enumerate()
        .flat_map(|(pos, t)| t.detections.iter().map(move |&(t_s, r, c)| (t_s, pos as u32, r, c)))
        .collect();
    // Stable: one instant's detections stay in track order.
    detections.sort_by(|x, y| x.0.total_cmp(&y.0));
    let last = saliency.last().map_or(0.0, |s| s.t_s).max(detections.last().map_or(0.0, |d| d.0));
    let seconds = if last.is_finite() && last > 0.0 { last.floor() as u32 + 1 } else { 1 };

    let mut out = Vec::with_capacity(
        HEADER
            + TRACK * a.faces.len()
            + INDEX * (seconds as usize + 1)
            + SALIENCY * saliency.len()
            + DETECTION * detections.len(),
    );
    for n in [saliency.len() as u32, a.faces.len() as u32, detections.len() as u32, seconds] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    for t in &a.faces {
        out.extend_from_slice(&t.id.to_le_bytes());
    }
    for k in 0..=seconds {
        let k = f64::from(k);
        let s = saliency.partition_point(|s| s.t_s < k) as u32;
        let d = detections.partition_point(|d| d.0 < k) as u32;
        out.extend_from_slice(&s.to_le_bytes());
        out.extend_from_slice(&d.to_le_bytes());
    }
    for s in &saliency {
        out.extend_from_slice(&s.t_s.to_le_bytes());
        let flags = u32::from(s.centre.is_some()) | (u32::from(s.extent.is_some()) << 1);
        out.extend_from_slice(&flags.to_le_bytes());
        let (cx, cy) = s.centre.unwrap_or_default();
        out.extend_from_slice(&cx.to_le_bytes());
        out.extend_from_slice(&cy.to_le_bytes());
        let e = s.extent.unwrap_or(Rect::new(0, 0, 0, 0));
        for v in [e.x, e.y, e.width, e.height] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for (t, pos, r, c) in &detections {
        out.extend_from_slice(&t.to_le_bytes());
        for v in [*pos, r.x, r.y, r.width, r.height] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&c.to_le_bytes());
    }
    out
}

/// Write every video's block into `path`, in catalogue order; returns each block's
/// `[offset, length]`.
pub(crate) fn write(path: &Path, videos: &[crate::VideoEntry]) -> Result<Vec<[u64; 2]>> {
    let file = fs::File::create(path).map_err(io_err(path))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut ranges = Vec::with_capacity(videos.len());
    let mut at = 0u64;
    for v in videos {
        let block = encode(&v.analysis);
        w.write_all(&block).map_err(io_err(path))?;
        ranges.push([at, block.len() as u64]);
        at += block.len() as u64;
    }
    let file = w.into_inner().map_err(|e| IndexError::Io { path: path.to_path_buf(), source: e.into_error() })?;
    file.sync_all().map_err(io_err(path))?;
    Ok(ranges)
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn f32_at(b: &[u8], at: usize) -> f32 {
    f32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn f64_at(b: &[u8], at: usize) -> f64 {
    f64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A block's layout, from its header and length.
struct Layout {
    saliency: usize,
    tracks: usize,
    detections: usize,
    seconds: usize,
}

impl Layout {
    fn parse(header: &[u8], len: u64) -> Option<Self> {
        let l = Self {
            saliency: u32_at(header, 0) as usize,
            tracks: u32_at(header, 4) as usize,
            detections: u32_at(header, 8) as usize,
            seconds: u32_at(header, 12) as usize,
        };
        let expected = HEADER as u64
            + (TRACK * l.tracks) as u64
            + (INDEX * (l.seconds + 1)) as u64
            + (SALIENCY * l.saliency) as u64
            + (DETECTION * l.detections) as u64;
        (expected == len).then_some(l)
    }
    /// Bytes before the saliency records: header, tracks and time index.
    fn head(&self) -> usize {
        HEADER + TRACK * self.tracks + INDEX * (self.seconds + 1)
    }
    fn detections_at(&self) -> usize {
        self.head() + SALIENCY * self.saliency
    }
}

fn saliency(b: &[u8]) -> impl Iterator<Item = FrameSaliency> + '_ {
    b.chunks_exact(SALIENCY).map(|r| {
        let flags = u32_at(r, 8);
        FrameSaliency {
            t_s: f64_at(r, 0),
            centre: (flags & 1 != 0).then(|| (f32_at(r, 12), f32_at(r, 16))),
            extent: (flags & 2 != 0).then(|| Rect::new(u32_at(r, 20), u32_at(r, 24), u32_at(r, 28), u32_at(r, 32))),
        }
    })
}

/// Face tracks from detection records; `all` keeps tracks seen nowhere in `b`.
fn tracks(ids: &[u32], b: &[u8], all: bool) -> Option<Vec<FaceTrack>> {
    let mut by_pos: BTreeMap<usize, FaceTrack> = BTreeMap::new();
    if all {
        by_pos.extend(ids.iter().enumerate().map(|(p, &id)| (p, FaceTrack { id, detections: Vec::new() })));
    }
    for r in b.chunks_exact(DETECTION) {
        let pos = u32_at(r, 8) as usize;
        let id = *ids.get(pos)?;
        let rect = Rect::new(u32_at(r, 12), u32_at(r, 16), u32_at(r, 20), u32_at(r, 24));
        by_pos.entry(pos).or_insert_with(|| FaceTrack { id, detections: Vec::new() }).detections.push((
            f64_at(r, 0),
            rect,
            f32_at(r, 28),
        ));
    }
    Some(by_pos.into_values().collect())
}

/// A snapshot's `frames.bin`, open for reading (positioned reads: any number of threads).
#[derive(Debug)]
pub(crate) struct FramesFile {
    path: PathBuf,
    file: fs::File,
}

impl FramesFile {
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        let path = dir.join(FRAMES_FILE);
        let file = fs::File::open(&path).map_err(io_err(&path))?;
        Ok(Self { path, file })
    }

    fn corrupt(&self, what: &str) -> IndexError {
        IndexError::Corrupt {
            dir: self.path.parent().map(Path::to_path_buf).unwrap_or_default(),
            reason: format!("{FRAMES_FILE}: {what}"),
        }
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file.read_exact_at(&mut buf, offset).map_err(io_err(&self.path))?;
        Ok(buf)
    }

    fn layout(&self, range: [u64; 2]) -> Result<(Layout, Vec<u8>)> {
        let header = self.read(range[0], HEADER.min(range[1] as usize))?;
        if header.len() < HEADER {
            return Err(self.corrupt("a block shorter than its header"));
        }
        let layout = Layout::parse(&header, range[1])
            .ok_or_else(|| self.corrupt("a block's counts disagree with its length"))?;
        let head = self.read(range[0], layout.head())?;
        Ok((layout, head))
    }

    /// The whole per-frame analysis of the block at `range`: (saliency, face tracks).
    pub(crate) fn read_all(&self, range: [u64; 2]) -> Result<(Vec<FrameSaliency>, Vec<FaceTrack>)> {
        let len = usize::try_from(range[1]).map_err(|_| self.corrupt("a block too large"))?;
        if len < HEADER {
            return Err(self.corrupt("a block shorter than its header"));
        }
        let b = self.read(range[0], len)?;
        let l = Layout::parse(&b, range[1]).ok_or_else(|| self.corrupt("a block's counts disagree with its length"))?;
        let ids: Vec<u32> = (0..l.tracks).map(|i| u32_at(&b, HEADER + TRACK * i)).collect();
        let sal = saliency(&b[l.head()..l.detections_at()]).collect();
        let faces =
            tracks(&ids, &b[l.detections_at()..], true).ok_or_else(|| self.corrupt("a detection names no track"))?;
        Ok((sal, faces))
    }

    /// The per-frame analysis with times in `from_s..=to_s`: the saliency points and, for
    /// each track seen in the window, its detections there (tracks in the analysis' order).
    pub(crate) fn read_window(
        &self,
        range: [u64; 2],
        from_s: f64,
        to_s: f64,
    ) -> Result<(Vec<FrameSaliency>, Vec<FaceTrack>)> {
        let (l, head) = self.layout(range)?;
        let ids: Vec<u32> = (0..l.tracks).map(|i| u32_at(&head, HEADER + TRACK * i)).collect();
        let index_at = HEADER + TRACK * l.tracks;
        let entry = |k: usize| -> (usize, usize) {
            let at = index_at + INDEX * k.min(l.seconds);
            (u32_at(&head, at) as usize, u32_at(&head, at + 4) as usize)
        };
        // Whole seconds around the window: [floor(from), floor(to) + 1).
        let k0 = if from_s > 0.0 { from_s.floor().min(l.seconds as f64) as usize } else { 0 };
        let k1 = if to_s >= 0.0 { (to_s.floor() + 1.0).min(l.seconds as f64) as usize } else { 0 };
        // Entry `n_seconds` is the end of both sets (every time is below it).
        let ((s0, d0), (s1, d1)) = (entry(k0), entry(k1.max(k0)));
        if s0 > s1 || s1 > l.saliency || d0 > d1 || d1 > l.detections {
            return Err(self.corrupt("a time index out of order"));
        }
        let inside = |t: f64| t >= from_s && t <= to_s;
        let sal_bytes = self.read(range[0] + (l.head() + SALIENCY * s0) as u64, SALIENCY * (s1 - s0))?;
        let sal = saliency(&sal_bytes).filter(|s| inside(s.t_s)).collect();
        let det_bytes = self.read(range[0] + (l.detections_at() + DETECTION * d0) as u64, DETECTION * (d1 - d0))?;
        let kept: Vec<u8> =
            det_bytes.chunks_exact(DETECTION).filter(|r| inside(f64_at(r, 0))).flatten().copied().collect();
        let faces = tracks(&ids, &kept, false).ok_or_else(|| self.corrupt("a detection names no track"))?;
        Ok((sal, faces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tuneclip_core::TimeRange;

    fn analysis() -> VideoAnalysis {
        let mut a = crate::synthetic::catalogue(40, 4, 0).videos.remove(0).analysis;
        // A saliency point without a centre or an extent, and tracks out of id order.
        a.saliency[5].centre = None;
        a.saliency[6].extent = None;
        a.faces.push(FaceTrack { id: 99, detections: Vec::new() });
        a.faces.swap(0, 1);
        a
    }

    fn file_of(a: &VideoAnalysis) -> (tempfile::TempDir, FramesFile, [u64; 2]) {
        let dir = tempfile::tempdir().expect("tempdir");
        let video = crate::VideoEntry {
            id: tuneclip_core::ContentId("v".into()),
            path: "v.mp4".into(),
            title: String::new(),
            analysis: a.clone(),
        };
        let ranges = write(&dir.path().join(FRAMES_FILE), &[video.clone(), video]).expect("write");
        let f = FramesFile::open(dir.path()).expect("open");
        (dir, f, ranges[1])
    }

    #[test]
    fn whole_analysis_comes_back_exactly() {
        let a = analysis();
        assert!(!a.faces.is_empty() && a.faces.iter().any(|t| t.detections.len() > 10));
        let (_dir, f, range) = file_of(&a);
        let (sal, faces) = f.read_all(range).expect("read");
        assert_eq!(sal, a.saliency);
        assert_eq!(faces, a.faces);
    }

    #[test]
    fn a_window_holds_exactly_the_records_inside_it() {
        let a = analysis();
        let (_dir, f, range) = file_of(&a);
        let duration = a.info.duration_s;
        for (from, to) in [(0.0, 3.0), (12.35, 17.9), (44.0, 45.0), (duration - 2.5, duration + 1.0), (-1.0, 0.5)] {
            let (sal, faces) = f.read_window(range, from, to).expect("window");
            let w = TimeRange::new(from, to);
            let inside = |t: f64| t >= w.start_s && t <= w.end_s;
            let want: Vec<FrameSaliency> = a.saliency.iter().copied().filter(|s| inside(s.t_s)).collect();
            assert_eq!(sal, want, "saliency in {from}..{to}");
            let want: Vec<FaceTrack> = a
                .faces
                .iter()
                .map(|t| FaceTrack {
                    id: t.id,
                    detections: t.detections.iter().copied().filter(|d| inside(d.0)).collect(),
                })
                .filter(|t| !t.detections.is_empty())
                .collect();
            assert_eq!(faces, want, "faces in {from}..{to}");
        }
    }

    #[test]
    fn a_block_that_disagrees_with_its_length_is_refused() {
        let a = analysis();
        let (_dir, f, range) = file_of(&a);
        let e = f.read_window([range[0], range[1] - 4], 1.0, 2.0).expect_err("short block");
        assert!(e.to_string().contains("frames.bin"), "{e}");
        let e = f.read_all([range[0] + 4, range[1]]).expect_err("misplaced block");
        assert!(e.to_string().contains("frames.bin"), "{e}");
    }
}
