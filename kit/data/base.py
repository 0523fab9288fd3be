"""The two record types every reader returns: a video sequence with a sentence, and a referred image."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetFormatError(ValueError):
    """A dataset file is missing or malformed; the message names the file (and line, when there is one)."""


@dataclass
class Sequence:
    """One annotated video: frame i is `frames[i]`, its box `boxes[i]` (x,y,w,h, float pixels)."""

    name: str
    frames: list[Path]
    boxes: np.ndarray                 # (N,4) float64 x,y,w,h
    visible: np.ndarray               # (N,) bool: target visible (LaSOT: not occluded and not out of view)
    sentence: str
    dataset: str                      # 'lasot' | 'tnl2k' | 'otb' | 'synthetic' ... (evaluation rules key on it)
    attributes: dict[str, np.ndarray | bool] = field(default_factory=dict)  # e.g. LaSOT/TNL2K att/ flags

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class ReferredObject:
    """One referring expression on one image (RefCOCOg role): `box` is x,y,w,h in pixels."""

    ref_id: int
    image: Path
    box: np.ndarray                   # (4,) float64
    sentences: list[str]              # all expressions of this ref, in file order (official uses the last)
    split: str


class SequenceDataset:
    """Sequence names, listed when the reader is built; `dataset[i]`, `dataset['name']` and iteration read
    that sequence's annotation files then (never its images). Subclasses implement `load(name)`."""

    dataset = "?"

    def __init__(self, names: list[str]):
        duplicates = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) != len(names) else []
        if duplicates:
            raise ValueError(f"{type(self).__name__}: sequence names listed twice: {duplicates}")
        self.names = list(names)
        self._known = set(self.names)

    def load(self, name: str) -> Sequence:
        raise NotImplementedError

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self):
        return (self.load(name) for name in self.names)

    def __getitem__(self, key: int | str) -> Sequence:
        if isinstance(key, str):
            if key not in self._known:
                raise KeyError(f"{key!r} is not one of the {len(self)} sequences of this {type(self).__name__}")
            return self.load(key)
        return self.load(self.names[key])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} sequences)"


def check_frames_exist(frames: list[Path], owner: str) -> None:
    """Raise DatasetFormatError naming the first missing image file (used with check_images=True)."""
    missing = [p for p in frames if not p.is_file()]
    if missing:
        raise DatasetFormatError(f"{missing[0]}: file not found ({len(missing)} of the {len(frames)} images of "
                                 f"{owner} are missing)")
