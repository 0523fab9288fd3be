"""Box losses of the official `adaptive_compute_losses` (spec §5.6): GIoU + L1 on the returned boxes.

Predictions are cx,cy,w,h normalised (w,h already x 1.5, as the model returns them); ground truth is
x,y,w,h normalised, clamped to [0,1] after conversion to corners. Grounding loss = 2 * mean(1 - GIoU) +
5 * L1; each tracking loss counts only the samples whose grounding IoU > 0.5 (mask m):
2 * mean(m * (1 - GIoU)) + 5 * L1 * mean(m) — the L1 term is the batch mean scaled by the valid fraction
(official, PRESERVE §8 #19).

Degenerate boxes (FIX §8 #18): the corner head can return x2 < x1. The official code then fails an
assertion, and its bare `except` sets the GIoU loss and the IoU of the WHOLE batch to 0, which also empties
the tracking mask. Here GIoU is computed on the prediction with w,h clamped >= 0 (the L1 term still sees
the raw box and pulls it back); `official=True` restores the batch zeroing for parity experiments.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kit.boxes import cxcywh_to_xyxy, xywh_to_xyxy

EPS = 1e-7


def giou_and_iou(a: torch.Tensor, b: torch.Tensor, eps: float = EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise GIoU and IoU of (N,4) x1,y1,x2,y2 boxes with x2 >= x1, y2 >= y1. Zero-area boxes give
    IoU 0 (eps keeps 0/0 finite)."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    inter_wh = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0)
    inter = inter_wh[:, 0] * inter_wh[:, 1]
    union = area_a + area_b - inter
    iou = inter / union.clamp(min=eps)
    hull_wh = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0)
    hull = hull_wh[:, 0] * hull_wh[:, 1]
    return iou - (hull - union) / hull.clamp(min=eps), iou


@dataclass
class BoxTerms:
    giou_loss: torch.Tensor  # (B,) 1 - GIoU per sample
    l1: torch.Tensor         # () mean |pred - gt| over B x 4 corner coordinates
    iou: torch.Tensor        # (B,) IoU per sample (no gradient)


def box_terms(pred_cxcywh: torch.Tensor, gt_xywh: torch.Tensor, official: bool = False) -> BoxTerms:
    pred_cxcywh, gt_xywh = pred_cxcywh.float(), gt_xywh.float()
    pred = cxcywh_to_xyxy(pred_cxcywh)
    gt = xywh_to_xyxy(gt_xywh).clamp(0.0, 1.0)
    l1 = F.l1_loss(pred, gt)
    if official:
        degenerate = bool(((pred[:, 2:] < pred[:, :2]).any() or (gt[:, 2:] < gt[:, :2]).any()).item())
        if degenerate:  # the official except-branch: zero GIoU loss and IoU for the whole batch
            zeros = pred.new_zeros(len(pred))
            return BoxTerms(zeros, l1, zeros)
        giou, iou = giou_and_iou(pred, gt, eps=0.0)
    else:
        safe = torch.cat([pred_cxcywh[:, :2], pred_cxcywh[:, 2:].clamp(min=0)], dim=1)
        giou, iou = giou_and_iou(cxcywh_to_xyxy(safe), gt)
    return BoxTerms(1 - giou, l1, iou.detach())


def grounding_loss(terms: BoxTerms, giou_weight: float = 2.0, l1_weight: float = 5.0) -> torch.Tensor:
    return giou_weight * terms.giou_loss.mean() + l1_weight * terms.l1


def tracking_loss(terms: BoxTerms, mask: torch.Tensor, giou_weight: float = 2.0,
                  l1_weight: float = 5.0) -> torch.Tensor:
    """mask (B,) float 0/1: samples whose grounding IoU > threshold."""
    return giou_weight * (terms.giou_loss * mask).mean() + l1_weight * terms.l1 * mask.mean()
