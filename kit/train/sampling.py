"""The training sampler (official `GroundingAndTrackingSampler`, spec §5.3) and the virtual epoch around it.

A sample is one sentence, one grounding frame and `num_search` search frames of the same target. Every
sample is drawn from its own generator, seeded by (seed, epoch, index): a virtual epoch is the same
whatever the number of DataLoader workers or processes, and a run resumed mid-epoch sees the same data.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from kit.data import DatasetFormatError, Sequence, load_dataset
from kit.data.refcocog import RefCOCOg
from kit.train.config import DataConfig, RootsConfig


class InvalidSample(ValueError):
    """This draw cannot be used (a crop outside the frame, a too small box, ...): draw another."""


@dataclass
class Sample:
    """What the sampler picked; images are read by the processing."""

    dataset: str
    name: str
    sentence: str
    frames: list[Path]      # [grounding, search_1, ..., search_n]
    boxes: np.ndarray       # (1 + n, 4) x,y,w,h in frame pixels
    frame_ids: list[int]


class Source:
    """One training dataset: `len(source)` items, `source[i]` a `Sequence`; `is_video` False for grounding
    images (RefCOCOg, synthetic grounding_*), which are used as 1-frame sequences."""

    def __init__(self, spec: str, roots: RootsConfig, sentence_mode: str = "clean"):
        name, _, split = spec.partition(":")
        if not hasattr(roots, name):
            raise ValueError(f"unknown training dataset {spec!r}: the name must be one of "
                             f"{[f for f in vars(roots)]} (optionally ':split')")
        root = getattr(roots, name)
        self.spec = spec
        self.is_video = not (name == "refcocog" or split.startswith("grounding"))
        if name == "refcocog":
            # The official training uses the last sentence of each ref (spec §8 #29).
            refs = RefCOCOg(root, split=split or "train")
            self._items = [Sequence(name=str(r.ref_id), frames=[r.image], boxes=r.box[None].astype(np.float64),
                                    visible=np.ones(1, bool), sentence=r.sentences[-1], dataset="refcocog")
                           for r in refs]
            self._reader = None
        else:
            kw = {"sentence_mode": sentence_mode}
            if split and name == "tnl2k":
                raise ValueError(f"{spec!r}: TNL2K has no split lists; point data.roots.tnl2k at the training set")
            if split:
                kw["split"] = split
            self._reader = load_dataset(name, root, **kw)
            self._items = None
        self._cache: dict[int, Sequence] = {}  # annotations only (frames are paths); one per process

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else len(self._reader)

    def __getitem__(self, index: int) -> Sequence:
        if self._items is not None:
            return self._items[index]
        if index not in self._cache:
            self._cache[index] = self._reader[index]
        return self._cache[index]

    def __repr__(self) -> str:
        return f"Source({self.spec!r}, {len(self)} {'sequences' if self.is_video else 'images'})"


class TrainingSampler:
    """Draws `Sample`s as the official sampler in mode 'grounding' (spec §5.3):

    * a dataset by `ratios`, then a sequence uniformly; a video needs `min_visible_frames` visible frames and
      `min_sequence_length` frames (else another sequence is drawn);
    * video: the grounding frame g is a visible frame among the first min(max_grounding_frame, len) - 2;
      the search frames are `num_search` visible frames of [g+1, g+max_sample_interval+gap), drawn WITH
      replacement and left unsorted (official, §8 #20), the window growing by 5 until one is visible;
    * image: the grounding and search frames are the same image.
    """

    def __init__(self, sources: list[Source], ratios, cfg: DataConfig):
        if len(sources) != len(ratios):
            raise ValueError(f"{len(sources)} datasets but {len(ratios)} ratios")
        ratios = np.asarray(ratios, dtype=np.float64)
        self.sources = sources
        self.probs = ratios / ratios.sum()
        self.cfg = cfg

    @classmethod
    def from_config(cls, cfg: DataConfig) -> "TrainingSampler":
        return cls([Source(spec, cfg.roots, cfg.sentence_mode) for spec in cfg.datasets], cfg.ratios, cfg)

    def sample(self, rng: np.random.Generator) -> Sample:
        """One sample; raises InvalidSample when the drawn sequence cannot give one."""
        source = self.sources[rng.choice(len(self.sources), p=self.probs)]
        index = int(rng.integers(len(source)))
        seq = source[index]
        n = self.cfg.num_search
        if not source.is_video:
            ids = [0] * (1 + n)
        else:
            ids = self._frame_ids(seq, rng)
        return Sample(dataset=seq.dataset, name=seq.name, sentence=seq.sentence, frames=[seq.frames[i] for i in ids],
                      boxes=np.asarray(seq.boxes, dtype=np.float64)[ids], frame_ids=ids)

    def _frame_ids(self, seq: Sequence, rng: np.random.Generator) -> list[int]:
        cfg, visible, length = self.cfg, np.asarray(seq.visible, bool), len(seq)
        if visible.sum() < cfg.min_visible_frames or length < cfg.min_sequence_length:
            raise InvalidSample(f"{seq.name}: too few (visible) frames")
        first = np.flatnonzero(visible[: max(min(cfg.max_grounding_frame, length) - 2, 0)])
        if len(first) == 0:
            raise InvalidSample(f"{seq.name}: no visible frame to ground in")
        g = int(rng.choice(first))
        gap = 0
        while True:
            end = g + cfg.max_sample_interval + gap
            candidates = np.flatnonzero(visible[g + 1: end]) + g + 1
            if len(candidates):
                return [g] + [int(i) for i in rng.choice(candidates, size=cfg.num_search, replace=True)]
            if end >= length:
                raise InvalidSample(f"{seq.name}: no visible frame after the grounding frame {g}")
            gap += 5


def sample_rng(seed: int, epoch: int, index: int, stream: int = 0) -> np.random.Generator:
    """The generator of sample `index` of `epoch`; stream 0 = sampler + processing, 1 = template."""
    return np.random.default_rng([int(seed), int(epoch), int(index), int(stream)])


class VirtualEpoch(Dataset):
    """`dataset[(epoch, index)]` = the processed sample `index` of `epoch`, drawn from its own seed; invalid
    draws are redrawn from the same generator (at most `max_attempts` times). Keys are (epoch, index)
    pairs so that workers never need to be told the epoch."""

    def __init__(self, sampler: TrainingSampler, processing, seed: int, max_attempts: int = 100):
        self.sampler, self.processing, self.seed, self.max_attempts = sampler, processing, seed, max_attempts

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        rng = sample_rng(self.seed, epoch, index)
        last_error = None
        for _ in range(self.max_attempts):
            try:
                item = self.processing(self.sampler.sample(rng), rng)
            except (InvalidSample, DatasetFormatError, OSError) as err:  # official: any failure -> redraw
                last_error = err
                continue
            item["sample_key"] = torch.tensor([self.seed, epoch, index], dtype=torch.int64)
            return item
        raise RuntimeError(f"no valid sample in {self.max_attempts} draws (epoch {epoch}, index {index}); "
                           f"last problem: {last_error}")


class EpochBatches(Sampler):
    """The batches of one rank in one virtual epoch: rank r gets indices r, r+W, r+2W, ... of
    range(samples_per_epoch) (as DistributedSampler without shuffling; each index is a random draw
    anyway), cut into full batches; iteration starts at batch `start` (exact mid-epoch resume)."""

    def __init__(self, samples_per_epoch: int, batch_size: int, epoch: int, rank: int = 0, world_size: int = 1,
                 start: int = 0):
        self.per_rank = samples_per_epoch // world_size
        self.batch_size, self.epoch, self.rank, self.world_size, self.start = \
            batch_size, epoch, rank, world_size, start

    def __len__(self) -> int:
        return max(self.per_rank // self.batch_size - self.start, 0)

    def __iter__(self):
        for b in range(self.start, self.per_rank // self.batch_size):
            local = range(b * self.batch_size, (b + 1) * self.batch_size)
            yield [(self.epoch, self.rank + self.world_size * i) for i in local]


class RunBatches(Sampler):
    """The batches of one rank from (first_epoch, batch `start`) to the end of last_epoch, epoch after
    epoch: one DataLoader (one set of workers) serves the whole run. `.epochs` lists the EpochBatches."""

    def __init__(self, samples_per_epoch: int, batch_size: int, first_epoch: int, last_epoch: int, rank: int = 0,
                 world_size: int = 1, start: int = 0):
        self.epochs = [EpochBatches(samples_per_epoch, batch_size, e, rank, world_size,
                                    start if e == first_epoch else 0) for e in range(first_epoch, last_epoch + 1)]

    def __len__(self) -> int:
        return sum(len(e) for e in self.epochs)

    def __iter__(self):
        for epoch in self.epochs:
            yield from epoch


def iterations_per_epoch(samples_per_epoch: int, batch_size: int, world_size: int = 1) -> int:
    return (samples_per_epoch // world_size) // batch_size


def validation_samples(source: Source, count: int, num_search: int = 1, search_offset: int = 10) -> list[tuple]:
    """Fixed evaluation items `(Sample, crop_boxes)` from the first `count` videos of `source`: ground the
    sentence in frame 0, then track one step: search frame s (the first visible frame from `search_offset`
    whose predecessor is visible too) cropped around the ground-truth box of frame s-1, as a tracker
    does. Grounding images give a search crop around their own box."""
    items = []
    for index in range(min(count, len(source))):
        seq = source[index]
        boxes = np.asarray(seq.boxes, dtype=np.float64)
        if not source.is_video or len(seq) == 1:
            ids, crop = [0] * (1 + num_search), [boxes[0]] * num_search
        else:
            vis = np.asarray(seq.visible, bool)
            found = [s for s in range(min(search_offset, len(seq) - 1), len(seq)) if vis[s] and vis[s - 1]]
            if not vis[0] or not found:
                continue
            s = found[0]
            ids, crop = [0] + [s] * num_search, [boxes[s - 1]] * num_search
        items.append((Sample(dataset=seq.dataset, name=seq.name, sentence=seq.sentence,
                             frames=[seq.frames[i] for i in ids], boxes=boxes[ids], frame_ids=ids), crop))
    return items


class ValidationSet(Dataset):
    """The processed, un-augmented items of `validation_samples`."""

    def __init__(self, items: list[tuple], processing):
        self.items, self.processing = items, processing

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        sample, crop_boxes = self.items[index]
        item = self.processing(sample, None, crop_boxes=crop_boxes)
        item["sample_key"] = torch.tensor([0, 0, index], dtype=torch.int64)
        return item
