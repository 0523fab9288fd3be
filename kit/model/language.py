"""Language encoder: a `transformers` BERT-family model; the paper uses the last layer of bert-base-uncased."""
from __future__ import annotations

import torch
from torch import nn

from kit.config import LanguageConfig


class LanguageBackbone(nn.Module):
    """Token ids (B,L) + mask (B,L, 1 = real token) -> last hidden state (B,L,hidden).

    The official wrapper holds the BERT under `.bert` (checkpoint keys `language_backbone.bert.*`) and has
    no pooler. Weights are random; `kit.weights.pretrained.load_language_weights` fills them.
    """

    def __init__(self, cfg: LanguageConfig):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        hf_cfg = AutoConfig.for_model(cfg.model_type, **cfg.hf_config)
        try:  # the paper's BERT has no pooler
            self.bert = AutoModel.from_config(hf_cfg, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler option (e.g. DistilBERT)
            self.bert = AutoModel.from_config(hf_cfg)
        self.num_channels = hf_cfg.hidden_size
        self.output_scale = cfg.output_scale

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=ids, attention_mask=mask).last_hidden_state
        return hidden if self.output_scale == 1.0 else hidden * self.output_scale

