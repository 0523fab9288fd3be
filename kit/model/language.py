"""Language encoder: a `transformers` BERT-family model; the paper uses the last layer of bert-base-uncased."""
from __future__ import annotations

import torch
from torch import nn

from kit.config import LanguageConfig


class LanguageBackbone(nn.Module):
    """Token ids (B,L) + mask (B,L, 1 = real token) -> last hidden state (B,L,hidden).

    The official wrapper holds the BERT under `.bert` (checkpoint keys `language_backbone.bert.*`) and has
    no pooler. Weights are random unless `load_pretrained()` is called (explicitly: it may download).
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
        self.cfg = cfg

    def load_pretrained(self, source: str | None = None, local_files_only: bool = True) -> None:
        """Copy encoder weights from a local folder or Hub id (`local_files_only=False` allows a download)."""
        from transformers import AutoModel

        source = source or self.cfg.pretrained
        if source is None:
            raise ValueError("no pretrained language weights given (LanguageConfig.pretrained is None)")
        pretrained = AutoModel.from_pretrained(source, local_files_only=local_files_only)
        missing, unexpected = self.bert.load_state_dict(pretrained.state_dict(), strict=False)
        missing = [k for k in missing if "pooler" not in k]
        unexpected = [k for k in unexpected if "pooler" not in k]
        if missing or unexpected:
            raise ValueError(f"pretrained text encoder {source!r} does not fit: missing {missing[:3]}, "
                             f"unexpected {unexpected[:3]}")

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = self.bert(input_ids=ids, attention_mask=mask)
        return out.last_hidden_state

