"""Training inputs from a sampled frame triple (official `TransNLTProcessing` and `TemplateProcessing`,
docs/official-code.md: Training): the grounding image, jittered search crops with their labels, the template
crop cut around the grounding prediction, augmentations and the validity checks.

Boxes: labels are x,y,w,h normalised by the crop (or padded grounding image) size, as the official
`transform_image_to_crop(..., normalize=True)`. Randomness comes only from the generator passed in.
"""
from __future__ import annotations

import math
import re

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from kit.config import ModelConfig
from kit.tracking.crops import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    frame_box_to_grounding,
    grounding_box_to_frame,
    grounding_resize,
    sample_target,
)
from kit.train.config import DataConfig
from kit.train.sampling import InvalidSample, Sample

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)
# "left", "right", "leftmost", "right-hand", ... but not "bright" or "upright".
_LEFT_RIGHT = re.compile(r"\b(left|right)", re.IGNORECASE)


def mentions_left_or_right(sentence: str) -> bool:
    """True when a horizontal flip would make the sentence wrong ("the car on the left")."""
    return bool(_LEFT_RIGHT.search(sentence))


def read_rgb(path) -> np.ndarray:
    """An image file as RGB uint8 (official `opencv_loader`)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise OSError(f"{path}: cannot read the image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def to_tensor(patch: np.ndarray, brightness: float = 1.0) -> torch.Tensor:
    """uint8 (H,W,3) -> normalised float (3,H,W): official ToTensorAndJitter (x * b/255, clamped to [0,1])
    followed by Normalize."""
    x = torch.from_numpy(np.ascontiguousarray(patch)).permute(2, 0, 1).float()
    return (x.mul(brightness / 255.0).clamp(0.0, 1.0) - _MEAN) / _STD


def grayscale(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.stack([gray, gray, gray], axis=2)


def flip_frame_box(box, width: int) -> np.ndarray:
    """A box x,y,w,h after flipping a frame of `width` pixels: pytracking maps corners x -> W-1-x."""
    x, y, w, h = box
    return np.array([width - 1 - (x + w), y, w, h], dtype=np.float64)


def jitter_box(box, rng: np.random.Generator, center_jitter: float, scale_jitter: float) -> np.ndarray:
    """Official `_get_jittered_box`: size x exp(N(0,1) * scale_jitter); centre + sqrt(w'h') * center_jitter *
    (U(0,1) - 0.5) per axis."""
    box = np.asarray(box, dtype=np.float64)
    size = box[2:] * np.exp(rng.standard_normal(2) * scale_jitter)
    offset = math.sqrt(max(size.prod(), 0.0)) * center_jitter
    centre = box[:2] + 0.5 * box[2:] + offset * (rng.random(2) - 0.5)
    return np.concatenate([centre - 0.5 * size, size])


def box_in_crop(box, crop_box, resize_factor: float, out_size: int) -> np.ndarray:
    """Official `transform_image_to_crop(normalize=True)`: the frame box in a crop made around `crop_box`,
    x,y,w,h / out_size. The crop centre is (out_size - 1)/2 (docs/official-code.md, quirk 7)."""
    box, crop_box = np.asarray(box, dtype=np.float64), np.asarray(crop_box, dtype=np.float64)
    centre = (out_size - 1) / 2 + ((box[:2] + 0.5 * box[2:]) - (crop_box[:2] + 0.5 * crop_box[2:])) * resize_factor
    size = box[2:] * resize_factor
    return np.concatenate([centre - 0.5 * size, size]) / out_size


def all_padding(pad_mask: np.ndarray | torch.Tensor, feat_size: int) -> bool:
    """True if the mask is all padding, or becomes so after nearest down-sampling to the token grid."""
    mask = torch.as_tensor(pad_mask)
    if bool(mask.all()):
        return True
    small = F.interpolate(mask[None, None].float(), size=(feat_size, feat_size)).bool()
    return bool(small.all())


class Processing:
    """`processing(sample, rng)` -> a dict of tensors for the actor (see `__call__`).

    Augmentations (when `rng` is given): brightness x U(0.8,1.2) on every crop and on the grounding image; on
    the search frames jointly: grayscale (p 0.05) and a horizontal flip (p 0.5), then per crop another
    horizontal flip (p 0.5). With `language_aware_flip` (default, a FIX of docs/official-code.md quirk 20) a
    sample whose sentence mentions left or right is never flipped. `rng=None` = no augmentation and no jitter
    (evaluation; pass `crop_boxes` to say where to crop).
    """

    def __init__(self, model_cfg: ModelConfig, data_cfg: DataConfig, text_encoder=None):
        self.cfg = data_cfg
        self.search_size = model_cfg.search_size     # also the grounding input size
        self.template_size = model_cfg.template_size
        self.feat_size = model_cfg.search_feat_size
        self.max_text_len = model_cfg.language.max_text_len
        self._text_encoder = text_encoder

    def __getstate__(self):  # DataLoader workers build their own encoder
        return {**self.__dict__, "_text_encoder": None}

    @property
    def text_encoder(self):
        if self._text_encoder is None:  # built lazily: once per DataLoader worker
            from kit.text import SentenceEncoder
            self._text_encoder = SentenceEncoder()
        return self._text_encoder

    def flips_allowed(self, sentence: str) -> bool:
        return not (self.cfg.language_aware_flip and mentions_left_or_right(sentence))

    def _roll(self, rng, p: float) -> bool:
        return rng is not None and p > 0 and rng.random() < p

    def _brightness(self, rng) -> float:
        b = self.cfg.brightness_jitter
        return 1.0 if rng is None else float(rng.uniform(max(0.0, 1 - b), 1 + b))

    def __call__(self, sample: Sample, rng: np.random.Generator | None, crop_boxes=None) -> dict:
        """Keys: text_ids, text_mask (L,); grounding_img (3,S,S), grounding_mask (S,S) bool, grounding_box (4,)
        x,y,w,h/S, grounding_coords (4,) [0,0,new_w,new_h]; grounding_frame (the RGB frame, for the
        template); search_img (n,3,S,S), search_mask (n,S,S), search_box (n,4); flip_allowed (bool).
        Raises InvalidSample when a crop is unusable (the caller draws another sample)."""
        try:
            encoded = self.text_encoder.encode(sample.sentence, self.max_text_len)
        except (TypeError, ValueError) as err:
            raise InvalidSample(f"{sample.name}: {err}") from None
        flip_allowed = self.flips_allowed(sample.sentence)
        images = {}
        for path in sample.frames:
            if path not in images:
                images[path] = read_rgb(path)

        # Grounding: the whole frame, aspect kept, padded bottom/right; no flip, no grayscale.
        frame = images[sample.frames[0]]
        ground = grounding_resize(frame, self.search_size)
        ground_box = frame_box_to_grounding(sample.boxes[0], ground.coords, frame.shape[1], frame.shape[0],
                                            self.search_size)
        if all_padding(ground.pad_mask, self.feat_size):
            raise InvalidSample(f"{sample.name}: the grounding image is all padding")

        # Search frames: joint grayscale / flip, then per frame jitter, crop, label, brightness, flip.
        frames = [images[p] for p in sample.frames[1:]]
        boxes = [np.asarray(b, dtype=np.float64) for b in sample.boxes[1:]]
        if self._roll(rng, self.cfg.grayscale_prob):
            frames = [grayscale(f) for f in frames]
        if flip_allowed and self._roll(rng, self.cfg.flip_prob):
            boxes = [flip_frame_box(b, f.shape[1]) for b, f in zip(boxes, frames)]
            frames = [np.ascontiguousarray(f[:, ::-1]) for f in frames]
            crop_boxes = None if crop_boxes is None else [flip_frame_box(c, f.shape[1])
                                                          for c, f in zip(crop_boxes, frames)]
        search_img, search_mask, search_box = [], [], []
        for i, (f, box) in enumerate(zip(frames, boxes)):
            if crop_boxes is not None:
                around = np.asarray(crop_boxes[i], dtype=np.float64)
            else:
                around = jitter_box(box, rng, self.cfg.center_jitter, self.cfg.scale_jitter)
            w, h = around[2:]
            if not (w > 0 and h > 0) or math.ceil(math.sqrt(w * h) * self.cfg.search_factor) < 1:
                raise InvalidSample(f"{sample.name}: too small a search box {around.tolist()}")
            crop = sample_target(f, around, self.cfg.search_factor, self.search_size)
            if all_padding(crop.pad_mask, self.feat_size):
                raise InvalidSample(f"{sample.name}: a search crop is all padding")
            label = box_in_crop(box, around, crop.resize_factor, self.search_size)
            img, mask = to_tensor(crop.patch, self._brightness(rng)), torch.from_numpy(crop.pad_mask)
            if flip_allowed and self._roll(rng, self.cfg.flip_prob):  # RandomHorizontalFlip_Norm: x -> 1 - x
                img, mask = img.flip(-1), mask.flip(-1)
                label = np.array([1 - label[0] - label[2], label[1], label[2], label[3]])
            search_img.append(img)
            search_mask.append(mask)
            search_box.append(torch.from_numpy(label).float())

        return {
            "text_ids": encoded.ids[0], "text_mask": encoded.mask[0],
            "grounding_img": to_tensor(ground.patch, self._brightness(rng)),
            "grounding_mask": torch.from_numpy(ground.pad_mask),
            "grounding_box": torch.from_numpy(ground_box).float(),
            "grounding_coords": torch.tensor(ground.coords, dtype=torch.int64),
            "grounding_frame": frame,
            **self._stack_search(search_img, search_mask, search_box),
            "flip_allowed": torch.tensor(flip_allowed),
        }

    def _stack_search(self, imgs: list, masks: list, boxes: list) -> dict:
        """(n,3,S,S), (n,S,S), (n,4); n = 0 (grounding-only training) gives empty tensors of those shapes."""
        if imgs:
            return {"search_img": torch.stack(imgs), "search_mask": torch.stack(masks), "search_box": torch.stack(boxes)}
        S = self.search_size
        return {"search_img": torch.zeros(0, 3, S, S), "search_mask": torch.zeros(0, S, S, dtype=torch.bool),
                "search_box": torch.zeros(0, 4)}

    def template(self, frame: np.ndarray, pred_box, coords, rng: np.random.Generator | None,
                 flip_allowed: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """Official TemplateProcessing: the grounding prediction (cx,cy,w,h / S, w,h x 1.5) mapped back to the
        frame as the tracker does (`grounding_box_to_frame`: rounded, cut to the image, one scale), joint
        grayscale / flip of the frame, crop `template_factor` x 128 (no jitter), brightness, flip.
        Returns (3,T,T) image and (T,T) padding mask."""
        box = np.asarray(grounding_box_to_frame(pred_box, coords, frame.shape[1], frame.shape[0],
                                                self.search_size))
        if self._roll(rng, self.cfg.grayscale_prob):
            frame = grayscale(frame)
        if flip_allowed and self._roll(rng, self.cfg.flip_prob):
            box, frame = flip_frame_box(box, frame.shape[1]), np.ascontiguousarray(frame[:, ::-1])
        crop = sample_target(frame, box, self.cfg.template_factor, self.template_size)
        img, mask = to_tensor(crop.patch, self._brightness(rng)), torch.from_numpy(crop.pad_mask)
        if flip_allowed and self._roll(rng, self.cfg.flip_prob):
            img, mask = img.flip(-1), mask.flip(-1)
        return img, mask


def collate(items: list[dict]) -> dict:
    """Stack tensors; keep the RGB frames (of different sizes) as a list."""
    batch = {}
    for key in items[0]:
        values = [item[key] for item in items]
        batch[key] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch
