"""The training step of JointNLT (official `JointNLTActor`, spec §5.5): ground, cut the template around the
grounding prediction, track; losses of §5.6.

`JointActor` is an nn.Module so that DistributedDataParallel wraps the whole step (three model passes, one
backward). Two forms:
  * `num_search=2` (`forward_multiFrame`, the released model's final phase): grounding; tracking 1 with
    temporal = grounding RoI (36 tokens); tracking 2 with temporal = [grounding RoI, tracking-1 RoI]
    (72 tokens);
  * `num_search=1` (`forward_joint`, the author's advice for the first ~50 epochs): one tracking pass,
    temporal None.
RoI features are NOT detached (official): gradients reach the grounding pass through the temporal path.
The template is cut on the CPU from the grounding frame (official TemplateProcessing), with the sample's
own generator, so it is the same whatever the device or the number of processes.
"""
from __future__ import annotations

import torch
from torch import nn

from kit.train.config import LossConfig
from kit.train.losses import box_terms, grounding_loss, tracking_loss
from kit.train.processing import Processing
from kit.train.sampling import sample_rng


class JointActor(nn.Module):
    def __init__(self, model: nn.Module, processing: Processing, loss_cfg: LossConfig, num_search: int = 2):
        super().__init__()
        self.model = model
        self.processing = processing
        self.loss_cfg = loss_cfg
        self.num_search = num_search

    def forward(self, batch: dict) -> dict:
        """batch: the collated output of `Processing` on the model's device (frames stay numpy).
        Returns {'loss': scalar, 'stats': {name: scalar}, 'iou': {pass: (B,)}}."""
        cfg = self.loss_cfg
        ids, text_mask = batch["text_ids"], batch["text_mask"]
        g = self.model(ids, text_mask, batch["grounding_img"], batch["grounding_mask"], mode="grounding")
        g_terms = box_terms(g.boxes, batch["grounding_box"], cfg.official_degenerate_zeroing)
        loss_g = grounding_loss(g_terms, cfg.giou_weight, cfg.l1_weight)
        mask = (g_terms.iou > cfg.track_iou_threshold).float()          # (B,)
        grounding_hits = mask.mean()                                      # fraction usable as template
        template_boxes = g.boxes.detach()
        if cfg.template_from_gt_when_missed:
            gt = batch["grounding_box"].to(template_boxes.dtype)          # x,y,w,h -> cx,cy,w,h
            gt_cxcywh = torch.cat([gt[:, :2] + gt[:, 2:] / 2, gt[:, 2:]], dim=1)
            template_boxes = torch.where(mask[:, None] > 0, template_boxes, gt_cxcywh)
            mask = torch.ones_like(mask)

        template, template_mask = self.templates(batch, template_boxes)
        stats = {"loss_grounding": loss_g.detach(), "iou_grounding": g_terms.iou.mean(),
                 "track_mask": grounding_hits}
        ious = {"grounding": g_terms.iou}
        loss, temporal, roi = loss_g, None, [g.roi_feature.flatten(2)]  # (B,C,36)
        for k in range(self.num_search):
            if self.num_search == 2:
                temporal = torch.cat(roi, dim=-1)                         # (B,C,36k)
            t = self.model(ids, text_mask, batch["search_img"][:, k], batch["search_mask"][:, k], mode="tracking",
                           template_img=template, template_mask=template_mask, temporal=temporal)
            t_terms = box_terms(t.boxes, batch["search_box"][:, k], cfg.official_degenerate_zeroing)
            loss_t = tracking_loss(t_terms, mask, cfg.giou_weight, cfg.l1_weight)
            loss = loss + loss_t
            roi.append(t.roi_feature.flatten(2))
            stats[f"loss_track{k + 1}"] = loss_t.detach()
            stats[f"iou_track{k + 1}"] = t_terms.iou.mean()
            ious[f"track{k + 1}"] = t_terms.iou
        stats["loss"] = loss.detach()
        return {"loss": loss, "stats": stats, "iou": ious}

    def templates(self, batch: dict, pred_boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B,3,T,T) template images and (B,T,T) masks cut around the grounding predictions. Augmented with
        each sample's template generator in training mode, plain in eval mode."""
        device = batch["grounding_img"].device
        boxes = pred_boxes.float().cpu()
        coords, keys = batch["grounding_coords"].cpu().tolist(), batch["sample_key"].cpu().tolist()
        flips = batch["flip_allowed"].cpu().tolist()
        imgs, masks = [], []
        for i, frame in enumerate(batch["grounding_frame"]):
            rng = sample_rng(*keys[i], stream=1) if self.training else None
            img, mask = self.processing.template(frame, boxes[i], coords[i], rng, flips[i])
            imgs.append(img)
            masks.append(mask)
        dtype = batch["grounding_img"].dtype
        return torch.stack(imgs).to(device, dtype), torch.stack(masks).to(device)
