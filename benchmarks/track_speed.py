"""End-to-end tracking speed and memory: decode + track + draw + encode, through `python -m kit.track`.

    python benchmarks/track_speed.py --preset paper --frames 100              # frames/s, fp32 and bf16
    python benchmarks/track_speed.py --preset paper --memory --precisions bf16 # + a 2-minute 720p video
    python benchmarks/track_speed.py --preset lite --weights assets/jointnlt-lite --size 640x360 --frames 300

Each run is a fresh `python -m kit.track` process on a generated 1280x720 30 fps video (moving shapes over
noise) with an NL+BB start; frames/s is the CLI's own count (the frame loop, after loading and the first
frame). With --memory, the process's resident memory is sampled every 0.5 s over a 2-minute video, to show
that it stays flat (frames are streamed, never held). Without --weights the model gets the trained-like
random weights of benchmarks/model_speed.py, saved once in our format.
"""
from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.model_speed import peaky_random_weights  # noqa: E402
from kit.weights.checkpoint import save_pretrained  # noqa: E402
from kit.config import get_preset  # noqa: E402
from kit.model import build_model  # noqa: E402
from kit.tracking.video import VideoWriter  # noqa: E402

# The official tracking step alone, fp32, 2 threads (docs/official-code.md: Speed of the official code).
OFFICIAL_CPU_STEP_S = 0.558


def make_video(path: Path, seconds: float, width: int = 1280, height: int = 720, fps: int = 30) -> Path:
    """A red square drifting over smooth noise, with a few distractors; written once and reused."""
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    background = rng.integers(60, 200, (height // 8, width // 8, 3), dtype=np.uint8)
    background = np.kron(background, np.ones((8, 8, 1), dtype=np.uint8))
    tmp = path.with_suffix(".part.mp4")
    with VideoWriter(tmp, fps, width, height) as writer:
        for i in range(int(seconds * fps)):
            frame = background.copy()
            t = i / fps
            x = int(width / 2 + width / 3 * np.sin(t / 3))
            y = int(height / 2 + height / 4 * np.cos(t / 2))
            frame[y - 40:y + 40, x - 60:x + 60] = (220, 40, 40)
            for k in range(3):
                cx = int((k + 1) * width / 4 + 50 * np.sin(t + k))
                frame[100 + 150 * k:160 + 150 * k, cx - 30:cx + 30] = (40, 40, 200)
            writer.write(frame)
    tmp.rename(path)
    return path


def initial_box(width: int = 1280, height: int = 720) -> str:
    return f"{width / 2 - 60:g},{height / 2 + height / 4 - 40:g},120,80"


def run_cli(video: Path, weights: Path, precision: str, frames: int | None, workdir: Path,
            sample_memory: bool = False, size: tuple[int, int] = (1280, 720)) -> dict:
    cmd = [sys.executable, "-m", "kit.track", str(video), "--text", "the red box", "--box", initial_box(*size),
           "--weights", str(weights), "--out", str(workdir / f"out_{precision}.mp4"),
           "--boxes", str(workdir / f"boxes_{precision}.txt"), "--device", "cpu", "--precision", precision] + (["--max-frames", str(frames)] if frames else [])
    started = time.perf_counter()
    log = workdir / f"kit_track_{precision}.log"   # a file, not a pipe: a full pipe would block the run
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=log.open("w"), text=True)
    samples = []
    ps = psutil.Process(proc.pid)
    while proc.poll() is None:
        if sample_memory:
            try:
                samples.append((time.perf_counter() - started, ps.memory_info().rss / 2**20))
            except psutil.NoSuchProcess:
                break
        time.sleep(0.5)
    err = log.read_text()
    if proc.returncode != 0:
        raise RuntimeError(f"kit.track failed ({proc.returncode}): {err.strip()[-500:]}")
    match = re.search(r"(\d+) frames in ([\d.]+) s \(([\d.]+) frames/s\)", err)
    return {"frames": int(match[1]), "seconds": float(match[2]), "fps": float(match[3]), "samples": samples}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper")
    p.add_argument("--weights", type=Path, help="a checkpoint instead of random trained-like weights")
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--frames", type=int, default=100, help="frames per speed run")
    p.add_argument("--memory", action="store_true", help="also track a whole 2-minute 720p video")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "jointnlt-bench")
    p.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the generated speed video")
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    args.width, args.height = (int(v) for v in args.size.lower().split("x"))
    args.cache.mkdir(parents=True, exist_ok=True)

    weights = args.weights or args.cache / f"random-{args.preset}"
    if not args.weights and not (weights / "config.json").exists():
        model = build_model(get_preset(args.preset))
        peaky_random_weights(model)
        save_pretrained(model, weights)
        del model
    short = make_video(args.cache / f"{args.width}x{args.height}_10s.mp4", max(10, args.frames / 30 + 1),
                       args.width, args.height)
    speed = {prec: run_cli(short, weights, prec, args.frames, args.cache, size=(args.width, args.height))
             for prec in args.precisions}
    memory = None
    if args.memory:
        long = make_video(args.cache / "720p_120s.mp4", 120)
        memory = run_cli(long, weights, args.precisions[-1], None, args.cache, sample_memory=True)
    report = render(args, speed, memory)
    print(report)
    suffix = "" if (args.width, args.height) == (1280, 720) else f"_{args.height}p"
    out = args.out or ROOT / "benchmarks" / "results" / f"track_speed_{args.preset}{suffix}_cpu.md"
    out.write_text(report)
    print(f"written to {out}")


def render(args, speed, memory) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    lines = [f"# End-to-end tracking speed: `{args.preset}` on CPU", "",
             f"- machine: {cpu}, {psutil.cpu_count()} cores (torch uses {torch.get_num_threads()} threads); "
             f"torch {torch.__version__}",
             f"- video: generated {args.width}x{args.height}, 30 fps; NL+BB start; decode (PyAV) + track + draw + "
             "H.264 encode",
             f"- command: `python benchmarks/track_speed.py {' '.join(sys.argv[1:])}`", "",
             "| precision | frames | seconds | frames/s | s/frame | official paper-model step alone (s) |",
             "|---|---|---|---|---|---|"]
    for prec, r in speed.items():
        official = OFFICIAL_CPU_STEP_S if args.preset == "paper" else "-"   # only the paper model has one
        lines.append(f"| {prec} | {r['frames']} | {r['seconds']:.1f} | {r['fps']:.2f} | {1 / r['fps']:.3f} | "
                     f"{official} |")
    if memory:
        rss = np.array([m for _, m in memory["samples"]])
        quarter = [rss[int(q * (len(rss) - 1))] for q in (0.25, 0.5, 0.75, 1.0)]
        lines += ["", f"Memory over a 2-minute 720p video ({memory['frames']} frames, {args.precisions[-1]}): "
                  f"peak resident {rss.max():.0f} MiB; at 25/50/75/100 % of the run "
                  + " / ".join(f"{v:.0f}" for v in quarter) + " MiB."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
