"""Learning curves of a training run (its log.csv and eval.csv) as one PNG:

    python benchmarks/plot_training.py benchmarks/results/lite_training

Left: the three losses (grounding, tracking 1, tracking 2) per logged step; right: mean IoU of each pass
on the training batches, and the periodic validation rows (grounding / tracking mIoU) as markers.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path


def read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def plot(run: Path, out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    log = read(run / "log.csv")
    evals = read(run / "eval.csv") if (run / "eval.csv").is_file() else []
    steps = [r["step"] for r in log]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    for key, label in (("loss_grounding", "grounding"), ("loss_track1", "tracking 1"), ("loss_track2", "tracking 2")):
        left.plot(steps, [r[key] for r in log], label=label)
    left.set(xlabel="step (batch of 8)", ylabel="loss (2 GIoU + 5 L1)", title="training losses")
    left.legend()
    for key, label in (("iou_grounding", "grounding"), ("iou_track1", "tracking 1"), ("iou_track2", "tracking 2")):
        right.plot(steps, [r[key] for r in log], label=f"{label} (train batches)")
    if evals:
        right.plot([r["step"] for r in evals], [r["grounding_miou"] for r in evals], "ko", label="val grounding mIoU")
        right.plot([r["step"] for r in evals], [r["track2_miou"] for r in evals], "rs", label="val tracking mIoU")
    right.set(xlabel="step (batch of 8)", ylabel="IoU", title="IoU with the ground truth", ylim=(0, 1))
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", type=Path, help="a folder with log.csv (and eval.csv)")
    p.add_argument("--out", type=Path, help="default: <run>/curves.png")
    args = p.parse_args(argv)
    print(plot(args.run, args.out or args.run / "curves.png"))


if __name__ == "__main__":
    main()
