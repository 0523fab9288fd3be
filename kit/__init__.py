"""JointNLT kit: the paper's joint grounding + tracking model, its tracker, data, training and evaluation.

Importing `kit` is light: it never imports gradio or jupyter.
"""
from kit.config import ModelConfig, get_preset

__all__ = ["ModelConfig", "get_preset", "build_model"]


def build_model(cfg: ModelConfig):
    """Build a randomly initialised JointNLT model (see `kit.model.build_model`)."""
    from kit.model import build_model as _build

    return _build(cfg)
