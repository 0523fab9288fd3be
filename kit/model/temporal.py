"""Semantics-guided temporal modelling (SGTM): turns historical RoI tokens into the temporal clue (TC).

The encoder relates the NL CLS token (the relation encoder's output at BERT's [CLS]) with the RoI tokens
of the grounding result and the previous frame; a single learned query then decodes them into one token.
"""
from __future__ import annotations

import torch
from torch import nn

from kit.model.transformer import Decoder, DecoderLayer, Encoder, EncoderLayer


class TemporalModule(nn.Module):
    """Official key layout: `temporal_decoder.encoder.layers.i`, `temporal_decoder.decoder.{layers.i,norm}`."""

    def __init__(self, d_model: int, nhead: int, ffn_dim: int, dropout: float, enc_layers: int,
                 dec_layers: int, use_text_cls: bool = True):
        super().__init__()
        self.encoder = Encoder(EncoderLayer(d_model, nhead, ffn_dim, dropout), enc_layers)
        self.decoder = Decoder(DecoderLayer(d_model, nhead, ffn_dim, dropout), dec_layers, d_model)
        self.use_text_cls = use_text_cls
        for p in self.parameters():  # official init: xavier-uniform on every matrix
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, text_cls: torch.Tensor, roi_tokens: torch.Tensor, query: torch.Tensor,
                need_weights: bool = False):
        """text_cls (B,C), roi_tokens (B,C,L) with L = 36·k, query (1,C) ->
        temporal clue (1,B,C), memory (1[+L],B,C), encoder attention weights (list, per layer)."""
        src = roi_tokens.permute(2, 0, 1)                                  # (L,B,C)
        if self.use_text_cls:
            src = torch.cat([text_cls.unsqueeze(0), src], dim=0)         # token 0 = NL CLS
        memory, enc_weights = self.encoder(src, need_weights=need_weights)
        query_pos = query.unsqueeze(1).expand(-1, src.shape[1], -1)      # (1,B,C)
        clue, _ = self.decoder(torch.zeros_like(query_pos), memory, query_pos=query_pos)
        return clue, memory, enc_weights
