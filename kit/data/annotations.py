"""Reading the benchmarks' annotation text files (boxes, per-frame flags, sentences, name lists).

Every reader goes through these, so a missing or malformed file always raises `DatasetFormatError` naming
the file, and the line where there is one. Only text is read here, never an image.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kit.data.base import DatasetFormatError
from kit.text import clean_sentence_from_file, first_field_sentence, official_sentence_from_file

# Fields are separated by a comma (LaSOT, TNL2K), or by a comma or whitespace (OTB's `,|\s+`); spaces
# around a comma are allowed.
_FIELD_SEP = re.compile(r"\s*,\s*|\s+")

SENTENCE_MODES = ("clean", "official_test", "official_train")


def require_file(path: Path) -> Path:
    if not path.is_file():
        raise DatasetFormatError(f"{path}: file not found")
    return path


def _read_lines(path: Path) -> list[str]:
    require_file(path)
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as err:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({err})") from None


def read_boxes(path: Path) -> np.ndarray:
    """(N, 4) float64 x,y,w,h, one box per non-blank line (blank lines are skipped, as np.loadtxt does).
    'NaN,NaN,NaN,NaN' or '0,0,0,0' are valid boxes (an absent target)."""
    rows, line_numbers = [], []
    for number, line in enumerate(_read_lines(path), start=1):
        if line.strip():
            fields = line.split(",")  # the common case, fast; float() ignores surrounding spaces
            rows.append(fields if len(fields) == 4 else _FIELD_SEP.split(line.strip()))
            line_numbers.append(number)
    if not rows:
        raise DatasetFormatError(f"{path}: no boxes (the file is empty)")
    for fields, number in zip(rows, line_numbers):
        if len(fields) != 4:
            raise DatasetFormatError(f'{path} line {number}: expected 4 numbers, got "{",".join(fields)}"')
    try:
        return np.array(rows, dtype=np.float64)
    except ValueError:  # find the line, only on the slow path
        for fields, number in zip(rows, line_numbers):
            try:
                [float(v) for v in fields]
            except ValueError:
                raise DatasetFormatError(
                    f'{path} line {number}: expected 4 numbers, got "{",".join(fields)}"') from None
        raise


def read_flags(path: Path, expected: int | None = None, what: str = "flags") -> np.ndarray:
    """(N,) bool: 0/1 values separated by commas and/or line breaks (LaSOT's `full_occlusion.txt` is one
    comma-separated line). Any non-zero integer is True. `expected` checks the count."""
    lines = [(number, _FIELD_SEP.split(line.strip()))
             for number, line in enumerate(_read_lines(path), start=1) if line.strip()]
    try:
        values = np.array([v for _, fields in lines for v in fields], dtype=np.float64)
        ok = bool(np.all(values == np.round(values)))  # NaN and inf fail too
    except ValueError:
        ok = False
    if not ok:  # find the line, only on the slow path
        for number, fields in lines:
            for field in fields:
                try:
                    good = float(field) == round(float(field))
                except (ValueError, OverflowError):
                    good = False
                if not good:
                    raise DatasetFormatError(
                        f'{path} line {number}: expected integer {what} (0 or 1), got "{field}"')
    if expected is not None and len(values) != expected:
        raise DatasetFormatError(f"{path}: {len(values)} {what} but {expected} were expected")
    return values != 0


def read_sentence(path: Path, mode: str | None) -> str:
    """The sentence of a `nlp.txt` / `language.txt` / OTB query file, by `mode`:
      'clean'          the whole file, whitespace collapsed (our default);
      'official_test'  `str(np.loadtxt(path, delimiter=',', dtype=str))`, the official test-time quirk
                       (commas give an array repr, text after '#' is dropped) — for paper parity;
      'official_train' the text before the first comma, as the official training code reads it;
      None             do not read the file (sentence ''), e.g. to score results from annotations only."""
    if mode is None:
        return ""
    if mode not in SENTENCE_MODES:
        raise ValueError(f"sentence_mode must be one of {SENTENCE_MODES} or None, got {mode!r}")
    require_file(path)
    reader = {"clean": clean_sentence_from_file, "official_test": official_sentence_from_file,
              "official_train": first_field_sentence}[mode]
    try:
        return reader(path)
    except (ValueError, UnicodeDecodeError) as err:
        message = str(err)
        raise DatasetFormatError(message if str(path) in message else f"{path}: {message}") from None


def read_name_list(path: Path) -> list[str]:
    """Sequence names, one per line (blank lines and surrounding whitespace ignored)."""
    names = [line.strip() for line in _read_lines(path) if line.strip()]
    if not names:
        raise DatasetFormatError(f"{path}: the list of sequence names is empty")
    return names


def read_attribute_flags(path: Path, names: tuple[str, ...]) -> dict[str, bool]:
    """One 0/1 flag per attribute, comma- or whitespace-separated, in the order of `names`."""
    flags = read_flags(path, expected=len(names), what="attribute flags")
    return {name: bool(flag) for name, flag in zip(names, flags)}
