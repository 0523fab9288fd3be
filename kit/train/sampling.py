"""The training sampler (official `GroundingAndTrackingSampler`, docs/official-code.md:
Training) and the virtual epoch around it.

A sample is one sentence, one grounding frame and `num_search` search frames of the same target. Every
sample is drawn from its own generator, seeded by (seed, epoch, index): a virtual epoch is the same
whatever the number of DataLoader workers or processes, and a run resumed mid-epoch sees the same data.

As officially, a draw that fails is redrawn; unlike the official sampler, nothing fails silently. Each item
carries `draw_counts`, per dataset: draws, used, invalid (the sampler's or the processing's rules),
past_last_image (a box without an image: TNL2K sequences with more ground-truth rows than images) and
errors (any other exception, reported once per dataset and kind). The training loop sums them, logs them
per epoch and stops when a dataset yields nothing or errors dominate (`check_draws`); `probe_sources`
does the same on a few draws per dataset before the run starts.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from kit.data import Sequence, load_dataset
from kit.data.refcocog import RefCOCOg
from kit.train.config import DataConfig, RootsConfig


class InvalidSample(ValueError):
    """This draw cannot be used (a crop outside the frame, a too small box, ...): draw another."""


class PastLastImage(InvalidSample):
    """A drawn frame has a box but no image (the sequence has more ground-truth rows than images)."""


class SamplingError(RuntimeError):
    """The data cannot feed the run (a dataset yields nothing, errors dominate); the message is one line."""


DRAW_COUNTS = ("draws", "used", "invalid", "past_last_image", "errors")  # the columns of `draw_counts`


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
    images (RefCOCOg, synthetic grounding_*), which are used as 1-frame sequences.

    official_tnl2k_pairing: TNL2K box i with image i-1 and box 0 with the last image (docs/official-code.md, quirk
    17), else box i with image i. lasot_visible_needs_box: LaSOT frames count as visible only when their box has w, h
    > 0 too (official, quirk 26), else the occlusion / out-of-view flags alone. A sequence whose box and image counts
    differ is warned about once (per process) and recorded in `mismatched`."""

    def __init__(self, spec: str, roots: RootsConfig, sentence_mode: str = "clean",
                 official_tnl2k_pairing: bool = False, lasot_visible_needs_box: bool = False):
        name, _, split = spec.partition(":")
        if not hasattr(roots, name):
            raise ValueError(f"unknown training dataset {spec!r}: the name must be one of "
                             f"{[f for f in vars(roots)]} (optionally ':split')")
        root = getattr(roots, name)
        self.spec, self.root, self.name = spec, root, name
        self.is_video = not (name == "refcocog" or split.startswith("grounding"))
        self.lasot_visible_needs_box = lasot_visible_needs_box and name == "lasot"
        self.mismatched: dict[str, tuple[int, int]] = {}  # name -> (boxes, images)
        if name == "refcocog":
            # The official training uses the last sentence of each ref (docs/official-code.md, quirk 29).
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
            if name == "tnl2k":
                kw["official_train_offset"] = official_tnl2k_pairing
            self._reader = load_dataset(name, root, **kw)
            self._items = None
        self._cache: dict[int, Sequence] = {}  # annotations only (frames are paths); one per process

    def __len__(self) -> int:
        return len(self._items) if self._items is not None else len(self._reader)

    def __getitem__(self, index: int) -> Sequence:
        if self._items is not None:
            return self._items[index]
        if index not in self._cache:
            with warnings.catch_warnings():  # the reader's count warning; ours below says what happens
                warnings.simplefilter("ignore")
                seq = self._reader[index]
            if self.lasot_visible_needs_box:
                seq.visible = seq.visible & (seq.boxes[:, 2] > 0) & (seq.boxes[:, 3] > 0)
            self._note_mismatch(seq)
            self._cache[index] = seq
        return self._cache[index]

    def _note_mismatch(self, seq: Sequence) -> None:
        boxes, images = len(seq.boxes), len(seq.frames)
        if images == boxes:
            return
        self.mismatched[seq.name] = (boxes, images)
        effect = (f"draws of frames {images}..{boxes - 1} are redrawn (as the official sampler does)"
                  if boxes > images else "the extra images are never drawn")
        print(f"warning: {self.spec}: {seq.name}: {boxes} ground-truth boxes but {images} images; {effect}",
              file=sys.stderr, flush=True)

    def __repr__(self) -> str:
        return f"Source({self.spec!r}, {len(self)} {'sequences' if self.is_video else 'images'})"


class TrainingSampler:
    """Draws `Sample`s as the official sampler in mode 'grounding' (docs/official-code.md: Training):

    * a dataset by `ratios`, then a sequence uniformly; a video needs `min_visible_frames` visible frames and
      `min_sequence_length` frames (else another sequence is drawn);
    * video: the grounding frame g is a visible frame among the first min(max_grounding_frame, len) - 2;
      the search frames are `num_search` visible frames of [g+1, g+max_sample_interval+gap), drawn WITH
      replacement and left unsorted (official, quirk 20), the window growing by 5 until one is visible;
    * image: the grounding and search frames are the same image.

    A sequence's length is its number of ground-truth boxes, as officially; a drawn frame without an image
    raises PastLastImage (officially an IndexError, caught and redrawn).
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
        return cls([Source(spec, cfg.roots, cfg.sentence_mode, cfg.official_tnl2k_pairing,
                           cfg.lasot_visible_needs_box) for spec in cfg.datasets], cfg.ratios, cfg)

    def pick_source(self, rng: np.random.Generator) -> int:
        return int(rng.choice(len(self.sources), p=self.probs))

    def sample(self, rng: np.random.Generator) -> Sample:
        """One sample; raises InvalidSample when the drawn sequence cannot give one."""
        return self.sample_from(self.pick_source(rng), rng)

    def sample_from(self, source_index: int, rng: np.random.Generator) -> Sample:
        """One sample from dataset `source_index`; raises InvalidSample when the drawn sequence cannot give one."""
        source = self.sources[source_index]
        index = int(rng.integers(len(source)))
        seq = source[index]
        n = self.cfg.num_search
        if not source.is_video:
            ids = [0] * (1 + n)
        else:
            ids = self._frame_ids(seq, rng)
        if max(ids) >= len(seq.frames):
            raise PastLastImage(f"{seq.name}: frame {max(ids)} has a box but no image ({len(seq.boxes)} boxes, "
                                f"{len(seq.frames)} images)")
        return Sample(dataset=seq.dataset, name=seq.name, sentence=seq.sentence, frames=[seq.frames[i] for i in ids],
                      boxes=np.asarray(seq.boxes, dtype=np.float64)[ids], frame_ids=ids)

    def _frame_ids(self, seq: Sequence, rng: np.random.Generator) -> list[int]:
        cfg, visible, length = self.cfg, np.asarray(seq.visible, bool), len(seq.boxes)
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


def _draw(sampler: TrainingSampler, processing, source_index: int, rng, counts: np.ndarray, reported: set):
    """One draw from one dataset, counted in counts[source_index]; the processed item, or (None, problem)."""
    row = counts[source_index]
    row[0] += 1
    try:
        item = processing(sampler.sample_from(source_index, rng), rng)
    except PastLastImage as err:
        row[3] += 1
        return None, err
    except InvalidSample as err:
        row[2] += 1
        return None, err
    except Exception as err:  # official: any failure -> redraw; here also counted, and reported once per kind
        row[4] += 1
        kind = (source_index, type(err).__name__)
        if kind not in reported:
            reported.add(kind)
            print(f"warning: sampler: {sampler.sources[source_index].spec}: {type(err).__name__}: {err} (redrawn; "
                  "further ones are counted in draws.csv)", file=sys.stderr, flush=True)
        return None, err
    row[1] += 1
    return item, None


class VirtualEpoch(Dataset):
    """`dataset[(epoch, index)]` = the processed sample `index` of `epoch`, drawn from its own seed; failed
    draws are redrawn from the same generator (at most `max_attempts` times, then SamplingError). Each item
    has `draw_counts` (datasets x DRAW_COUNTS, int64): what it took to draw it. Keys are (epoch, index)
    pairs so that workers never need to be told the epoch."""

    def __init__(self, sampler: TrainingSampler, processing, seed: int, max_attempts: int = 100):
        self.sampler, self.processing, self.seed, self.max_attempts = sampler, processing, seed, max_attempts
        self._reported: set = set()  # (dataset, exception type) already printed by this process

    def __getitem__(self, key: tuple[int, int]) -> dict:
        epoch, index = key
        rng = sample_rng(self.seed, epoch, index)
        counts = np.zeros((len(self.sampler.sources), len(DRAW_COUNTS)), dtype=np.int64)
        last_error = None
        for _ in range(self.max_attempts):
            item, problem = _draw(self.sampler, self.processing, self.sampler.pick_source(rng), rng, counts,
                                  self._reported)
            if item is None:
                last_error = problem
                continue
            item["sample_key"] = torch.tensor([self.seed, epoch, index], dtype=torch.int64)
            item["draw_counts"] = torch.from_numpy(counts)
            return item
        raise SamplingError(f"no usable sample in {self.max_attempts} draws (epoch {epoch}, index {index}): "
                            f"{format_draws(counts, self.sampler.sources)}; last problem: "
                            f"{type(last_error).__name__}: {last_error}")


def format_draws(counts: np.ndarray, sources: list[Source]) -> str:
    """'lasot:train 812 draws: 800 used, 12 invalid, 0 past the last image, 0 errors | tnl2k ...'"""
    return " | ".join(f"{src.spec} {c[0]} draws: {c[1]} used, {c[2]} invalid, {c[3]} past the last image, "
                      f"{c[4]} errors" for src, c in zip(sources, np.asarray(counts)))


def check_draws(counts: np.ndarray, sources: list[Source], probs, max_error_rate: float,
                min_draws: int = 50) -> None:
    """Raise SamplingError (one line) when a dataset drawn at least `min_draws` times gave nothing, or when
    more than `max_error_rate` of all draws (at least `min_draws`) raised errors."""
    counts = np.asarray(counts)
    for src, c, p in zip(sources, counts, probs):
        if p > 0 and c[0] >= min_draws and c[1] == 0:
            raise SamplingError(f"dataset {src.spec} ({src.root}) gave no usable sample in {c[0]} draws ({c[2]} "
                                f"invalid, {c[3]} past the last image, {c[4]} errors): check data.roots.{src.name} "
                                "and its layout, or drop it from data.datasets")
    draws, errors = int(counts[:, 0].sum()), int(counts[:, 4].sum())
    if draws >= min_draws and errors > max_error_rate * draws:
        raise SamplingError(f"{errors} of {draws} draws raised errors (more than data.max_error_rate="
                            f"{max_error_rate}): {format_draws(counts, sources)}")


def probe_sources(sampler: TrainingSampler, processing, seed: int, draws: int, max_error_rate: float,
                  log=print) -> np.ndarray:
    """Before a run: `draws` draws from every dataset (processing included, so images are read), logged one
    line per dataset; SamplingError when one gives nothing. Returns the counts (datasets x DRAW_COUNTS)."""
    counts = np.zeros((len(sampler.sources), len(DRAW_COUNTS)), dtype=np.int64)
    reported: set = set()
    for k, (source, p) in enumerate(zip(sampler.sources, sampler.probs)):
        if p == 0:
            continue
        for i in range(draws):
            _draw(sampler, processing, k, np.random.default_rng([int(seed), 0, k, i, 2]), counts, reported)
        mismatched = f"; {len(source.mismatched)} of the sequences seen have box/image count mismatches" \
            if source.mismatched else ""
        log(f"data: {source.spec} ({source.root}): {len(source)} {'sequences' if source.is_video else 'images'}; "
            f"probe: {format_draws(counts[k:k + 1], [source]).split(' ', 1)[1]}{mismatched}")
        check_draws(counts[k:k + 1], [source], [p], max_error_rate, min_draws=min(draws, 1))
    return counts


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
