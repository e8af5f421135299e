"""Tempo and beat accuracy on MIDI-rendered songs: tuneclip beside librosa, same excerpts.

The ten planetblupi songs (Debian planetblupi-music-midi), each cut at 335 s and
rendered by fluidsynth with the General MIDI soundfont (both from setup.sh), scored
whole and as four one-minute excerpts of each (from 0, 90, 180, 270 s). Truth: the MIDI tempo, and the
notated beat grid shifted to where the notes sound (the most common offset of note
starts from the sixteenth grid), as in tests/integration/midi_songs.rs. Scores: tempo
within 2%, beat F-measure with a 70 ms window.

    cargo build --release -p tuneclip-audio --example beats
    pip install --user librosa mido
    python3 crates/tuneclip-audio/benches/beats_midi.py
"""

import collections
import json
import os
import subprocess
import sys
import tempfile
import warnings

import librosa
import mido
import numpy as np

MIDI_DIR = "/usr/share/planetblupi/music"
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
STARTS_S = (0, 90, 180, 270)
EXCERPT_S = 60
SR = 22050
BEATS = os.path.join(os.path.dirname(__file__), "../../../target/release/examples/beats")


def f_measure(ref, est, window=0.07):
    used = np.zeros(len(est), bool)
    hits = 0
    for r in ref:
        near = [(abs(e - r), i) for i, e in enumerate(est) if not used[i] and abs(e - r) <= window]
        if near:
            used[min(near)[1]] = True
            hits += 1
    if hits == 0:
        return 0.0
    p, r = hits / len(est), hits / len(ref)
    return 2 * p * r / (p + r)


def truth(midi):
    ppq = midi.ticks_per_beat
    tempo = [m.tempo for tr in midi.tracks for m in tr if m.type == "set_tempo"][0]
    offsets = collections.Counter()
    for tr in midi.tracks:
        t = 0
        for m in tr:
            t += m.time
            if m.type == "note_on" and m.velocity > 0:
                offsets[t % (ppq // 4)] += 1
    best = max(offsets.values())
    d = min(o for o, n in offsets.items() if n == best)
    return 60e6 / tempo, d * tempo / 1e6 / ppq


def cut(midi, seconds, bpm):
    limit = seconds * bpm / 60 * midi.ticks_per_beat
    out = mido.MidiFile(ticks_per_beat=midi.ticks_per_beat, type=midi.type)
    for tr in midi.tracks:
        t, kept, was_cut = 0, mido.MidiTrack(), False
        for m in tr:
            t += m.time
            if t > limit:
                was_cut = True
                break
            kept.append(m)
        if was_cut:  # All Sound Off, or held notes sound (and render) for ever
            kept.extend(mido.Message("control_change", channel=c, control=120, value=0) for c in range(16))
            kept.append(mido.MetaMessage("end_of_track"))
        out.tracks.append(kept)
    return out


def score(bpm, offset, start, tempo, beats, length=EXCERPT_S):
    if len(beats) == 0:
        return abs(tempo / bpm - 1) <= 0.02, 0.0
    period = 60 / bpm
    lo, hi = beats[0], beats[-1]
    grid = [offset + k * period - start for k in range(int((start + length) / period) + 2)]
    grid = [g for g in grid if lo - 0.035 <= g <= hi + 0.035]
    return abs(tempo / bpm - 1) <= 0.02, f_measure(grid, list(beats))


def main():
    warnings.filterwarnings("ignore")
    results = {"tuneclip": [], "librosa": []}
    songs = {"tuneclip": [], "librosa": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(10):
            name = f"music00{n}"
            midi = mido.MidiFile(f"{MIDI_DIR}/{name}.mid")
            bpm, offset = truth(midi)
            cut(midi, STARTS_S[-1] + EXCERPT_S + 5, bpm).save(f"{tmp}/{name}.mid")
            subprocess.run(
                ["fluidsynth", "-ni", "-q", "-r", str(SR), "-F", f"{tmp}/{name}.wav", SOUNDFONT, f"{tmp}/{name}.mid"],
                check=True,
                timeout=300,
            )
            whole = f"{tmp}/{name}.wav"
            ours = json.loads(
                subprocess.run([BEATS, whole], env={**os.environ, "SECONDS": "100000"}, capture_output=True, check=True, text=True).stdout
            )
            y, sr = librosa.load(whole, sr=SR)
            length = len(y) / sr
            songs["tuneclip"].append((name, 0, *score(bpm, offset, 0, ours["tempo_bpm"], ours["beats_s"], length)))
            tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
            songs["librosa"].append((name, 0, *score(bpm, offset, 0, float(np.atleast_1d(tempo)[0]), beats, length)))
            for start in STARTS_S:
                wav = f"{tmp}/{name}_{start}.wav"
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-y", "-ss", str(start), "-t", str(EXCERPT_S + 1), "-i", f"{tmp}/{name}.wav", wav],
                    check=True,
                )
                ours = json.loads(
                    subprocess.run([BEATS, wav], env={**os.environ, "SECONDS": str(EXCERPT_S)}, capture_output=True, check=True, text=True).stdout
                )
                results["tuneclip"].append((name, start, *score(bpm, offset, start, ours["tempo_bpm"], ours["beats_s"])))
                y, sr = librosa.load(wav, sr=SR, duration=EXCERPT_S)
                tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
                results["librosa"].append((name, start, *score(bpm, offset, start, float(np.atleast_1d(tempo)[0]), beats)))
            print(
                f"{name}: " + "  ".join(f"{who} {songs[who][-1][3]:.2f} / " + " ".join(f"{r[3]:.2f}" for r in res[-4:]) for who, res in results.items()),
                file=sys.stderr,
            )
    print(f"librosa {librosa.__version__}; {len(songs['tuneclip'])} whole songs (335 s), {len(results['tuneclip'])} one-minute excerpts")
    print("| tracker | songs: tempo within 2% | songs: beat F >= 0.9 | excerpts: tempo within 2% | excerpts: beat F >= 0.9 | excerpts: mean beat F |")
    print("|---|---|---|---|---|---|")
    for who, res in results.items():
        whole = songs[who]
        print(
            f"| {who} | {sum(r[2] for r in whole)} | {sum(r[3] >= 0.9 for r in whole)} "
            f"| {sum(r[2] for r in res)} | {sum(r[3] >= 0.9 for r in res)} | {np.mean([r[3] for r in res]):.3f} |"
        )


if __name__ == "__main__":
    main()
