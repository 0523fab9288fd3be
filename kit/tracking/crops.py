"""Pre- and post-processing of the official tracker (docs/official-code.md: Crops, Tracking), reproduced bit
for bit.

Frame -> model input: `grounding_resize` (whole frame, NL initialisation), `sample_target` (template and
search crops), `normalize`. Model output -> frame: `grounding_box_to_frame`, `search_box_to_frame`,
`clip_box`. Pure numpy/cv2/torch, no model; every quirk marked PRESERVE is kept on purpose
(docs/official-code.md, quirks 6-8) so that our tracker reproduces the official boxes, and is explained in one
line where it happens.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np
import torch

from kit.boxes import cxcywh_to_xyxy
from kit.config import IMAGENET_MEAN, IMAGENET_STD


@dataclass
class Crop:
    """A square crop around a box, resized to `out_size` (template: factor 2 -> 128, search: 5 -> 320)."""

    patch: np.ndarray  # (out, out, C) uint8
    pad_mask: np.ndarray  # (out, out) bool, True = padding (outside the frame)
    resize_factor: float  # out_size / crop_sz
    crop_box: tuple[int, int, int]  # (x1, y1, crop_sz) in frame pixels, for debugging and drawing


@dataclass
class GroundingInput:
    """The whole frame resized (aspect kept) into a `size` x `size` square, image at the top-left."""

    patch: np.ndarray  # (size, size, C) uint8, zero padding bottom/right
    pad_mask: np.ndarray  # (size, size) bool, True = padding
    coords: list[int]  # [x_pad, y_pad, new_w, new_h] = [0, 0, new_w, new_h]


def _box_floats(box) -> list[float]:
    """xywh from a list, tuple, numpy array or torch tensor as Python floats (the official `.tolist()`)."""
    if isinstance(box, torch.Tensor):
        values = box.detach().cpu().reshape(-1).tolist()
    else:
        values = np.asarray(box, dtype=np.float64).reshape(-1).tolist()
    if len(values) != 4:
        raise ValueError(f"expected a box of 4 numbers (x, y, w, h), got {len(values)}: {values}")
    return [float(v) for v in values]


def sample_target(image: np.ndarray, box_xywh, factor: float, out_size: int) -> Crop:
    """Square crop of side ceil(sqrt(w*h)*factor) centred on the box, zero-padded, resized to out_size.

    Official `processing_utils.sample_target`. Raises ValueError on a non-finite box or a negative size.
    """
    if image.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {image.shape}")
    x, y, w, h = _box_floats(box_xywh)
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"box must be finite, got (x, y, w, h) = {(x, y, w, h)}")
    if w < 0 or h < 0:
        raise ValueError(f"box width and height must be >= 0, got w={w}, h={h}")
    if not factor > 0:
        raise ValueError(f"crop factor must be > 0, got {factor}")
    im_h, im_w = image.shape[:2]

    crop_sz = math.ceil(math.sqrt(w * h) * factor)
    if crop_sz < 1:  # zero-size guard (a grounding box can have w or h = 0): a zero side counts as 1 px
        w = 1.0 if w == 0 else w
        h = 1.0 if h == 0 else h
        crop_sz = math.ceil(math.sqrt(w * h) * factor)

    # PRESERVE: Python round() is half-to-even (322.5 -> 322, 325.5 -> 326).
    x1 = round(x + 0.5 * w - crop_sz * 0.5)
    y1 = round(y + 0.5 * h - crop_sz * 0.5)
    x2 = x1 + crop_sz
    y2 = y1 + crop_sz
    x1_pad = max(0, -x1)
    y1_pad = max(0, -y1)
    # PRESERVE: "+ 1" pads one pixel more than needed: a crop reaching the right/bottom border drops
    # the frame's last column/row and pads it with zeros instead.
    x2_pad = max(x2 - im_w + 1, 0)
    y2_pad = max(y2 - im_h + 1, 0)

    padded = np.zeros((crop_sz, crop_sz) + image.shape[2:], dtype=image.dtype)
    att = np.ones((crop_sz, crop_sz), dtype=np.float64)  # 1 = padding
    xs, xe, ys, ye = x1 + x1_pad, x2 - x2_pad, y1 + y1_pad, y2 - y2_pad
    if xe > xs and ye > ys:
        padded[y1_pad:y1_pad + ye - ys, x1_pad:x1_pad + xe - xs] = image[ys:ye, xs:xe]
        att[y1_pad:y1_pad + ye - ys, x1_pad:x1_pad + xe - xs] = 0
    # else: the crop misses the frame entirely -> all padding (the official code crashes in
    # cv2.copyMakeBorder or, for x2 < 0, wraps the negative slice end). Reachable: a start box outside the
    # frame (TrackerConfig.clip_start=False), and a real strip too thin to survive the mask's resize; the
    # model then attends to nothing there (kit.model.transformer.attend), and the box stays finite.

    patch = cv2.resize(padded, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
    # PRESERVE: the mask is resized bilinearly as float64 and any value > 0 counts as padding.
    pad_mask = cv2.resize(att, (out_size, out_size), interpolation=cv2.INTER_LINEAR).astype(bool)
    return Crop(patch=patch, pad_mask=pad_mask, resize_factor=out_size / crop_sz, crop_box=(x1, y1, crop_sz))


def grounding_resize(image: np.ndarray, size: int = 320) -> GroundingInput:
    """Resize the long side to `size` (aspect kept), zero-pad bottom/right. Official `grounding_resize`."""
    if image.ndim != 3:
        raise ValueError(f"expected an HxWxC image, got shape {image.shape}")
    h, w = image.shape[:2]
    # PRESERVE: int() truncates the short side (640x360 -> 320x180, 300x500 -> 192x320).
    # max(1, .) only matters for frames thinner than 1:size, where the official cv2.resize call fails.
    if w > h:
        new_w, new_h = size, max(1, int(size * h / w))
    else:
        new_w, new_h = max(1, int(size * w / h)), size
    # The official passes Image.BILINEAR as cv2.resize's third positional argument (dst): INTER_LINEAR.
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    patch = np.zeros((size, size) + image.shape[2:], dtype=image.dtype)
    patch[:new_h, :new_w] = resized.reshape((new_h, new_w) + image.shape[2:])
    pad_mask = np.ones((size, size), dtype=bool)
    pad_mask[:new_h, :new_w] = False
    return GroundingInput(patch=patch, pad_mask=pad_mask, coords=[0, 0, new_w, new_h])


def frame_box_to_grounding(box_xywh, coords: Sequence[int], frame_w: int, frame_h: int,
                           size: int = 320) -> np.ndarray:
    """A frame box (x, y, w, h) in the padded grounding input, normalised by `size` (float64, (4,)).

    Official `grounding_resize(im, size, bbox)`'s box output (training labels, grounding evaluation),
    computed in floats (FIX, docs/official-code.md quirk 28: the official code fails on integer boxes).
    """
    x, y, w, h = _box_floats(box_xywh)
    x_pad, y_pad, new_w, new_h = coords
    sx, sy = new_w / frame_w, new_h / frame_h
    return np.array([(x * sx + x_pad) / size, (y * sy + y_pad) / size, w * sx / size, h * sy / size])


def normalize(patch, device: torch.device | str | None = None,
              dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 (H,W,3) or (N,H,W,3) -> (N,3,H,W) `(x/255 - mean)/std`, official `Preprocessor_wo_mask`.

    The arithmetic is always float32 (as the official code); the result is then cast to `dtype`. Like the
    official, the result keeps the HWC memory order (channels-last strides); call `.contiguous()` if needed.
    """
    x = torch.as_tensor(np.ascontiguousarray(patch)) if isinstance(patch, np.ndarray) else patch
    if x.dtype != torch.uint8 or x.ndim not in (3, 4) or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 (H,W,3) or (N,H,W,3), got {tuple(x.shape)} {x.dtype}")
    if device is not None:
        x = x.to(device)
    if x.ndim == 3:
        x = x.unsqueeze(0)
    x = x.float().permute(0, 3, 1, 2)  # (N,H,W,3) -> (N,3,H,W)
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (((x / 255.0) - mean) / std).to(dtype)


def grounding_box_to_frame(pred_cxcywh_norm, coords: Sequence[int], frame_w: int, frame_h: int,
                           size: int = 320) -> list[float]:
    """Grounding prediction (cx, cy, w, h)/size -> frame box (x, y, w, h). Official `_get_templates_and_anno`.

    Computed in float32 like the official. w or h may be 0 (`sample_target` handles it).
    `frame_h` is unused on purpose: PRESERVE the single scale W/new_w for both x and y.
    """
    pred = torch.as_tensor(pred_cxcywh_norm).detach().cpu().to(torch.float32).reshape(4)
    image_area = torch.tensor([coords[0], coords[1], coords[0] + coords[2], coords[1] + coords[3]])
    # PRESERVE: torch.round (half-to-even) of cx, cy, w, h in input pixels, before the xyxy conversion.
    b = cxcywh_to_xyxy(torch.round(pred * size))
    # PRESERVE: intersect with the image area of the padded input; a box outside gives w or h = 0.
    lt = torch.max(b[:2], image_area[:2])
    wh = (torch.min(b[2:], image_area[2:]) - lt).clamp(min=0)
    lt = (lt - image_area[:2]).clamp(min=0)  # subtract the (zero) top-left pads
    # PRESERVE: one scale factor W/new_w for x and y (a float32 division, as the official).
    f32 = torch.float32
    scale = torch.tensor(float(frame_w), dtype=f32) / torch.tensor(float(coords[2]), dtype=f32)
    return (torch.cat([lt, wh]) * scale).tolist()


def search_box_to_frame(pred_cxcywh_norm, prev_state_xywh, resize_factor: float,
                        size: int = 320) -> list[float]:
    """Search-crop prediction (cx, cy, w, h)/size -> frame box (x, y, w, h) (official `map_box_back`).

    `pred_cxcywh_norm` is (4,) or (N, 4) (queries averaged, in float32 like the official).
    PRESERVE: the crop centre is the unrounded previous box centre and its half side 0.5*size/rf
    (= crop_sz/2), although the crop itself starts at a rounded pixel; training labels use (crop_sz-1)/2.
    """
    pred = torch.as_tensor(pred_cxcywh_norm).detach().cpu().to(torch.float32).reshape(-1, 4)
    cx, cy, w, h = (pred.mean(dim=0) * size / resize_factor).tolist()  # frame pixels, relative to the crop
    x, y, pw, ph = _box_floats(prev_state_xywh)
    cx_prev, cy_prev = x + 0.5 * pw, y + 0.5 * ph
    half_side = 0.5 * size / resize_factor
    cx_real = cx + (cx_prev - half_side)  # parenthesised as the official (bitwise-identical floats)
    cy_real = cy + (cy_prev - half_side)
    return [cx_real - 0.5 * w, cy_real - 0.5 * h, w, h]


def clip_box(box_xywh, H: int, W: int, margin: int = 10) -> list[float]:
    """Keep at least `margin` px of the box inside the frame and make it at least margin x margin.

    Official `box_ops.clip_box` (docs/official-code.md: Tracking); negative widths from the head become `margin`.
    Returns floats (the official returns ints where a bound wins; same values).
    """
    x1, y1, w, h = _box_floats(box_xywh)
    x2, y2 = x1 + w, y1 + h
    margin = min(margin, W, H)  # FIX: a frame smaller than the margin (the official box leaves the frame)
    x1 = min(max(0, x1), W - margin)
    x2 = min(max(margin, x2), W)
    y1 = min(max(0, y1), H - margin)
    y2 = min(max(margin, y2), H)
    w = max(margin, x2 - x1)
    h = max(margin, y2 - y1)
    return [float(x1), float(y1), float(w), float(h)]
