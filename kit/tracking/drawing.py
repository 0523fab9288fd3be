"""Drawing tracking results on frames: boxes with their sentence and score, and the target query's
attention over the search region."""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# RGB, distinct on most footage; target i gets PALETTE[i % len(PALETTE)].
PALETTE = ((255, 56, 56), (56, 200, 255), (72, 230, 72), (255, 190, 0), (200, 90, 255), (255, 110, 200),
           (0, 230, 190), (255, 140, 40))
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _wrap(text: str, max_width: int, scale: float, thickness: int, max_lines: int) -> list[str]:
    """Greedy word wrap to `max_width` pixels; the last line ends with '...' when text is left over."""
    def fits(line: str) -> bool:
        return cv2.getTextSize(line, _FONT, scale, thickness)[0][0] <= max_width

    lines, words = [], text.split()
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and fits(f"{line} {words[0]}"):
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words or (lines and not fits(lines[-1])):
        last = lines[-1]
        while last and not fits(last + "..."):
            last = last[:-1]
        lines[-1] = last.rstrip() + "..."
    return lines or [""]


def _box_corners(box, w: int, h: int) -> tuple[int, int, int, int] | None:
    """Integer first and last pixel of an x,y,w,h box (it covers x .. x+w-1), limited to a frame-sized
    margin (cv2 clips the rest), or None for a missing or non-finite box."""
    if box is None or not all(math.isfinite(v) for v in box):
        return None
    x, y, bw, bh = (float(v) for v in box)
    x0, x1 = np.clip([x, x + max(bw - 1, 0)], -w, 2 * w).round().astype(int)
    y0, y1 = np.clip([y, y + max(bh - 1, 0)], -h, 2 * h).round().astype(int)
    return int(x0), int(y0), int(x1), int(y1)


def draw_results(frame: np.ndarray, items: Sequence[tuple[Sequence[float] | None, str, float | None]],
                 colors: Sequence[tuple[int, int, int]] | None = None) -> np.ndarray:
    """A copy of `frame` (RGB uint8) with one (box_xywh or None, sentence, score or None) per target: the
    box in the target's colour and a tag of that colour with its score and sentence (at most two lines),
    placed outside the box, above it, else below it, so that it never hides the target (only a box that
    fills the frame's height gets its tag inside, at its bottom). A target whose box is None is listed at
    the top-left, marked "(absent)"."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 frame (H, W, 3), got {frame.dtype} {frame.shape}")
    out = frame.copy()
    h, w = out.shape[:2]
    palette = list(colors) if colors else PALETTE
    colors = [palette[i % len(palette)] for i in range(len(items))]
    scale = max(0.35, min(h, w) / 900)
    thick = max(1, round(min(h, w) / 360))
    (_, above), below = cv2.getTextSize("Ag", _FONT, scale, thick)  # pixels above and below the baseline
    line_h = above + below + max(2, above // 3)
    pad = max(2, line_h // 4)

    absent_y = 0
    for (box, label, score), color in zip(items, colors):
        corners = _box_corners(box, w, h)
        text = " ".join(t for t in (f"{score:.2f}" if score is not None and math.isfinite(score) else "",
                                    label if corners is not None else f"{label} (absent)") if t)
        lines = _wrap(text, max(w - 2 * pad, 1), scale, thick, max_lines=2) if text else []
        tag_w = max((cv2.getTextSize(line, _FONT, scale, thick)[0][0] for line in lines), default=0) + 2 * pad
        tag_h = len(lines) * line_h + pad
        if corners is None:  # absent: listed at the top-left
            tx, ty = 0, absent_y
            absent_y += tag_h
        else:
            x0, y0, x1, y1 = corners
            cv2.rectangle(out, (x0, y0), (x1, y1), color, thick + 1)
            edge = thick // 2 + 2  # clear of the drawn box line
            if y0 - edge - tag_h >= 0:
                ty = y0 - edge - tag_h                 # above the box
            elif y1 + edge + tag_h <= h:
                ty = y1 + edge                         # below it
            else:
                ty = min(y1, h) - tag_h                # the box fills the height: inside, at its bottom
            tx = min(max(x0, 0), max(0, w - tag_w))
        if not lines:
            continue
        ty = min(max(ty, 0), max(0, h - tag_h))
        cv2.rectangle(out, (tx, ty), (tx + tag_w - 1, ty + tag_h - 1), color, -1)
        for i, line in enumerate(lines):
            cv2.putText(out, line, (tx + pad, ty + pad // 2 + i * line_h + above), _FONT, scale, (0, 0, 0), thick,
                        cv2.LINE_AA)
    return out


def draw_result(frame: np.ndarray, box_xywh: Sequence[float] | None, label: str, score: float | None = None,
                color: tuple[int, int, int] = PALETTE[0]) -> np.ndarray:
    """A copy of `frame` with one target drawn (see `draw_results`); box None means the target is absent."""
    return draw_results(frame, [(box_xywh, label, score)], colors=[color])


def overlay_attention(frame: np.ndarray, attention: np.ndarray, search_box, strength: float = 0.5) -> np.ndarray:
    """Blend the target query's (TQ + TC) attention over the search tokens onto the frame, where the search
    region lay: `search_box` = (x, y, side, side) in frame pixels (`TargetResult.search_box`)."""
    left, top, side, _ = (float(v) for v in search_box)
    heat = np.asarray(attention, dtype=np.float32)
    heat = heat / max(float(heat.max()), 1e-12)
    cell = side / heat.shape[1]
    # Token (u, v) covers pixels [left + u·cell, left + (u+1)·cell): map token centres onto pixel centres.
    warp = np.float32([[cell, 0, left + 0.5 * cell - 0.5], [0, cell, top + 0.5 * cell - 0.5]])
    H, W = frame.shape[:2]
    heat = cv2.warpAffine(heat, warp, (W, H), flags=cv2.INTER_LINEAR, borderValue=0)
    colour = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)[..., ::-1]
    alpha = (strength * heat)[..., None]
    return (frame * (1 - alpha) + colour * alpha).astype(np.uint8)
