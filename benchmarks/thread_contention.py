"""Tracking speed when the CPU is shared: N tracking processes and K busy-loop neighbours on the same cores,
for each CPU thread setting (intra-op threads, OpenMP wait policy, inter-op threads).

    python benchmarks/thread_contention.py                                  # the bundled Lite model, ~4 min
    python benchmarks/thread_contention.py --preset paper --seconds 8      # the paper model (random weights)
    python benchmarks/thread_contention.py --cells 1+0 1+3 --settings kit torch  # just the acceptance cells

Each cell starts `N` tracker processes (one setting), each loads the model, decodes the 640x360 bundled
example, starts from its box and warms up; then `K` neighbours (`while True: pass`, one core each when they
get it) start, and all trackers step through the video for `--seconds`. A cell's number is frames/s per
tracker (the mean over the N), tracking only (crops + model + map-back), fp32. `--cpus 0,1` pins every
process to those cores (default: the first two), so a bigger machine measures the 2-core case.

Settings: `torch` = torch's defaults (threads = cores, OpenMP threads spin while waiting); `1-thread` =
OMP_NUM_THREADS=1; `passive` = threads = cores with OMP_WAIT_POLICY=PASSIVE; `passive-interop1` = the same
and one inter-op thread; `kit` = what kit does (`import kit` first, then `kit.runtime.configure_threads()`).
The table (with the machine, its load before the run and the command) goes to
benchmarks/results/thread_contention_<preset>.md.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "assets" / "examples" / "synthetic.mp4"   # 640x360, 100 frames
SETTINGS = {  # name -> (environment, torch first?, inter-op threads, call kit.runtime.configure_threads)
    "torch": ({}, True, None, False),
    "1-thread": ({"OMP_NUM_THREADS": "1"}, True, None, False),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, True, None, False),
    "passive-interop1": ({"OMP_WAIT_POLICY": "PASSIVE"}, True, 1, False),
    "spin-1k": ({"GOMP_SPINCOUNT": "1000"}, True, None, False),     # libgomp: spin this long, then sleep
    "spin-20k": ({"GOMP_SPINCOUNT": "20000"}, True, None, False),
    "spin-200k": ({"GOMP_SPINCOUNT": "200000"}, True, None, False),
    "kit": ({}, False, None, True),
}
DEFAULT_CELLS = ["1+0", "1+3", "2+0", "4+0"]   # trackers + neighbours


def worker(args) -> None:
    """One tracker process: load, warm up, say 'ready', wait for 'go' on stdin, track for --seconds."""
    env, torch_first, interop, use_kit = SETTINGS[args.setting]
    if torch_first:
        import torch  # before kit: torch's OpenMP reads the wait policy of this environment, unchanged by kit
        if interop:
            torch.set_num_interop_threads(interop)
    sys.path.insert(0, str(ROOT))
    import kit  # noqa: F401  (sets kit's thread policy when torch was not imported yet)
    import torch

    policy = env.get("OMP_WAIT_POLICY") if torch_first else os.environ.get("OMP_WAIT_POLICY")  # at torch's load

    from kit.runtime import configure_threads
    from kit.tracking.session import track_video
    from kit.tracking.tracker import Prompt, Tracker
    from kit.tracking.video import open_video

    if use_kit:
        configure_threads()
    frames = [f for _, f in open_video(VIDEO)]
    example = json.loads((VIDEO.parent / "examples.json").read_text())[0]
    tracker = Tracker(build(args.preset), device="cpu")
    run = track_video(tracker, itertools.cycle(frames), [Prompt(text=example["text"], box=tuple(example["box"]))])
    for _ in itertools.islice(run, 3):   # warm-up: the start and two frames
        pass
    print("ready", flush=True)
    sys.stdin.readline()
    done, started = 0, time.perf_counter()
    for _ in run:
        done += 1
        if time.perf_counter() - started >= args.seconds and done >= 2:
            break
    seconds = time.perf_counter() - started
    print(json.dumps({"frames": done, "seconds": seconds, "threads": torch.get_num_threads(),
                      "policy": policy or ""}), flush=True)


def build(preset: str):
    from kit.weights.loading import load_model
    from kit.config import get_preset
    from kit.model import build_model

    if preset == "lite":
        return load_model(None)  # the bundled JointNLT-Lite
    import torch

    torch.manual_seed(0)  # speed does not depend on the weights' values
    return build_model(get_preset(preset)).eval()


def run_cell(setting: str, trackers: int, neighbours: int, args) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY",
                                                            "JOINTNLT_THREADS", "MKL_NUM_THREADS")}
    env.update(SETTINGS[setting][0])
    pin = ["taskset", "-c", args.cpus] if args.cpus else []
    cmd = pin + [sys.executable, __file__, "--worker", "--setting", setting, "--preset", args.preset,
                 "--seconds", str(args.seconds)]
    procs = [subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(trackers)]
    busy = []
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {setting} worker failed to start (exit {p.wait()})")
        busy = [subprocess.Popen(pin + [sys.executable, "-c", "while True: pass"]) for _ in range(neighbours)]
        time.sleep(0.5)
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
    finally:
        for b in busy:
            b.kill()
        for p in procs + busy:
            p.wait()
    fps = [r["frames"] / r["seconds"] for r in results]
    return {"fps": sum(fps) / len(fps), "threads": results[0]["threads"], "policy": results[0]["policy"]}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="lite", choices=["lite", "paper"])
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--cells", nargs="+", default=DEFAULT_CELLS, help="TRACKERS+NEIGHBOURS, e.g. 1+3")
    p.add_argument("--seconds", type=float, default=4.0, help="tracking time per cell")
    p.add_argument("--cpus", default="0,1", help="pin every process to these cores ('' = no pinning)")
    p.add_argument("--out", type=Path)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--setting", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        return worker(args)

    load_before = os.getloadavg()
    cells = [tuple(int(v) for v in c.split("+")) for c in args.cells]
    table = {}
    for setting in args.settings:
        for n, k in cells:
            table[setting, n, k] = r = run_cell(setting, n, k, args)
            print(f"{setting:17s} {n} tracker(s) + {k} neighbour(s): {r['fps']:6.2f} frames/s per tracker "
                  f"({r['threads']} threads, wait policy {r['policy'] or 'default'})", flush=True)
    report = render(args, cells, table, load_before, os.getloadavg())
    print(report)
    out = args.out or ROOT / "benchmarks" / "results" / f"thread_contention_{args.preset}.md"
    out.write_text(report)
    print(f"written to {out}")


def render(args, cells, table, load_before, load_after) -> str:
    import torch

    head = " | ".join(f"{n} tracker{'s' * (n > 1)}" + (f" + {k} busy" if k else "") for n, k in cells)
    idle_cell = cells[0]
    lines = [f"# Tracking speed on a shared CPU: `{args.preset}`, frames/s per tracker process", "",
             f"- machine: {machine()}; every process pinned to cores `{args.cpus or 'all'}`; torch "
             f"{torch.__version__}; fp32; tracking only (crops + model + map-back) on the 640x360 example",
             f"- load average (1/5/15 min) before: {' / '.join(f'{v:.2f}' for v in load_before)}, after: "
             f"{' / '.join(f'{v:.2f}' for v in load_after)} (other work on the machine counts too)",
             f"- {args.seconds:g} s of tracking per cell; 'busy' = `while True: pass` processes",
             f"- command: `python benchmarks/thread_contention.py {' '.join(sys.argv[1:])}`", "",
             f"| setting | {head} | worst / first column |", "|---" * (len(cells) + 2) + "|"]
    for setting in args.settings:
        fps = [table[setting, n, k]["fps"] for n, k in cells]
        first = table[setting, idle_cell[0], idle_cell[1]]
        lines.append(f"| {setting} ({first['threads']} threads, wait {first['policy'] or 'default'}) | "
                     + " | ".join(f"{v:.2f}" for v in fps) + f" | {min(fps) / fps[0]:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
