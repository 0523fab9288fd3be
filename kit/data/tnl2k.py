"""TNL2K in its native layout: every sub-directory of the root is a sequence with `imgs/`, `groundtruth.txt`
(x,y,w,h per line, comma-separated), `language.txt` and, in the test set, `attributes.txt`.

TNL2K_train and TNL2K_test are separate roots; there is no split file.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

from kit.data.annotations import read_attribute_flags, read_boxes, read_sentence
from kit.data.base import DatasetFormatError, Sequence, SequenceDataset, check_frames_exist

# The 17 flags of the TNL2K evaluation toolkit (`annos/att/<seq>_attribute.txt`), in its order: short
# name -> the toolkit's full name. We assume a sequence's own `attributes.txt` holds the same flags.
TNL2K_ATTRIBUTES = {
    "CM": "Camera Motion", "ROT": "Rotation", "DEF": "Deformation", "FOC": "Full Occlusion",
    "IV": "Illumination Variation", "OV": "Out-of-View", "POC": "Partial Occlusion", "VC": "Viewpoint Change",
    "SV": "Scale Variation", "BC": "Background Clutter", "MB": "Motion Blur", "ARC": "Aspect Ration Change",
    "LR": "Low Resolution", "FM": "Fast Motion", "AS": "Adversarial Samples", "TC": "Thermal Crossover",
    "MS": "Modality Switch",
}

_LEADING_DIGITS = re.compile(r"\d+")


def sort_frame_names(names: list[str], where: Path | str = "imgs") -> list[str]:
    """Image names in frame order: by the integer their name starts with (TNL2K names are not zero-padded
    consistently, nor do all sequences start at 1). If a name has no leading digits, plain sorted order and
    a warning — the official test code then keeps os.listdir's arbitrary order (docs/official-code.md, quirk 23)."""
    keys = [_LEADING_DIGITS.match(n) for n in names]
    if all(keys):
        return [n for _, n in sorted(zip((int(k.group()) for k in keys), names))]
    odd = next(n for n, k in zip(names, keys) if not k)
    warnings.warn(f"{where}: {odd!r} does not start with a frame number; frames are in plain sorted order",
                  stacklevel=3)
    return sorted(names)


class TNL2K(SequenceDataset):
    """TNL2K sequences under `root`: every sub-directory, sorted by name, or the given `names`.

    Frame i is `imgs/` sorted by `sort_frame_names`, its box line i of groundtruth.txt.
    official_train_offset=True reproduces the official training pairing (docs/official-code.md, quirk 17): box i with
    image i-1, box 0 with the last image; `frames` then has one entry per box that has an image. For parity (the
    `paper` training preset, `data.official_tnl2k_pairing`); the default is the fixed pairing.
    sentence_mode: as in `kit.data.lasot.LaSOT` (from language.txt).
    attributes: read `<seq>/attributes.txt`, or `attributes_dir/<seq>_attribute.txt` (the toolkit's
        `annos/att`) when given: 17 comma- or whitespace-separated 0/1 flags named as TNL2K_ATTRIBUTES. A
        sequence without the file gets none; a file with another count raises (pass attributes=False).
    visible = w > 0 and h > 0 (the official training rule; TNL2K has no occlusion flags).

    A sequence without `imgs/` (an annotation-only copy) gets an empty `frames` list and one warning
    for the whole dataset, unless check_images=True, which raises.
    """

    dataset = "tnl2k"

    def __init__(self, root: str | Path, names: list[str] | None = None, sentence_mode: str | None = "clean",
                 official_train_offset: bool = False, attributes: bool = True,
                 attributes_dir: str | Path | None = None, check_images: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetFormatError(f"{self.root}: TNL2K root directory not found")
        self.sentence_mode = sentence_mode
        self.official_train_offset = official_train_offset
        self.attributes = attributes
        self.attributes_dir = Path(attributes_dir) if attributes_dir is not None else None
        self.check_images = check_images
        if names is None:
            names = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if not names:
                raise DatasetFormatError(f"{self.root}: no sequence directories found")
        else:
            names = [str(n) for n in names]
            missing = [n for n in names if not (self.root / n).is_dir()]
            if missing:
                raise DatasetFormatError(f"{self.root}: {len(missing)} of the {len(names)} listed sequences are "
                                         f"missing, e.g. {self.root / missing[0]}")
        super().__init__(names)
        no_images = [n for n in self.names if not (self.root / n / "imgs").is_dir()]
        if no_images and not check_images:
            warnings.warn(f"{self.root}: {len(no_images)} of {len(self.names)} sequences have no imgs/ folder "
                          f"(e.g. {no_images[0]}); their frame lists are empty", stacklevel=2)

    def _frames(self, name: str) -> list[Path]:
        img_dir = self.root / name / "imgs"
        if not img_dir.is_dir():
            if self.check_images:
                raise DatasetFormatError(f"{img_dir}: image folder not found")
            return []
        files = [p.name for p in img_dir.iterdir() if not p.name.startswith(".")]
        return [img_dir / f for f in sort_frame_names(files, img_dir)]

    def load(self, name: str) -> Sequence:
        seq_dir = self.root / name
        boxes = read_boxes(seq_dir / "groundtruth.txt")
        frames = self._frames(name)
        if frames and len(frames) != len(boxes):
            warnings.warn(f"{seq_dir}: {len(frames)} images in imgs/ but {len(boxes)} boxes in groundtruth.txt",
                          stacklevel=2)
        if frames and self.official_train_offset:
            # box i with image i-1 (the official `path_list[frame_id - 1]`; box 0 with the last image), for
            # every box that has one: with one box more than images, the last box gets the last image too.
            frames = frames[-1:] + frames[:len(boxes) - 1]
        if self.check_images:
            check_frames_exist(frames, f"sequence {name!r}")
        attributes = {}
        if self.attributes:
            att_file = (self.attributes_dir / f"{name}_attribute.txt" if self.attributes_dir is not None
                        else seq_dir / "attributes.txt")
            if att_file.is_file():
                attributes = read_attribute_flags(att_file, tuple(TNL2K_ATTRIBUTES))
        return Sequence(name=name, frames=frames, boxes=boxes, visible=(boxes[:, 2] > 0) & (boxes[:, 3] > 0),
                        sentence=read_sentence(seq_dir / "language.txt", self.sentence_mode), dataset=self.dataset,
                        attributes=attributes)
