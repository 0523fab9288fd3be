"""Learning curves of a training run (its log.csv and eval.csv) as one PNG; several runs (phases that follow
each other, e.g. grounding only, then joint) are drawn one after the other on one step axis:

    python benchmarks/plot_training.py benchmarks/results/lite_training/ground benchmarks/results/lite_training/joint \
        --out benchmarks/results/lite_training/curves.png

Left: the losses (grounding, tracking 1, tracking 2: whichever a run has) per logged step, smoothed over 5
rows; right: mean IoU of each pass on the training batches (smoothed), and the periodic validation rows
(grounding mIoU and Acc@0.5, tracking mIoU) as markers. A dotted line marks where a phase starts.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

PASSES = (("grounding", "grounding"), ("track1", "tracking 1"), ("track2", "tracking 2"))


def read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


def smooth(values: list[float], window: int = 5) -> list[float]:
    return [sum(values[max(0, i - window + 1): i + 1]) / len(values[max(0, i - window + 1): i + 1])
            for i in range(len(values))]


def plot(runs: list[Path], out: Path) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    seen: set[str] = set()

    def once(label: str) -> str | None:  # each legend entry once, whatever the number of phases
        if label in seen:
            return None
        seen.add(label)
        return label

    offset, colours = 0.0, {"grounding": "C0", "track1": "C1", "track2": "C2"}
    marks = (("grounding_miou", "ko", "val grounding mIoU"), ("grounding_acc", "k^", "val grounding Acc@0.5"),
             ("track2_miou", "rs", "val tracking mIoU"))
    for n, run in enumerate(runs):
        log = read(run / "log.csv")
        evals = read(run / "eval.csv") if (run / "eval.csv").is_file() else []
        steps = [offset + r["step"] for r in log]
        for key, label in PASSES:
            if f"loss_{key}" in log[0]:
                left.plot(steps, smooth([r[f"loss_{key}"] for r in log]), colours[key], label=once(label))
                right.plot(steps, smooth([r[f"iou_{key}"] for r in log]), colours[key], alpha=0.6,
                           label=once(f"{label} (train batches)"))
        for key, style, label in marks:
            rows = [r for r in evals if key in r]
            if rows:
                right.plot([offset + r["step"] for r in rows], [r[key] for r in rows], style, markersize=4,
                           label=once(label))
        if n:
            for ax in (left, right):
                ax.axvline(offset, color="grey", linestyle=":")
            right.text(offset, 0.97, f" {run.name}", va="top", fontsize=8, color="grey")
        offset = steps[-1]
    left.set(xlabel="step (batch of 8)", ylabel="loss (2 GIoU + 5 L1)", title="training losses")
    left.legend(fontsize=8)
    right.set(xlabel="step (batch of 8)", ylabel="IoU / accuracy", title="IoU with the ground truth", ylim=(0, 1))
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="folders with log.csv (and eval.csv), in training order")
    p.add_argument("--out", type=Path, help="default: <last run>/curves.png")
    args = p.parse_args(argv)
    print(plot(args.runs, args.out or args.runs[-1] / "curves.png"))


if __name__ == "__main__":
    main()
