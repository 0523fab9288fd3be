"""JointNLT kit: the paper's joint grounding + tracking model, its tracker, data, training and evaluation.

Importing `kit` is light: it never imports gradio or jupyter.
"""
import os

# On more than 2 cores: CPU threads that sleep while they wait instead of spinning. OpenMP reads this once,
# when torch loads, so it is set here, before any torch import of kit; an explicit OMP_WAIT_POLICY wins. On
# cores shared with other work, spinning threads made tracking ~30x slower. On 2 cores or fewer the policy is
# left alone: there `kit.runtime.configure_threads` chooses 2 or 1 threads frame by frame from measured step
# times, and 2 spinning threads are the fast choice on an idle machine (docs/speed.md).
_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
if _CORES > 2:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from kit.config import ModelConfig, get_preset

__all__ = ["ModelConfig", "get_preset", "build_model"]


def build_model(cfg: ModelConfig):
    """Build a randomly initialised JointNLT model (see `kit.model.build_model`)."""
    from kit.model import build_model as _build

    return _build(cfg)
