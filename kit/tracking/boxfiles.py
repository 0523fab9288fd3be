"""Box files: LaSOT-style text (x,y,w,h per line), CSV and JSON with scores, written atomically."""
from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

@dataclass(frozen=True)
class FrameBox:
    """One frame's result: box x,y,w,h in frame pixels (None if there is none), confidence, target present."""

    frame: int
    box: tuple[float, float, float, float] | None
    score: float | None
    present: bool


def _num(value: float, decimals: int = 2) -> str:
    """Rounded, without trailing zeros: 12.0 -> '12' (LaSOT's integer GT), 12.345 -> '12.35'."""
    text = f"{float(value):.{decimals}f}"
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return "0" if text == "-0" else text


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write to `<path>.tmp`, then rename: an interrupted run leaves the previous complete file, never half
    of one. Callers rewrite the whole file with the results so far (every few seconds, not every frame)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    os.replace(tmp, path)


def write_boxes_txt(path: str | os.PathLike, boxes: Iterable[FrameBox | Sequence[float] | None]) -> None:
    """LaSOT/TNL2K-style results: one `x,y,w,h` line per frame, values rounded to 2 decimals (integers stay
    integers). The format has no "absent": a frame without a box (None, or a FrameBox not present) is
    written `0,0,0,0`, which the toolkit (`kit.evaluation.metrics`) scores as the previous frame's box."""
    lines = []
    for item in boxes:
        if isinstance(item, FrameBox):
            item = item.box if item.present else None
        lines.append("0,0,0,0" if item is None else ",".join(_num(v) for v in item))
    write_atomic(path, "".join(line + "\n" for line in lines))


def read_boxes_txt(path: str | os.PathLike) -> np.ndarray:
    """An (N, 4) float64 array of x,y,w,h from a results or ground-truth text file (comma, tab or space
    separated; NaN kept; absent frames are the zeros they were written as)."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        values = re.split(r"[,\s]+", line.strip())
        if len(values) != 4:
            raise ValueError(f"{path}:{number}: expected 4 values x,y,w,h, got {line.strip()!r}")
        rows.append([float(v) for v in values])
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


CSV_HEADER = ("frame", "x", "y", "w", "h", "score", "present")


def write_boxes_csv(path: str | os.PathLike, rows: Iterable[FrameBox]) -> None:
    """`frame,x,y,w,h,score,present` per frame; an empty x,y,w,h (no box) or score (none); present is 1/0."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for row in rows:
        box = [_num(v) for v in row.box] if row.box is not None else [""] * 4
        score = _num(row.score, 4) if row.score is not None else ""
        writer.writerow([row.frame, *box, score, int(row.present)])
    write_atomic(path, buffer.getvalue())


def read_boxes_csv(path: str | os.PathLike) -> list[FrameBox]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if tuple(reader.fieldnames or ()) != CSV_HEADER:
            raise ValueError(f"{path}: expected the header {','.join(CSV_HEADER)}, got {reader.fieldnames}")
        return [FrameBox(frame=int(r["frame"]),
                         box=tuple(float(r[k]) for k in "xywh") if r["x"] else None,
                         score=float(r["score"]) if r["score"] else None,
                         present=r["present"] == "1") for r in reader]


def write_boxes_json(path: str | os.PathLike, meta: dict, rows: Iterable[FrameBox]) -> None:
    """`{**meta, "frames": [{"frame", "box": [x,y,w,h] or null, "score", "present"}, ...]}`, one frame per
    line. `meta` is e.g. {"video": ..., "text": ..., "fps": ..., "width": ..., "height": ...}."""
    if "frames" in meta:
        raise ValueError("meta must not have a 'frames' key: it is filled from rows")
    frames = [json.dumps({"frame": r.frame,
                          "box": None if r.box is None else [round(float(v), 2) for v in r.box],
                          "score": None if r.score is None else round(float(r.score), 4),
                          "present": bool(r.present)}) for r in rows]
    head = "".join(f"  {json.dumps(k)}: {json.dumps(v)},\n" for k, v in meta.items())
    body = ",\n".join(f"    {f}" for f in frames)
    write_atomic(path, "{\n" + head + '  "frames": [\n' + body + ("\n" if frames else "") + "  ]\n}\n")


BOX_FORMATS = (".txt", ".csv", ".json")


def write_box_files(rows: list[FrameBox], path_or_stem: str | os.PathLike, meta: dict) -> list[Path]:
    """One target's rows in the box file `path_or_stem` (its extension, one of BOX_FORMATS, picks the format)
    or, for a stem without an extension, in all three: `<stem>.txt`, `.csv`, `.json`. `meta` goes into the
    JSON file only. Returns the paths written."""
    path = Path(path_or_stem)
    suffix = path.suffix.lower()
    if suffix and suffix not in BOX_FORMATS:
        raise ValueError(f"{path}: unknown box file type {suffix!r}; use one of {', '.join(BOX_FORMATS)}")
    paths = [path] if suffix else [path.with_name(path.name + s) for s in BOX_FORMATS]
    for out in paths:
        kind = out.suffix.lower()
        if kind == ".txt":
            write_boxes_txt(out, rows)
        elif kind == ".csv":
            write_boxes_csv(out, rows)
        else:
            write_boxes_json(out, meta, rows)
    return paths
