"""Vision encoder builders: the paper's Swin, or any timm backbone with a stride-16 feature map."""
from __future__ import annotations

import torch
from torch import nn

from kit.config import VisionConfig
from kit.model.swin import SwinBackbone


class TimmBackbone(nn.Module):
    """Any timm model, cut at its stride-`stride` feature map: image (B,3,H,W) -> (B,C,H/16,W/16)."""

    def __init__(self, cfg: VisionConfig, stride: int = 16):
        super().__init__()
        import timm

        probe = timm.create_model(cfg.backbone, pretrained=False, features_only=True)
        reductions = probe.feature_info.reduction()
        if stride not in reductions:
            raise ValueError(f"timm model {cfg.backbone!r} has no stride-{stride} feature map "
                             f"(its strides are {reductions})")
        index = reductions.index(stride)
        # Only `timm_pretrained=True` lets timm fetch its weights (a download): never implicit.
        self.body = timm.create_model(cfg.backbone, pretrained=cfg.timm_pretrained, features_only=True,
                                      out_indices=(index,))
        self.num_channels = self.body.feature_info.channels()[0]
        self.stride = stride

    def forward_stages(self, img: torch.Tensor) -> list[torch.Tensor]:
        return self.body(img)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.body(img)[-1]


def build_vision_backbone(cfg: VisionConfig, stride: int = 16) -> nn.Module:
    backbone = SwinBackbone(cfg) if cfg.backbone == "swin" else TimmBackbone(cfg, stride)
    if backbone.stride != stride:
        raise ValueError(f"vision backbone stride is {backbone.stride}, the model needs {stride}")
    return backbone
