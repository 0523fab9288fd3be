"""How much a box in a search crop looks like the template's target, from the vision encoder's own tokens.

Not in the paper: a test-time check for real footage (`TrackerConfig.appearance_check`). The descriptor of a
box is a 3x3 grid of RoI-aligned projected encoder tokens, L2-normalised, so two descriptors compare by one
dot product (cosine similarity, in [-1, 1]).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.ops import roi_align

GRID = 3


def descriptors(tokens: torch.Tensor, side: int, stride: int, boxes_xyxy) -> torch.Tensor:
    """tokens (N,C) of a side x side token map (row-major), K boxes in the crop's pixels -> (K, C*GRID*GRID),
    one RoI-align call for all of them."""
    fmap = tokens.float().T.reshape(1, -1, side, side)
    rois = torch.tensor([[0.0, *box] for box in boxes_xyxy], dtype=fmap.dtype, device=fmap.device)
    pooled = roi_align(fmap, rois, output_size=GRID, spatial_scale=1.0 / stride, sampling_ratio=2, aligned=True)
    return F.normalize(pooled.flatten(1), dim=1)


def descriptor(tokens: torch.Tensor, side: int, stride: int, box_xyxy: tuple[float, float, float, float]):
    """The descriptor of one box: (C*GRID*GRID,)."""
    return descriptors(tokens, side, stride, [box_xyxy])[0]


def frame_box_to_crop(box_xywh, crop_box: tuple[int, int, int], resize_factor: float):
    """A frame box (x,y,w,h) -> (x1,y1,x2,y2) in the pixels of the resized crop whose frame square is crop_box."""
    x, y, w, h = box_xywh
    cx1, cy1, _ = crop_box
    return ((x - cx1) * resize_factor, (y - cy1) * resize_factor,
            (x + w - cx1) * resize_factor, (y + h - cy1) * resize_factor)
