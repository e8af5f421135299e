//! Basic Pitch on real instrument sound: a melody and chords written here as a MIDI
//! file, rendered by fluidsynth with the General MIDI soundfont (both from setup.sh),
//! so every note's pitch and start are known.

use std::path::{Path, PathBuf};
use std::process::Command;
use tuneclip_model::pitch::{PitchModelConfig, SAMPLE_RATE};

const SOUNDFONT: &str = "/usr/share/sounds/sf2/FluidR3_GM.sf2";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../index-data")
}

fn vlq(mut v: u32, out: &mut Vec<u8>) {
    let mut bytes = vec![(v & 0x7f) as u8];
    v >>= 7;
    while v > 0 {
        bytes.push((v & 0x7f) as u8 | 0x80);
        v >>= 7;
    }
    out.extend(bytes.iter().rev());
}

/// A format-0 MIDI file at 120 BPM (the default tempo) playing `notes` (MIDI pitch,
/// start s, length s) on the acoustic grand piano.
fn midi_file(notes: &[(u8, f64, f64)]) -> Vec<u8> {
    const PPQ: u32 = 480;
    let tick = |s: f64| (s / 0.5 * f64::from(PPQ)).round() as u32;
    let mut events: Vec<(u32, [u8; 3])> = Vec::new();
    for &(pitch, start, len) in notes {
        events.push((tick(start), [0x90, pitch, 100]));
        events.push((tick(start + len), [0x80, pitch, 0]));
    }
    // Note-offs before note-ons at the same tick.
    events.sort_by_key(|(t, e)| (*t, e[0] == 0x90));
    let mut track = vec![0x00, 0xc0, 0x00]; // program change: piano
    let mut now = 0;
    for (t, e) in events {
        vlq(t - now, &mut track);
        track.extend_from_slice(&e);
        now = t;
    }
    track.extend_from_slice(&[0x00, 0xff, 0x2f, 0x00]);
    let mut file = b"MThd".to_vec();
    file.extend_from_slice(&6u32.to_be_bytes());
    file.extend_from_slice(&[0, 0, 0, 1]);
    file.extend_from_slice(&(PPQ as u16).to_be_bytes());
    file.extend_from_slice(b"MTrk");
    file.extend_from_slice(&(track.len() as u32).to_be_bytes());
    file.extend_from_slice(&track);
    file
}

#[test]
fn basic_pitch_finds_the_notes_of_a_rendered_piano_melody() {
    // C major: a scale up and down (0.4 s notes every 0.5 s), then four triads.
    let scale = [60u8, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60];
    let mut notes: Vec<(u8, f64, f64)> =
        scale.iter().enumerate().map(|(i, &p)| (p, 0.5 + 0.5 * i as f64, 0.4)).collect();
    for (i, chord) in [[60u8, 64, 67], [65, 69, 72], [67, 71, 74], [60, 64, 67]].iter().enumerate() {
        for &p in chord {
            notes.push((p, 8.5 + i as f64, 0.9));
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (mid, wav) = (dir.path().join("melody.mid"), dir.path().join("melody.wav"));
    std::fs::write(&mid, midi_file(&notes)).expect("write MIDI");
    let ok = Command::new("fluidsynth")
        .args(["-ni", "-q", "-r", "22050", "-F"])
        .arg(&wav)
        .arg(SOUNDFONT)
        .arg(&mid)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "fluidsynth failed (run setup.sh)");
    let audio = tuneclip_media::audio::decode_mono(&wav, SAMPLE_RATE).expect("decode");

    let mut model = PitchModelConfig::from_data_dir(&data_dir()).build().expect("Basic Pitch (run setup.sh)");
    let t = std::time::Instant::now();
    let post = model.posteriors(&audio.samples, audio.sample_rate).expect("posteriors");
    eprintln!("posteriors of {:.1} s of audio in {:.0} ms", audio.duration_s(), t.elapsed().as_secs_f64() * 1e3);
    let expected_frames = audio.samples.len() * 86 / 22_050;
    assert_eq!(post.note.len(), expected_frames);

    // Every written note against the events found: same key, start within 50 ms.
    let events = post.note_events();
    let mut used = vec![false; events.len()];
    let mut hits = 0;
    let mut offsets = Vec::new();
    for &(pitch, start, _) in &notes {
        if let Some((i, e)) = events
            .iter()
            .enumerate()
            .filter(|(i, e)| !used[*i] && e.midi == pitch && (e.start_s - start).abs() <= 0.05)
            .min_by(|a, b| (a.1.start_s - start).abs().total_cmp(&(b.1.start_s - start).abs()))
        {
            used[i] = true;
            hits += 1;
            offsets.push(e.start_s - start);
        }
    }
    let (p, r) = (hits as f64 / events.len().max(1) as f64, hits as f64 / notes.len() as f64);
    let f = if hits == 0 { 0.0 } else { 2.0 * p * r / (p + r) };
    offsets.sort_by(f64::total_cmp);
    let stray: Vec<String> =
        events.iter().zip(&used).filter(|(_, u)| !**u).map(|(e, _)| format!("{}@{:.2}", e.midi, e.start_s)).collect();
    eprintln!(
        "notes: {hits}/{} found, {} events, precision {p:.3} recall {r:.3} F {f:.3}; median start offset {:.3} s; unmatched events {stray:?}",
        notes.len(),
        events.len(),
        offsets.get(offsets.len() / 2).copied().unwrap_or(f64::NAN)
    );
    assert!(f >= 0.8, "note F {f:.3} (precision {p:.3}, recall {r:.3})");

    // C major: the seven scale classes hold nearly all the note mass.
    let feats = post.features();
    eprintln!("pitch features: {feats:?}");
    let outside: f32 = [1usize, 3, 6, 8, 10].iter().map(|&c| feats.pitch_classes[c]).sum();
    let inside: f32 = [0usize, 2, 4, 5, 7, 9, 11].iter().map(|&c| feats.pitch_classes[c]).sum();
    assert!(outside < 0.1 * inside, "classes outside C major {outside:.3} vs inside {inside:.3}: {feats:?}");
    assert!((60..=69).contains(&feats.median_midi), "median pitch {}", feats.median_midi);
    assert!(feats.note_rate_hz > 1.0 && feats.note_rate_hz < 3.0, "note rate {}", feats.note_rate_hz);
}

#[test]
fn a_missing_model_is_an_error_naming_it() {
    let mut cfg = PitchModelConfig::from_data_dir(&data_dir());
    cfg.model = data_dir().join("assets/models/no-such-model.onnx");
    let err = cfg.build().expect_err("no model file");
    assert!(err.to_string().contains("no-such-model.onnx"), "{err}");
}
