"""The benchmarks' result-file layout, written exactly as the official tracker saves it (docs/official-code.md:
Results and metrics):

    <results>/<tracker>/<sequence>.txt        one box per frame: x<TAB>y<TAB>w<TAB>h, int-truncated
    <results>/<tracker>/<sequence>_time.txt   seconds per frame, one per line

and read back as tolerantly as the toolkits (comma-, tab- or space-separated, floats allowed), so that
anyone's raw results can be scored. A file that cannot be used raises `ResultFileError` naming it.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from kit.tracking.boxfiles import read_boxes_txt, write_atomic

TIME_SUFFIX = "_time.txt"


class ResultFileError(ValueError):
    """A result file or folder that is missing or cannot be read; the message is one line naming it."""


def result_file(results_dir: str | Path, tracker: str, sequence: str) -> Path:
    return Path(results_dir) / tracker / f"{sequence}.txt"


def time_file(results_dir: str | Path, tracker: str, sequence: str) -> Path:
    return Path(results_dir) / tracker / f"{sequence}{TIME_SUFFIX}"


def format_boxes(boxes) -> str:
    """The official `_save_tracker_output`: `np.array(boxes).astype(int)` (truncation toward zero, PRESERVE
    for number parity, docs/official-code.md, quirk 12) saved with `np.savetxt(delimiter='\\t', fmt='%d')`."""
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise ValueError("boxes must be finite to be written as integers")
    buffer = io.StringIO()
    np.savetxt(buffer, boxes.astype(int), delimiter="\t", fmt="%d")
    return buffer.getvalue()


def format_times(seconds) -> str:
    """Per-frame seconds as the official `save_time`: `np.savetxt(fmt='%f')`, one per line."""
    buffer = io.StringIO()
    np.savetxt(buffer, np.asarray(seconds, dtype=np.float64).reshape(-1), fmt="%f")
    return buffer.getvalue()


def write_result(results_dir: str | Path, tracker: str, sequence: str, boxes, seconds) -> Path:
    """Write one sequence's boxes and times, each atomically. The box file goes last: its presence with
    one row per frame is what marks the sequence done (`is_complete`)."""
    if len(seconds) != len(boxes):
        raise ValueError(f"{len(boxes)} boxes but {len(seconds)} times")
    write_atomic(time_file(results_dir, tracker, sequence), format_times(seconds))
    path = result_file(results_dir, tracker, sequence)
    write_atomic(path, format_boxes(boxes))
    return path


def read_result(path: str | Path) -> np.ndarray:
    """(N, 4) float64 x,y,w,h from a result file (comma, tab or space separated). Raises ResultFileError
    when the file is missing, empty or has a line that is not four numbers."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path}: result file not found")
    try:
        boxes = read_boxes_txt(path)
    except (ValueError, UnicodeDecodeError) as err:
        message = str(err)
        raise ResultFileError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    if len(boxes) == 0:
        raise ResultFileError(f"{path}: the result file is empty")
    return boxes


def read_times(path: str | Path) -> np.ndarray:
    """(N,) float64 seconds per frame from a `_time.txt` file (any whitespace or commas between values)."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"{path}: time file not found")
    try:
        text = path.read_text(encoding="utf-8").replace(",", " ")
        seconds = np.array(text.split(), dtype=np.float64)
    except (ValueError, UnicodeDecodeError) as err:
        raise ResultFileError(f"{path}: expected seconds per frame ({err})") from None
    if seconds.size == 0 or not np.isfinite(seconds).all() or (seconds < 0).any():
        raise ResultFileError(f"{path}: expected one non-negative number of seconds per frame")
    return seconds


def is_complete(results_dir: str | Path, tracker: str, sequence: str, num_frames: int) -> bool:
    """Whether a run already finished this sequence: a readable box file with one row per frame and a
    time file. Anything else (absent, cut short by a crash, unreadable) is redone."""
    try:
        boxes = read_result(result_file(results_dir, tracker, sequence))
        times = read_times(time_file(results_dir, tracker, sequence))
    except ResultFileError:
        return False
    return len(boxes) == num_frames == len(times)


def check_results_dir(results_dir: str | Path) -> Path:
    path = Path(results_dir)
    if not path.is_dir():
        raise ResultFileError(f"{path}: results folder not found")
    return path


def list_trackers(results_dir: str | Path) -> list[str]:
    """The tracker folders of a results directory, sorted; names starting with '_' or '.' (e.g. the
    default report folder `_report`) are not trackers."""
    path = check_results_dir(results_dir)
    names = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if not names:
        raise ResultFileError(f"{path}: no tracker folders (expected {path}/<tracker>/<sequence>.txt)")
    return names
