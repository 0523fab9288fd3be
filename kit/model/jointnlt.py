"""JointNLT: one model that grounds a sentence in a frame and tracks the grounded target.

Paper vocabulary used here: MSRM = multi-source relation modelling (`vl_joint_trans`), SGTM =
semantics-guided temporal modelling (`temporal_decoder`), TQ = target query, TC = temporal clue.
Module names equal the official checkpoint's, so its state dict loads strictly.

Two entry points share everything but the template: `ground()` (a zero template, fully masked) and
`track()` (real template tokens + optional temporal RoI tokens). Text and image encodings come from
`encode_text()` / `encode_image()`, so that a tracker computes the text and the template once per video and
training shares them between its passes. `kit.model.record` records the intermediate tensors with hooks.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import RoIAlign

from kit.boxes import cxcywh_to_xyxy, xyxy_to_cxcywh
from kit.config import ModelConfig
from kit.model.head import CornerHead
from kit.model.language import LanguageBackbone
from kit.model.temporal import TemporalModule
from kit.model.transformer import Decoder, DecoderLayer, RelationEncoder
from kit.model.vision import build_vision_backbone

ROI_SIZE = 6  # RoI tokens per frame = 6x6 = 36


@dataclass
class Features:
    """Projected tokens (B,N,C) and their padding mask (B,N), True = padding (ignored as keys)."""

    tokens: torch.Tensor
    padding_mask: torch.Tensor


@dataclass
class Prediction:
    boxes: torch.Tensor        # (B,4) cx,cy,w,h normalised by the input size; w,h = head w,h x 1.5
    head_boxes: torch.Tensor   # (B,4) the corner head's own cx,cy,w,h
    roi_feature: torch.Tensor  # (B,C,6,6) RoIAlign of the modulated search map on `boxes`
    score_tl: torch.Tensor     # (B,1,H,W) corner heat-map logits
    score_br: torch.Tensor
    # Head-averaged attention, only when asked: target decoder cross-attention (per layer (B,1,N_search))
    # and SGTM encoder self-attention (per layer (B,1+L,1+L)).
    target_attention: list[torch.Tensor] = field(default_factory=list)
    temporal_attention: list[torch.Tensor] = field(default_factory=list)


class JointNLT(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        arch, t = cfg.architecture, cfg.transformer
        d = t.hidden_dim
        self.visual_backbone = build_vision_backbone(cfg.vision, cfg.stride)
        self.language_backbone = LanguageBackbone(cfg.language)
        self.visu_proj = nn.Linear(self.visual_backbone.num_channels, d)
        self.text_proj = nn.Linear(self.language_backbone.num_channels, d)
        self.sep_embed = nn.Embedding(1, d)
        self.vl_pos_embed = nn.Embedding(cfg.num_positions, d)
        self.vl_joint_trans = RelationEncoder(d, t.num_heads, t.ffn_dim, t.dropout, t.relation_layers)
        self.box_head = CornerHead(d, t.head_channels, cfg.search_feat_size, cfg.stride)
        if arch.separate_relation:  # SepRM: the tracking task gets its own relation encoder and head
            self.vl_joint_trans_tracking = RelationEncoder(d, t.num_heads, t.ffn_dim, t.dropout,
                                                           t.relation_layers)
            self.box_head_tracking = CornerHead(d, t.head_channels, cfg.search_feat_size, cfg.stride)
        if arch.temporal:
            self.temporal_decoder = TemporalModule(d, t.num_heads, t.ffn_dim, t.dropout, t.temporal_enc_layers,
                                                   t.temporal_dec_layers, use_text_cls=arch.temporal_text_cls)
            self.temporal_query_embed = nn.Embedding(1, d)
        if arch.target_decoder:
            self.target_decoder = Decoder(DecoderLayer(d, t.num_heads, t.ffn_dim, t.dropout),
                                          t.target_dec_layers, d)
            self.target_query_embed = nn.Embedding(1, d)
        self.roi_align = RoIAlign((ROI_SIZE, ROI_SIZE), spatial_scale=1.0 / cfg.stride, sampling_ratio=2, aligned=False)
        for layer in (self.vl_pos_embed, self.text_proj, self.visu_proj):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            if getattr(layer, "bias", None) is not None:
                nn.init.zeros_(layer.bias)

    # ------------------------------------------------------------------ encoders (cacheable)
    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> Features:
        """ids, mask (B,L) with mask 1 = real token -> text tokens (B,L,C)."""
        return Features(self.text_proj(self.language_backbone(ids, mask)), ~mask.bool())

    def encode_image(self, img: torch.Tensor, pad_mask: torch.Tensor) -> Features:
        """img (B,3,H,W) normalised, pad_mask (B,H,W) True = padding -> tokens (B,H/16*W/16,C)."""
        fmap = self.visual_backbone(img)
        tokens = self.visu_proj(fmap.flatten(2).transpose(1, 2))          # (B,HW,C), row-major
        # Nearest down-sampling picks pixel (16i, 16j). Sized by the map's (H, W): the official code
        # used the width for both, which only works for square inputs (FIX).
        mask = F.interpolate(pad_mask[None].float(), size=fmap.shape[-2:]).to(torch.bool)[0]
        return Features(tokens, mask.flatten(1))

    def template_placeholder(self, batch: int, device, dtype=torch.float32) -> Features:
        """Grounding has no template: zero tokens, all masked (official, PRESERVE)."""
        n, d = self.config.template_tokens, self.config.transformer.hidden_dim
        return Features(torch.zeros(batch, n, d, device=device, dtype=dtype),
                        torch.ones(batch, n, dtype=torch.bool, device=device))

    # ------------------------------------------------------------------ the two tasks
    def ground(self, text: Features, image: Features, need_weights: bool = False) -> Prediction:
        """Find the sentence's target in a whole (resized, padded) frame."""
        template = self.template_placeholder(image.tokens.shape[0], image.tokens.device, image.tokens.dtype)
        return self._predict("grounding", text, template, image, None, need_weights)

    def track(self, text: Features, template: Features, search: Features, temporal: torch.Tensor | None = None,
              need_weights: bool = False, corner_prior: torch.Tensor | None = None) -> Prediction:
        """Locate the target in a search crop. temporal: (B,C,36·k) historical RoI tokens or None.
        corner_prior: (B,2,H,W) log-prior added to the top-left / bottom-right corner logits before the
        soft-argmax (not in the paper: the tracker's motion prior); the returned score maps stay the head's."""
        return self._predict("tracking", text, template, search, temporal, need_weights, corner_prior)

    # ------------------------------------------------------------------ shared body
    def _predict(self, task, text, template, search, temporal, need_weights, corner_prior=None) -> Prediction:
        separate = self.config.architecture.separate_relation and task == "tracking"
        relation = self.vl_joint_trans_tracking if separate else self.vl_joint_trans
        head = self.box_head_tracking if separate else self.box_head
        B, n_search = search.tokens.shape[:2]

        sep = self.sep_embed.weight.unsqueeze(0).expand(B, -1, -1)
        src = torch.cat([text.tokens, template.tokens, sep.to(text.tokens.dtype), search.tokens], dim=1)
        mask = torch.cat([text.padding_mask, template.padding_mask,
                          torch.zeros(B, 1, dtype=torch.bool, device=src.device), search.padding_mask], dim=1)
        pos = self.vl_pos_embed.weight.unsqueeze(1).expand(-1, B, -1)     # (505,B,C)
        out, _ = relation(src.transpose(0, 1), mask, pos)                   # (505,B,C)
        search_tokens, text_cls = out[-n_search:], out[0]

        clue, temporal_attention = self._temporal_clue(text_cls, temporal, need_weights)
        if self.config.text_in_query and not torch.is_tensor(clue):   # no temporal clue: TQ + sentence
            clue = self._sentence(text.tokens.transpose(0, 1), text.padding_mask).unsqueeze(0)   # (1,B,C)
        target_attention = []
        if self.config.architecture.target_decoder:
            query = self.target_query_embed.weight.unsqueeze(1).expand(-1, B, -1) + clue   # TQ + TC
            target, target_attention = self.target_decoder(query, search_tokens, search.padding_mask,
                                                           pos[-n_search:], need_weights=need_weights)
            search_tokens = search_tokens + search_tokens * target          # (400,B,C) modulated
        return self._boxes_and_roi(search_tokens, head, target_attention, temporal_attention, corner_prior)

    @staticmethod
    def _sentence(text_out: torch.Tensor, padding_mask: torch.Tensor) -> torch.Tensor:
        """(L,B,C) projected text tokens -> (B,C) their mean over the real tokens, layer-normalised: the sentence
        embedding that sentence-transformer encoders such as MiniLM are trained to give. Taken before the
        relation encoder, whose outputs at the text positions are mostly image content in a young model."""
        real = (~padding_mask).T.unsqueeze(-1).to(text_out.dtype)           # (L,B,1)
        mean = (text_out * real).sum(0) / real.sum(0).clamp(min=1)
        # Normalised (no weights) to the scale of the query embedding it joins (unit variance per channel,
        # as the embedding's init): unnormalised, the mean of MiniLM's projected tokens was ~5x smaller than
        # TQ and the sentence hardly moved the query (docs/training.md, pilot runs).
        return F.layer_norm(mean, mean.shape[-1:])

    def _temporal_clue(self, text_cls, temporal, need_weights):
        if temporal is None or not self.config.architecture.temporal:
            return 0, []
        clue, _, weights = self.temporal_decoder(text_cls, temporal, self.temporal_query_embed.weight,
                                                 need_weights=need_weights)
        return clue, weights

    def _boxes_and_roi(self, search_tokens, head, target_attention, temporal_attention,
                       corner_prior=None) -> Prediction:
        n, B, C = search_tokens.shape
        size = self.config.search_feat_size
        fmap = search_tokens.permute(1, 2, 0).reshape(B, C, size, size)  # (B,C,20,20)
        corners = head(fmap, corner_prior)
        head_boxes = xyxy_to_cxcywh(corners.boxes_xyxy)
        # Official semantics of the in-place x1.5 (PRESERVE), done out of place: the returned boxes and
        # the RoI box both carry w,h x 1.5.
        boxes = torch.cat([head_boxes[:, :2], head_boxes[:, 2:] * self.config.box_enlarge], dim=1)
        rois = cxcywh_to_xyxy(boxes * self.config.search_size)
        # roi_align reads memory at the box's coordinates: a NaN/inf box segfaults it (the official code
        # crashed there after a fully padded search crop). Non-finite coordinates become 0 (FIX).
        rois = torch.nan_to_num(rois, nan=0.0, posinf=0.0, neginf=0.0)
        batch_index = torch.arange(B, device=rois.device, dtype=rois.dtype).unsqueeze(1)
        roi = self.roi_align(fmap, torch.cat([batch_index, rois], dim=1).to(fmap.dtype))
        return Prediction(boxes, head_boxes, roi, corners.score_tl, corners.score_br,
                          target_attention, temporal_attention)
