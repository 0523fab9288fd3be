"""The paper's model through `--weights official` on a CPU: first start, later starts, per-frame time and
peak memory, each in a fresh process, as a Space would see them (the download itself excepted).

    python benchmarks/official_start.py --threads 2 --frames 30

1. Trained-like random paper weights (benchmarks/model_speed.py) are saved in the official wrapper, with an
   AdamW state beside them as a training checkpoint carries, at the cache's download path: as if just
   downloaded. 2. `python -m kit.weights fetch` in a fresh process: strict load, conversion, pickle deleted
   (the first start, minus the download). 3. A fresh process loads `official` from the cache (every later
   start). 4. `python -m kit.track --weights official` on a 640x360 video (the demo's size cap), per
   precision: frames/s of the frame loop. Peak memory is each process's VmHWM (peak resident set).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.model_speed import cpu_features, machine, peaky_random_weights  # noqa: E402
from benchmarks.track_speed import initial_box, make_video  # noqa: E402

# Runs a module as __main__ in this process, then reports the process's peak resident memory.
PROBE = """
import runpy, sys, time
started = time.perf_counter()
module, sys.argv = sys.argv[1], sys.argv[1:]
try:
    runpy.run_module(module, run_name="__main__")
except SystemExit as exit:
    if exit.code not in (0, None):
        raise
finally:
    peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
    print(f"@@ peak_kib={peak} seconds={time.perf_counter() - started:.2f}", file=sys.stderr)
"""
LOAD = """
import sys, time
t = time.perf_counter()
from kit.weights.loading import load_model
model = load_model("official")
peak = next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]
print(f"@@ load_s={time.perf_counter() - t:.2f} peak_kib={peak}", file=sys.stderr)
"""


def probe(args: list[str], env: dict, log: Path) -> dict:
    started = time.perf_counter()
    with log.open("w") as err:
        proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, env=env, stderr=err)
    text = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed: {text.strip()[-800:]}")
    values = dict(re.findall(r"(\w+)=([\d.]+)", " ".join(l for l in text.splitlines() if l.startswith("@@"))))
    result = {k: float(v) for k, v in values.items()}
    result["wall_s"] = time.perf_counter() - started
    match = re.search(r"(\d+) frames in ([\d.]+) s", text)
    if match:
        result["frames"], result["loop_s"] = int(match[1]), float(match[2])
    return result


def official_file(path: Path, seed: int = 0) -> int:
    """Paper-config weights in the official wrapper (+ AdamW moments, a training checkpoint's size)."""
    from kit.config import get_preset
    from kit.model import build_model

    model = build_model(get_preset("paper"))
    peaky_random_weights(model, seed)
    net = model.state_dict()
    moments = {i: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(v), "exp_avg_sq": torch.zeros_like(v)}
               for i, v in enumerate(net.values()) if v.is_floating_point()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"epoch": 300, "net_type": "TransNLT", "net": net,
                "optimizer": {"state": moments, "param_groups": [{"lr": 1e-4}]}}, path)
    return sum(p.numel() for p in model.parameters())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"],
                   help="bf16 only where the CPU has bf16 hardware: it is emulated, ~5x slower, elsewhere")
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "jointnlt-official-start")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "official_start_cpu.md")
    args = p.parse_args(argv)

    cache = args.work / "cache"
    env = dict(os.environ, JOINTNLT_CACHE=str(cache), OMP_NUM_THREADS=str(args.threads), PYTHONWARNINGS="ignore")
    import shutil

    shutil.rmtree(cache, ignore_errors=True)
    from kit.weights import official

    downloaded = cache / "downloads" / official.FILE_NAME
    load_before = os.getloadavg()[0]
    parameters = official_file(downloaded)
    size_mib = downloaded.stat().st_size / 2**20
    args.work.mkdir(parents=True, exist_ok=True)
    first = probe(["kit.weights", "fetch", "--quiet"], env, args.work / "fetch.log")
    later = probe(["kit.weights", "info", "official"], env, args.work / "info.log")  # warms nothing heavy
    start = subprocess.run([sys.executable, "-c", LOAD], cwd=ROOT, env=env, capture_output=True, text=True)
    load = dict(re.findall(r"(\w+)=([\d.]+)", start.stderr))
    if "load_s" not in load:
        raise RuntimeError(f"loading failed: {start.stderr.strip()[-800:]}")
    video = make_video(args.work / "video_640x360.mp4", seconds=max(2, args.frames / 30 + 1), width=640, height=360)
    tracks = {}
    for precision in args.precisions:
        tracks[precision] = probe(["kit.track", str(video), "--text", "the red box", "--box", initial_box(640, 360),
                                   "--weights", "official", "--device", "cpu", "--precision", precision,
                                   "--max-frames", str(args.frames)], env, args.work / f"track_{precision}.log")
    load_after = os.getloadavg()[0]

    command = "python benchmarks/official_start.py " + " ".join(sys.argv[1:])
    lines = [
        "# The paper's model via `--weights official`: start-up, per frame, memory (CPU)", "",
        f"- machine: {machine(torch.device('cpu'))} ({cpu_features()}); torch {torch.__version__}; "
        f"{args.threads} threads (OMP_NUM_THREADS) per process",
        f"- load average (1 min) before / after: {load_before:.1f} / {load_after:.1f} (a shared machine: times "
        "are upper bounds)",
        f"- weights: paper config, {parameters / 1e6:.1f} M parameters, trained-like random values; the official-"
        f"format file with AdamW moments is {size_mib:.0f} MiB",
        f"- command: `{command}`", "",
        "| step (fresh process each) | wall time (s) | peak RSS (MiB) |", "|---|---|---|",
        f"| first start: strict load of the official file + conversion (download excluded) | {first['wall_s']:.1f} | "
        f"{first['peak_kib'] / 1024:.0f} |",
        f"| later start: `load_model(\"official\")` from the cache (in-process time) | "
        f"{float(load['load_s']):.1f} | {float(load['peak_kib']) / 1024:.0f} |",
        f"| `python -m kit.weights info official` (headers only) | {later['wall_s']:.1f} | "
        f"{later['peak_kib'] / 1024:.0f} |", "",
        f"Tracking a 640x360 video with NL+BB, {args.frames} frames (`python -m kit.track --weights official`):", "",
        "| precision | s/frame (frame loop) | process wall time (s) | peak RSS (MiB) |", "|---|---|---|---|"]
    for precision, r in tracks.items():
        lines.append(f"| {precision} | {r['loop_s'] / r['frames']:.2f} | {r['wall_s']:.1f} | "
                     f"{r['peak_kib'] / 1024:.0f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
