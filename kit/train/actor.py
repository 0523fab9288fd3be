"""The training step of JointNLT (official `JointNLTActor`, docs/official-code.md: Training): ground, cut the
template around the grounding prediction, track; losses of `kit.train.losses`.

`JointActor` is an nn.Module so that DistributedDataParallel wraps the whole step (three model passes, one
backward). Three forms:
  * `num_search=2` (`forward_multiFrame`, the released model's final phase): grounding; tracking 1 with
    temporal = grounding RoI (36 tokens); tracking 2 with temporal = [grounding RoI, tracking-1 RoI]
    (72 tokens);
  * `num_search=1` (`forward_joint`, the author's advice for the first ~50 epochs): one tracking pass,
    temporal None;
  * `num_search=0` (not official): grounding only.
RoI features are NOT detached (official): gradients reach the grounding pass through the temporal path.
The template is cut on the CPU from the grounding frame (official TemplateProcessing), with the sample's
own generator, so it is the same whatever the device or the number of processes.
"""
from __future__ import annotations

import torch
from torch import nn

from kit.train.config import LossConfig
from kit.train.losses import box_terms, corner_map_loss, grounding_loss, target_attention_loss, tracking_loss
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
        cfg, model = self.loss_cfg, self.model
        # The sentence and the template are encoded once and shared by the passes, unless
        # loss.official_encode_per_pass: the official actor re-encodes them in every pass (the same function
        # with independent dropout noise, at up to 3x the encoder cost).
        text = model.encode_text(batch["text_ids"], batch["text_mask"])
        g = model.ground(text, model.encode_image(batch["grounding_img"], batch["grounding_mask"]),
                         need_weights=self.supervises_attention)
        g_terms = box_terms(g.boxes, batch["grounding_box"], cfg.official_degenerate_zeroing)
        loss_g = grounding_loss(g_terms, cfg.giou_weight, cfg.l1_weight)
        stats = {"loss_grounding": loss_g.detach(), "iou_grounding": g_terms.iou.mean()}
        aid = self.training_aids(g, batch["grounding_box"])
        if aid is not None:
            loss_g = loss_g + aid.mean()
            stats["aid_grounding"] = aid.mean().detach()
        ious = {"grounding": g_terms.iou}
        loss = loss_g
        if self.num_search > 0:
            loss = loss + self._track_passes(batch, text, g, g_terms.iou, stats, ious)
        stats["loss"] = loss.detach()
        return {"loss": loss, "stats": stats, "iou": ious}

    def _track_passes(self, batch: dict, text, g, grounding_iou, stats: dict, ious: dict) -> torch.Tensor:
        """The tracking passes after a grounding pass `g`: the template is cut around its prediction."""
        cfg, model = self.loss_cfg, self.model
        mask = (grounding_iou > cfg.track_iou_threshold).float()         # (B,)
        stats["track_mask"] = mask.mean()                                 # fraction usable as template
        template_boxes = g.boxes.detach()
        if cfg.template_from_gt_when_missed:
            gt = batch["grounding_box"].to(template_boxes.dtype)          # x,y,w,h -> cx,cy,w,h
            gt_cxcywh = torch.cat([gt[:, :2] + gt[:, 2:] / 2, gt[:, 2:]], dim=1)
            template_boxes = torch.where(mask[:, None] > 0, template_boxes, gt_cxcywh)
            mask = torch.ones_like(mask)
        template_images = self.templates(batch, template_boxes)
        template = model.encode_image(*template_images)
        loss, temporal, roi = 0.0, None, [g.roi_feature.flatten(2)]     # (B,C,36)
        for k in range(self.num_search):
            if self.num_search == 2:
                temporal = torch.cat(roi, dim=-1)                         # (B,C,36k)
            if cfg.official_encode_per_pass:
                text = model.encode_text(batch["text_ids"], batch["text_mask"])
                template = template if k == 0 else model.encode_image(*template_images)
            search = model.encode_image(batch["search_img"][:, k], batch["search_mask"][:, k])
            t = model.track(text, template, search, temporal, need_weights=self.supervises_attention)
            t_terms = box_terms(t.boxes, batch["search_box"][:, k], cfg.official_degenerate_zeroing)
            loss_t = tracking_loss(t_terms, mask, cfg.giou_weight, cfg.l1_weight)
            aid = self.training_aids(t, batch["search_box"][:, k])
            if aid is not None:
                loss_t = loss_t + (aid * mask).mean()
            loss = loss + loss_t
            roi.append(t.roi_feature.flatten(2))
            stats[f"loss_track{k + 1}"] = loss_t.detach()
            stats[f"iou_track{k + 1}"] = t_terms.iou.mean()
            ious[f"track{k + 1}"] = t_terms.iou
        return loss

    @property
    def supervises_attention(self) -> bool:
        return self.loss_cfg.target_attention_weight > 0 and self.model.config.architecture.target_decoder

    def training_aids(self, pred, gt_xywh: torch.Tensor) -> torch.Tensor | None:
        """(B,) the weighted training aids of one pass (corner maps, target attention), None when both are off."""
        cfg, aid = self.loss_cfg, None
        if cfg.corner_map_weight > 0:
            aid = cfg.corner_map_weight * corner_map_loss(pred.score_tl, pred.score_br, gt_xywh,
                                                          self.model.config.box_enlarge, cfg.corner_map_sigma)
        if self.supervises_attention:
            attention = target_attention_loss(pred.target_attention[-1], gt_xywh, self.model.config.search_feat_size)
            aid = cfg.target_attention_weight * attention + (0 if aid is None else aid)
        return aid

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
