"""OTB99-lang (OTB-100 videos with one sentence each) in its native layout under `root` (`OTB_sentences`):
`OTB_videos/<seq>/img/%04d.jpg`, `OTB_videos/<seq>/groundtruth_rect.txt` (x,y,w,h; comma- or
whitespace-separated) and the sentence in `OTB_query_test/<seq>.txt` or `OTB_query_train/<seq>.txt`.
"""
from __future__ import annotations

import warnings
from importlib import resources
from pathlib import Path

from kit.data.annotations import read_boxes, read_name_list, read_sentence
from kit.data.base import DatasetFormatError, Sequence, SequenceDataset, check_frames_exist


def split_names(split: str) -> list[str]:
    """The official OTB99-lang split shipped with the kit: 'test' (48 sequences, Biker ... Vase) or 'train'
    (51, Basketball ... Woman)."""
    if split not in ("test", "train"):
        raise ValueError(f"OTB99-lang split must be 'test', 'train' or a list of names, got {split!r}")
    with resources.as_file(resources.files("kit.data") / "splits" / f"otb99_{split}.txt") as path:
        return read_name_list(path)


class OTB99Lang(SequenceDataset):
    """OTB99-lang sequences of `split` ('test' | 'train' | a list of names).

    Frames are `img/0001.jpg` .. `img/<N>.jpg` with N = the number of files in img/, as in the official
    test code (not the number of boxes, nor the OTB-100 start frame); a warning says when N
    differs from the number of ground-truth rows. (If img/ has `00001.jpg` but no `0001.jpg`, as OTB-100's
    Board, five digits are used and a warning says the official reader would not find the images.)
    The sentence comes from OTB_query_<split>/; for a list of names, from OTB_query_test/ when the file is
    there, else OTB_query_train/. sentence_mode as in `kit.data.lasot.LaSOT`. visible = w > 0 and h > 0.
    A sequence without img/ (annotation-only copy) gets an empty frame list unless check_images=True.
    """

    dataset = "otb"

    def __init__(self, root: str | Path, split: str | list[str] = "test", sentence_mode: str | None = "clean",
                 check_images: bool = False):
        self.root = Path(root)
        if not (self.root / "OTB_videos").is_dir():
            raise DatasetFormatError(f"{self.root / 'OTB_videos'}: OTB99-lang video directory not found")
        self.split = split if isinstance(split, str) else None
        self.sentence_mode = sentence_mode
        self.check_images = check_images
        names = split_names(split) if isinstance(split, str) else [str(n) for n in split]
        missing = [n for n in names if not (self.root / "OTB_videos" / n).is_dir()]
        if missing:
            raise DatasetFormatError(f"{self.root / 'OTB_videos'}: {len(missing)} of the {len(names)} sequences "
                                     f"are missing, e.g. {missing[0]}")
        super().__init__(names)
        no_images = [n for n in self.names if not (self.root / "OTB_videos" / n / "img").is_dir()]
        if no_images and not check_images:
            warnings.warn(f"{self.root}: {len(no_images)} of {len(self.names)} sequences have no img/ folder "
                          f"(e.g. {no_images[0]}); their frame lists are empty", stacklevel=2)

    def sentence_file(self, name: str) -> Path:
        if self.split is not None:
            return self.root / f"OTB_query_{self.split}" / f"{name}.txt"
        test_file = self.root / "OTB_query_test" / f"{name}.txt"
        return test_file if test_file.is_file() else self.root / "OTB_query_train" / f"{name}.txt"

    def _frames(self, seq_dir: Path) -> list[Path]:
        img_dir = seq_dir / "img"
        if not img_dir.is_dir():
            if self.check_images:
                raise DatasetFormatError(f"{img_dir}: image folder not found")
            return []
        files = {p.name for p in img_dir.iterdir() if not p.name.startswith(".")}
        digits = 4
        if "0001.jpg" not in files and "00001.jpg" in files:
            digits = 5
            warnings.warn(f"{img_dir}: frames are named 00001.jpg..; the official reader (0001.jpg..) would not "
                          "find them", stacklevel=3)
        return [img_dir / f"{i:0{digits}d}.jpg" for i in range(1, len(files) + 1)]

    def load(self, name: str) -> Sequence:
        seq_dir = self.root / "OTB_videos" / name
        boxes = read_boxes(seq_dir / "groundtruth_rect.txt")
        frames = self._frames(seq_dir)
        if frames and len(frames) != len(boxes):
            warnings.warn(f"{seq_dir}: {len(frames)} files in img/ but {len(boxes)} boxes in groundtruth_rect.txt; "
                          "frames are numbered from 1 as in the official code", stacklevel=2)
        if self.check_images:
            check_frames_exist(frames, f"sequence {name!r}")
        return Sequence(name=name, frames=frames, boxes=boxes, visible=(boxes[:, 2] > 0) & (boxes[:, 3] > 0),
                        sentence=read_sentence(self.sentence_file(name), self.sentence_mode), dataset=self.dataset)
