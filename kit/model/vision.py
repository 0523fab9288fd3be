"""Vision encoder builders: the paper's Swin, or any timm backbone with a stride-16 feature map."""
from __future__ import annotations

import torch
from torch import nn

from kit.config import IMAGENET_MEAN, IMAGENET_STD, VisionConfig
from kit.model.swin import SwinBackbone


class TimmBackbone(nn.Module):
    """Any timm model, cut at its stride-`stride` feature map: image (B,3,H,W) -> (B,C,H/16,W/16).

    Weights are random; `kit.weights.pretrained.load_vision_weights` fills them (never a hidden download).
    Images arrive ImageNet-normalised (as every kit pipeline makes them); a backbone trained with another
    normalisation (`cfg.pixel_mean/std`, e.g. 0.5/0.5 for TF EfficientNets) gets them converted first.
    """

    def __init__(self, cfg: VisionConfig, stride: int = 16):
        super().__init__()
        import timm

        probe = timm.create_model(cfg.backbone, pretrained=False, features_only=True)
        reductions = probe.feature_info.reduction()
        if stride not in reductions:
            raise ValueError(f"timm model {cfg.backbone!r} has no stride-{stride} feature map "
                             f"(its strides are {reductions})")
        index = reductions.index(stride)
        self.body = timm.create_model(cfg.backbone, pretrained=False, features_only=True, out_indices=(index,))
        # timm's EfficientNet/MobileNet feature extractors build and run every stage even when only an
        # earlier one is read (for tf_efficientnet_lite0: 2.26M of 2.96M parameters after the stride-16
        # map); keep the blocks up to ours. Other extractors (FeatureListNet) already stop there.
        prefix, _, last = self.body.feature_info.module_name()[0].rpartition(".")
        if prefix == "blocks" and isinstance(getattr(self.body, "blocks", None), nn.Sequential):
            self.body.blocks = self.body.blocks[: int(last) + 1]
        self.model_name = cfg.backbone
        self.num_channels = self.body.feature_info.channels()[0]
        self.stride = stride
        # x_backbone = (x * std_in + mean_in - mean) / std, per channel; not saved (derived from cfg)
        scale = shift = None
        if cfg.pixel_mean is not None or cfg.pixel_std is not None:
            mean_in, std_in = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
            mean = torch.tensor(cfg.pixel_mean or IMAGENET_MEAN)
            std = torch.tensor(cfg.pixel_std or IMAGENET_STD)
            scale, shift = (std_in / std).view(1, 3, 1, 1), ((mean_in - mean) / std).view(1, 3, 1, 1)
        self.register_buffer("input_scale", scale, persistent=False)
        self.register_buffer("input_shift", shift, persistent=False)

    def forward_stages(self, img: torch.Tensor) -> list[torch.Tensor]:
        if self.input_scale is not None:
            img = img * self.input_scale + self.input_shift
        return self.body(img)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.forward_stages(img)[-1]


def build_vision_backbone(cfg: VisionConfig, stride: int = 16) -> nn.Module:
    backbone = SwinBackbone(cfg) if cfg.backbone == "swin" else TimmBackbone(cfg, stride)
    if backbone.stride != stride:
        raise ValueError(f"vision backbone stride is {backbone.stride}, the model needs {stride}")
    return backbone
