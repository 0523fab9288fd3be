"""Datasets in their native formats (LaSOT, TNL2K, OTB99-lang, RefCOCOg) and the synthetic benchmark.

`load_dataset(name, root, **kw)` builds any of them. Video readers list sequences at once and read a
sequence's annotation files when it is accessed; images are never opened (frames are paths), so results
can be scored from annotation files only.
"""
from __future__ import annotations

from pathlib import Path

from kit.data.annotations import read_name_list
from kit.data.base import DatasetFormatError, ReferredObject, Sequence, SequenceDataset
from kit.data.lasot import LaSOT
from kit.data.otb import OTB99Lang
from kit.data.refcocog import RefCOCOg
from kit.data.tnl2k import TNL2K

__all__ = [
    "DATASETS",
    "TNL2K",
    "DatasetFormatError",
    "LaSOT",
    "OTB99Lang",
    "RefCOCOg",
    "ReferredObject",
    "Sequence",
    "SequenceDataset",
    "load_dataset",
    "load_semireal",
    "load_synthetic",
]


def load_synthetic(root: str | Path, split: str | list[str] | None = None, **kw) -> LaSOT:
    """The synthetic benchmark, written in the LaSOT layout (`kit.data.synthetic`): every sequence under
    `root` (split None or 'all'), the names listed in `root/<split>.txt`, or an explicit list;
    'grounding_<split>' reads the grounding-only images, `root/grounding/<split>.txt` (1-frame sequences).
    Sequences are tagged 'synthetic'."""
    root = Path(root)
    if isinstance(split, str) and split.startswith("grounding_"):
        root, split = root / "grounding", split.removeprefix("grounding_")
    if split is None or split == "all":
        names = "all"
    elif isinstance(split, str):
        names = read_name_list(root / f"{split}.txt")
    else:
        names = list(split)
    return LaSOT(root, split=names, tag="synthetic", **kw)


def load_semireal(root: str | Path, split: str | list[str] | None = None, **kw) -> LaSOT:
    """Sequences with real appearance (`kit.data.semireal`: real photographs under a moving camera, still-image
    pairs, real cut-outs), in the LaSOT layout like the synthetic benchmark; tagged 'semireal'."""
    root = Path(root)
    names = "all" if split in (None, "all") else read_name_list(root / f"{split}.txt") if isinstance(split, str) \
        else list(split)
    return LaSOT(root, split=names, tag="semireal", **kw)


DATASETS = {"lasot": LaSOT, "tnl2k": TNL2K, "otb": OTB99Lang, "refcocog": RefCOCOg, "synthetic": load_synthetic,
            "semireal": load_semireal}


def load_dataset(name: str, root: str | Path, **kw):
    """A dataset reader by name: 'lasot' | 'tnl2k' | 'otb' | 'refcocog' | 'synthetic' | 'semireal'; `kw` go to its
    class (e.g. split=..., sentence_mode=...)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name](root, **kw)
