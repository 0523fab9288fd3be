"""Device and precision choices, made explicitly by the caller (no device is ever hard-coded)."""
from __future__ import annotations

import contextlib
import os
import statistics
import time

import torch

from kit.config import ACCELERATIONS, PRECISIONS

# Precision -> autocast dtype (fp32 and int8 run without autocast). int8 (CPU only): the vision encoder's Linear
# weights stored as int8 with one scale per output channel, activations quantised on the fly (dynamic
# quantisation); the rest runs in fp32.
AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def _dtype(precision: str) -> torch.dtype | None:
    return AUTOCAST_DTYPES.get(check_precision(precision))


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None) = CUDA when available, else CPU; anything else is taken literally, after a check."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for, but no CUDA GPU is available here; use --device cpu")
    return device


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 bf16 or AMX). Without it (e.g. an AVX2-only
    EPYC) bf16 is emulated and several times slower than fp32; int8 is the fast mode there."""
    has = getattr(torch.cpu, "_is_avx512_bf16_supported", None)  # private, but torch is pinned
    return bool(has is not None and (has() or torch.cpu._is_amx_tile_supported()))


def auto_precision(device_type: str, config_name: str, cpu_bf16: bool | None = None) -> str:
    """What precision "auto" means: bf16 on CUDA. On a CPU, the paper-size model in bf16 where the CPU has bf16
    hardware (about 1.7x faster, boxes within 1e-2 of fp32) and fp32 elsewhere (bf16 is emulated there,
    several times slower; int8 is the opt-in fast mode); the small models stay fp32 (no faster otherwise)."""
    if device_type == "cuda":
        return "bf16"
    if not config_name.startswith("paper"):
        return "fp32"
    return "bf16" if (cpu_has_bf16() if cpu_bf16 is None else cpu_bf16) else "fp32"


def autocast(device: torch.device | str, precision: str = "fp32"):
    """Mixed-precision context: fp32 = plain; bf16/fp16 = torch.autocast on the given device.

    fp16 is meant for CUDA (on CPU bf16 is the fast, safe choice).
    """
    dtype = _dtype(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=dtype)


@contextlib.contextmanager
def inference(device: torch.device | str, precision: str = "fp32"):
    """The context of every inference forward pass: no autograd, the chosen precision."""
    with torch.inference_mode(), autocast(device, precision):
        yield


def precast_weights(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """Store Linear/Conv/attention-projection weights in the autocast dtype, once.

    Autocast casts these weights on every call (its cast cache is off under inference_mode); that cost
    ~30 ms of a 0.28 s bf16 tracking step on 2 CPU threads. The result is the same as autocast's own cast
    (round to nearest), so outputs do not change. Norms and embeddings stay fp32. The model must then
    run inside `autocast(device, precision)`. fp32 is a no-op; int8 is `quantize_linear_int8`. Returns the
    model (changed in place).
    """
    dtype = _dtype(precision)
    if precision == "int8":
        return quantize_linear_int8(model)
    if dtype is None:
        return model
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
            module.to(dtype)
        elif isinstance(module, torch.nn.MultiheadAttention):
            module.in_proj_weight.data = module.in_proj_weight.data.to(dtype)
            module.in_proj_bias.data = module.in_proj_bias.data.to(dtype)
    return model


THREADS_VARIABLE = "JOINTNLT_THREADS"
SMALL_MACHINE_CORES = 2   # at most this many cores: the thread count is chosen frame by frame
ADAPTIVE = "adaptive"


def available_cores() -> int:
    """The cores this process may run on (its affinity where the OS says, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_threads(threads: int | None = None, environ=None) -> int | str:
    """Torch's intra-op CPU threads for inference: `threads`, else $JOINTNLT_THREADS, else $OMP_NUM_THREADS,
    else 'adaptive' on a machine of at most 2 cores (this process's affinity), else its cores."""
    environ = os.environ if environ is None else environ
    for source, value in (("threads", threads), (THREADS_VARIABLE, environ.get(THREADS_VARIABLE)),
                          ("OMP_NUM_THREADS", environ.get("OMP_NUM_THREADS"))):
        if value is None or str(value).strip() == "":
            continue
        if str(value).strip().lower() == ADAPTIVE:
            return ADAPTIVE
        try:
            n = int(value)
        except ValueError:
            raise ValueError(f"{source} must be a whole number of threads or 'adaptive', got {value!r}") from None
        if n < 1:
            raise ValueError(f"{source} must be at least 1, got {n}")
        return n
    # On 2 cores two spinning threads are the fastest on an idle machine and collapse when other processes
    # want the cores, where one thread keeps going (docs/speed.md, measured): so measure, frame by frame.
    return ADAPTIVE if available_cores() <= SMALL_MACHINE_CORES else available_cores()


class ThreadGovernor:
    """Chooses torch's intra-op threads frame by frame from the measured time of each step.

    It runs with `choices[0]` threads (2), and now and then runs one frame with the other choice (a probe);
    it switches when the probe was clearly faster than the current choice's recent frames. A frame much
    slower or faster than the recent ones (other processes just took or left the cores) triggers a probe at
    once. A probe that loses doubles the wait before the next one (8 frames up to 256), so a lasting state
    costs little. Each frame must be one comparable unit of work (one tracking step of the same model)."""

    def __init__(self, choices: tuple[int, ...] = (2, 1), first_wait: int = 8, max_wait: int = 256,
                 window: int = 5, margin: float = 0.9, slowdown: float = 2.0):
        self.choices, self.current = tuple(choices), choices[0]
        self.first_wait, self.max_wait, self.margin, self.slowdown = first_wait, max_wait, margin, slowdown
        self.times: dict[int, list[float]] = {c: [] for c in self.choices}
        self.window = window
        self.wait = self.until_probe = first_wait
        self.probe: int | None = None
        self.switches = 0

    @property
    def next_threads(self) -> int:
        return self.probe if self.probe is not None else self.current

    @contextlib.contextmanager
    def frame(self):
        """Time one frame run with the thread count the governor chooses for it."""
        threads = self.next_threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        try:
            yield threads
        finally:
            self.observe(threads, time.perf_counter() - start)

    def observe(self, threads: int, seconds: float) -> None:
        """Record one frame's time and choose the next frame's threads."""
        recent = self.times[self.current]
        if self.probe is not None:               # a probe: keep it only when clearly faster
            self.probe = None
            reference = statistics.median(recent) if recent else float("inf")
            if seconds < self.margin * reference:
                self.current, self.wait = threads, self.first_wait
                self.switches += 1
            else:
                self.wait = min(2 * self.wait, self.max_wait)
            self._remember(threads, seconds)
            self.until_probe = self.wait
            return
        typical = statistics.median(recent) if len(recent) >= 2 else seconds
        sudden = not typical / self.slowdown <= seconds <= self.slowdown * typical
        self._remember(threads, seconds)
        if sudden:                               # the load changed: compare from this frame on, probe now
            self.times[threads] = [seconds]
            self.wait = self.first_wait
        self.until_probe -= 1
        if sudden or self.until_probe <= 0:
            others = [c for c in self.choices if c != self.current]
            self.probe = others[0] if others else None

    def _remember(self, threads: int, seconds: float) -> None:
        self.times[threads] = (self.times[threads] + [seconds])[-self.window:]


_GOVERNOR: ThreadGovernor | None = None   # set by configure_threads; torch's thread count is per process too


def configure_threads(threads: int | str | None = None) -> int | str:
    """Set torch's CPU threads for inference (`cpu_threads`) and return the choice: a number, or 'adaptive'
    (2 cores or fewer, nothing set): a `ThreadGovernor` then picks 2 or 1 threads per tracking step, which
    every per-frame loop enters through `frame_threads()`. `--threads N`, JOINTNLT_THREADS=N or
    OMP_NUM_THREADS=N fix the number. Command lines, the demo, the evaluator and the notebooks call it."""
    global _GOVERNOR
    n = cpu_threads(threads)
    if n == ADAPTIVE:
        cores = available_cores()
        choices = (2, 1) if cores >= 2 else (1,)
        _GOVERNOR = ThreadGovernor(choices)
        torch.set_num_threads(choices[0])
    else:
        _GOVERNOR = None
        torch.set_num_threads(n)
    return n


def frame_threads():
    """The context of one tracking step: the governor's thread choice when `configure_threads` chose
    'adaptive', else nothing."""
    return _GOVERNOR.frame() if _GOVERNOR is not None else contextlib.nullcontext()


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Dynamic int8 quantisation of the vision encoder's nn.Linear layers (Swin: ~90 % of a paper-model
    tracking step): weights int8 per output channel, activations quantised per call. Attention products,
    convolutions, norms, the text encoder, the relation transformer and the box head stay fp32. The text
    encoder runs once per video when tracking, so quantising it saved no tracking time, and on paper-size
    BERT it was most of int8's box error (2.1e-2 with it, 8.8e-3 without on the benchmark's random inputs).
    On CPUs without bf16 hardware (AVX2, no AVX-512/AMX) it is the paper model's fast mode. Changes the model
    in place; CPU only.
    """
    import warnings

    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("precision int8 runs on the CPU only; use bf16 on CUDA")
    with warnings.catch_warnings():  # torch.ao.quantization is marked deprecated in favour of torchao
        warnings.simplefilter("ignore")
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        for name in INT8_MODULES:
            if hasattr(model, name):
                quantize_dynamic(getattr(model, name), {torch.nn.Linear: per_channel_dynamic_qconfig},
                                 inplace=True)
    return model


INT8_MODULES = ("visual_backbone",)


# Accelerations (kit.config.ACCELERATIONS): none = the eager model (its fp32 numerics are the official code's);
# compile = torch.compile (inductor) of the vision encoder, the paper model's ~90 % of a tracking step.


def accelerate(model: torch.nn.Module, acceleration: str = "none", precision: str = "fp32") -> torch.nn.Module:
    """Apply an acceleration to a loaded (and `precast_weights`-ed) model; returns it (changed in place).

    compile: the vision encoder is compiled with the inductor (weights frozen into the compiled code) for
    square inputs of the model's search size, the input of every tracking and grounding step; other sizes
    (the template, once per target) run eagerly. Compilation happens on the first such call and takes
    minutes on 2 CPU cores (docs/speed.md); each new batch size (number of targets) compiles again. Boxes
    stay within ~1e-5 of the eager model's (fp32: another order of the same sums). Inference only.
    """
    if acceleration not in ACCELERATIONS:
        raise ValueError(f"acceleration must be one of {list(ACCELERATIONS)}, got {acceleration!r}")
    if acceleration == "none":
        return model
    if precision == "int8":  # dynamic-quantised Linears are not traceable by the compiler
        raise ValueError("--accelerate compile runs with precision fp32, bf16 or fp16, not int8")
    _compile_for_size(model.visual_backbone, model.config.search_size)
    return model


def _compile_for_size(module: torch.nn.Module, size: int) -> None:
    """Route `module(img)` for (B,3,size,size) images through a compiled copy of its forward, others eagerly.
    The instance's `forward` is replaced: state dict, parameters and the eager code stay as they are."""
    eager = module.forward
    compiled = torch.compile(eager, dynamic=False, options={"freezing": True})

    def forward(img: torch.Tensor, *args, **kwargs):
        if args or kwargs or tuple(img.shape[-2:]) != (size, size) or torch.is_grad_enabled():
            return eager(img, *args, **kwargs)
        return compiled(img)

    module.forward = forward
