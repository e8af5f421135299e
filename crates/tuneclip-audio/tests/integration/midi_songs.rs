use std::path::Path;
use std::process::Command;
use tuneclip_audio::{SongAnalysis, beat_f_measure};

const SOUNDFONT: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";
const MIDI_DIR: &str = "/usr/share/planetblupi/music";

/// Tempo of a MIDI file's single Set Tempo event (planetblupi's songs have one each).
fn midi_tempo_bpm(bytes: &[u8]) -> f64 {
    let i = bytes.windows(3).position(|w| w == [0xff, 0x51, 0x03]).expect("a Set Tempo event");
    let us = u32::from_be_bytes([0, bytes[i + 3], bytes[i + 4], bytes[i + 5]]);
    60e6 / f64::from(us)
}

/// A standard MIDI file's ticks per quarter note, checked to be metrical.
fn midi_ppq(bytes: &[u8]) -> u32 {
    let ppq = u32::from(u16::from_be_bytes([bytes[12], bytes[13]]));
    assert!(&bytes[..4] == b"MThd" && ppq & 0x8000 == 0, "a metrical standard MIDI file");
    ppq
}

/// Walks every track chunk of a standard MIDI file, calling `on_event(track, tick,
/// start, status, data)` for each event with its track's index, its absolute tick, its
/// first byte's offset in `bytes`, its (running) status and its data bytes; returns
/// each track body's byte range. Enough of the format for planetblupi's files: chunks,
/// variable-length delta times, running status, meta and sysex events skipped by their
/// lengths.
fn walk_midi(bytes: &[u8], mut on_event: impl FnMut(usize, u64, usize, u8, &[u8])) -> Vec<(usize, usize)> {
    let mut tracks = Vec::new();
    let mut at = 14;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let (begin, is_track) = (at + 8, &bytes[at..at + 4] == b"MTrk");
        at += 8 + len;
        if !is_track {
            continue;
        }
        tracks.push((begin, begin + len));
        let body = &bytes[begin..begin + len];
        let (mut i, mut tick, mut status) = (0usize, 0u64, 0u8);
        let vlq = |i: &mut usize| {
            let mut v = 0u64;
            loop {
                let b = body[*i];
                *i += 1;
                v = (v << 7) | u64::from(b & 0x7f);
                if b & 0x80 == 0 {
                    return v;
                }
            }
        };
        while i < body.len() {
            let start = i;
            tick += vlq(&mut i);
            if body[i] & 0x80 != 0 {
                status = body[i];
                i += 1;
            }
            let data_at = i;
            match status {
                0xff => {
                    i += 1; // meta type
                    i += vlq(&mut i) as usize;
                }
                0xf0 | 0xf7 => i += vlq(&mut i) as usize,
                s if s & 0xf0 == 0xc0 || s & 0xf0 == 0xd0 => i += 1,
                _ => i += 2,
            }
            on_event(tracks.len() - 1, tick, begin + start, status, &body[data_at..i]);
        }
    }
    tracks
}

/// The absolute tick of every note-on of a standard MIDI file.
fn midi_note_ons(bytes: &[u8]) -> Vec<u64> {
    let mut notes = Vec::new();
    walk_midi(bytes, |_, tick, _, status, data| {
        if status & 0xf0 == 0x90 && data[1] > 0 {
            notes.push(tick);
        }
    });
    notes
}

/// The file cut after `ticks`: each track keeps its events up to then and ends there,
/// so fluidsynth renders only the start of a long song.
fn truncate_midi(bytes: &[u8], ticks: u64) -> Vec<u8> {
    let mut cut: Vec<Option<usize>> = Vec::new();
    let tracks = walk_midi(bytes, |track, tick, start, _, _| {
        cut.resize(track + 1, None);
        if tick > ticks && cut[track].is_none() {
            cut[track] = Some(start);
        }
    });
    cut.resize(tracks.len(), None);
    let mut out = bytes[..14].to_vec();
    for ((begin, end), cut) in tracks.into_iter().zip(cut) {
        let mut body = bytes[begin..cut.unwrap_or(end)].to_vec();
        if cut.is_some() {
            // All Sound Off on every channel (notes cut before their note-off would
            // otherwise sound, and fluidsynth render, for ever), then End of Track.
            for channel in 0..16u8 {
                body.extend_from_slice(&[0x00, 0xb0 | channel, 0x78, 0x00]);
            }
            body.extend_from_slice(&[0x00, 0xff, 0x2f, 0x00]);
        }
        out.extend_from_slice(b"MTrk");
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
    }
    out
}

/// Where the song's notes sit relative to the notated beat, in seconds: the most common
/// offset of note starts from the sixteenth-note grid. planetblupi's music004-009 start
/// every note ~20 ticks (45-60 ms) after the grid, so the beat a listener hears, and
/// the one a tracker can find, is there, not at MIDI time 0.
fn midi_beat_offset_s(bytes: &[u8], bpm: f64) -> f64 {
    let (ppq, notes) = (midi_ppq(bytes), midi_note_ons(bytes));
    let sixteenth = u64::from(ppq / 4);
    let mut counts = std::collections::HashMap::new();
    for tick in &notes {
        *counts.entry(tick % sixteenth).or_insert(0usize) += 1;
    }
    let (offset, _) = counts.into_iter().max_by_key(|&(off, n)| (n, std::cmp::Reverse(off))).expect("notes");
    offset as f64 * 60.0 / bpm / f64::from(ppq)
}

/// Real multi-instrument music rendered from MIDI (Debian packages planetblupi-music-midi,
/// fluidsynth, fluid-soundfont-gm): the ten songs, each cut to its first 335 s before
/// rendering, analysed whole (as ingest analyses a song) and as four one-minute excerpts
/// (from 0, 90, 180 and 270 s): 40 excerpts, tempi 96-140 BPM, pop, swing, reggae-like
/// off-beat chords, pickups. An excerpt is harder than the song: a minute holds a
/// quarter of the evidence, and some minutes are one section's exception.
///
/// Tempo against the MIDI file's own, within 0.5% on every song and excerpt (issue 3
/// asks 2%). Measured 2026-11-27: all within 0.03% (before the bar term in
/// `estimate_tempo`, 12 of 40 excerpts were octave, two-thirds or double errors).
///
/// Beat F-measure (70 ms) against the notated beat where the notes sound: the grid
/// k * 60 / bpm shifted by the notes' offset from it (see `midi_beat_offset_s`; 45-60
/// ms for music004-009). Asserted: 0.9 or more on every whole song (issue 3's target),
/// and on at least 39 of the 40 excerpts. Measured 2026-11-27 (session 10): all ten
/// songs at 1.000, 39 of 40 excerpts at 1.000 (mean 0.990). Before the steady grid's
/// period was fitted to the beats and chord changes were weighted by their square:
/// 9 of 10 songs (music009 on the off-beat), 37 of 40 excerpts; before the chord-placed
/// steady grid 28 excerpts, before the bar term 18. The excerpt miss: music002 from
/// 90 s (the tracker wanders a sixteenth off for a fifth of the minute, so the excerpt
/// is not judged steady; F 0.59).
#[test]
fn tempo_and_beats_of_midi_rendered_songs() {
    const STARTS_S: [usize; 4] = [0, 90, 180, 270];
    const EXCERPT_S: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut report = Vec::new();
    let (mut good, mut excerpts, mut songs_good) = (0, 0, 0);
    for n in 0..10 {
        let name = format!("music00{n}.mid");
        let bytes = std::fs::read(Path::new(MIDI_DIR).join(&name)).expect("MIDI file (run setup.sh)");
        let bpm = midi_tempo_bpm(&bytes);
        let offset = midi_beat_offset_s(&bytes, bpm);
        // Only what the excerpts need is rendered (the songs run 10 to 29 minutes).
        let ticks = ((STARTS_S[3] + EXCERPT_S + 5) as f64 * bpm / 60.0 * f64::from(midi_ppq(&bytes))) as u64;
        let midi = dir.path().join(&name);
        std::fs::write(&midi, truncate_midi(&bytes, ticks)).expect("write the cut MIDI file");
        let wav = midi.with_extension("wav");
        // Bounded: a render that never ends would fill the disk.
        let ok = Command::new("timeout")
            .args(["300", "fluidsynth", "-ni", "-q", "-r", "22050", "-F"])
            .arg(&wav)
            .arg(SOUNDFONT)
            .arg(&midi)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "fluidsynth failed on {name}");
        let audio = tuneclip_media::audio::decode_mono(&wav, 22_050).expect("decode");
        assert!(audio.samples.len() >= (STARTS_S[3] + EXCERPT_S) * 22_050, "{name}: render too short");
        // Tempo and beat F of a stretch of the song starting at `start` s.
        let score = |samples: &[f32], start: usize| -> (f64, f64, String) {
            let a = SongAnalysis::compute(samples, 22_050, 20.0).expect("analysis");
            let tempo = f64::from(a.features.tempo_bpm);
            let (lo, hi) = (a.beats_s.first().copied().unwrap_or(0.0), a.beats_s.last().copied().unwrap_or(0.0));
            let period = 60.0 / bpm;
            // The notated beats in the stretch's own time.
            let grid: Vec<f64> = (0..)
                .map(|k| offset + k as f64 * period - start as f64)
                .skip_while(|t| *t < lo - 0.035)
                .take_while(|t| *t <= hi + 0.035)
                .collect();
            let f = beat_f_measure(&grid, &a.beats_s, 0.07);
            let mut phases: Vec<f64> =
                a.beats_s.iter().map(|b| ((b + start as f64 - offset) / period).rem_euclid(1.0)).collect();
            phases.sort_by(f64::total_cmp);
            let line = format!(
                "MIDI {bpm:.2} BPM, ours {tempo:.2} BPM, beat F {f:.3}, median beat phase {:.3}",
                phases.get(phases.len() / 2).copied().unwrap_or(f64::NAN)
            );
            assert!((tempo - bpm).abs() / bpm <= 0.005, "{name} from {start} s: {line}");
            (tempo, f, line)
        };
        let (_, f, line) = score(&audio.samples, 0);
        report.push(format!("{name} whole ({:.0} s): {line}", audio.samples.len() as f64 / 22_050.0));
        songs_good += usize::from(f >= 0.9);
        for start in STARTS_S {
            let (_, f, line) = score(&audio.samples[start * 22_050..(start + EXCERPT_S) * 22_050], start);
            report.push(format!("{name} from {start:3} s: {line}"));
            good += usize::from(f >= 0.9);
            excerpts += 1;
        }
    }
    eprintln!("{}", report.join("\n"));
    assert_eq!(songs_good, 10, "whole songs with beat F >= 0.9:\n{}", report.join("\n"));
    assert!(good >= 39, "only {good} of {excerpts} excerpts with beat F >= 0.9:\n{}", report.join("\n"));
}
