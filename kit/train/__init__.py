"""Training JointNLT: configs and presets, the official sampler / processing / actor / losses, a thin engine,
DDP via torchrun, exact resume. Entry point: `python -m kit.train --preset NAME key=value ...`.

Modules: config (TrainConfig, presets, overrides), sampling (what is drawn), processing (crops and
augmentations), actor (the training step), losses, optim (AdamW groups, WarmupMultiStepLR), engine
(train_one_epoch, evaluate), state (checkpoints), logger (CSV, TensorBoard), distributed, main (wiring).
"""
from kit.train.config import TrainConfig, get_train_preset, parse_overrides


def train(cfg: TrainConfig, evaluate_fn=None) -> dict:
    """Run a training as configured (see kit.train.main.train)."""
    from kit.train.main import train as _train

    return _train(cfg, evaluate_fn)


__all__ = ["TrainConfig", "get_train_preset", "parse_overrides", "train"]
