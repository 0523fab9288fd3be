"""The real validation set: NL+BB tracking on real appearance, against a box that never moves.

    python benchmarks/real_validation.py [--weights assets/jointnlt-lite] [--option motion_prior=0.5 ...]

Two parts, neither of them a held-out test clip:
* the bundled Big Buck Bunny clip with our hand labels of the rabbit every ~15 frames
  (assets/examples/bunny_labels.txt), started from the frame-0 label;
* semi-real sequences (`kit.data.semireal`, split 'val'): five labelled photographs, each seen by two
  synthetic camera paths with exact boxes (written to --data on first use).
Per sequence: mean IoU over the labelled (bunny) or visible (semi-real) frames after frame 0, success AUC
(toolkit rules, frame 0 included as ground truth), and the same for the first box kept still.
`--option key=value` sets TrackerConfig fields. Writes a Markdown table to --out (with machine and command).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kit.data import load_dataset  # noqa: E402
from kit.evaluation.metrics import pixel_iou_xywh, sequence_curves  # noqa: E402
from kit.tracking.session import load_tracker, track_boxes  # noqa: E402
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig  # noqa: E402
from kit.tracking.video import open_video  # noqa: E402

BUNNY = ROOT / "assets" / "examples" / "bunny.mp4"
BUNNY_LABELS = ROOT / "assets" / "examples" / "bunny_labels.txt"
BUNNY_SENTENCE = "the big grey rabbit coming out of its burrow"


def read_labels(path: Path = BUNNY_LABELS) -> dict[int, np.ndarray]:
    rows = [line.split(",") for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {int(r[0]): np.array([float(v) for v in r[1:5]]) for r in rows}


@dataclasses.dataclass
class Clip:
    name: str
    frames: list            # RGB arrays or paths
    sentence: str
    gt: np.ndarray          # (T,4), zeros where unlabelled / out of view
    labelled: np.ndarray    # (T,) bool


def bunny_clip() -> Clip:
    labels = read_labels()
    frames = [frame for _, frame in open_video(BUNNY)]
    gt = np.zeros((len(frames), 4))
    for i, box in labels.items():
        gt[i] = box
    return Clip("bunny (hand labels)", frames, BUNNY_SENTENCE, gt, gt[:, 2] > 0)


def semireal_clips(root: Path) -> list[Clip]:
    if not (root / "val.txt").is_file():
        from kit.data.semireal import write_split, VALIDATION_PHOTOS
        write_split(root, "val", 2 * len(VALIDATION_PHOTOS))
    data = load_dataset("synthetic", root, split="val")
    return [Clip(seq.name, list(seq.frames), seq.sentence, np.asarray(seq.boxes, float),
                 np.asarray(seq.visible, bool) & (np.asarray(seq.boxes)[:, 2] > 0)) for seq in data]


def track(tracker: Tracker, clip: Clip) -> np.ndarray:
    return track_boxes(tracker, clip.frames, Prompt(text=clip.sentence, box=tuple(clip.gt[0])))


def score(pred: np.ndarray, clip: Clip) -> dict[str, float]:
    keep = clip.labelled.copy()
    keep[0] = False
    iou = pixel_iou_xywh(pred[keep], clip.gt[keep])
    curves = sequence_curves(pred[clip.labelled], clip.gt[clip.labelled])
    return {"miou": float(iou.mean()), "auc": curves.auc}


def _real_footage_settings(tracker) -> str:
    c = tracker.config
    return (f"appearance_check={c.appearance_check}, motion_prior={c.motion_prior}, "
            f"max_scale_change={c.max_scale_change}, hold_below={c.hold_below}")


def parse_option(text: str):
    key, _, value = text.partition("=")
    fields = {f.name: f for f in dataclasses.fields(TrackerConfig)}
    if key not in fields:
        raise SystemExit(f"unknown tracker option {key!r}; choose from {sorted(fields)}")
    return key, (None if value.lower() == "none" else
                 value.lower() == "true" if value.lower() in ("true", "false") else float(value))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="default: the bundled JointNLT-Lite")
    p.add_argument("--precision", default="fp32")
    p.add_argument("--option", action="append", default=[], help="TrackerConfig field=value (repeatable)")
    p.add_argument("--data", default="data/semireal", help="where the semi-real validation sequences are written")
    p.add_argument("--out", default=None, help="Markdown table (default: print only)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    options = dict(parse_option(o) for o in args.option)
    tracker = load_tracker(args.weights, "cpu", args.precision, **options)
    clips = [bunny_clip()] + semireal_clips(Path(args.data))
    rows, start = [], time.perf_counter()
    for clip in clips:
        pred = track(tracker, clip)
        still = np.repeat(clip.gt[:1], len(clip.gt), 0)
        rows.append((clip.name, score(pred, clip), score(still, clip)))
    seconds = time.perf_counter() - start
    semi = [r for r in rows if not r[0].startswith("bunny")]
    mean = lambda part, key, i: float(np.mean([r[i][key] for r in part]))  # noqa: E731
    lines = ["| sequence | mean IoU | AUC | still box mean IoU | still box AUC |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {m['miou']:.3f} | {m['auc']:.1f} | {s['miou']:.3f} | {s['auc']:.1f} |" for n, m, s in rows]
    lines.append(f"| **semi-real mean** | **{mean(semi, 'miou', 1):.3f}** | **{mean(semi, 'auc', 1):.1f}** | "
                 f"{mean(semi, 'miou', 2):.3f} | {mean(semi, 'auc', 2):.1f} |")
    summary = {"bunny_miou": rows[0][1]["miou"], "semireal_miou": mean(semi, "miou", 1),
               "bunny_auc": rows[0][1]["auc"], "semireal_auc": mean(semi, "auc", 1),
               "above_still_everywhere": all(m["miou"] > s["miou"] for _, m, s in rows)}
    head = [f"`python benchmarks/real_validation.py {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
            f"weights: {args.weights or 'bundled JointNLT-Lite'}; precision {args.precision}; tracker options: "
            f"{options or 'defaults'} (in effect: {_real_footage_settings(tracker)}); "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}; {seconds:.0f} s", ""]
    text = "\n".join(head + lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
    return summary


if __name__ == "__main__":
    main()
