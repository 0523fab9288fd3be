"""LaSOT in its native layout (`<root>/<class>/<class>-<n>/`), with its sentence, visibility and attributes.

Per sequence: `img/%08d.jpg` (frames 1..#boxes), `groundtruth.txt` (x,y,w,h per line, comma-separated),
`full_occlusion.txt` and `out_of_view.txt` (one comma-separated 0/1 line each), `nlp.txt` (the sentence).
The synthetic benchmark is written in this layout too and read by this class (tag 'synthetic').
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from kit.data.annotations import read_attribute_flags, read_boxes, read_flags, read_name_list, read_sentence
from kit.data.base import DatasetFormatError, Sequence, SequenceDataset, check_frames_exist

# The 14 attribute flags of LaSOT's `att/<seq>.txt` (LaSOT_Evaluation_Toolkit, `annos/att/`), in file order:
# short name -> the toolkit's full name (its spelling, 'Aspect Ration Change', kept).
LASOT_ATTRIBUTES = {
    "IV": "Illumination Variation", "POC": "Partial Occlusion", "DEF": "Deformation", "MB": "Motion Blur",
    "CM": "Camera Motion", "ROT": "Rotation", "BC": "Background Clutter", "VC": "Viewpoint Change",
    "SV": "Scale Variation", "FOC": "Full Occlusion", "FM": "Fast Motion", "OV": "Out-of-View",
    "LR": "Low Resolution", "ARC": "Aspect Ration Change",
}


def split_names(split: str) -> list[str]:
    """The official protocol-II split shipped with the kit: 'test' (280 sequences, 4 per class) or 'train'
    (the other 1120)."""
    if split not in ("test", "train"):
        raise ValueError(f"LaSOT split must be 'test', 'train', 'all' or a list of names, got {split!r}")
    with resources.as_file(resources.files("kit.data") / "splits" / f"lasot_{split}.txt") as path:
        return read_name_list(path)


def _natural_key(name: str):
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


class LaSOT(SequenceDataset):
    """LaSOT sequences under `root`.

    split: 'test' | 'train' (the official lists) | 'all' (every `<class>/<class>-*` directory found) | a
        list of sequence names ('airplane-1', ...).
    sentence_mode: 'clean' (default: the whole nlp.txt) | 'official_test' (the test-time quirk, for the
        paper's numbers) | 'official_train' (text before the first comma) | None (not read) — see
        `kit.data.annotations.read_sentence`.
    attributes_dir: folder of LaSOT attribute files `<seq>.txt` (14 comma-separated 0/1 flags, names in
        LASOT_ATTRIBUTES), e.g. the toolkit's `annos/att`; default `root/att` when it exists. A sequence
        without a file gets no attributes.
    check_images: also check that every frame file exists (otherwise images are never touched).
    tag: the sequences' `dataset` field ('synthetic' when `load_synthetic` reads the synthetic benchmark).

    visible[i] = not full_occlusion[i] and not out_of_view[i], computed on booleans as the official toolkit does; the box
    size is not folded in (boxes of absent targets are usually 0,0,0,0 anyway).
    """

    dataset = "lasot"

    def __init__(self, root: str | Path, split: str | list[str] = "test", sentence_mode: str | None = "clean",
                 attributes_dir: str | Path | None = None, check_images: bool = False, tag: str = "lasot"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetFormatError(f"{self.root}: LaSOT root directory not found")
        self.sentence_mode = sentence_mode
        self.check_images = check_images
        self.dataset = tag
        if attributes_dir is None and (self.root / "att").is_dir():
            attributes_dir = self.root / "att"
        self.attributes_dir = Path(attributes_dir) if attributes_dir is not None else None
        if self.attributes_dir is not None and not self.attributes_dir.is_dir():
            raise DatasetFormatError(f"{self.attributes_dir}: attributes directory not found")

        if split == "all":
            names = self._find_all()
        else:
            names = split_names(split) if isinstance(split, str) else [str(n) for n in split]
            missing = [n for n in names if not self.sequence_dir(n).is_dir()]
            if missing:
                which = f"split {split!r}" if isinstance(split, str) else "the list"
                raise DatasetFormatError(f"{self.root}: {len(missing)} of the {len(names)} sequences of {which} "
                                         f"are missing, e.g. {self.sequence_dir(missing[0])}")
        super().__init__(names)

    def _find_all(self) -> list[str]:
        names = []
        for class_dir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            names += [p.name for p in class_dir.iterdir() if p.is_dir() and p.name.startswith(class_dir.name + "-")]
        if not names:
            raise DatasetFormatError(f"{self.root}: no sequence directories <class>/<class>-<n> found")
        return sorted(names, key=_natural_key)

    def sequence_dir(self, name: str) -> Path:
        if "-" not in name:
            raise ValueError(f"LaSOT sequence names look like '<class>-<n>', got {name!r}")
        return self.root / name.rsplit("-", 1)[0] / name

    def load(self, name: str) -> Sequence:
        seq_dir = self.sequence_dir(name)
        boxes = read_boxes(seq_dir / "groundtruth.txt")
        n = len(boxes)
        occluded = read_flags(seq_dir / "full_occlusion.txt", expected=n, what="occlusion flags")
        out_of_view = read_flags(seq_dir / "out_of_view.txt", expected=n, what="out-of-view flags")
        frames = [seq_dir / "img" / f"{i:08d}.jpg" for i in range(1, n + 1)]
        if self.check_images:
            check_frames_exist(frames, f"sequence {name!r}")
        attributes = {}
        if self.attributes_dir is not None and (self.attributes_dir / f"{name}.txt").is_file():
            attributes = read_attribute_flags(self.attributes_dir / f"{name}.txt", tuple(LASOT_ATTRIBUTES))
        return Sequence(name=name, frames=frames, boxes=boxes, visible=~occluded & ~out_of_view,
                        sentence=read_sentence(seq_dir / "nlp.txt", self.sentence_mode), dataset=self.dataset,
                        attributes=attributes)
