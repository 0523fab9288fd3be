"""Running a tracker over a benchmark, one result file per sequence (the layout of `results.py`).

The protocol is the official test loop (docs/official-code.md): frames read with cv2 as RGB; NL init = the
sentence alone (paper: JOINT), NL+BB init = the sentence and the ground-truth box of frame 0 (paper:
TRACK); frame 0 is recorded as the ground-truth box; each frame is timed around the tracker call only.

Runs are resumable (a sequence whose result file is complete is skipped; files are written atomically)
and shardable (`shard=(i, n)` takes sequences i, i+n, i+2n, ...: run n processes, e.g. one per GPU).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kit.data import DatasetFormatError, Sequence
from kit.evaluation.results import is_complete, write_result
from kit.tracking.session import ERROR, track_video
from kit.tracking.tracker import Prompt, TrackerInputError
from kit.tracking.video import VideoError, read_image

INITS = ("nl", "nlbb")        # sentence only (paper: NL, official JOINT) | sentence + box (NL+BB, TRACK)
FRAME0 = ("gt", "prediction")  # what row 0 of a result file holds


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' with 0 <= i < n (e.g. '0/4' .. '3/4' for four processes)."""
    try:
        index, count = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"a shard is i/n, e.g. 0/4; got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= i < n")
    return index, count


def select_sequences(names: list[str], shard: tuple[int, int] = (0, 1), max_sequences: int | None = None
                     ) -> list[str]:
    """The first `max_sequences` names (all when None), then every n-th from the i-th: shards 0..n-1
    together cover each sequence exactly once."""
    index, count = shard
    return list(names[:max_sequences])[index::count]


def read_rgb(path: Path) -> np.ndarray:
    """A frame as the official tracker reads it (`read_image`: cv2.imread, BGR -> RGB); a missing or broken
    image is a problem of the dataset."""
    try:
        return read_image(path)
    except VideoError as err:
        raise DatasetFormatError(str(err)) from None


def _prompt(sequence: Sequence, init: str, frame_size: tuple[int, int]) -> Prompt:
    if init == "nl":
        return Prompt(text=sequence.sentence)
    # The tracker refuses boxes that extend past the frame; some GT boxes do by a pixel or two, so give it
    # the part inside (the recorded frame 0 stays the GT box).
    H, W = frame_size
    x, y, w, h = (float(v) for v in sequence.boxes[0])
    x1, y1, x2, y2 = max(x, 0.0), max(y, 0.0), min(x + w, W), min(y + h, H)
    return Prompt(text=sequence.sentence, box=(x1, y1, x2 - x1, y2 - y1))


def track_sequence(tracker, sequence: Sequence, init: str = "nl", frame0: str = "gt",
                   on_frame: Callable[[], None] | None = None) -> tuple[np.ndarray, list[float]]:
    """Boxes (N, 4) x,y,w,h and seconds per frame of one sequence; frame 0's time includes initialisation."""
    if init not in INITS or frame0 not in FRAME0:
        raise ValueError(f"init must be one of {INITS} and frame0 one of {FRAME0}; got {init!r}, {frame0!r}")
    if not sequence.frames:
        raise DatasetFormatError(f"sequence {sequence.name!r} has no image files (an annotation-only copy?)")
    image = read_rgb(sequence.frames[0])
    run = track_video(tracker, [image, *sequence.frames[1:]], [_prompt(sequence, init, image.shape[:2])])
    boxes, seconds = [], []
    for result in run:
        boxes.append(result.targets[0].box)
        seconds.append(result.seconds)
        if on_frame is not None:
            on_frame()
    if run.end == ERROR:
        raise DatasetFormatError(str(run.error)) if isinstance(run.error, VideoError) else run.error
    if frame0 == "gt":
        boxes[0] = sequence.boxes[0]
    return np.array(boxes, dtype=np.float64), seconds


@dataclass
class RunSummary:
    tracked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)                   # already complete
    failed: list[tuple[str, str]] = field(default_factory=list)        # (sequence, one-line reason)
    frames: int = 0
    seconds: float = 0.0

    @property
    def fps(self) -> float | None:
        return self.frames / self.seconds if self.seconds else None


def run_benchmark(tracker, dataset, results_dir: str | Path, tracker_name: str, init: str = "nl",
                  frame0: str = "gt", shard: tuple[int, int] = (0, 1), max_sequences: int | None = None,
                  progress: bool = False, log: Callable[[str], None] = print) -> RunSummary:
    """Track every selected sequence of `dataset` (any `SequenceDataset`) that has no complete result yet.

    A sequence that cannot be tracked (missing image, unusable sentence) is reported through `log` and
    left without a result file (the scorer then counts it as a failure); the others go on.
    """
    from tqdm import tqdm

    names = select_sequences(dataset.names, shard, max_sequences)
    summary = RunSummary()
    bar = tqdm(names, unit="seq", desc=tracker_name, disable=not progress, dynamic_ncols=True)
    for name in bar:
        try:
            sequence = dataset[name]
            if is_complete(results_dir, tracker_name, name, len(sequence.frames)):
                summary.skipped.append(name)
                continue
            with tqdm(total=len(sequence.frames), unit="frame", desc=name, leave=False, disable=not progress,
                      dynamic_ncols=True) as frames_bar:
                boxes, seconds = track_sequence(tracker, sequence, init, frame0, frames_bar.update)
        except (DatasetFormatError, TrackerInputError) as err:
            summary.failed.append((name, str(err)))
            log(f"warning: {name}: not tracked: {err}")
            continue
        write_result(results_dir, tracker_name, name, boxes, seconds)
        summary.tracked.append(name)
        summary.frames += len(seconds)
        summary.seconds += sum(seconds)
        bar.set_postfix_str(f"{summary.fps:.1f} frames/s" if summary.fps else "")
    return summary


def centre_box_baseline(dataset, results_dir: str | Path, size: tuple[float, float],
                        tracker_name: str = "centre-prior", max_sequences: int | None = None) -> int:
    """The trivial tracker for text-only starts, "a box of the usual size in the middle": frame 0 its ground
    truth (as the toolkits score it), every later frame a `size` = (w, h) box centred in the frame (whose
    size is read from frame 0's image). Returns the number of result files written."""
    import cv2

    names = select_sequences(dataset.names, (0, 1), max_sequences)
    w, h = size
    for name in names:
        sequence = dataset[name]
        image = cv2.imread(str(sequence.frames[0]), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise OSError(f"cannot read {sequence.frames[0]}")
        H, W = image.shape[:2]
        boxes = np.tile([(W - w) / 2, (H - h) / 2, w, h], (len(sequence.boxes), 1)).astype(np.float64)
        boxes[0] = sequence.boxes[0]
        write_result(results_dir, tracker_name, name, boxes, [0.0] * len(boxes))
    return len(names)


def static_box_baseline(dataset, results_dir: str | Path, tracker_name: str = "static-box",
                        max_sequences: int | None = None) -> int:
    """The trivial tracker "the box stays where it started": every frame gets frame 0's ground-truth box
    (annotation files only, no images). Any tracker worth its name must beat it. Returns the number of
    result files written."""
    names = select_sequences(dataset.names, (0, 1), max_sequences)
    for name in names:
        sequence = dataset[name]
        boxes = np.repeat(np.asarray(sequence.boxes[:1], dtype=np.float64), len(sequence.boxes), axis=0)
        write_result(results_dir, tracker_name, name, boxes, [0.0] * len(boxes))
    return len(names)

