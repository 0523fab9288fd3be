"""What the demo server may do: which model, on which device, and the caps that keep one run's time and
memory bounded. Set by `python app.py` flags, else environment variables (for Hugging Face Spaces)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

from kit.config import ACCELERATIONS, PRECISIONS


@dataclass(frozen=True)
class DemoConfig:
    weights: str | None = None  # None = kit.weights.loading.default_weights(): $JOINTNLT_WEIGHTS, else the bundled Lite
    device: str = "auto"        # CUDA when available, else CPU
    precision: str = "auto"     # auto = kit.runtime.auto_precision: bf16 on CUDA, fp32 for Lite on a CPU
    accelerate: str = "none"    # kit.config.ACCELERATIONS; compile: the first run of a model compiles (minutes)
    # Caps: a longer video is tracked for its first `max_frames` frames, a larger one is down-scaled so that
    # neither side exceeds `max_side`, both with a message. Frames stream one at a time, so memory does not
    # grow with the video; the caps bound the time one run holds the model (~0.2 s/frame on 2 CPU cores).
    max_frames: int = 300
    max_side: int = 640
    max_upload_mb: int = 200
    concurrency: int = 1        # runs using the model at once; others wait in the queue, which shows their place
    queue_size: int = 16        # waiting runs beyond this are turned away with a message
    keep_runs_s: int = 3600     # a run's output files are deleted after this (checked whenever a run starts)


# Environment variable -> field. $JOINTNLT_WEIGHTS is read by kit.weights.loading.default_weights() itself.
ENVIRONMENT = {"JOINTNLT_DEVICE": "device", "JOINTNLT_PRECISION": "precision", "JOINTNLT_ACCELERATE": "accelerate",
               "JOINTNLT_DEMO_MAX_FRAMES": "max_frames", "JOINTNLT_DEMO_MAX_SIDE": "max_side",
               "JOINTNLT_DEMO_MAX_UPLOAD_MB": "max_upload_mb", "JOINTNLT_DEMO_CONCURRENCY": "concurrency"}


def config_from_env(environ=None, **overrides) -> DemoConfig:
    """DemoConfig from the environment, then `overrides` (flags that were given; None = not given)."""
    environ = os.environ if environ is None else environ
    fields = {f.name: f for f in dataclasses.fields(DemoConfig)}
    values = {}
    for variable, name in ENVIRONMENT.items():
        text = environ.get(variable, "").strip()
        if text:
            values[name] = _convert(variable, text, fields[name].type)
    values.update({k: v for k, v in overrides.items() if v is not None})
    config = DemoConfig(**values)
    _check(config)
    return config


def _convert(variable: str, text: str, type_name: str):
    if type_name == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{variable} must be a whole number, got {text!r}") from None
    return text


def _check(config: DemoConfig) -> None:
    for name in ("max_frames", "max_side", "max_upload_mb", "concurrency", "queue_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"{name} must be at least 1, got {getattr(config, name)}")
    if config.precision not in ("auto", *PRECISIONS):
        raise ValueError(f"precision must be auto, {', '.join(PRECISIONS)}, got {config.precision!r}")
    if config.accelerate not in ACCELERATIONS:
        raise ValueError(f"accelerate must be one of {', '.join(ACCELERATIONS)}, got {config.accelerate!r}")
