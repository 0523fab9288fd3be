"""The paper's vision encoder: the first three stages of Swin-B, detection style.

Built from timm's Swin blocks, with one change that matters for the official weights: the window
attention pads the map to a window multiple *before* the cyclic shift (timm shifts first). With
official weights timm's order moves stage-3 features by up to 0.6; pad-then-shift matches exactly.
Module names follow the official checkpoint (`stages.i.pre_stage`, `stages.i.blocks.j`, `norm{i}`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import PatchEmbed, trunc_normal_
from timm.models.swin_transformer import PatchMerging, SwinTransformerBlock, window_partition, window_reverse
from torch import nn

from kit.config import VisionConfig


class PadThenShiftBlock(SwinTransformerBlock):
    """A timm Swin block whose attention pads right/bottom to a window multiple, then shifts.

    Padded tokens are not masked (they join as keys with qkv = bias, as in the official code); the
    shift mask is built on the padded grid with -100 between regions.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, shift_size: int, mlp_ratio: float,
                 drop_path: float):
        super().__init__(dim, input_resolution=(window_size, window_size), num_heads=num_heads,
                         window_size=window_size, shift_size=shift_size, always_partition=True,
                         dynamic_mask=True, mlp_ratio=mlp_ratio, drop_path=drop_path)
        self._mask_cache: dict[tuple, torch.Tensor] = {}

    def _attn(self, x: torch.Tensor) -> torch.Tensor:
        """Windowed attention on (B,H,W,C). Same result as padding the input with zeros, but faster:
        a zero token's qkv is exactly the qkv bias, so qkv is computed on real tokens only and padded with
        the bias; `proj` (per token) runs after cropping. Attention itself uses fused SDPA."""
        B, H, W, C = x.shape
        win_h, win_w = self.window_size
        attn = self.attn
        qkv = attn.qkv(x)                                                  # (B,H,W,3C)
        pad_h, pad_w = (-H) % win_h, (-W) % win_w
        if pad_h or pad_w:
            bias = attn.qkv.bias
            if callable(bias):  # int8 (kit.runtime): a method that unpacks the packed weights at every call
                if "_int8_qkv_bias" not in self.__dict__:                  # (~5 % of an int8 step); the
                    self.__dict__["_int8_qkv_bias"] = bias()               # packed weights never change
                bias = self.__dict__["_int8_qkv_bias"]
            bias = bias if bias is not None else qkv.new_zeros(qkv.shape[-1])
            padded = bias.to(qkv.dtype).expand(B, H + pad_h, W + pad_w, -1).clone()
            padded[:, :H, :W] = qkv
            qkv = padded
        Hp, Wp = qkv.shape[1], qkv.shape[2]
        mask = self._shift_mask(qkv)
        if mask is not None:
            qkv = torch.roll(qkv, shifts=(-self.shift_size[0], -self.shift_size[1]), dims=(1, 2))
        windows = window_partition(qkv, self.window_size).view(-1, self.window_area, 3, attn.num_heads,
                                                                 C // attn.num_heads)
        q, k, v = windows.permute(2, 0, 3, 1, 4).unbind(0)                # (nW*B, heads, N, head_dim)
        bias = attn._get_rel_pos_bias().to(q.dtype)                        # (1, heads, N, N)
        if mask is not None:                                               # (nW, N, N), -100 across regions
            bias = (bias.unsqueeze(1) + mask.to(q.dtype).unsqueeze(1).unsqueeze(0)).expand(B, -1, -1, -1, -1)
            bias = bias.reshape(-1, attn.num_heads, self.window_area, self.window_area)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias,
                                             dropout_p=attn.attn_drop.p if self.training else 0.0)
        out = out.transpose(1, 2).reshape(-1, win_h, win_w, C)
        out = window_reverse(out, self.window_size, Hp, Wp)
        if mask is not None:
            out = torch.roll(out, shifts=self.shift_size, dims=(1, 2))
        return attn.proj_drop(attn.proj(out[:, :H, :W, :].contiguous()))  # a strided input makes linear copy its weight

    def _shift_mask(self, padded: torch.Tensor) -> torch.Tensor | None:
        if not any(self.shift_size):
            return None
        key = (padded.shape[1], padded.shape[2], padded.device, padded.dtype)
        if key not in self._mask_cache:  # depends only on the grid size: build once per input size
            self._mask_cache[key] = self.get_attn_mask(padded)
        return self._mask_cache[key]


class SwinStage(nn.Module):
    """`pre_stage` (patch embedding or patch merging) followed by `blocks`; works on (B,H,W,C)."""

    def __init__(self, pre_stage: nn.Module, dim: int, depth: int, num_heads: int, cfg: VisionConfig,
                 drop_path: list[float]):
        super().__init__()
        self.pre_stage = pre_stage
        self.blocks = nn.ModuleList(
            PadThenShiftBlock(dim, num_heads, cfg.window_size, 0 if j % 2 == 0 else cfg.window_size // 2,
                              cfg.mlp_ratio, drop_path[j])
            for j in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre_stage(x)
        for block in self.blocks:
            x = block(x)
        return x


class SwinBackbone(nn.Module):
    """Image (B,3,H,W) -> normed stage maps; `forward` returns the last one (B, 4*embed_dim, H/16, W/16)."""

    def __init__(self, cfg: VisionConfig):
        super().__init__()
        dims = [cfg.embed_dim * 2 ** i for i in range(len(cfg.depths))]
        rates = torch.linspace(0, cfg.drop_path_rate, sum(cfg.depths)).tolist()
        stages = []
        for i, (dim, depth, heads) in enumerate(zip(dims, cfg.depths, cfg.num_heads)):
            if i == 0:
                pre = PatchEmbed(img_size=None, patch_size=cfg.patch_size, in_chans=3, embed_dim=dim,
                                 norm_layer=nn.LayerNorm, output_fmt="NHWC", dynamic_img_pad=True)
            else:
                pre = PatchMerging(dims[i - 1], out_dim=dim)
            start = sum(cfg.depths[:i])
            stages.append(SwinStage(pre, dim, depth, heads, cfg, rates[start:start + depth]))
        self.stages = nn.ModuleList(stages)
        for i, dim in enumerate(dims):  # all output norms exist in the checkpoint; only the last is used
            self.add_module(f"norm{i}", nn.LayerNorm(dim))
        self.num_channels = dims[-1]
        self.stride = cfg.patch_size * 2 ** (len(cfg.depths) - 1)
        self.apply(_init_weights)

    def forward_stages(self, img: torch.Tensor) -> list[torch.Tensor]:
        """All stage outputs, each through its norm, as (B,C,H,W) maps (for inspection and parity)."""
        outs = []
        x = img
        for i, stage in enumerate(self.stages):
            x = stage(x)
            outs.append(getattr(self, f"norm{i}")(x).permute(0, 3, 1, 2))
        return outs

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = img
        for stage in self.stages:
            x = stage(x)
        last = getattr(self, f"norm{len(self.stages) - 1}")
        return last(x).permute(0, 3, 1, 2)


def _init_weights(m: nn.Module) -> None:
    # The official training init before loading ImageNet weights: trunc-normal(0.02) linears, LN(1, 0).
    if isinstance(m, nn.Linear):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
