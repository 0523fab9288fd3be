"""How big can the `lite` model be? Tracking-step time of candidate sizes on CPU (the choice behind kit.config.lite).

    python benchmarks/lite_sizes.py --threads 2

Each candidate is the `lite` preset (EfficientNet-Lite0 to stride 16, MiniLM-L6) with other input sizes and
transformer widths/depths; SGTM is 1+1 layers and the FFN 2x the width throughout. Timed like
benchmarks/model_speed.py (trained-like random weights, batch 1, median after warm-ups); the per-frame cost
of tracking is "search + track" = encoding the search crop + one tracking step with 72 temporal tokens (the
text and template encodings are cached per video). The budget is ~40 ms: 15 frames/s end to end on 2 cores
leaves 67 ms a frame, of which decode, crop, draw and encode of 640x360 video take a share.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.model_speed import machine, make_inputs, peaky_random_weights, timed  # noqa: E402
from kit.config import get_preset  # noqa: E402
from kit.model import build_model  # noqa: E402
from kit.runtime import inference, precast_weights  # noqa: E402

# (search, template, hidden, relation layers, target-decoder layers, head channels); template/search = 2/5
# keeps the tracker's crop factors (2 and 5) at one scale, as the paper's 128/320.
CANDIDATES = [
    (320, 128, 128, 3, 1, 64),
    (320, 128, 192, 4, 2, 96),
    (320, 128, 256, 4, 2, 128),
    (240, 96, 128, 3, 1, 64),
    (240, 96, 192, 4, 1, 96),
    (240, 96, 192, 4, 2, 96),    # the `lite` preset
    (240, 96, 256, 4, 2, 128),
    (256, 128, 128, 3, 1, 64),   # OSTrack's sizes: same scale only with a search factor of 4
    (160, 64, 128, 2, 1, 64),
]


def candidate(search, template, hidden, relation, target, head):
    cfg = get_preset("lite")
    cfg.search_size, cfg.template_size = search, template
    cfg.transformer = dataclasses.replace(cfg.transformer, hidden_dim=hidden, num_heads=hidden // 32,
                                          ffn_dim=2 * hidden, relation_layers=relation, target_dec_layers=target,
                                          head_channels=head)
    return cfg


def step_functions(model, x, precision) -> dict:
    """The timed calls of one model; text and template encodings are cached as the tracker does."""
    with inference(torch.device("cpu"), precision):
        text = model.encode_text(x["ids"], x["mask"])
        template = model.encode_image(x["template"], x["template_mask"])
    search = lambda: model.encode_image(x["search"], x["search_mask"])  # noqa: E731
    return {
        "text": lambda: model.encode_text(x["ids"], x["mask"]),
        "template": lambda: model.encode_image(x["template"], x["template_mask"]),
        "search + track": lambda: model.track(text, template, search(), x["temporal"]),
        "grounding": lambda: model.ground(model.encode_text(x["ids"], x["mask"]), search()),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--sweeps", type=int, default=2)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lite_sizes_cpu.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]

    runs, info = {}, {}
    for sizes in CANDIDATES:
        cfg = candidate(*sizes)
        model = build_model(cfg).eval()
        peaky_random_weights(model)
        x = make_inputs(cfg, torch.device("cpu"), seed=0)
        params = sum(p.numel() for p in model.parameters()) / 1e6
        encoders = sum(p.numel() for m in (model.visual_backbone, model.language_backbone) for p in m.parameters())
        info[sizes] = (cfg.num_positions, params, params - encoders / 1e6)
        for prec in args.precisions:
            runs[sizes, prec] = (prec, step_functions(precast_weights(copy.deepcopy(model), prec), x, prec))
    # Each model timed on its own (interleaving the models gave erratic times), in --sweeps passes
    # over all candidates; the best pass's median is kept, as other jobs on a shared machine only add time.
    times = {}
    for _ in range(args.sweeps):
        for key, (prec, fns) in runs.items():
            with inference(torch.device("cpu"), prec):
                for step, fn in fns.items():
                    median = timed(fn, torch.device("cpu"), args.warmup, args.repeats)
                    times[key, step] = min(times.get((key, step), median), median)
    load_end = os.getloadavg()[0]

    steps = list(next(iter(runs.values()))[1])
    command = "python benchmarks/lite_sizes.py " + " ".join(sys.argv[1:])
    lines = ["# `lite` size candidates: CPU time per step (ms)", "",
             f"- machine: {machine(torch.device('cpu'))}; torch {torch.__version__}; batch 1; median of "
             f"{args.repeats} after {args.warmup} warm-ups, the lower of {args.sweeps} passes; "
             f"1-min load average {load:.2f} at start, {load_end:.2f} at end",
             "- weights: random, trained-like (benchmarks/model_speed.py); SGTM 1+1 layers, FFN = 2 x width, "
             "32 channels per attention head; tokens = relation-encoder sequence length",
             f"- command: `{command}`", "",
             "| search | template | width | relation layers | target-decoder layers | head channels | tokens "
             "| params (M) | beyond encoders (M) | " + " | ".join(f"{s} {p}" for p in args.precisions for s in steps)
             + " |",
             "|---" * (9 + len(steps) * len(args.precisions)) + "|"]
    for sizes in CANDIDATES:
        tokens, params, added = info[sizes]
        cells = [str(v) for v in sizes] + [str(tokens), f"{params:.2f}", f"{added:.2f}"]
        cells += [f"{times[(sizes, p), s] * 1e3:.1f}" for p in args.precisions for s in steps]
        lines.append("| " + " | ".join(cells) + " |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
