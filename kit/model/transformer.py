"""DETR-style post-norm transformer layers, the building block of the relation encoder, SGTM and target decoder.

Sequence-first tensors (L, B, C) and `nn.MultiheadAttention`, as the official code, so the checkpoint's
`in_proj_weight`/`out_proj` load unchanged. Positions are added to queries and keys, never to values.
Each layer can also return its (head-averaged) attention weights, for the notebooks' attention maps.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


def attend(attn: nn.MultiheadAttention, query, key, value, key_padding_mask=None, need_weights: bool = False):
    """`attn(query, key, value)` where a batch row whose keys are all padding attends to nothing: its output
    is the output projection's bias and its weights are 0, with and without `need_weights`, on every backend.

    PyTorch leaves such rows to the kernel: the fused path (no weights) returns the bias, the path that also
    returns weights gives NaN, which then reached roi_align (a segfault) when attention maps were asked for.
    A search crop that is all padding (a box outside the frame) makes every row of the target decoder's
    cross-attention such a row; the official code gets NaN there (FIX)."""
    if key_padding_mask is None or key_padding_mask.dtype != torch.bool:
        return attn(query, key, value=value, key_padding_mask=key_padding_mask, need_weights=need_weights)
    # Branch-free (no host sync on a GPU): those rows see every key (no NaN), then are overwritten.
    empty = key_padding_mask.all(dim=1)                                   # (B,)
    out, weights = attn(query, key, value=value, key_padding_mask=key_padding_mask & ~empty[:, None],
                        need_weights=need_weights)
    bias = attn.out_proj.bias
    nothing = torch.zeros_like(out) if bias is None else bias.to(out.dtype).expand_as(out)
    out = torch.where(empty[None, :, None], nothing, out)                 # out: (L,B,C)
    if weights is not None:
        weights = weights.masked_fill(empty.view(-1, *[1] * (weights.ndim - 1)), 0)
    return out, weights


class EncoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src, key_padding_mask=None, pos=None, need_weights: bool = False):
        q = k = _with_pos(src, pos)
        src2, weights = attend(self.self_attn, q, k, src, key_padding_mask, need_weights)
        src = self.norm1(src + self.dropout1(src2))
        src2 = self.linear2(self.dropout(F.gelu(self.linear1(src))))
        src = self.norm2(src + self.dropout2(src2))
        return src, weights


class DecoderLayer(nn.Module):
    def __init__(self, d_model: int, nhead: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.multihead_attn = nn.MultiheadAttention(d_model, nhead, dropout=dropout)
        self.linear1 = nn.Linear(d_model, ffn_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)
        self.dropout3 = nn.Dropout(dropout)

    def forward(self, tgt, memory, memory_key_padding_mask=None, pos=None, query_pos=None,
                need_weights: bool = False):
        """Returns the updated queries and the cross-attention weights (B, Lq, Lmemory) or None."""
        q = k = _with_pos(tgt, query_pos)
        tgt2 = self.self_attn(q, k, value=tgt, need_weights=False)[0]
        tgt = self.norm1(tgt + self.dropout1(tgt2))
        tgt2, weights = attend(self.multihead_attn, _with_pos(tgt, query_pos), _with_pos(memory, pos), memory,
                               memory_key_padding_mask, need_weights)
        tgt = self.norm2(tgt + self.dropout2(tgt2))
        tgt2 = self.linear2(self.dropout(F.gelu(self.linear1(tgt))))
        tgt = self.norm3(tgt + self.dropout3(tgt2))
        return tgt, weights


class Encoder(nn.Module):
    """A stack of encoder layers (no final norm, as the official encoders)."""

    def __init__(self, layer: EncoderLayer, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))

    def forward(self, src, key_padding_mask=None, pos=None, need_weights: bool = False):
        """Returns the output and the per-layer attention weights (a list, empty unless asked)."""
        weights = []
        for layer in self.layers:
            src, w = layer(src, key_padding_mask, pos, need_weights)
            if need_weights:
                weights.append(w)
        return src, weights


class Decoder(nn.Module):
    """A stack of decoder layers followed by a LayerNorm."""

    def __init__(self, layer: DecoderLayer, num_layers: int, d_model: int):
        super().__init__()
        self.layers = nn.ModuleList(copy.deepcopy(layer) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tgt, memory, memory_key_padding_mask=None, pos=None, query_pos=None,
                need_weights: bool = False):
        weights = []
        for layer in self.layers:
            tgt, w = layer(tgt, memory, memory_key_padding_mask, pos, query_pos, need_weights)
            if need_weights:
                weights.append(w)
        return self.norm(tgt), weights


class RelationEncoder(nn.Module):
    """Multi-source relation encoder (MSRM): one encoder over text | template | SEP | search tokens.

    Wraps the stack as `.encoder` to keep the official key names (`vl_joint_trans.encoder.layers.i`).
    """

    def __init__(self, d_model: int, nhead: int, ffn_dim: int, dropout: float, num_layers: int):
        super().__init__()
        self.encoder = Encoder(EncoderLayer(d_model, nhead, ffn_dim, dropout), num_layers)
        _trunc_normal_linears(self)

    def forward(self, src, key_padding_mask, pos, need_weights: bool = False):
        return self.encoder(src, key_padding_mask, pos, need_weights)


def _trunc_normal_linears(module: nn.Module) -> None:
    # Official init of the relation encoder: every nn.Linear (incl. MHA out_proj) trunc-normal(0.02),
    # bias 0, LayerNorm (1, 0); MHA in_proj keeps PyTorch's xavier-uniform.
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
