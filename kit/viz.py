"""Figures for the notebooks: frames with boxes, heat maps over images, token masks, loss curves, and a
frame slider that falls back to a static grid.

matplotlib (and ipywidgets / IPython for the slider and live plots) are imported when a function runs, so
`kit` stays importable without them. Boxes are x,y,w,h in the pixels of the image they are drawn on.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from kit.config import IMAGENET_MEAN, IMAGENET_STD

HEADLESS_ENV = "JOINTNLT_HEADLESS"  # set (to anything but 0) when notebooks run without a frontend
# One colour per role, the same in every notebook.
COLORS = {"gt": "#2ca02c", "nl": "#d62728", "nlbb": "#1f77b4", "ground": "#ff7f0e", "other": "#9467bd"}


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def to_image(tensor) -> np.ndarray:
    """A normalised (3,H,W) tensor (kit's ImageNet normalisation) back to a uint8 (H,W,3) image."""
    x = tensor.detach().float().cpu().numpy().transpose(1, 2, 0)
    return (np.clip(x * np.array(IMAGENET_STD) + np.array(IMAGENET_MEAN), 0, 1) * 255).round().astype(np.uint8)


def draw_box(ax, box, color: str = COLORS["nl"], label: str | None = None, linestyle: str = "-") -> None:
    """One x,y,w,h box (nothing for None or an empty box), with an optional label above it."""
    from matplotlib.patches import Rectangle

    if box is None or box[2] <= 0 or box[3] <= 0:
        return
    x, y, w, h = (float(v) for v in box)
    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=2, linestyle=linestyle))
    if label:
        ax.text(x, y - 2, label, color="white", fontsize=7, va="bottom",
                bbox={"facecolor": color, "edgecolor": "none", "pad": 1, "alpha": 0.85})


def show_image(ax, image: np.ndarray, boxes: Sequence[tuple] = (), title: str | None = None) -> None:
    """An RGB image with boxes given as (box, color[, label[, linestyle]]) tuples; axes hidden."""
    ax.imshow(image)
    for spec in boxes:
        draw_box(ax, *spec)
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def overlay_heatmap(ax, image: np.ndarray, heat: np.ndarray, alpha: float = 0.55, cmap: str = "jet",
                    title: str | None = None, hide: np.ndarray | None = None) -> None:
    """A (h,w) map stretched over the whole image: cell (i,j) covers the image's (i,j)-th stride patch.
    `hide` (h,w) bool: cells left undrawn (e.g. padding tokens, `pad_mask[::stride, ::stride]`)."""
    H, W = image.shape[:2]
    ax.imshow(image)
    heat = np.ma.masked_array(heat, mask=hide) if hide is not None else heat
    ax.imshow(heat, cmap=cmap, alpha=alpha, extent=(0, W, H, 0), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=9)


def heatmaps(maps: dict[str, np.ndarray], image: np.ndarray | None = None, size: float = 2.6,
             colorbar: bool = True, suptitle: str | None = None):
    """One panel per map (over `image` when given, else alone with a colour bar). Returns the figure."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(maps), figsize=(size * len(maps), size + 0.3), squeeze=False)
    for ax, (name, heat) in zip(axes[0], maps.items()):
        heat = np.asarray(heat, dtype=np.float32)
        if image is not None:
            overlay_heatmap(ax, image, heat, title=name)
        else:
            im = ax.imshow(heat, cmap="viridis", interpolation="nearest")
            ax.set_title(name, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            if colorbar:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def token_masks(masks: dict[str, np.ndarray], segments: Sequence[tuple[str, int]], title: str | None = None):
    """Key-padding masks of the relation encoder as strips (dark = ignored key, True = padding), one row per
    mask, with the segments of the sequence (e.g. text 40 | template 64 | SEP 1 | search 400) marked."""
    plt = _pyplot()
    rows = np.stack([np.asarray(m, dtype=np.float32).reshape(-1) for m in masks.values()])
    n = rows.shape[1]
    if sum(length for _, length in segments) != n:
        raise ValueError(f"segments cover {sum(length for _, length in segments)} tokens, the masks have {n}")
    fig, ax = plt.subplots(figsize=(11, 0.55 * len(masks) + 1.0))
    ax.imshow(rows, aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest")
    start = 0
    for name, length in segments:
        ax.axvline(start - 0.5, color="tab:red", linewidth=1)
        ax.text(start + length / 2 - 0.5, -0.7, f"{name} {length}", ha="center", va="bottom", fontsize=8)
        start += length
    ax.set_yticks(range(len(masks)), list(masks))
    ax.set_xlabel(f"key position (0..{n - 1}); dark = masked (padding, never attended to)")
    ax.set_ylim(len(masks) - 0.5, -1.2)
    if title:
        ax.set_title(title, fontsize=10, pad=14)
    fig.tight_layout()
    return fig


def frame_grid(indices: Sequence[int], draw: Callable[[object, int], None], cols: int = 4, size: float = 2.8,
               aspect: float = 0.75):
    """A static grid: `draw(ax, index)` fills one panel per index. Returns the figure."""
    plt = _pyplot()
    rows = (len(indices) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * aspect * rows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, index in zip(axes.flat, indices):
        draw(ax, index)
    fig.tight_layout()
    return fig


def browse(num_frames: int, draw: Callable[[int], object], start: int = 0):
    """An ipywidgets slider over frames 0..num_frames-1; `draw(i)` returns a matplotlib figure.

    Returns the widget (display it as a cell's last expression), or None with a note when there is no one to
    move it: ipywidgets missing, or a headless run (`JOINTNLT_HEADLESS=1`, set by tests/test_notebooks.py:
    a kernel with no frontend cannot tell, and headless executors can block until their timeout on a cell
    that opens widgets, jupyter/nbclient#312). The notebook's static grids are then what remains."""
    if os.environ.get(HEADLESS_ENV, "").strip() not in ("", "0"):
        print(f"headless run ({HEADLESS_ENV} is set): no slider; the static views above show the frames")
        return None
    try:
        import ipywidgets
        from IPython.display import display
    except ImportError:
        print("ipywidgets is not installed: use the static grid above (pip install ipywidgets)")
        return None
    plt = _pyplot()

    def show(frame: int) -> None:
        fig = draw(frame)
        display(fig)
        plt.close(fig)

    slider = ipywidgets.IntSlider(value=start, min=0, max=num_frames - 1, step=1, description="frame",
                                  continuous_update=False, layout=ipywidgets.Layout(width="60%"))
    return ipywidgets.interactive(show, frame=slider)


def training_curves(log_rows: Sequence[dict], eval_rows: Sequence[dict] = (),
                    losses: Sequence[str] = ("loss", "loss_grounding", "loss_track1", "loss_track2"),
                    ious: Sequence[str] = ("grounding_miou", "track1_miou", "track2_miou")):
    """Training losses per step (left) and validation mean IoUs per evaluation (right), from the rows of a
    run's log.csv / eval.csv (dicts of strings or numbers). Returns the figure."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    steps = [float(r["step"]) for r in log_rows]
    for key in losses:
        if log_rows and key in log_rows[0]:
            left.plot(steps, [float(r[key]) for r in log_rows], label=key, linewidth=2 if key == "loss" else 1)
    left.set(xlabel="step", ylabel="loss (2·GIoU + 5·L1 per pass)", title="training loss")
    left.legend(fontsize=8)
    eval_steps = [float(r["step"]) for r in eval_rows]
    for key in ious:
        if eval_rows and key in eval_rows[0]:
            right.plot(eval_steps, [float(r[key]) for r in eval_rows], marker="o", label=key)
    right.set(xlabel="step", ylabel="mean IoU", title="validation", ylim=(0, 1))
    if eval_rows:
        right.legend(fontsize=8)
    fig.tight_layout()
    return fig


class LiveFigure:
    """Shows a figure in a notebook and replaces it in place on each `update` (an IPython display handle);
    outside IPython it does nothing. The figures it is given are closed after display."""

    def __init__(self):
        self._handle = None

    def update(self, fig) -> None:
        try:
            from IPython.display import display
        except ImportError:
            _pyplot().close(fig)
            return
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        _pyplot().close(fig)
