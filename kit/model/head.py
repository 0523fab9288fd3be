"""Corner head: two conv towers give top-left and bottom-right heat maps; a soft-argmax reads the box."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1, bias=True), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


@dataclass
class CornerOutput:
    boxes_xyxy: torch.Tensor  # (B,4) normalised by the input size; no clamping, w/h may be negative
    score_tl: torch.Tensor    # (B,1,H,W) logits
    score_br: torch.Tensor


class CornerHead(nn.Module):
    """Input (B,C,H,W) -> corners. Module names match the official `box_head.conv{1..5}_{tl,br}`."""

    def __init__(self, in_channels: int, channels: int, feat_size: int, stride: int):
        super().__init__()
        widths = [in_channels, channels, channels // 2, channels // 4, channels // 8]
        for corner in ("tl", "br"):
            for i in range(4):
                self.add_module(f"conv{i + 1}_{corner}", _conv_bn_relu(widths[i], widths[i + 1]))
            self.add_module(f"conv5_{corner}", nn.Conv2d(widths[4], 1, kernel_size=1))
        self.feat_size, self.stride = feat_size, stride
        # Soft-argmax grid at each cell's top-left corner (16·k), not its centre: official (PRESERVE).
        cells = torch.arange(feat_size, dtype=torch.float32) * stride
        self.register_buffer("coord_x", cells.repeat(feat_size), persistent=False)
        self.register_buffer("coord_y", cells.repeat_interleave(feat_size), persistent=False)

    def _tower(self, x: torch.Tensor, corner: str) -> torch.Tensor:
        for i in range(1, 6):
            x = getattr(self, f"conv{i}_{corner}")(x)
        return x

    def soft_argmax(self, score: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        prob = score.flatten(1).float().softmax(dim=1)   # (B,H*W), row-major
        return (prob * self.coord_x).sum(1), (prob * self.coord_y).sum(1)

    def forward(self, x: torch.Tensor, log_prior: torch.Tensor | None = None) -> CornerOutput:
        """log_prior (B,2,H,W), optional: added to the top-left / bottom-right logits before the soft-argmax
        only (a tracker's motion prior); the returned score maps are the towers' own."""
        score_tl, score_br = self._tower(x, "tl"), self._tower(x, "br")
        if log_prior is None:   # the paper (and bit-exact official boxes)
            x0, y0 = self.soft_argmax(score_tl)
            x1, y1 = self.soft_argmax(score_br)
        else:
            x0, y0 = self.soft_argmax(score_tl.float() + log_prior[:, :1])
            x1, y1 = self.soft_argmax(score_br.float() + log_prior[:, 1:])
        size = self.feat_size * self.stride
        return CornerOutput(torch.stack([x0, y0, x1, y1], dim=1) / size, score_tl, score_br)
