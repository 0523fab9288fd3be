"""Recording what the model computes on the way (for the parity tests and the notebooks), with forward hooks,
so that the forward pass itself stays as the paper draws it.

    with record(model) as trace:
        pred = model.track(text, template, search, temporal)
    trace["vl_joint_trans"]        # (505,B,C) relation encoder output: [text | template | SEP | search]

Keys (each holds the last call's value):
    language_backbone   (B,40,768) text encoder output        text_proj      (B,40,C) projected text tokens
    visual_backbone     [(B,C_i,H_i,W_i)] every stage, normed  visu_proj      (B,HW,C) projected image tokens
    vl_joint_trans      (L,B,C) relation encoder output        temporal_decoder (clue (1,B,C), memory (1+L,B,C))
    target_decoder      (1,B,C) decoded target query           box_head       (B,4) corner head x1,y1,x2,y2
    score_map_tl, score_map_br  (B,1,H,W) corner logits        roi            (B,C,6,6) RoI features
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn


def _keep(trace: dict, pick: Callable[[nn.Module, tuple, Any], dict[str, Any]]):
    return lambda module, args, output: trace.update(pick(module, args, output))


# module attribute of JointNLT -> what its output adds to the trace
_RECORDED = {
    "language_backbone": lambda m, a, out: {"language_backbone": out},
    "text_proj": lambda m, a, out: {"text_proj": out},
    # the backbone's forward returns only the last stage: the others are computed again, for the record
    "visual_backbone": lambda m, a, out: {"visual_backbone": m.forward_stages(*a)},
    "visu_proj": lambda m, a, out: {"visu_proj": out},
    "vl_joint_trans": lambda m, a, out: {"vl_joint_trans": out[0]},
    "vl_joint_trans_tracking": lambda m, a, out: {"vl_joint_trans": out[0]},
    "temporal_decoder": lambda m, a, out: {"temporal_decoder": out[:2]},
    "target_decoder": lambda m, a, out: {"target_decoder": out[0]},
    "box_head": lambda m, a, out: {"box_head": out.boxes_xyxy, "score_map_tl": out.score_tl,
                                   "score_map_br": out.score_br},
    "box_head_tracking": lambda m, a, out: {"box_head": out.boxes_xyxy, "score_map_tl": out.score_tl,
                                            "score_map_br": out.score_br},
    "roi_align": lambda m, a, out: {"roi": out},
}


@contextlib.contextmanager
def record(model: nn.Module) -> Iterator[dict[str, Any]]:
    """A dict that the model's forward passes inside the block fill with their intermediate tensors (keys in
    the module docstring). Recording changes no result; the hooks are removed when the block ends."""
    trace: dict[str, Any] = {}
    handles = [getattr(model, name).register_forward_hook(_keep(trace, pick))
               for name, pick in _RECORDED.items() if hasattr(model, name)]
    try:
        yield trace
    finally:
        for handle in handles:
            handle.remove()
