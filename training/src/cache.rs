//! The feature cache: a flat little-endian file (`TCFEAT04`, a JSON header, then one
//! record per example: the fixed-size inputs, then the three sync tracks (song onsets, picture events, song beats), each a
//! length and its values), written to a temporary name and renamed, so a crash never
//! leaves a half cache that would be read back.
//!
//! A cache made to be carried (`tuneclip-train features`) may leave out the appearance
//! inputs (log-mel windows and thumbnails, four fifths of every record): their lengths
//! are then 0 in the header, and a model that reads appearance refuses such a cache.

use crate::dataset::{Dataset, Example};
use crate::error::{Error, Result};
use crate::manifest::{PairManifest, Split};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tuneclip_model::HandcraftedModel;
use tuneclip_model::inputs::{
    AUDIO_PROFILE_DIMS, AudioInput, InputShape, MOTION_DIMS, VISUAL_PROFILE_DIMS, VisualInput,
};

const MAGIC: &[u8; 8] = b"TCFEAT04";

#[derive(Serialize, Deserialize)]
struct Header {
    count: usize,
    pairs: usize,
    groups: Vec<String>,
    skipped: Vec<(PathBuf, String)>,
    lens: [usize; 8],
}

fn lens(shape: &InputShape) -> [usize; 8] {
    [
        shape.n_mels * shape.mel_frames,
        shape.rhythm_lags,
        AUDIO_PROFILE_DIMS,
        shape.frames * 3 * shape.frame_px * shape.frame_px,
        MOTION_DIMS,
        VISUAL_PROFILE_DIMS,
        HandcraftedModel::DIM,
        HandcraftedModel::DIM,
    ]
}

fn split_code(s: Split) -> u8 {
    match s {
        Split::Train => 0,
        Split::Val => 1,
        Split::Test => 2,
    }
}

/// What a cache holds: every example with every input ([`write`]), or a selection.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Keep the log-mel windows and thumbnails.
    pub appearance: bool,
    /// Splits kept.
    pub splits: Vec<Split>,
    /// At most this many examples per split, taken by whole group (video) in an order
    /// fixed by a hash of the group's name.
    pub max_per_split: Option<usize>,
}

impl Default for Selection {
    fn default() -> Self {
        Self { appearance: true, splits: vec![Split::Train, Split::Val, Split::Test], max_per_split: None }
    }
}

/// The examples of `ds` that `sel` keeps.
pub fn select<'a>(ds: &'a Dataset, sel: &Selection) -> Vec<&'a Example> {
    let mut kept = Vec::new();
    for &split in &sel.splits {
        let examples = ds.split(split);
        let Some(max) = sel.max_per_split else {
            kept.extend(examples);
            continue;
        };
        let mut groups: Vec<usize> = examples.iter().map(|e| e.group).collect();
        groups.sort_unstable();
        groups.dedup();
        let name = |g: usize| ds.groups.get(g).map_or(&b""[..], |n| n.as_bytes());
        let key = |g: usize| {
            let d = Sha256::digest(name(g));
            u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
        };
        groups.sort_by_key(|&g| (key(g), g));
        let mut chosen = std::collections::HashSet::new();
        let mut count = 0;
        for g in groups {
            let n = examples.iter().filter(|e| e.group == g).count();
            if count + n > max {
                break;
            }
            chosen.insert(g);
            count += n;
        }
        kept.extend(examples.into_iter().filter(|e| chosen.contains(&e.group)));
    }
    kept
}

/// Write every example of `ds` with every input.
pub fn write(path: &Path, ds: &Dataset, shape: &InputShape) -> Result<()> {
    write_selected(path, ds, shape, &Selection::default()).map(|_| ())
}

/// Write the examples and inputs `sel` keeps; returns how many examples were written.
pub fn write_selected(path: &Path, ds: &Dataset, shape: &InputShape, sel: &Selection) -> Result<usize> {
    let err = |e: std::io::Error| Error::io("write the feature cache", path)(e);
    let tmp = path.with_extension("bin.tmp");
    let examples = select(ds, sel);
    let mut lens = lens(shape);
    if !sel.appearance {
        lens[0] = 0;
        lens[3] = 0;
    }
    let header = Header {
        count: examples.len(),
        pairs: ds.examples.iter().map(|e| e.pair + 1).max().unwrap_or(0),
        groups: ds.groups.clone(),
        skipped: ds.skipped.clone(),
        lens,
    };
    let header = serde_json::to_vec(&header).map_err(|e| Error::bad_file(path, e))?;
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
    w.write_all(MAGIC).map_err(err)?;
    w.write_all(&(header.len() as u64).to_le_bytes()).map_err(err)?;
    w.write_all(&header).map_err(err)?;
    let empty: Vec<f32> = Vec::new();
    for e in &examples {
        w.write_all(&(e.pair as u64).to_le_bytes()).map_err(err)?;
        w.write_all(&(e.group as u64).to_le_bytes()).map_err(err)?;
        w.write_all(&[split_code(e.split)]).map_err(err)?;
        let (mel, pixels) = if sel.appearance { (&e.audio.mel, &e.visual.pixels) } else { (&empty, &empty) };
        for part in [
            mel,
            &e.audio.rhythm,
            &e.audio.profile,
            pixels,
            &e.visual.motion,
            &e.visual.profile,
            &e.baseline_song,
            &e.baseline_segment,
        ] {
            for v in part {
                w.write_all(&v.to_le_bytes()).map_err(err)?;
            }
        }
        for env in [&e.song_envelope, &e.video_envelope, &e.song_beats] {
            w.write_all(&(env.len() as u32).to_le_bytes()).map_err(err)?;
            for v in env {
                w.write_all(&v.to_le_bytes()).map_err(err)?;
            }
        }
    }
    w.into_inner().map_err(|e| err(e.into_error()))?.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)?;
    Ok(examples.len())
}

/// Whether the examples carry appearance inputs (a carried cache may leave them out).
pub fn has_appearance(ds: &Dataset) -> bool {
    ds.examples.iter().all(|e| !e.audio.mel.is_empty() && !e.visual.pixels.is_empty())
}

pub fn read(path: &Path, manifest: &PairManifest, shape: &InputShape) -> Result<Dataset> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(Error::io("read the feature cache", path))?;
    let bad = |what: &str| Error::bad_file(path, format!("feature cache damaged ({what}); delete it to rebuild"));
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("magic"));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad("header length"))?) as usize;
    let header: Header =
        serde_json::from_slice(bytes.get(16..16 + hlen).ok_or_else(|| bad("header"))?).map_err(|_| bad("header"))?;
    // Appearance inputs (parts 0 and 3) may have been left out.
    let expected = lens(shape);
    let fits = header
        .lens
        .iter()
        .zip(&expected)
        .enumerate()
        .all(|(i, (&got, &want))| got == want || (got == 0 && (i == 0 || i == 3)));
    if !fits || header.pairs > manifest.pairs.len() {
        return Err(bad("shapes"));
    }
    let mut pos = 16 + hlen;
    let mut take = |n: usize| -> Result<&[u8]> {
        let s = bytes.get(pos..pos + n).ok_or_else(|| bad("truncated"))?;
        pos += n;
        Ok(s)
    };
    let mut examples = Vec::with_capacity(header.count);
    for _ in 0..header.count {
        let pair = u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad("pair"))?) as usize;
        let group = u64::from_le_bytes(take(8)?.try_into().map_err(|_| bad("group"))?) as usize;
        let split = match take(1)?[0] {
            0 => Split::Train,
            1 => Split::Val,
            2 => Split::Test,
            _ => return Err(bad("split")),
        };
        let mut parts: Vec<Vec<f32>> = Vec::with_capacity(8);
        for n in header.lens {
            let raw = take(n * 4)?;
            parts.push(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
        }
        for _ in 0..3 {
            let n = u32::from_le_bytes(take(4)?.try_into().map_err(|_| bad("envelope"))?) as usize;
            let raw = take(n * 4)?;
            parts.push(raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect());
        }
        let mut it = parts.into_iter();
        let mut next = || it.next().unwrap_or_default();
        let (mel, rhythm, audio_profile) = (next(), next(), next());
        let (pixels, motion, visual_profile) = (next(), next(), next());
        examples.push(Example {
            pair,
            group,
            split,
            audio: AudioInput { mel, rhythm, profile: audio_profile },
            visual: VisualInput { pixels, motion, profile: visual_profile },
            baseline_song: next(),
            baseline_segment: next(),
            song_envelope: next(),
            video_envelope: next(),
            song_beats: next(),
        });
    }
    Ok(Dataset { examples, groups: header.groups, skipped: header.skipped, hard_negatives: Vec::new() })
}
