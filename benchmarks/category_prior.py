"""Sentence-only first boxes on real frames: the ImageNet category prior against the model's own grounding.

    python benchmarks/category_prior.py [--weights assets/jointnlt-lite] [--out benchmarks/results/category_prior.md]

Items: the 10 hand-labelled frames of the bundled bunny clip (each with its sentence, a short one, 'the
rabbit', and one that names no ImageNet category, 'the big grey one coming out of its hole') and the first frame of each semi-real validation sequence (`kit.data.semireal`, its labelled
sentence). A hit is IoU >= 0.5 with the label. Sentences are split by whether the prior finds an ImageNet
category in them (cosine >= kit.tracking.category_prior.NAME_THRESHOLD); for those that name none, the
tracker falls back to the model's grounding, so that column is the model alone.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from real_validation import BUNNY, BUNNY_SENTENCE, read_labels  # noqa: E402
from kit.weights.loading import load_model  # noqa: E402
from kit.data import load_dataset  # noqa: E402
from kit.evaluation.metrics import pixel_iou_xywh  # noqa: E402
from kit.evaluation.runner import read_rgb  # noqa: E402
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig  # noqa: E402
from kit.tracking.video import open_video  # noqa: E402


def items(data_root: Path):
    frames = {i: f for i, f in open_video(BUNNY)}
    for i, box in read_labels().items():
        for sentence in (BUNNY_SENTENCE, "the rabbit", "the big grey one coming out of its hole"):
            yield f"bunny frame {i}", frames[i], box, sentence
    if not (data_root / "val.txt").is_file():
        from kit.data.semireal import VALIDATION_PHOTOS, write_split
        write_split(data_root, "val", 2 * len(VALIDATION_PHOTOS))
    for seq in load_dataset("semireal", data_root, split="val"):
        yield seq.name, read_rgb(seq.frames[0]), np.asarray(seq.boxes[0], float), seq.sentence


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None)
    p.add_argument("--data", default="data/semireal")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    model = load_model(args.weights)
    plain = Tracker(model, TrackerConfig(), device="cpu")
    prior = Tracker(model, TrackerConfig(category_prior=True), device="cpu")
    rows = []
    for name, frame, box, sentence in items(Path(args.data)):
        with_prior = prior.init(frame, [Prompt(text=sentence)])[1][0]
        grounded = plain.init(frame, [Prompt(text=sentence)])[1][0]
        named = with_prior.found_by.startswith("category prior")
        iou = lambda r: float(pixel_iou_xywh(np.array([r.box]), np.array([box]))[0])  # noqa: E731
        rows.append((name, sentence, named, with_prior.found_by, iou(with_prior), iou(grounded)))
    lines = ["| item | sentence | first box by | IoU (prior on) | IoU (model grounding) |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {s} | {by} | {a:.2f} | {b:.2f} |" for n, s, _, by, a, b in rows]
    summary = ["", "| sentences | count | hit rate, prior on | hit rate, model grounding |", "|---|---|---|---|"]
    for label, keep in (("name an ImageNet category", True), ("name none", False)):
        part = [r for r in rows if r[2] == keep]
        if part:
            summary.append(f"| {label} | {len(part)} | {100 * np.mean([r[4] >= 0.5 for r in part]):.0f} % | "
                           f"{100 * np.mean([r[5] >= 0.5 for r in part]):.0f} % |")
    head = [f"`python benchmarks/category_prior.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
            f"weights: {args.weights or 'bundled JointNLT-Lite'}; {platform.machine()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}. Hit = IoU >= 0.5 with the hand label.", ""]
    text = "\n".join(head + lines + summary) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
