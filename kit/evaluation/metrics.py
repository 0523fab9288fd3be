"""Tracking and grounding metrics, defined exactly as the toolkits that scored JointNLT
(docs/official-code.md: Results and metrics; quirk numbers below refer to its table).

Tracking follows pytracking's `extract_results.py` / `plot_results.py` as shipped with JointNLT, quirks
included, so that our numbers can sit next to published ones. Grounding follows
`tracking/test_grounding.py`: continuous IoU, accuracy = fraction of samples with IoU > threshold.

Conventions: boxes are (N, 4) float arrays, x,y,w,h for tracking and x1,y1,x2,y2 for grounding;
curves are fractions in [0, 1]; scalar scores (AUC, precision, accuracy, ...) are percentages.

Every number is computed with the toolkit's operations in its order and dtypes (float64 errors, float32
rates and averages), so that a frame sitting exactly on a threshold falls on the same side and the scores
equal the toolkit's bit for bit; tests/test_metrics.py checks this with `==` against a re-computation.

Toolkit behaviour kept on purpose (each is marked where it happens):
  * every frame counts in the denominator; frames without a valid target are failures, except ...
  * ... in normalised precision on non-LaSOT datasets (TNL2K, OTB): an invalid frame's error is -1,
    which passes every threshold, so it counts as a *success* (quirk 22);
  * frame 0 is scored as the ground truth (quirk 11); zero-size boxes repeat the previous box;
  * `exclude_invalid_frames=True` only shrinks the denominator (so that NP can exceed 100 %).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np
import torch

# The toolkit's `torch.arange(0.0, 1.05, 0.05, dtype=torch.float64)`, written out: numpy's arange differs
# from it in the last bit at 0.65 and 0.75. Strict `IoU > t`, so t = 1.0 never succeeds and AUC <= 95.24.
IOU_THRESHOLDS = np.array([
    0.0, 0.05, 0.1, 0.15000000000000002, 0.2, 0.25, 0.30000000000000004, 0.35000000000000003, 0.4, 0.45,
    0.5, 0.55, 0.6000000000000001, 0.6500000000000001, 0.7000000000000001, 0.7500000000000001, 0.8,
    0.8500000000000001, 0.9, 0.9500000000000001, 1.0,
])
PIXEL_THRESHOLDS = np.arange(51, dtype=np.float64)  # centre error <= d px, d = 0..50
NORM_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0  # normalised error <= d, d = 0, 0.01, .., 0.50

# Score positions in the curves, as the toolkit reads them.
OP50_INDEX = 10  # IOU_THRESHOLDS[10] == 0.5
OP75_INDEX = 15  # IOU_THRESHOLDS[15] == 0.7500000000000001, see `Curves.op75`
SCORE_INDEX = 20  # precision at 20 px, normalised precision at 0.20

GROUNDING_THRESHOLDS = (0.25, 0.5, 0.75)


# --- boxes -----------------------------------------------------------------------------------------------

def _as_boxes(name: str, boxes) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {boxes.shape}")
    return boxes


def pixel_iou_xywh(pred_xywh, gt_xywh) -> np.ndarray:
    """Per-row IoU of paired x,y,w,h boxes with the toolkit's +1 pixel convention.

    A box covers pixels x .. x+w-1. The +1 terms cancel (min(a-1, b-1) + 1 = min(a, b)), so this equals
    the continuous IoU up to rounding; they are kept to follow the toolkit's arithmetic.
    """
    pred, gt = _as_boxes("pred_xywh", pred_xywh), _as_boxes("gt_xywh", gt_xywh)
    top_left = np.maximum(pred[:, :2], gt[:, :2])
    bottom_right = np.minimum(pred[:, :2] + pred[:, 2:] - 1.0, gt[:, :2] + gt[:, 2:] - 1.0)
    inter = np.clip(bottom_right - top_left + 1.0, 0.0, None).prod(axis=1)
    union = pred[:, 2:].prod(axis=1) + gt[:, 2:].prod(axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):  # empty GT boxes: 0/0, scored as invalid later
        return inter / union


def _pixel_centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + 0.5 * (boxes[:, 2:] - 1.0)


def _distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # The toolkit's `((a - b) ** 2).sum(1).sqrt()`: square, add x then y, root (each step rounds once).
    return np.sqrt(((a - b) ** 2).sum(axis=1))


def centre_error(pred_xywh, gt_xywh) -> np.ndarray:
    """Per-row Euclidean distance (px) between box centres x + (w-1)/2, y + (h-1)/2."""
    pred, gt = _as_boxes("pred_xywh", pred_xywh), _as_boxes("gt_xywh", gt_xywh)
    return _distance(_pixel_centres(pred), _pixel_centres(gt))


def normalised_centre_error(pred_xywh, gt_xywh) -> np.ndarray:
    """Per-row distance between the centres after dividing *each* centre by the GT (w, h), as the toolkit:
    `c_pred / wh_gt - c_gt / wh_gt`, not `(c_pred - c_gt) / wh_gt`. The two differ in the last bit, which
    moves frames that sit exactly on a threshold (0.20) from one side to the other."""
    pred, gt = _as_boxes("pred_xywh", pred_xywh), _as_boxes("gt_xywh", gt_xywh)
    with np.errstate(invalid="ignore", divide="ignore"):  # empty GT boxes, scored as invalid later
        return _distance(_pixel_centres(pred) / gt[:, 2:], _pixel_centres(gt) / gt[:, 2:])


# --- one sequence, as the toolkit scores it --------------------------------------------------------------

def _check_predictions(pred: np.ndarray) -> None:
    nan_frames = np.flatnonzero(np.isnan(pred).any(axis=1))
    if nan_frames.size:
        raise ValueError(f"predicted boxes contain NaN (frames {nan_frames[:10].tolist()})")
    negative_frames = np.flatnonzero((pred[:, 2:] < 0).any(axis=1))
    if negative_frames.size:
        raise ValueError(f"predicted boxes have negative width/height (frames {negative_frames[:10].tolist()})")


def _repeat_previous_for_zero_size(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    # Toolkit: a box with w == 0 or h == 0 means "no output" and is replaced by the previous frame's
    # (already repaired) box, so runs of them repeat the last real box. Frame 0 is never replaced, nor are
    # frames whose GT has NaN (UAV). The toolkit raises IndexError on a zero box past the GT's end; such
    # frames are cut off below anyway, so we only look at the first len(gt) frames.
    n = min(len(pred), len(gt))
    replace = np.zeros(len(pred), dtype=bool)
    replace[1:n] = (pred[1:n, 2:] == 0).any(axis=1) & ~np.isnan(gt[1:n]).any(axis=1)
    source = np.where(replace, 0, np.arange(len(pred)))
    return pred[np.maximum.accumulate(source)]  # index of the last frame not replaced


def _match_length(pred: np.ndarray, num_frames: int, dataset: str) -> np.ndarray:
    if len(pred) >= num_frames:
        return pred[:num_frames]  # the toolkit truncates everywhere (for LaSOT because of monkey-17)
    if dataset == "lasot":
        raise ValueError(f"prediction has {len(pred)} frames but the ground truth has {num_frames}: "
                         "LaSOT needs a box for every frame (the toolkit raises too)")
    # Elsewhere the missing tail is padded with zero boxes *after* the zero-size repair: they stay zero
    # and score as failures.
    return np.concatenate([pred, np.zeros((num_frames - len(pred), 4))])


def clean_predictions(pred_xywh, gt_xywh, dataset: str = "other") -> np.ndarray:
    """The toolkit's repairs before scoring: checks, zero-size boxes, length, and frame 0 := GT."""
    pred, gt, dataset = _as_boxes("pred_xywh", pred_xywh), _as_boxes("gt_xywh", gt_xywh), dataset.lower()
    if len(gt) == 0:
        raise ValueError("ground truth is empty")
    _check_predictions(pred)
    if np.isnan(gt).any() and dataset != "uav":
        raise ValueError("ground truth contains NaN (only allowed for 'uav', as in the toolkit)")
    pred = _match_length(_repeat_previous_for_zero_size(pred, gt), len(gt), dataset)
    # Frame 0 is the initialisation and always scored as the GT, even in NL mode where the tracker started
    # from its own grounding box (quirk 11): it adds a perfect frame to every sequence.
    pred[0] = gt[0]
    return pred


@dataclasses.dataclass(frozen=True, eq=False)
class FrameErrors:
    """Per-frame errors after the toolkit's handling of invalid frames."""

    iou: np.ndarray  # (N,) -1 on invalid frames
    centre_error: np.ndarray  # (N,) px; +inf on invalid frames (-1 for 'uav')
    norm_centre_error: np.ndarray  # (N,) -1 on invalid frames; +inf where a LaSOT target is not visible
    valid: np.ndarray  # (N,) bool: GT w > 0 and h > 0, and the visibility flag where given


def frame_errors(pred_xywh, gt_xywh, visible=None, dataset: str = "other") -> FrameErrors:
    """IoU, centre error and normalised centre error per frame, with the toolkit's invalid-frame values.

    `visible` holds per-frame target-visibility flags (LaSOT: not fully occluded and not out of view); it
    is required for dataset 'lasot' and optional elsewhere. Only 'lasot' and 'uav' change the rules.
    """
    dataset = dataset.lower()
    gt = _as_boxes("gt_xywh", gt_xywh)
    pred = clean_predictions(pred_xywh, gt, dataset)

    valid = (gt[:, 2] > 0) & (gt[:, 3] > 0)
    if visible is not None:
        visible = np.asarray(visible).astype(bool).reshape(-1)
        if len(visible) != len(gt):
            raise ValueError(f"visible has {len(visible)} flags but the ground truth has {len(gt)} frames")
        valid &= visible
    elif dataset == "lasot":
        raise ValueError("dataset 'lasot' needs the visibility flags (full_occlusion == 0 & out_of_view == 0)")

    iou = pixel_iou_xywh(pred, gt)
    centre = centre_error(pred, gt)
    norm_centre = normalised_centre_error(pred, gt)

    iou[~valid] = -1.0
    centre[~valid] = -1.0 if dataset == "uav" else np.inf
    # Quirk kept for parity (quirk 22): -1 is <= every threshold, so on TNL2K/OTB an invalid frame counts
    # as a success in normalised precision while failing in success and precision.
    norm_centre[~valid] = -1.0
    if dataset == "lasot":  # only LaSOT turns the quirk off, and only where the target is not visible
        norm_centre[~visible] = np.inf
        centre[~visible] = np.inf

    if np.isnan(iou).any():
        raise ValueError("IoU is NaN on a valid frame: predicted boxes must be finite")
    return FrameErrors(iou, centre, norm_centre, valid)


def _percent(curve: np.ndarray) -> torch.Tensor:
    # The toolkit's `curves.mean(0) * 100.0` on a (sequences, trackers, thresholds) float32 tensor; `curve`
    # is already that mean for one tracker, so this is the `* 100.0`, in float32, shaped (1, thresholds).
    return torch.from_numpy(np.asarray(curve, dtype=np.float32)).reshape(1, -1) * 100.0


@dataclasses.dataclass(frozen=True, eq=False)
class Curves:
    """Success, precision and normalised-precision curves, each a fraction of frames per threshold, in
    float32 as the toolkit keeps them. Scores are read from them with the toolkit's float32 operations
    (`plot_results.get_auc_curve` / `get_prec_curve`), so they equal its printed numbers bit for bit."""

    success_curve: np.ndarray  # (21,) fraction with IoU > t, t in IOU_THRESHOLDS
    precision_curve: np.ndarray  # (51,) fraction with centre error <= d, d in PIXEL_THRESHOLDS
    norm_precision_curve: np.ndarray  # (51,) fraction with normalised error <= d, d in NORM_THRESHOLDS

    @property
    def auc(self) -> float:
        """Area under the success curve, in %: the mean of the 21 success values (maximum 20/21 = 95.24)."""
        return float(_percent(self.success_curve).mean(-1)[0])

    @property
    def precision(self) -> float:
        """Precision at 20 px, in %."""
        return float(_percent(self.precision_curve)[0, SCORE_INDEX])

    @property
    def norm_precision(self) -> float:
        """Normalised precision at 0.20, in %."""
        return float(_percent(self.norm_precision_curve)[0, SCORE_INDEX])

    @property
    def op50(self) -> float:
        """Overlap precision: frames with IoU > 0.5, in %."""
        return float(_percent(self.success_curve)[0, OP50_INDEX])

    @property
    def op75(self) -> float:
        """Frames with IoU > 0.75, in %.

        The toolkit finds this column with `thresholds == 0.75` while the threshold is 0.7500000000000001.
        Read as written that lookup is empty (quirk 22); in the shipped `print_results` the thresholds are
        rebuilt as a float32 tensor, where they round to 0.75 and the lookup does hit column 15 (a float64
        lookup would be empty and `.item()` would then fail). We read column 15 directly.
        """
        return float(_percent(self.success_curve)[0, OP75_INDEX])

    def percent_curves(self) -> dict[str, np.ndarray]:
        """The three curves in % (float32, the toolkit's plotted values)."""
        return {name: _percent(getattr(self, name))[0].numpy()
                for name in ("success_curve", "precision_curve", "norm_precision_curve")}

    def scores(self) -> dict[str, float]:
        """The toolkit's table columns, in %."""
        return {"AUC": self.auc, "OP50": self.op50, "OP75": self.op75,
                "Precision": self.precision, "Norm Precision": self.norm_precision}


@dataclasses.dataclass(frozen=True, eq=False)
class SequenceResult(Curves):
    num_frames: int
    num_valid_frames: int
    mean_iou: float  # over valid frames (the toolkit's per-sequence "AO"); NaN when there are none


@dataclasses.dataclass(frozen=True, eq=False)
class BenchmarkResult(Curves):
    num_sequences: int


def _rate(successes: np.ndarray, denominator: int) -> np.ndarray:
    # The toolkit's `(errors <= thresholds).sum(0).float() / seq_length`: an integer count turned into
    # float32, divided in float32.
    counts = torch.from_numpy(successes.sum(axis=0).astype(np.int64))
    return (counts.float() / denominator).numpy()


def sequence_curves(pred_xywh, gt_xywh, visible=None, dataset: str = "other",
                    exclude_invalid_frames: bool = False) -> SequenceResult:
    """Score one sequence exactly as the toolkit: curves over all frames, invalid ones included.

    dataset: the toolkit's tag ('lasot', 'tnl2k', 'otb', 'uav', anything else); see `frame_errors`.
    exclude_invalid_frames: divide by the number of valid frames instead of all frames (the toolkit's
    option, default off as in JointNLT). Numerators are unchanged, as in the toolkit, so on TNL2K/OTB the
    invalid frames still count as normalised-precision successes and NP can exceed 100 %.
    """
    errors = frame_errors(pred_xywh, gt_xywh, visible, dataset)
    num_valid = int(errors.valid.sum())
    denominator = num_valid if exclude_invalid_frames else len(errors.valid)
    if denominator == 0:
        raise ValueError("no valid frame to divide by (exclude_invalid_frames=True)")
    return SequenceResult(
        success_curve=_rate(errors.iou[:, None] > IOU_THRESHOLDS, denominator),
        precision_curve=_rate(errors.centre_error[:, None] <= PIXEL_THRESHOLDS, denominator),
        norm_precision_curve=_rate(errors.norm_centre_error[:, None] <= NORM_THRESHOLDS, denominator),
        num_frames=len(errors.valid),
        num_valid_frames=num_valid,
        mean_iou=float(torch.from_numpy(errors.iou[errors.valid]).mean()) if num_valid else float("nan"),
    )


def average_over_sequences(results: Sequence[SequenceResult]) -> BenchmarkResult:
    """Benchmark curves = mean of the per-sequence curves (every sequence weighs the same), taken as the
    toolkit takes it: `.mean(0)` of a float32 (sequences, trackers, thresholds) tensor, one tracker here."""
    if not results:
        raise ValueError("no sequence results to average")

    def mean(name: str) -> np.ndarray:
        stacked = np.stack([np.asarray(getattr(r, name), dtype=np.float32) for r in results])
        return torch.from_numpy(stacked[:, None, :]).mean(0)[0].numpy()

    return BenchmarkResult(success_curve=mean("success_curve"), precision_curve=mean("precision_curve"),
                           norm_precision_curve=mean("norm_precision_curve"), num_sequences=len(results))


# --- grounding -------------------------------------------------------------------------------------------

def continuous_iou_xyxy(pred_xyxy, gt_xyxy) -> np.ndarray:
    """Per-row IoU of paired x1,y1,x2,y2 boxes, continuous coordinates (no +1), as the official grounding
    test (`box_ops.box_iou`, torchvision `box_area`).

    As there, areas are not clamped: an inverted box (x2 < x1, which an untrained corner head can output)
    has no intersection and scores 0; two empty boxes give NaN.
    """
    pred, gt = _as_boxes("pred_xyxy", pred_xyxy), _as_boxes("gt_xyxy", gt_xyxy)
    if len(pred) != len(gt):
        raise ValueError(f"{len(pred)} predicted boxes for {len(gt)} ground-truth boxes")
    inter = np.clip(np.minimum(pred[:, 2:], gt[:, 2:]) - np.maximum(pred[:, :2], gt[:, :2]), 0.0, None).prod(axis=1)
    union = (pred[:, 2:] - pred[:, :2]).prod(axis=1) + (gt[:, 2:] - gt[:, :2]).prod(axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


@dataclasses.dataclass(frozen=True)
class GroundingResult:
    """Grounding scores in %: Acc@t = fraction of samples with IoU > t (strict), and the mean IoU."""

    acc_25: float
    acc_50: float  # the number the paper reports (RefCOCOg val: 70.07)
    acc_75: float
    mean_iou: float
    num_samples: int


def accuracy_from_ious(ious) -> GroundingResult:
    """Grounding scores from per-sample IoUs (any sample set, e.g. one protocol's selection)."""
    ious = np.asarray(ious, dtype=np.float64).reshape(-1)
    if ious.size == 0:
        raise ValueError("no grounding samples")
    acc_25, acc_50, acc_75 = (100.0 * float((ious > t).mean()) for t in GROUNDING_THRESHOLDS)
    return GroundingResult(acc_25, acc_50, acc_75, 100.0 * float(ious.mean()), int(ious.size))


def grounding_accuracy(pred_xyxy, gt_xyxy) -> GroundingResult:
    """Acc@0.25/0.5/0.75 and mean IoU of paired predicted and ground-truth boxes."""
    return accuracy_from_ious(continuous_iou_xyxy(pred_xyxy, gt_xyxy))


class GroundingRecord(NamedTuple):
    """One grounded expression: which ref (referred object), which of its sentences, and the IoU."""

    ref_id: int | str
    sentence_index: int
    iou: float


# "one_per_ref": the official protocol (quirk 29), one sample per ref using its last sentence;
# "per_expression": the usual RefCOCOg protocol, every sentence is a sample.
GROUNDING_PROTOCOLS = ("one_per_ref", "per_expression")


def last_sentence_per_ref(records: Iterable[GroundingRecord]) -> list[GroundingRecord]:
    """Keep, for every ref, the record with the highest sentence index (records must include it)."""
    last: dict[int | str, GroundingRecord] = {}
    seen: set[tuple[int | str, int]] = set()
    for record in records:
        key = (record.ref_id, record.sentence_index)
        if key in seen:
            raise ValueError(f"duplicate grounding record for ref {record.ref_id}, sentence {record.sentence_index}")
        seen.add(key)
        if record.ref_id not in last or record.sentence_index > last[record.ref_id].sentence_index:
            last[record.ref_id] = record
    return list(last.values())


def grounding_accuracy_from_records(records: Iterable[GroundingRecord],
                                    protocol: str = "one_per_ref") -> GroundingResult:
    """Grounding scores under one of GROUNDING_PROTOCOLS, from (ref_id, sentence_index, iou) records."""
    records = list(records)
    if protocol == "one_per_ref":
        records = last_sentence_per_ref(records)
    elif protocol == "per_expression":
        last_sentence_per_ref(records)  # only to reject duplicates
    else:
        raise ValueError(f"unknown grounding protocol {protocol!r}; expected one of {GROUNDING_PROTOCOLS}")
    return accuracy_from_ious([r.iou for r in records])
