"""Scoring result folders against a benchmark's ground truth, from annotation files only (no image is read).

Each tracker's `<sequence>.txt` is scored with `kit.evaluation.metrics` (the toolkits' definitions). A
missing or unusable result file is an error by default, as in the toolkits (one `MissingResultsError`
naming how many and the first few). Two explicit modes score anyway: `missing='zero'` scores such a
sequence exactly as an all-zero result file would score (frame 0 is still the ground truth, and on
TNL2K/OTB frames without a target still pass normalised precision); `missing='skip'` leaves it out for every
tracker (pytracking's `skip_missing_seq`), so that trackers are still compared on the same sequences.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kit.data import Sequence, load_dataset
from kit.evaluation.metrics import BenchmarkResult, SequenceResult, average_over_sequences, sequence_curves
from kit.evaluation.results import (ResultFileError, check_results_dir, read_result, read_times, result_file,
                                    time_file)

MISSING_POLICIES = ("error", "zero", "skip")  # the first is the default
DEFAULT_SPLITS = {"lasot": "test", "otb": "test", "synthetic": "test", "tnl2k": None}

# The rules metrics.py applies per dataset tag. The synthetic benchmark has LaSOT's layout and visibility
# flags, so it is scored with LaSOT's rules (absent targets are failures in every measure).
METRIC_RULES = {"synthetic": "lasot"}


@dataclass(frozen=True)
class SequenceScore:
    name: str
    result: SequenceResult        # as an all-zero result file scores, when the file could not be used
    problem: str | None = None    # why the file could not be used (one line naming it), else None
    frames_timed: int = 0         # rows of `_time.txt` (0 when there is none)
    seconds: float | None = None  # their sum

    @property
    def fps(self) -> float | None:
        return self.frames_timed / self.seconds if self.seconds else None


@dataclass(frozen=True)
class TrackerScore:
    tracker: str
    sequences: list[SequenceScore]
    overall: BenchmarkResult
    missing_mode: str = "error"      # how sequences without usable results were scored (MISSING_POLICIES)
    lacking: tuple[str, ...] = ()    # this tracker's sequences without usable results (also those skipped)

    @property
    def failures(self) -> list[SequenceScore]:
        return [s for s in self.sequences if s.problem is not None]

    @property
    def fps(self) -> float | None:
        """Frames per second over all timed frames (frame 0 includes the initialisation, as recorded)."""
        seconds = sum(s.seconds for s in self.sequences if s.seconds)
        return sum(s.frames_timed for s in self.sequences if s.seconds) / seconds if seconds else None

    def subset(self, names: set[str]) -> BenchmarkResult | None:
        """The benchmark average over some sequences (e.g. those with one attribute)."""
        chosen = [s.result for s in self.sequences if s.name in names]
        return average_over_sequences(chosen) if chosen else None


def open_benchmark(name: str, root: str | Path, split: str | None = None, sentence_mode: str | None = "clean",
                   attributes_dir: str | Path | None = None):
    """A tracking benchmark reader: LaSOT/OTB/synthetic take a split (default 'test'); TNL2K has none (its
    root is the TNL2K_test folder). attributes_dir: the toolkit's `annos/att` (LaSOT, TNL2K), when the
    attribute files are not inside the dataset root."""
    if name not in DEFAULT_SPLITS:
        raise ValueError(f"unknown tracking benchmark {name!r}; choose one of {sorted(DEFAULT_SPLITS)}")
    kwargs = {"sentence_mode": sentence_mode}
    if attributes_dir is not None:
        if name == "otb":
            raise ValueError("OTB99-lang has no attribute files")
        kwargs["attributes_dir"] = attributes_dir
    if name == "tnl2k":
        if split is not None:
            raise ValueError("TNL2K has no split: pass the TNL2K_test folder as the root")
        return load_dataset(name, root, **kwargs)
    return load_dataset(name, root, split=split or DEFAULT_SPLITS[name], **kwargs)


def load_ground_truth(name: str, root: str | Path, split: str | None = None,
                      attributes_dir: str | Path | None = None) -> list[Sequence]:
    """Every sequence's boxes, visibility and attributes; sentences are not read and images never are
    (the readers list frame paths without opening them)."""
    with warnings.catch_warnings():  # "no imgs/ folder": an annotation-only copy is all scoring needs
        warnings.simplefilter("ignore")
        return list(open_benchmark(name, root, split, sentence_mode=None, attributes_dir=attributes_dir))


def failed_sequence(sequence: Sequence) -> SequenceResult:
    """A sequence without usable results, scored exactly as an all-zero result file: every later frame
    repeats frame 0's zero box (the toolkit's zero-size rule), frame 0 is the ground truth, and the
    dataset's rules decide the rest (e.g. TNL2K/OTB frames without a target pass normalised precision)."""
    return score_sequence(np.zeros((len(sequence.boxes), 4)), sequence)


def score_sequence(pred_xywh: np.ndarray, sequence: Sequence) -> SequenceResult:
    rules = METRIC_RULES.get(sequence.dataset, sequence.dataset)
    # Only LaSOT's rules use visibility flags; TNL2K/OTB readers' `visible` is just w,h > 0 anyway.
    visible = sequence.visible if rules == "lasot" else None
    return sequence_curves(pred_xywh, sequence.boxes, visible, rules)


def _score_file(results_dir: Path, tracker: str, sequence: Sequence) -> SequenceScore:
    path = result_file(results_dir, tracker, sequence.name)
    try:
        result, problem = score_sequence(read_result(path), sequence), None
    except ResultFileError as err:
        result, problem = failed_sequence(sequence), str(err)
    except ValueError as err:  # NaN, negative sizes, too few LaSOT rows: the toolkits refuse these too
        result, problem = failed_sequence(sequence), f"{path}: {err}"
    try:
        seconds = read_times(time_file(results_dir, tracker, sequence.name))
        return SequenceScore(sequence.name, result, problem, len(seconds), float(seconds.sum()))
    except ResultFileError:  # speed is optional: published raw results rarely ship times
        return SequenceScore(sequence.name, result, problem)


def score_tracker(results_dir: str | Path, tracker: str, sequences: list[Sequence]) -> TrackerScore:
    results_dir = check_results_dir(results_dir)
    if not (results_dir / tracker).is_dir():
        raise ResultFileError(f"{results_dir / tracker}: no results folder for tracker {tracker!r}")
    if not sequences:
        raise ValueError("no sequences to score")
    scores = [_score_file(results_dir, tracker, s) for s in sequences]
    return TrackerScore(tracker, scores, average_over_sequences([s.result for s in scores]))


class MissingResultsError(ResultFileError):
    """Some trackers lack usable result files (missing='error'); the message is one summary line."""


def _missing_summary(scores: list[TrackerScore], num_sequences: int, shown: int = 3) -> str:
    per_tracker = ", ".join(f"{s.tracker!r} {len(s.failures)} of {num_sequences}" for s in scores if s.failures)
    first = [f.problem for s in scores for f in s.failures][:shown]
    total = sum(len(s.failures) for s in scores)
    more = f"; first {len(first)}: " if total > len(first) else ": "
    return (f"{total} result files missing or unusable ({per_tracker}){more}{'; '.join(first)}. Check --results / "
            "--trackers, or score anyway with --missing zero (as all-zero files) or --missing skip")


def score_trackers(results_dir: str | Path, trackers: list[str], sequences: list[Sequence],
                   missing: str = "error") -> list[TrackerScore]:
    """Score several trackers on the same sequences. missing='error' (default): any unusable file raises
    MissingResultsError (one line); 'zero': it scores as an all-zero result file; 'skip': sequences that any
    tracker lacks are left out for all of them."""
    if missing not in MISSING_POLICIES:
        raise ValueError(f"missing must be one of {MISSING_POLICIES}, got {missing!r}")
    scores = [score_tracker(results_dir, t, sequences) for t in trackers]
    scores = [dataclasses.replace(s, missing_mode=missing, lacking=tuple(f.name for f in s.failures))
              for s in scores]
    if missing == "error" and any(s.failures for s in scores):
        raise MissingResultsError(_missing_summary(scores, len(sequences)))
    if missing == "zero":
        return scores
    lacking = {s.name for score in scores for s in score.failures}
    if len(lacking) == len(sequences):
        raise ValueError(f"every sequence lacks results for some tracker: nothing left to score ({missing=})")
    return [_keep(score, lambda s: s.name not in lacking) for score in scores]


def _keep(score: TrackerScore, wanted) -> TrackerScore:
    kept = [s for s in score.sequences if wanted(s)]
    return dataclasses.replace(score, sequences=kept, overall=average_over_sequences([s.result for s in kept]))


def skipped_sequences(scores: list[TrackerScore], sequences: list[Sequence]) -> list[str]:
    """The sequences that `missing='skip'` left out."""
    kept = {s.name for s in scores[0].sequences} if scores else set()
    return [s.name for s in sequences if s.name not in kept]
