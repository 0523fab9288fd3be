"""One training epoch and one evaluation pass; everything else (data, checkpoints, logs) is wired in main.py.

Gradient clipping applies under every precision by default (FIX, docs/official-code.md quirk 15: the official trainer
clipped only without AMP). With fp16 the gradients are unscaled before clipping, so the 0.1 norm is the true gradient
norm. `official_amp_skips_clipping=True` is the official behaviour (the `paper` preset's default).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from kit.runtime import autocast
from kit.train.optim import keep_frozen_batchnorm_statistics


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def train_one_epoch(actor, loader, optimizer, *, device: torch.device, precision: str = "fp32", scaler=None,
                    grad_clip_norm: float = 0.0, official_amp_skips_clipping: bool = False,
                    on_step: Callable[[dict], bool] | None = None, progress: bool = False,
                    description: str = "train") -> None:
    """Run the loader's batches through `actor` (a JointActor, possibly wrapped in DDP). After each step
    `on_step(stats)` is called with the step's detached scalars (and the batch's summed `draw_counts` when
    it has them); returning True stops the epoch."""
    actor.train()
    keep_frozen_batchnorm_statistics(actor)
    params = [p for group in optimizer.param_groups for p in group["params"]]
    clip = grad_clip_norm > 0 and not (official_amp_skips_clipping and precision != "fp32")
    bar = tqdm(loader, desc=description, disable=not progress, dynamic_ncols=True, leave=False)
    for batch in bar:
        draw_counts = batch.pop("draw_counts", None)  # (B, datasets, DRAW_COUNTS): how the samples were drawn
        batch = to_device(batch, device)
        with autocast(device, precision):
            out = actor(batch)
        loss = out["loss"]
        if not math.isfinite(loss.item()):
            terms = {k: round(float(v), 4) for k, v in out["stats"].items()}
            raise FloatingPointError(f"the loss is {loss.item()} ({terms})")
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)  # true gradients: clip them, not the scaled ones
        else:
            loss.backward()
        stats = dict(out["stats"])
        if draw_counts is not None:
            stats["draw_counts"] = draw_counts.sum(0)
        if clip:
            stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(params, grad_clip_norm)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
        if on_step is not None and on_step(stats):
            break
    bar.close()


@torch.no_grad()
def evaluate(actor, loader, *, device: torch.device, precision: str = "fp32", threshold: float = 0.5,
             progress: bool = False) -> dict[str, float]:
    """Grounding and one-step tracking on un-augmented validation items: mean IoU and accuracy
    (IoU > threshold) per pass, plus the mean loss. `actor` is the bare JointActor (not DDP)."""
    was_training = actor.training
    actor.eval()
    sums: dict[str, float] = {}
    count = 0
    for batch in tqdm(loader, desc="eval", disable=not progress, dynamic_ncols=True, leave=False):
        batch = to_device(batch, device)
        with autocast(device, precision):
            out = actor(batch)
        n = len(batch["text_ids"])
        count += n
        sums["loss"] = sums.get("loss", 0.0) + float(out["loss"]) * n
        for name, iou in out["iou"].items():
            iou = iou.float()
            sums[f"{name}_miou"] = sums.get(f"{name}_miou", 0.0) + float(iou.sum())
            sums[f"{name}_acc"] = sums.get(f"{name}_acc", 0.0) + float((iou > threshold).sum())
    actor.train(was_training)
    if was_training:
        keep_frozen_batchnorm_statistics(actor)
    return {k: v / max(count, 1) for k, v in sums.items()}
