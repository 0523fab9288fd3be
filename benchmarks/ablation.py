"""Table 1 of the paper on the synthetic benchmark: SepRM, MSRM, MSRM-TDec, MSRM-TM and the full model,
each trained with the same budget, data order and seed, then evaluated on the test split.

    python benchmarks/ablation.py --data /path/to/synthetic --work runs/ablation \
        [--ground-samples 4800] [--samples 800] [--sequences 25] [--threads 1] [--jobs 5]

Training: the bundled model's two phases with `model.variant=<variant>`: `--ground-samples` of the
`lite_ground` preset (grounding only), then `--samples` of the `lite` preset started from them
(`model.init_from`), each as 2 epochs with no warm-up, decay or periodic evaluation. (The training aids
that need a target decoder are ignored by SepRM and MSRM, which have none. The full model's phase 1 is
MSRM-TM's: for grounding they are the same network, see SHARED_PHASE1.)
Evaluation (bf16): grounding accuracy on the 300 grounding_test images; NL+BB and NL tracking on the first
`--sequences` sequences of the test split (AUC / P@20 / NP, `python -m kit.evaluate score`). Each finished
step is kept (a variant's scores in <work>/<variant>/scores.json), so a second call resumes.
`--jobs N` trains and evaluates the variants in N processes of `--threads` torch threads each: on 2 cores,
two single-thread processes train ~25 % more samples per second than one two-thread process.
Writes benchmarks/results/ablation.{csv,md,png}, with a last row of what no model scores on the same
images and sequences (a centre box for grounding and NL, the first box kept for NL+BB).
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

VARIANTS = ("seprm", "msrm", "msrm_tdec", "msrm_tm", "full")
TITLES = {"seprm": "SepRM", "msrm": "MSRM", "msrm_tdec": "MSRM-TDec", "msrm_tm": "MSRM-TM", "full": "Full (JointNLT)",
          "baselines": "No model: centre box (grounding, NL) / first box kept (NL+BB)"}
COLUMNS = ("variant", "grounding_acc", "grounding_miou", "nlbb_auc", "nlbb_p20", "nlbb_np", "nl_auc", "nl_p20")
RESULTS = ROOT / "benchmarks" / "results"


# `full` differs from `msrm_tm` only in SGTM reading the NL CLS token, and SGTM never runs while grounding:
# their phase 1 is the same computation (same parameters, seed and data order; tests/test_ablations.py), so it
# is trained once, as msrm_tm's, and both variants' phase 2 start from it.
SHARED_PHASE1 = {"full": "msrm_tm"}


def phase1_dir(variant: str, work: Path) -> Path:
    return work / SHARED_PHASE1.get(variant, variant) / "ground"


def train_variant(variant: str, data: Path, work: Path, ground_samples: int, samples: int) -> Path:
    """Phase 1 (grounding only) in phase1_dir, phase 2 (joint, from phase 1) in work/variant/joint; resumable."""
    from kit.train.config import get_train_preset, parse_overrides
    from kit.train.main import train
    from kit.train.state import latest_checkpoint

    ground = phase1_dir(variant, work)
    for run, model, preset, count, extra in (
            (ground, SHARED_PHASE1.get(variant, variant), "lite_ground", ground_samples, []),
            (work / variant / "joint", variant, "lite", samples, [f"model.init_from={ground}"])):
        cfg = parse_overrides([f"model.variant={model}", f"data.roots.synthetic={data}", f"run.out_dir={run}",
                               "optim.epochs=2", f"optim.samples_per_epoch={count // 2}", "optim.warmup_epochs=0",
                               "optim.milestones=[]", "run.eval_every=0", "run.progress=false", "run.keep_checkpoints=1",
                               "run.resume=auto", *extra], get_train_preset(preset))
        if latest_checkpoint(run / "checkpoints") is None or not (run / "DONE").is_file():
            train(cfg)
            (run / "DONE").write_text("trained\n")
    return latest_checkpoint(work / variant / "joint" / "checkpoints")


def training_seconds(variant: str, work: Path) -> float:
    """Wall-clock training time of both phases, from the last rows of their log.csv (also after a resume)."""
    total = 0.0
    for run in (phase1_dir(variant, work), work / variant / "joint"):
        with open(run / "log.csv", newline="") as f:
            total += float(list(csv.DictReader(f))[-1]["elapsed_s"])
    return total


def evaluate_variant(checkpoint: Path, data: Path, work: Path, sequences: int) -> dict:
    from kit.weights.checkpoint import load_pretrained
    from kit.evaluate import run_grounding
    from kit.evaluation.runner import run_benchmark
    from kit.evaluation.scoring import open_benchmark, score_trackers
    from kit.runtime import precast_weights
    from kit.tracking.tracker import Tracker, TrackerConfig

    model = precast_weights(load_pretrained(checkpoint), "bf16")
    args = argparse.Namespace(precision="bf16", quiet=True)
    grounding = run_grounding(args, data, "grounding_test", "", ["one_per_ref"], work / "grounding", model=model,
                           device="cpu", dataset="synthetic")["one_per_ref"]
    row = {"grounding_acc": grounding.acc_50, "grounding_miou": grounding.mean_iou}  # both in %
    test = open_benchmark("synthetic", data, "test")
    # Every variant was trained with its temporal clue always on (two search frames), so it tracks with it
    # after a box start too (variants without a temporal module ignore the flag).
    tracker = Tracker(model, TrackerConfig(temporal=True), device="cpu", precision="bf16")
    for init in ("nlbb", "nl"):
        run_benchmark(tracker, test, work / "results", init, init=init, max_sequences=sequences, log=print)
    sequences_scored = [test[name] for name in test.names[:sequences]]
    scores = dict(zip(("nlbb", "nl"), score_trackers(work / "results", ["nlbb", "nl"], sequences_scored)))
    for init in ("nlbb", "nl"):
        o = scores[init].overall
        row.update({f"{init}_auc": o.auc, f"{init}_p20": o.precision})
        if init == "nlbb":
            row["nlbb_np"] = o.norm_precision
    return row


def add_spread(row: dict, data: Path, results: Path, trackers: dict[str, str], sequences: int) -> dict:
    """Adds row["se"], one standard error of each headline number: Acc@0.5 over the grounding images (binomial),
    AUC over the sequences (the benchmark's AUC is their mean); and row["per_sequence"], the AUCs themselves,
    for the paired step-by-step differences. `trackers`: column -> result name in `results`."""
    import numpy as np
    from kit.evaluate import synthetic_refs
    from kit.evaluation.scoring import open_benchmark, score_trackers

    images = len(synthetic_refs(data, "grounding_test"))
    acc = row["grounding_acc"]
    row["se"] = {"grounding_acc": float(np.sqrt(acc * (100.0 - acc) / images))}
    row["per_sequence"] = {}
    test = open_benchmark("synthetic", data, "test")
    scores = score_trackers(results, list(trackers.values()), [test[name] for name in test.names[:sequences]])
    for column, score in zip(trackers, scores):
        aucs = np.array([s.result.auc for s in score.sequences])
        row["se"][column] = float(aucs.std(ddof=1) / np.sqrt(len(aucs)))
        row["per_sequence"][column] = aucs.tolist()
    return row


def step_lines(rows: list[dict]) -> list[str]:
    """What each variant adds over the one before it, paired over the same sequences: mean AUC difference,
    its standard error, and on how many sequences it is better / worse."""
    import numpy as np

    variants = [r for r in rows if r["variant"] != "baselines"]
    lines = ["| Step | NL+BB AUC | NL AUC |", "| --- | --- | --- |"]
    for before, after in zip(variants, variants[1:]):
        cells = []
        for column in ("nlbb_auc", "nl_auc"):
            d = np.subtract(after["per_sequence"][column], before["per_sequence"][column])
            cells.append(f"{d.mean():+.1f} ± {d.std(ddof=1) / np.sqrt(len(d)):.1f} "
                         f"(better on {int((d > 0).sum())}, worse on {int((d < 0).sum())} of {len(d)})")
        lines.append(f"| {TITLES[before['variant']]} → {TITLES[after['variant']]} | " + " | ".join(cells) + " |")
    return lines


def mean_target_size(data: Path) -> tuple[float, float]:
    """The training split's mean visible box (w, h): the centre baseline's box."""
    import numpy as np
    from kit.data import load_dataset

    train = load_dataset("synthetic", data, split="train")
    boxes = np.concatenate([np.asarray(train[name].boxes, dtype=np.float64) for name in train.names])
    visible = boxes[(boxes[:, 2] > 0) & (boxes[:, 3] > 0)]
    return float(visible[:, 2].mean()), float(visible[:, 3].mean())


def baseline_row(data: Path, work: Path, sequences: int) -> dict:
    """What no model at all scores on the same images and sequences: grounding and NL with a box of the
    training split's mean size in the middle of the image (`kit.evaluate baseline --kind centre`), NL+BB
    with the first box kept for every frame (`--kind static`)."""
    import cv2
    import numpy as np
    from kit.evaluate import synthetic_refs
    from kit.evaluation.metrics import grounding_accuracy
    from kit.evaluation.runner import centre_box_baseline, static_box_baseline
    from kit.evaluation.scoring import open_benchmark, score_trackers

    w, h = mean_target_size(data)
    pred, gt = [], []
    for ref in synthetic_refs(data, "grounding_test"):
        H, W = cv2.imread(str(ref.image), cv2.IMREAD_UNCHANGED).shape[:2]
        pred.append([(W - w) / 2, (H - h) / 2, (W + w) / 2, (H + h) / 2])
        x, y, bw, bh = np.asarray(ref.box, dtype=np.float64)
        gt.append([x, y, x + bw, y + bh])
    grounding = grounding_accuracy(np.array(pred), np.array(gt))
    test = open_benchmark("synthetic", data, "test")
    results = work / "baselines"
    centre_box_baseline(test, results, (w, h), "centre-prior", max_sequences=sequences)
    static_box_baseline(test, results, "static-box", max_sequences=sequences)
    centre, static = score_trackers(results, ["centre-prior", "static-box"],
                                    [test[name] for name in test.names[:sequences]])
    row = {"variant": "baselines", "grounding_acc": grounding.acc_50, "grounding_miou": grounding.mean_iou,
           "nlbb_auc": static.overall.auc, "nlbb_p20": static.overall.precision,
           "nlbb_np": static.overall.norm_precision, "nl_auc": centre.overall.auc,
           "nl_p20": centre.overall.precision, "train_s": 0.0, "box": [w, h]}
    return add_spread(row, data, results, {"nlbb_auc": "static-box", "nl_auc": "centre-prior"}, sequences)


def variant_row(variant: str, args: argparse.Namespace) -> dict:
    """Train and evaluate one variant, or read its kept scores (written only after a complete evaluation)."""
    out = args.work / variant
    kept = out / "scores.json"
    checkpoint = train_variant(variant, args.data, args.work, args.ground_samples, args.samples)
    row = json.loads(kept.read_text()) if kept.is_file() else {}
    if not row or kept.stat().st_mtime < checkpoint.stat().st_mtime or row.get("sequences") != args.sequences:
        row = {"variant": variant, **evaluate_variant(checkpoint, args.data, out, args.sequences),
               "train_s": training_seconds(variant, args.work), "sequences": args.sequences}
        kept.write_text(json.dumps(row, indent=1) + "\n")
    return add_spread(row, args.data, out / "results", {"nlbb_auc": "nlbb", "nl_auc": "nl"}, args.sequences)


def phase1_ready(variant: str, args: argparse.Namespace) -> bool:
    """False while another process of this call will train (or is training) the phase 1 `variant` starts from."""
    owner = SHARED_PHASE1.get(variant)
    if owner is None or owner not in args.variants:
        return True
    return (phase1_dir(owner, args.work) / "DONE").is_file()


def run_in_processes(args: argparse.Namespace) -> None:
    """One child process per variant, at most `--jobs` at a time, each with `--threads` torch threads."""
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads or 1)}
    base = [sys.executable, str(Path(__file__).resolve()), "--data", str(args.data), "--work", str(args.work),
            "--ground-samples", str(args.ground_samples), "--samples", str(args.samples),
            "--sequences", str(args.sequences), "--threads", str(args.threads or 1), "--jobs", "1", "--no-write"]
    pending, running = list(args.variants), []
    while pending or running:
        ready = [v for v in pending if phase1_ready(v, args)]
        while ready and len(running) < args.jobs:
            variant = ready.pop(0)
            pending.remove(variant)
            args.work.joinpath(variant).mkdir(parents=True, exist_ok=True)
            log = open(args.work / variant / "ablation.log", "a")
            running.append((variant, subprocess.Popen([*base, "--variants", variant], env=env, stdout=log,
                                                      stderr=subprocess.STDOUT), log))
        time.sleep(5)
        for item in [r for r in running if r[1].poll() is not None]:
            running.remove(item)
            item[2].close()
            if item[1].returncode:
                raise SystemExit(f"variant {item[0]} failed (exit {item[1].returncode}); "
                                 f"see {args.work / item[0] / 'ablation.log'}")


def write_outputs(rows: list[dict], command: str, jobs: int, threads: int, results: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results.mkdir(parents=True, exist_ok=True)
    with open(results / "ablation.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{row[k]:.2f}" if isinstance(row[k], float) else row[k]) for k in COLUMNS})
    lines = ["| Variant | Grounding Acc@0.5 | Grounding mIoU | NL+BB AUC | NL+BB P@20 | NL+BB NP | NL AUC | NL P@20 | "
             "Train min (wall) |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        minutes = f"{row['train_s'] / 60:.0f}" if row["variant"] != "baselines" else "–"
        cells = [f"{row[k]:.1f}" + (f" ± {row['se'][k]:.1f}" if k in row["se"] else "") for k in COLUMNS[1:]]
        lines.append(f"| {TITLES[row['variant']]} | " + " | ".join(cells) + f" | {minutes} |")
    sizes = [r["box"] for r in rows if r["variant"] == "baselines"]
    notes = ("± one standard error: of Acc@0.5 over the grounding images, of AUC over the sequences (all "
             "variants track the same sequences and images, so the noise in a difference between two of them is usually "
             "less than their two errors together suggest). ")
    if sizes:
        notes += (f"The centre box is the training split's mean visible target size, "
                  f"{sizes[0][0]:.1f} × {sizes[0][1]:.1f} px. ")
    notes += ("The full model's training minutes include MSRM-TM's phase 1, which it starts from (the same "
              "network for grounding). Reading and caveats: docs/model-card.md, section Ablation.")
    steps = ("What each step adds, paired over the same sequences (mean AUC difference ± its standard error):\n\n"
             + "\n".join(step_lines(rows)))
    machine = (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {jobs} variant(s) "
               f"trained at a time with torch threads {threads or 'default'} each (so wall minutes are per process, "
               f"not per core); {time.strftime('%Y-%m-%d')}")
    (results / "ablation.md").write_text("\n\n".join([
        "# Ablations on the synthetic benchmark (cf. the paper's Table 1)", "\n".join(lines), notes, steps,
        f"Command: `{command}`", machine]) + "\n")
    variants = [r for r in rows if r["variant"] != "baselines"]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.8))
    names = [TITLES[r["variant"]] for r in variants]
    for ax, key, title in zip(axes, ("grounding_acc", "nlbb_auc", "nl_auc"),
                              ("Grounding Acc@0.5 (%)", "NL+BB tracking AUC (%)", "NL tracking AUC (%)")):
        ax.bar(names, [r[key] for r in variants], color="#4c72b0")
        for r in rows:
            if r["variant"] == "baselines":
                ax.axhline(r[key], color="#c44e52", linestyle="--", label="no model")
                ax.legend(loc="best", fontsize=8)
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.tick_params(axis="x", rotation=35)
    fig.tight_layout()
    fig.savefig(results / "ablation.png", dpi=120)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the synthetic benchmark root")
    p.add_argument("--work", type=Path, default=Path("runs/ablation"))
    p.add_argument("--ground-samples", type=int, default=4800, help="grounding-only samples per variant (phase 1)")
    p.add_argument("--samples", type=int, default=800, help="joint training samples per variant (phase 2)")
    p.add_argument("--sequences", type=int, default=25, help="test sequences tracked per variant")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--results", type=Path, default=RESULTS, help="where ablation.{csv,md,png} go")
    p.add_argument("--jobs", type=int, default=1, help="variants trained at a time, each in its own process")
    p.add_argument("--no-write", action="store_true", help=argparse.SUPPRESS)  # a --jobs child: scores only
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    if args.threads:
        import torch
        torch.set_num_threads(args.threads)
    if args.jobs > 1:
        run_in_processes(args)
    rows = []
    for variant in args.variants:
        rows.append(variant_row(variant, args))
        print(rows[-1], flush=True)
    if not args.no_write:
        rows.append(baseline_row(args.data, args.work, args.sequences))
        write_outputs(rows, "python benchmarks/ablation.py " + shlex.join(argv), args.jobs, args.threads, args.results)


if __name__ == "__main__":
    main()
