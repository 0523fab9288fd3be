"""Training checkpoints: the model in our format plus everything needed to resume exactly.

A checkpoint is a directory `<out_dir>/checkpoints/step<global step>/` holding
  model.safetensors, config.json   the weights and model config (`kit.weights.checkpoint.save_pretrained`: the
                                   directory loads with `kit.weights.loading.load_model` like any of ours)
  training_state.pt                optimiser, scheduler, grad scaler, the RNG states of python / numpy /
                                   torch (/ CUDA) of every rank, and the position: next epoch and batch
  train_config.json                the resolved TrainConfig of the run
and `<out_dir>/checkpoints/LATEST` names the newest one. training_state.pt holds only tensors and plain
Python values, so it is read with `load_torch_file` (torch's `weights_only` loading).
"""
from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from kit.weights.checkpoint import save_pretrained
from kit.weights.files import CONFIG_NAME, WEIGHTS_NAME, load_state_dict_strict, load_torch_file

STATE_NAME = "training_state.pt"
TRAIN_CONFIG_NAME = "train_config.json"
LATEST = "LATEST"


def capture_rng() -> dict:
    """This process's random states, as tensors and plain values."""
    version, mt, gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state(legacy=True)
    state = {"python": [version, list(mt), gauss], "torch": torch.get_rng_state(),
             "numpy": [np_name, torch.from_numpy(np_keys.astype(np.int64)), np_pos, np_has_gauss, np_gauss]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: Path, model: nn.Module, optimizer, scheduler, scaler, position: dict,
                    rng_states: list[dict], train_config: dict) -> Path:
    """Write a checkpoint directory atomically (a temporary directory renamed at the end) and point LATEST
    at it. `position` = {'epoch': next epoch, 'batch': next batch in it, 'step': global steps done}."""
    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    save_pretrained(model, tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rng_states, "position": dict(position)}, tmp / STATE_NAME)
    (tmp / TRAIN_CONFIG_NAME).write_text(json.dumps(train_config, indent=2) + "\n")
    if directory.exists():
        shutil.rmtree(directory)
    tmp.rename(directory)
    (directory.parent / LATEST).write_text(directory.name + "\n")
    return directory


def latest_checkpoint(checkpoints_dir: Path) -> Path | None:
    marker = Path(checkpoints_dir) / LATEST
    if not marker.is_file():
        return None
    path = Path(checkpoints_dir) / marker.read_text().strip()
    return path if path.is_dir() else None


def load_checkpoint(directory: Path, model: nn.Module, optimizer, scheduler, scaler) -> dict:
    """Load weights (strictly) and optimiser / scheduler / scaler states in place; returns the training state
    (its 'position' and 'rng' entries)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    for name in (WEIGHTS_NAME, CONFIG_NAME, STATE_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a training checkpoint: {name} is missing")
    saved_model = json.loads((directory / CONFIG_NAME).read_text())["config"]
    if saved_model != json.loads(json.dumps(model.config.to_dict())):
        raise ValueError(f"{directory} was trained with another model config ({saved_model.get('name')!r}); resume "
                         "with the same model.preset / model.variant")
    load_state_dict_strict(model, load_file(directory / WEIGHTS_NAME, device="cpu"), source=str(directory))
    state = load_torch_file(directory / STATE_NAME)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state["scaler"] is not None:
        scaler.load_state_dict(state["scaler"])
    return state


def prune_checkpoints(checkpoints_dir: Path, keep: int) -> None:
    """Delete all but the newest `keep` step directories (keep <= 0: keep all)."""
    if keep <= 0:
        return
    found = sorted(p for p in Path(checkpoints_dir).glob("step*") if p.is_dir() and not p.name.endswith(".tmp"))
    for old in found[:-keep]:
        shutil.rmtree(old)
