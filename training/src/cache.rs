//! The feature cache: a flat little-endian file (`TCFEAT01`, a JSON header, then one
//! fixed-size record per example), written to a temporary name and renamed, so a crash
//! never leaves a half cache that would be read back.

use crate::dataset::{Dataset, Example};
use crate::manifest::{PairManifest, Split};
use serde::{Deserialize, Serialize};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use tuneclip_model::HandcraftedModel;
use tuneclip_model::inputs::{
    AUDIO_PROFILE_DIMS, AudioInput, InputShape, MOTION_DIMS, VISUAL_PROFILE_DIMS, VisualInput,
};

const MAGIC: &[u8; 8] = b"TCFEAT02";

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

pub fn write(path: &Path, ds: &Dataset, shape: &InputShape) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write feature cache {} ({e})", path.display());
    let tmp = path.with_extension("bin.tmp");
    let header = Header {
        count: ds.examples.len(),
        pairs: ds.examples.iter().map(|e| e.pair + 1).max().unwrap_or(0),
        groups: ds.groups.clone(),
        skipped: ds.skipped.clone(),
        lens: lens(shape),
    };
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(err)?);
    w.write_all(MAGIC).map_err(err)?;
    w.write_all(&(header.len() as u64).to_le_bytes()).map_err(err)?;
    w.write_all(&header).map_err(err)?;
    for e in &ds.examples {
        w.write_all(&(e.pair as u64).to_le_bytes()).map_err(err)?;
        w.write_all(&(e.group as u64).to_le_bytes()).map_err(err)?;
        w.write_all(&[split_code(e.split)]).map_err(err)?;
        for part in [
            &e.audio.mel,
            &e.audio.rhythm,
            &e.audio.profile,
            &e.visual.pixels,
            &e.visual.motion,
            &e.visual.profile,
            &e.baseline_song,
            &e.baseline_segment,
        ] {
            for v in part {
                w.write_all(&v.to_le_bytes()).map_err(err)?;
            }
        }
    }
    w.into_inner().map_err(|e| err(e.into_error()))?.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

pub fn read(path: &Path, manifest: &PairManifest, shape: &InputShape) -> Result<Dataset, String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| e.to_string())?;
    let bad = |what: &str| format!("feature cache {} is damaged ({what}); delete it to rebuild", path.display());
    if bytes.len() < 16 || &bytes[..8] != MAGIC {
        return Err(bad("magic"));
    }
    let hlen = u64::from_le_bytes(bytes[8..16].try_into().map_err(|_| bad("header length"))?) as usize;
    let header: Header =
        serde_json::from_slice(bytes.get(16..16 + hlen).ok_or_else(|| bad("header"))?).map_err(|_| bad("header"))?;
    if header.lens != lens(shape) || header.pairs > manifest.pairs.len() {
        return Err(bad("shapes"));
    }
    let mut pos = 16 + hlen;
    let mut take = |n: usize| -> Result<&[u8], String> {
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
        });
    }
    Ok(Dataset { examples, groups: header.groups, skipped: header.skipped, hard_negatives: Vec::new() })
}
