"""Box losses of the official `adaptive_compute_losses` (docs/official-code.md: Training): GIoU + L1 on the
returned boxes.

Predictions are cx,cy,w,h normalised (w,h already x 1.5, as the model returns them); ground truth is
x,y,w,h normalised, clamped to [0,1] after conversion to corners. Grounding loss = 2 * mean(1 - GIoU) +
5 * L1; each tracking loss counts only the samples whose grounding IoU > 0.5 (mask m):
2 * mean(m * (1 - GIoU)) + 5 * L1 * mean(m) — the L1 term is the batch mean scaled by the valid fraction
(official, PRESERVE quirk 19).

Degenerate boxes (FIX quirk 18): the corner head can return x2 < x1. The official code then fails an
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


def corner_map_loss(score_tl: torch.Tensor, score_br: torch.Tensor, gt_xywh: torch.Tensor, box_enlarge: float,
                    sigma: float = 1.0) -> torch.Tensor:
    """(B,) KL divergence from a Gaussian target to each corner heat map's softmax, mean of the two corners.

    Not in the paper (a training aid, `LossConfig.corner_map_weight`): the soft-argmax L1/GIoU loss only says
    where the *mean* of a heat map should move; this says which cells the mass belongs on, which is what a
    model that must pick one object among look-alikes has to learn. The targets are the corners of the box
    the head should output: the ground truth shrunk by `box_enlarge` around its centre (the model returns
    the head's w,h x 1.5). A cell k reads as coordinate k / W (its top-left corner, as the soft-argmax), so a
    corner at normalised x sits at cell x * W; `sigma` is in cells. Zero when the map equals the target."""
    B, _, H, W = score_tl.shape
    gt = xywh_to_xyxy(gt_xywh.float()).clamp(0.0, 1.0)
    centre, half = (gt[:, :2] + gt[:, 2:]) / 2, (gt[:, 2:] - gt[:, :2]) / (2 * box_enlarge)
    scale = gt.new_tensor([W, H])
    losses = []
    for score, corner in ((score_tl, centre - half), (score_br, centre + half)):
        u = corner * scale                                                             # (B,2) in cells
        gx = torch.exp(-0.5 * ((torch.arange(W, device=u.device) - u[:, :1]) / sigma) ** 2)  # (B,W)
        gy = torch.exp(-0.5 * ((torch.arange(H, device=u.device) - u[:, 1:]) / sigma) ** 2)  # (B,H)
        target = (gy[:, :, None] * gx[:, None, :]).flatten(1)
        target = target / target.sum(1, keepdim=True).clamp(min=EPS)
        log_p = score.flatten(1).float().log_softmax(dim=1)
        losses.append((target * (target.clamp(min=EPS).log() - log_p)).sum(1))
    return (losses[0] + losses[1]) / 2


def box_token_distribution(gt_xywh: torch.Tensor, size: int) -> torch.Tensor:
    """(B,size*size) the share of the ground-truth box's area in each token's cell (row-major; cell (i, j)
    covers [j, j+1) x [i, i+1) / size of the normalised image). Sums to 1 per sample."""
    gt = xywh_to_xyxy(gt_xywh.float()).clamp(0.0, 1.0)
    edges = torch.arange(size + 1, device=gt.device, dtype=gt.dtype) / size

    def overlap(lo, hi):  # (B,) x (size,) -> (B,size) length of [lo,hi] inside each cell
        return (torch.min(hi[:, None], edges[None, 1:]) - torch.max(lo[:, None], edges[None, :-1])).clamp(min=0)

    area = (overlap(gt[:, 1], gt[:, 3])[:, :, None] * overlap(gt[:, 0], gt[:, 2])[:, None, :]).flatten(1)
    return area / area.sum(1, keepdim=True).clamp(min=EPS)


def target_attention_loss(attention: torch.Tensor, gt_xywh: torch.Tensor, size: int) -> torch.Tensor:
    """(B,) KL divergence from the ground-truth box (`box_token_distribution`) to the target decoder's
    cross-attention over the search tokens ((B,1,N) or (B,N), head-averaged). Not in the paper (a training
    aid, `LossConfig.target_attention_weight`): it teaches the target query where the sentence's object is
    directly, instead of through the corner head."""
    target = box_token_distribution(gt_xywh, size)
    attn = attention.float().reshape(target.shape)
    return (target * (target.clamp(min=EPS).log() - attn.clamp(min=EPS).log())).sum(1)
