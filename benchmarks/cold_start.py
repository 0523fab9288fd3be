"""Cold start of `python -m kit.track`: a fresh process, from its start to the first tracked frame.

    python benchmarks/cold_start.py [--runs 3] [--out benchmarks/results/cold_start.md]

Two measurements, each in fresh processes with OMP_NUM_THREADS=1 on the bundled example and the bundled
JointNLT-Lite: (1) the whole command with `--max-frames 2` (start, the first frame, one tracked frame, exit),
median of `--runs`; (2) where that time goes, timed inside one process: the imports (torch, timm, which
brings torchvision, transformers, kit), loading the model, the first frame (initialisation) and the first
tracked frame. The machine's load average is printed next to the numbers: on a shared machine they grow
with it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "assets" / "examples" / "synthetic.mp4"
TEXT, BOX = "the tangerine diamond on top", "16,50,31,45"

PHASES = r"""
import json, sys, time
t = [time.perf_counter()]
import torch; t.append(time.perf_counter())
import timm.layers; t.append(time.perf_counter())
import transformers.models.bert.modeling_bert; t.append(time.perf_counter())
from kit.tracking.session import load_tracker, track_video
from kit.tracking.tracker import Prompt
t.append(time.perf_counter())
tracker = load_tracker(device="cpu", precision="fp32"); t.append(time.perf_counter())
run = track_video(tracker, sys.argv[1], [Prompt(text=sys.argv[2], box=tuple(map(float, sys.argv[3].split(","))))])
next(run); t.append(time.perf_counter())
next(run); t.append(time.perf_counter())
print(json.dumps([b - a for a, b in zip(t, t[1:])]))
"""
PHASE_NAMES = ["import torch", "import timm (and torchvision)", "import transformers (BERT)", "import kit",
               "load the model", "first frame (initialisation)", "first tracked frame"]


def environment() -> dict:
    return dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))


def whole_command() -> float:
    cmd = [sys.executable, "-m", "kit.track", str(EXAMPLE), "--text", TEXT, "--box", BOX, "--max-frames", "2",
           "--quiet"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, env=environment(), capture_output=True)
    return time.perf_counter() - start


def phases() -> list[float]:
    out = subprocess.run([sys.executable, "-c", PHASES, str(EXAMPLE), TEXT, BOX], check=True, cwd=ROOT,
                         env=environment(), capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    load_before = os.getloadavg()[0]
    wall = [whole_command() for _ in range(args.runs)]
    split = phases()
    load_after = os.getloadavg()[0]
    lines = [f"Command: `python benchmarks/cold_start.py {' '.join(argv if argv is not None else sys.argv[1:])}`; "
             f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average "
             f"{load_before:.2f} before, {load_after:.2f} after; {time.strftime('%Y-%m-%d')}.", "",
             f"`python -m kit.track` to the first tracked frame and exit (`--max-frames 2`): median "
             f"**{statistics.median(wall):.1f} s** of {', '.join(f'{w:.1f}' for w in wall)} s.", "",
             "| phase (one fresh process) | seconds |", "|---|---|"]
    lines += [f"| {name} | {s:.2f} |" for name, s in zip(PHASE_NAMES, split)]
    lines.append(f"| **to the first tracked frame** | **{sum(split):.2f}** |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return text


if __name__ == "__main__":
    main()
