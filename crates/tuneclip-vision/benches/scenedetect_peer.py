"""PySceneDetect peer for the transitions benchmark.

Runs PySceneDetect's ContentDetector and AdaptiveDetector (default settings) on each
video given and prints JSON: {path: {detector: {"cuts": [seconds...], "seconds": wall}}}.
Exits 3 when scenedetect is not installed (pip install scenedetect opencv-python-headless).
"""

import json
import sys
import time

try:
    from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video
except ImportError:
    sys.exit(3)


def run(path, detector):
    started = time.perf_counter()
    video = open_video(path)
    manager = SceneManager()
    manager.add_detector(detector)
    manager.detect_scenes(video)
    scenes = manager.get_scene_list()
    elapsed = time.perf_counter() - started
    seconds = [s[0].seconds if hasattr(type(s[0]), "seconds") else s[0].get_seconds() for s in scenes[1:]]
    return {"cuts": seconds, "seconds": elapsed}


out = {}
for path in sys.argv[1:]:
    out[path] = {
        "content": run(path, ContentDetector()),
        "adaptive": run(path, AdaptiveDetector()),
    }
print(json.dumps(out))
