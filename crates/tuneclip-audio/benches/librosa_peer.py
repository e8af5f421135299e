"""Peer timing for the audio benchmark: librosa load + melspectrogram + onset_strength
+ beat_track per song, after a warm-up that pays numba's JIT compilation.
Prints one JSON object: {path: seconds}."""
import json
import sys
import time

import librosa
import numpy as np

warm = np.random.default_rng(0).standard_normal(22050 * 5).astype(np.float32)
librosa.beat.beat_track(y=warm, sr=22050)
librosa.feature.melspectrogram(y=warm, sr=22050)

out = {}
for path in sys.argv[1:]:
    t0 = time.perf_counter()
    y, sr = librosa.load(path, sr=22050, mono=True)
    S = librosa.feature.melspectrogram(y=y, sr=sr, n_fft=2048, hop_length=512, n_mels=128)
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    librosa.beat.beat_track(onset_envelope=onset, sr=sr)
    out[path] = time.perf_counter() - t0
print(json.dumps(out))
