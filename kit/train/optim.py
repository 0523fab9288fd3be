"""Optimiser, learning-rate schedule and gradient scaler of the official training (docs/official-code.md: Training)."""
from __future__ import annotations

import bisect

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from kit.train.config import OptimConfig

GROUPS = ("head", "vision", "language")  # the order of the optimiser's parameter groups


def parameter_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """AdamW groups by name: `language_backbone.*` at lr_language, `visual_backbone.*` at lr_vision, all
    other ("head") parameters at lr_head. A group whose lr is 0 is frozen (requires_grad False), as the
    official freezes BERT when its lr is 0."""
    named = {"head": [], "vision": [], "language": []}
    for name, param in model.named_parameters():
        group = ("language" if name.startswith("language_backbone.") else
                 "vision" if name.startswith("visual_backbone.") else "head")
        named[group].append(param)
    lrs = {"head": cfg.lr_head, "vision": cfg.lr_vision, "language": cfg.lr_language}
    if cfg.vision_train_from_block > 0:
        frozen = {id(p) for name, p in model.named_parameters() if _below_block(name, cfg.vision_train_from_block)}
        for p in named["vision"]:
            if id(p) in frozen:
                p.requires_grad_(False)
        named["vision"] = [p for p in named["vision"] if id(p) not in frozen]
    groups = []
    for name in GROUPS:
        if lrs[name] == 0:
            for p in named[name]:
                p.requires_grad_(False)
        elif named[name]:
            groups.append({"params": named[name], "lr": lrs[name], "name": name})
    return groups


def _below_block(name: str, k: int) -> bool:
    """Is this `visual_backbone.body.*` parameter in the stem or in blocks.0 .. blocks.{k-1}?"""
    if not name.startswith("visual_backbone.body."):
        return False
    part = name.split(".")[2:4]
    if part[0] != "blocks":
        return part[0] in ("conv_stem", "bn1")
    return int(part[1]) < k


def keep_frozen_batchnorm_statistics(model: nn.Module) -> None:
    """Put every BatchNorm whose affine parameters are all frozen in eval mode (call after `.train()`): a frozen
    pretrained encoder then computes exactly its pretrained features instead of drifting with the training
    data's batch statistics."""
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)):
            params = list(module.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                module.eval()


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over the three groups; weight decay on every parameter, norms and biases included (official)."""
    return torch.optim.AdamW(parameter_groups(model, cfg), betas=tuple(cfg.betas), eps=cfg.eps,
                             weight_decay=cfg.weight_decay)


def lr_factor(last_epoch: int, warmup_epochs: int, warmup_factor: float, milestones, gamma: float) -> float:
    """The official WarmupMultiStepLR factor while `last_epoch` = e - 1 (e = the 1-based epoch being trained):
    linear warm-up `warmup_factor * (1 - a) + a` with a = e / warmup_epochs while e - 1 < warmup_epochs,
    times gamma ** (number of milestones <= e - 1). Paper values: epoch 1 x0.043, epoch 30 x1,
    epochs 201-250 x0.1, 251-290 x0.01, 291-300 x0.001."""
    warm = 1.0
    if warmup_epochs > 0 and last_epoch < warmup_epochs:
        alpha = (last_epoch + 1) / warmup_epochs
        warm = warmup_factor * (1 - alpha) + alpha
    return warm * gamma ** bisect.bisect_right(sorted(milestones), last_epoch)


class WarmupMultiStepLR(LRScheduler):
    """Linear warm-up then multi-step decay, stepped once per epoch (after it)."""

    def __init__(self, optimizer, milestones, gamma: float = 0.1, warmup_factor: float = 0.01,
                 warmup_epochs: int = 30, last_epoch: int = -1):
        self.milestones = list(milestones)
        self.gamma, self.warmup_factor, self.warmup_epochs = gamma, warmup_factor, warmup_epochs
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        factor = lr_factor(self.last_epoch, self.warmup_epochs, self.warmup_factor, self.milestones, self.gamma)
        return [base * factor for base in self.base_lrs]


def build_scheduler(optimizer, cfg: OptimConfig) -> WarmupMultiStepLR:
    return WarmupMultiStepLR(optimizer, cfg.milestones, cfg.gamma, cfg.warmup_factor, cfg.warmup_epochs)


def build_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (CUDA only); None for fp32 and bf16 (bf16 has fp32's range)."""
    if precision != "fp16":
        return None
    if device.type != "cuda":
        raise ValueError(f"optim.precision=fp16 needs a CUDA device (got {device}); use bf16 on CPU")
    return torch.amp.GradScaler("cuda")
