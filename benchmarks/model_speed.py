"""Model speed: text / template encoding, one grounding step and one tracking step, fp32 vs bf16 vs int8.

    python benchmarks/model_speed.py --preset paper --device cpu --threads 2
    python benchmarks/model_speed.py --preset paper --steps "tracking step" --out results/x.md  # one step only
    python benchmarks/model_speed.py --preset paper --steps "tracking step" --precisions fp32 fp32+compile \
        --clip assets/examples/bunny.mp4       # a variant PRECISION+ACCELERATION (kit.runtime), and a real clip

Without --weights the model gets random weights made "trained-like": norm weights 1+0.1·N(0,1) and corner
logits x100 as in the golden fixture (peaky heat maps, so that the bf16-vs-fp32 box check is not trivially
satisfied), and non-zero Linear biases. The last point matters for speed: with the zero biases of a fresh
init, padded Swin tokens get v = 0 and their attention output becomes ~1e-44 (exp(-100) from the shift mask),
a denormal that slows x86 matmuls ~4x; trained weights have non-zero biases. The official reference numbers
(docs/official-code.md: Speed of the official code) were taken the same way: batch 1, eval, 4 warm-ups, median
of 11. Results are printed and written (Markdown) with the machine and the command.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kit.config import get_preset  # noqa: E402
from kit.model import build_model  # noqa: E402
import copy  # noqa: E402

from kit.runtime import accelerate, inference, precast_weights, resolve_device  # noqa: E402

# Official code, unmodified, same machine class, fp32, 2 threads (docs/official-code.md: Speed of the official code).
OFFICIAL_CPU_S = {"text encoding": 0.073, "template encoding": 0.132, "grounding step": 0.552,
                  "tracking step": 0.558}


def peaky_random_weights(model: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, (torch.nn.LayerNorm, torch.nn.BatchNorm2d)):
                module.weight.copy_(1 + 0.1 * torch.randn(module.weight.shape, generator=g))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=g))
            if isinstance(module, torch.nn.Linear) and module.bias is not None:
                module.bias.copy_(0.02 * torch.randn(module.bias.shape, generator=g))
            if name.endswith("conv5_tl"):
                module.weight.mul_(100)
            if name.endswith("conv5_br"):
                module.weight.mul_(-100)


def make_inputs(cfg, device, seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 29000, (1, cfg.language.max_text_len), generator=g)
    ids[:, 0], ids[:, 9], ids[:, 10:] = 101, 102, 0
    mask = (ids != 0).long()
    smooth = lambda n: torch.nn.functional.interpolate(torch.randn(1, 3, n // 16, n // 16, generator=g), size=(n, n),
                                                       mode="bilinear")
    search_mask = torch.zeros(1, cfg.search_size, cfg.search_size, dtype=torch.bool)
    search_mask[:, 200:] = True  # a landscape frame padded at the bottom, as in grounding
    return dict(ids=ids.to(device), mask=mask.to(device),
                template=smooth(cfg.template_size).to(device),
                template_mask=torch.zeros(1, cfg.template_size, cfg.template_size, dtype=torch.bool, device=device),
                search=smooth(cfg.search_size).to(device), search_mask=search_mask.to(device),
                temporal=torch.randn(1, cfg.transformer.hidden_dim, 72, generator=g).to(device))


def split_variant(variant: str) -> tuple[str, str]:
    """'fp32+compile' -> ('fp32', 'compile'); 'bf16' -> ('bf16', 'none')."""
    precision, _, acceleration = variant.partition("+")
    return precision, acceleration or "none"


def build_variant(model, variant: str):
    precision, acceleration = split_variant(variant)
    return accelerate(precast_weights(copy.deepcopy(model), precision), acceleration, precision)


def step_functions(model, x, device, variant) -> dict[str, callable]:
    """One zero-argument callable per timed step, each running inside the precision's context."""
    m, precision = model, split_variant(variant)[0]
    with inference(device, precision):
        text = m.encode_text(x["ids"], x["mask"])
        template = m.encode_image(x["template"], x["template_mask"])

    def wrap(fn):
        def run():
            with inference(device, precision):
                return fn()
        return run

    return {
        "text encoding": wrap(lambda: m.encode_text(x["ids"], x["mask"])),
        "template encoding": wrap(lambda: m.encode_image(x["template"], x["template_mask"])),
        "grounding step": wrap(lambda: m.ground(m.encode_text(x["ids"], x["mask"]),
                                                m.encode_image(x["search"], x["search_mask"]))),
        "tracking step": wrap(lambda: m.track(text, template, m.encode_image(x["search"], x["search_mask"]),
                                              x["temporal"])),
    }


def measure(models, x, device, warmup, repeats, only=None) -> tuple[dict, dict]:
    """Median seconds per (precision, step), and seconds of each variant's first call (compilation). The
    precisions alternate call by call, so that a change in the machine's load during the run affects them
    alike and their ratios stay meaningful."""
    steps = {prec: step_functions(model, x, device, prec) for prec, model in models.items()}
    times = {prec: {step: [] for step in only or fns} for prec, fns in steps.items()}
    first = {}
    for prec, fns in steps.items():   # the first call compiles (compile variants): timed on its own
        t = time.perf_counter()
        fns[(only or list(fns))[0]]()
        first[prec] = time.perf_counter() - t
    for step in only or next(iter(steps.values())):
        for index in range(warmup + repeats):
            for prec, fns in steps.items():
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
                fns[step]()
                if device.type == "cuda":
                    torch.cuda.synchronize()
                if index >= warmup:
                    times[prec][step].append(time.perf_counter() - t)
    medians = {prec: {step: statistics.median(v) for step, v in per_step.items()} for prec, per_step in times.items()}
    return medians, first


def step_macs(model, x, device, step: str) -> float:
    """Multiply-accumulates of one call of `step` in fp32 (matmuls, convolutions, attention), counted with
    torch's FLOP formulas (its FlopCounterMode itself needs autograd, which inference mode turns off)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            packet = func._overloadpacket
            if packet is torch.ops.aten.linear:      # not decomposed into addmm under inference mode
                Count.flops += 2 * out.numel() * args[1].shape[1]
            elif packet is torch.ops.aten.scaled_dot_product_attention:   # q @ k^T and p @ v
                q, k = args[0], args[1]
                Count.flops += 4 * q.numel() * k.shape[-2]
            elif packet in flop_registry:
                Count.flops += flop_registry[packet](*args, **(kwargs or {}), out_val=out)
            return out

    fn = step_functions(model, x, device, "fp32")[step]
    with Count():
        fn()
    return Count.flops / 2


def product_rates(size: int = 1024, repeats: int = 7) -> dict[str, float]:
    """Multiply-accumulates per second of a large matrix product on torch's current threads, in fp32 (MKL: the
    practical peak of this CPU's FMA units) and as an int8 dynamic-quantised Linear (fbgemm, `--precision
    int8`'s kernel, activation quantisation included)."""
    import warnings

    a, w = torch.randn(size, size), torch.randn(size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        linear = torch.nn.Linear(size, size)
        linear.weight.data = w
        int8 = quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: per_channel_dynamic_qconfig})
    times = {"fp32": [], "int8": []}
    with torch.inference_mode():
        for _ in range(repeats + 2):
            for name, fn in (("fp32", lambda: torch.mm(a, w)), ("int8", lambda: int8(a))):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {name: size ** 3 / statistics.median(v[2:]) for name, v in times.items()}


def clip_boxes(model, variant, device, clip: Path, frames: int) -> list[list[float]]:
    """Track the example's target through the first `frames` frames of `clip`: per frame (cx,cy,w,h)
    normalised by the frame size (the Tracker's own loop: crops, temporal clue, all of it)."""
    import json

    from kit.tracking.tracker import Prompt, Tracker
    from kit.tracking.video import open_video

    example = next(e for e in json.loads((clip.parent / "examples.json").read_text()) if e["file"] == clip.name)
    tracker = Tracker(model, device=device, precision=split_variant(variant)[0])
    out, state = [], None
    for index, frame in open_video(clip):
        if index >= frames:
            break
        if state is None:
            state, results = tracker.init(frame, [Prompt(example["text"], tuple(example["box"]))])
        else:
            state, results = tracker.step(state, frame)
        (x, y, w, h), (H, W) = results[0].box, frame.shape[:2]
        out.append([(x + w / 2) / W, (y + h / 2) / H, w / W, h / H])
    return out


def predictions(model, x, device, precision):
    precision = split_variant(precision)[0]
    with inference(device, precision):
        text = model.encode_text(x["ids"], x["mask"])
        search = model.encode_image(x["search"], x["search_mask"])
        grounding = model.ground(text, search).boxes.float()
        template = model.encode_image(x["template"], x["template_mask"])
        tracking = model.track(text, template, search, x["temporal"]).boxes.float()
    return torch.cat([grounding, tracking])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper")
    p.add_argument("--weights", help="a checkpoint (official or ours) instead of peaky random weights")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16", "int8"],
                   help="variants PRECISION[+ACCELERATION] (kit.runtime), e.g. fp32+compile; fp32 first: the "
                        "reference (its numerics are the official code's)")
    p.add_argument("--steps", nargs="+", choices=["text encoding", "template encoding", "grounding step",
                                                  "tracking step"], help="time only these (default: all)")
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--box-samples", type=int, default=8, help="inputs for the bf16-vs-fp32 box check")
    p.add_argument("--clip", type=Path, help="also track this example video (assets/examples) with each variant "
                   "and compare its boxes to the first variant's, frame by frame")
    p.add_argument("--clip-frames", type=int, default=40)
    p.add_argument("--roofline", action="store_true", help="also count the first step's multiply-accumulates and "
                   "time a large fp32 matrix product: the fastest this CPU could run that step in fp32")
    p.add_argument("--out", type=Path, help="Markdown file to write (default benchmarks/results/...)")
    args = p.parse_args(argv)

    device = resolve_device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    if args.weights:
        from kit.weights.loading import load_model
        model = load_model(args.weights, device=device)
    else:
        model = build_model(get_preset(args.preset))
        peaky_random_weights(model)
    model = model.eval().to(device)
    x = make_inputs(model.config, device, seed=0)

    load_before = os.getloadavg()
    models = {variant: build_variant(model, variant) for variant in args.precisions}
    rows, first_call = measure(models, x, device, args.warmup, args.repeats, args.steps)
    args.load = (load_before, os.getloadavg())
    roofline = None
    if args.roofline:
        step = (args.steps or ["tracking step"])[0]
        roofline = (step, step_macs(model, x, device, step), product_rates())
    clip_diff = {}
    if args.clip:
        tracks = {v: clip_boxes(models[v], v, device, args.clip, args.clip_frames) for v in args.precisions}
        reference_track = torch.tensor(tracks[args.precisions[0]])
        clip_diff = {v: (torch.tensor(t) - reference_track).abs().max().item() for v, t in tracks.items()}
    reference = [predictions(model, make_inputs(model.config, device, seed=s), device, "fp32")
                 for s in range(args.box_samples)]
    box_diff = {prec: max((predictions(models[prec], make_inputs(model.config, device, seed=s), device, prec)
                           - ref).abs().max().item() for s, ref in enumerate(reference))
                for prec in args.precisions}

    report = render(args, device, rows, box_diff, model, first_call, clip_diff, roofline)
    print(report)
    out = args.out or ROOT / "benchmarks" / "results" / f"model_speed_{args.preset}_{device.type}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"written to {out}")


def machine(device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {torch.get_num_threads()} threads"


def cpu_features() -> str:
    if not hasattr(torch.cpu, "_is_avx512_bf16_supported"):
        return "?"
    flags = {"AVX-512 bf16": torch.cpu._is_avx512_bf16_supported(), "AMX": torch.cpu._is_amx_tile_supported(),
             "AVX-512": torch.cpu._is_avx512_supported(), "AVX2": torch.cpu._is_avx2_supported()}
    return ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in flags.items())


def render(args, device, rows, box_diff, model, first_call, clip_diff, roofline=None) -> str:
    command = "python benchmarks/model_speed.py " + " ".join(sys.argv[1:])
    precs = list(rows)
    (before, after) = args.load
    lines = [f"# Model speed: `{args.preset}` on {device.type}", "",
             f"- machine: {machine(device)}; torch {torch.__version__}; batch 1; "
             f"median of {args.repeats} after {args.warmup} warm-ups, the precisions alternating call by call",
             f"- CPU features: {cpu_features()}" if device.type == "cpu" else f"- device: {device}",
             f"- load average (1 min) before / after: {before[0]:.1f} / {after[0]:.1f}",
             f"- weights: {args.weights or 'random, peaky (see script docstring)'}",
             f"- command: `{command}`", "",
             "| step | " + " | ".join(f"{p} (s)" for p in precs) + " | " +
             " | ".join(f"{p} / {precs[0]}" for p in precs[1:]) + " |",
             "|---" * (2 * len(precs)) + "|"]
    for step in rows[precs[0]]:
        cells = [f"{rows[p][step]:.3f}" for p in precs]
        cells += [f"{rows[p][step] / rows[precs[0]][step]:.2f}" for p in precs[1:]]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    if device.type == "cpu":
        lines += ["", f"{precs[0]} numerics are the official code's (parity tests); the official code itself, "
                  "fp32, 2 threads, on an Intel Xeon: " + ", ".join(f"{k} {v:.3f} s" for k, v in
                                                                    OFFICIAL_CPU_S.items()) + "."]
    lines += ["", f"Largest box difference to {precs[0]} (normalised cx,cy,w,h; grounding + tracking, "
              f"{args.box_samples} inputs): " + ", ".join(f"{p}: {box_diff[p]:.2e}" for p in precs), ""]
    if clip_diff:
        lines += [f"Real clip `{args.clip.name}`, first {args.clip_frames} frames tracked by each variant (its own "
                  f"crops and temporal clue), largest per-frame box difference to {precs[0]} (normalised "
                  "cx,cy,w,h): " + ", ".join(f"{p}: {clip_diff[p]:.2e}" for p in precs), ""]
    if roofline:
        step, macs, rates = roofline
        fp32 = rates["fp32"]
        lines += [f"Roofline of the {step}: {macs / 1e9:.1f} G multiply-accumulates; a large matrix product runs at "
                  f"{fp32 / 1e9:.1f} G/s in fp32 and {rates['int8'] / 1e9:.1f} G/s as an int8 dynamic Linear here, "
                  f"so the step needs at least {macs / fp32:.3f} s in fp32 arithmetic "
                  f"({macs / fp32 / rows[precs[0]][step]:.2f} x the {precs[0]} step measured).", ""]
    lines += ["First call of each variant (seconds; compile variants compile there): " +
              ", ".join(f"{p}: {first_call[p]:.1f}" for p in precs), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
