"""Tracking and grounding metrics: hand-computed cases, the toolkit's quirks, and random-input properties."""
import numpy as np
import pytest
import torch

from kit.evaluation.metrics import (
    IOU_THRESHOLDS,
    GroundingRecord,
    accuracy_from_ious,
    average_over_sequences,
    centre_error,
    clean_predictions,
    continuous_iou_xyxy,
    frame_errors,
    grounding_accuracy,
    grounding_accuracy_from_records,
    normalised_centre_error,
    pixel_iou_xywh,
    sequence_curves,
)

PERFECT_AUC = 100.0 * 20 / 21  # IoU = 1 passes 20 of the 21 thresholds (not IoU > 1.0): 95.238...
BOX = [10.0, 10.0, 10.0, 10.0]
EMPTY = [0.0, 0.0, 0.0, 0.0]


def xywh_to_xyxy(boxes):
    boxes = np.asarray(boxes, dtype=float)
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], axis=1)


# --- thresholds ------------------------------------------------------------------------------------------

def test_iou_thresholds_are_the_toolkits_torch_arange():
    torch = pytest.importorskip("torch")
    expected = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64).numpy()
    assert np.array_equal(IOU_THRESHOLDS, expected)  # bit for bit, incl. 0.7500000000000001
    assert len(IOU_THRESHOLDS) == 21 and IOU_THRESHOLDS[10] == 0.5


# --- boxes -----------------------------------------------------------------------------------------------

def test_pixel_iou_known_values():
    pred = [[0, 0, 10, 10], [0, 0, 2, 2], [0, 0, 5, 5], [3, 4, 6, 8]]
    gt = [[5, 0, 10, 10], [1, 1, 2, 2], [5, 0, 5, 5], [3, 4, 6, 8]]
    # 1: x overlap 5..9 = 5 px, y 10 px -> inter 50, union 100 + 100 - 50 = 150 -> 1/3
    # 2: overlap pixel (1,1) only -> inter 1, union 4 + 4 - 1 = 7 -> 1/7
    # 3: pixels 0..4 vs 5..9 touch but do not overlap -> 0
    # 4: identical -> 1
    np.testing.assert_allclose(pixel_iou_xywh(pred, gt), [1 / 3, 1 / 7, 0.0, 1.0])


def test_centre_errors_known_values():
    # centres x + (w-1)/2: pred (15.5, 14.5) vs GT (14.5, 14.5) -> 1 px; normalised 1/10
    pred, gt = [[11, 10, 10, 10]], [BOX]
    np.testing.assert_allclose(centre_error(pred, gt), [1.0])
    np.testing.assert_allclose(normalised_centre_error(pred, gt), [0.1])
    # (3, 4) offset with GT 10 x 20: distance 5 px; normalised sqrt(0.3^2 + 0.2^2)
    pred, gt = [[13, 14, 10, 20]], [[10, 10, 10, 20]]
    np.testing.assert_allclose(centre_error(pred, gt), [5.0])
    np.testing.assert_allclose(normalised_centre_error(pred, gt), [np.hypot(0.3, 0.2)])


def test_boxes_must_be_n_by_4():
    with pytest.raises(ValueError, match=r"pred_xywh must have shape \(N, 4\)"):
        pixel_iou_xywh([1, 2, 3, 4], [BOX])


# --- one sequence ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("dataset", ["tnl2k", "otb", "lasot", "synthetic"])
def test_perfect_tracking(dataset):
    gt = np.array([BOX, [12, 30, 40, 22], [50, 60, 7, 9]])
    result = sequence_curves(gt, gt, visible=np.ones(3), dataset=dataset)
    assert result.auc == pytest.approx(PERFECT_AUC)
    assert result.auc == pytest.approx(95.24, abs=0.005)
    assert result.precision == 100.0 and result.norm_precision == 100.0
    assert result.op50 == 100.0 and result.op75 == 100.0
    assert result.mean_iou == 1.0 and result.num_valid_frames == 3


def test_one_pixel_shift():
    gt = np.array([BOX, BOX])
    pred = np.array([BOX, [11, 10, 10, 10]])  # frame 1 one pixel to the right
    result = sequence_curves(pred, gt, dataset="tnl2k")
    # frame 1: IoU = 90 / (100 + 100 - 90) = 9/11 = 0.818 -> passes t = 0 .. 0.80 (17 thresholds);
    # frame 0 (GT) passes 20. success = [1]*17 + [0.5]*3 + [0]; AUC = (17 + 1.5) / 21 = 88.095 %
    np.testing.assert_allclose(result.success_curve, [1.0] * 17 + [0.5] * 3 + [0.0])
    assert result.auc == pytest.approx(100 * 18.5 / 21)
    assert result.op75 == 100.0 and result.mean_iou == pytest.approx((1 + 9 / 11) / 2)
    # centre error 1 px: fails only d = 0
    assert result.precision_curve[0] == 0.5 and result.precision_curve[1:].min() == 1.0
    # normalised error 0.1: fails d < 0.1 (d = 0.10 itself sits on a rounding edge, not asserted)
    assert result.norm_precision_curve[9] == 0.5 and result.norm_precision_curve[11:].min() == 1.0
    assert result.precision == 100.0 and result.norm_precision == 100.0


def test_frame_zero_is_scored_as_ground_truth():
    gt = np.array([BOX, BOX])
    pred = np.array([[500, 500, 5, 5], BOX])  # frame 0 far off (e.g. a bad grounding box in NL mode)
    assert sequence_curves(pred, gt).auc == pytest.approx(PERFECT_AUC)
    cleaned = clean_predictions(pred, gt)
    np.testing.assert_array_equal(cleaned[0], BOX)
    assert pred[0, 0] == 500  # the caller's array is left alone


def test_zero_size_prediction_repeats_previous_box():
    gt = np.array([BOX] * 4)
    pred = np.array([BOX, [12, 10, 10, 10], EMPTY, [5, 5, 0, 7]])  # frames 2 and 3 have no box
    np.testing.assert_array_equal(clean_predictions(pred, gt)[2:], [[12, 10, 10, 10]] * 2)
    # [12,10,10,10] vs GT: x overlap 12..19 = 8 px -> 80 / (200 - 80) = 2/3, for frames 1, 2 and 3
    np.testing.assert_allclose(frame_errors(pred, gt).iou, [1, 2 / 3, 2 / 3, 2 / 3])


@pytest.mark.parametrize("bad, message", [([1, 1, -2, 5], "negative width/height"),
                                          ([1, np.nan, 2, 5], "NaN")])
def test_invalid_predictions_raise(bad, message):
    with pytest.raises(ValueError, match=message):
        sequence_curves(np.array([BOX, bad]), np.array([BOX, BOX]))


def test_nan_ground_truth_raises_except_for_uav():
    gt = np.array([BOX, [np.nan] * 4])
    with pytest.raises(ValueError, match="ground truth contains NaN"):
        sequence_curves(gt[[0, 0]], gt, dataset="tnl2k")
    # UAV: the NaN frame is invalid; its centre error is -1, so it even counts for precision
    result = sequence_curves(np.array([BOX, BOX]), gt, dataset="uav")
    assert result.auc == pytest.approx(PERFECT_AUC / 2) and result.precision == 100.0


def test_lasot_longer_prediction_is_truncated_shorter_raises():
    gt, visible = np.array([BOX] * 3), np.ones(3)
    longer = np.array([BOX] * 3 + [[0, 0, 1, 1]] * 2)
    assert sequence_curves(longer, gt, visible, "lasot").auc == pytest.approx(PERFECT_AUC)
    with pytest.raises(ValueError, match="LaSOT needs a box for every frame"):
        sequence_curves(gt[:2], gt, visible, "lasot")


def test_other_datasets_pad_short_predictions_with_failures():
    gt = np.array([BOX] * 4)
    result = sequence_curves(np.array([BOX, [12, 10, 10, 10]]), gt, dataset="tnl2k")
    # frames 2, 3 padded with zero boxes, not repaired (padding comes after the repair): IoU 0, error large.
    # success(t=0) = #(IoU > 0) / 4 = 2/4; success(0.7) = 1/4 (only frame 0; frame 1 has IoU 2/3)
    assert result.success_curve[0] == 0.5 and result.success_curve[14] == 0.25
    assert result.precision == 50.0 and result.num_frames == 4
    assert sequence_curves(np.array([BOX] * 6), gt, dataset="tnl2k").auc == pytest.approx(PERFECT_AUC)


def test_lasot_requires_visibility_flags():
    with pytest.raises(ValueError, match="'lasot' needs the visibility flags"):
        sequence_curves(np.array([BOX]), np.array([BOX]), dataset="lasot")


# Four frames: target present in 0-1, absent in 2-3. The tracker keeps outputting the last box.
ABSENT_GT = np.array([BOX, BOX, EMPTY, EMPTY])
ABSENT_PRED = np.array([BOX] * 4)


def test_absent_frames_tnl2k_count_in_denominator_and_as_np_successes():
    result = sequence_curves(ABSENT_PRED, ABSENT_GT, dataset="tnl2k")
    # IoU [1, 1, -1, -1]: success(t < 1) = 2/4 -> AUC = 0.5 * 20/21 = 47.62 %
    assert result.auc == pytest.approx(PERFECT_AUC / 2)
    # centre error [0, 0, inf, inf] -> P = 2/4
    assert result.precision == 50.0
    # normalised error [0, 0, -1, -1]: -1 <= 0.2, so absent frames count as successes -> NP = 4/4 (quirk)
    assert result.norm_precision == 100.0
    assert result.num_valid_frames == 2 and result.mean_iou == 1.0


def test_absent_frames_lasot_fail_normalised_precision_too():
    result = sequence_curves(ABSENT_PRED, ABSENT_GT, visible=[1, 1, 0, 0], dataset="lasot")
    # same IoU and centre errors as TNL2K; LaSOT sets the normalised error to +inf where not visible
    assert result.auc == pytest.approx(PERFECT_AUC / 2)
    assert result.precision == 50.0 and result.norm_precision == 50.0


def test_lasot_invisible_frame_fails_even_with_a_box():
    gt = np.array([BOX] * 4)  # boxes annotated, but frame 3 flagged fully occluded
    result = sequence_curves(gt, gt, visible=[1, 1, 1, 0], dataset="lasot")
    # valid = [T, T, T, F] -> success(t < 1) = 3/4, P = NP = 3/4
    assert result.auc == pytest.approx(PERFECT_AUC * 3 / 4)
    assert result.precision == 75.0 and result.norm_precision == 75.0


def test_exclude_invalid_frames_inflates_scores():
    honest = sequence_curves(ABSENT_PRED, ABSENT_GT, dataset="tnl2k")
    inflated = sequence_curves(ABSENT_PRED, ABSENT_GT, dataset="tnl2k", exclude_invalid_frames=True)
    # denominator 2 valid frames instead of 4: AUC 47.62 -> 95.24, P 50 -> 100
    assert honest.auc == pytest.approx(PERFECT_AUC / 2) and inflated.auc == pytest.approx(PERFECT_AUC)
    assert inflated.precision == 100.0
    # numerators unchanged, as in the toolkit: the 2 absent frames still pass NP -> 4/2 = 200 %
    assert inflated.norm_precision == 200.0
    with pytest.raises(ValueError, match="no valid frame"):
        sequence_curves(ABSENT_PRED[2:], ABSENT_GT[2:], exclude_invalid_frames=True)


def test_benchmark_is_mean_of_sequence_curves():
    perfect = sequence_curves(np.array([BOX] * 2), np.array([BOX] * 2))
    half = sequence_curves(ABSENT_PRED, ABSENT_GT, dataset="tnl2k")
    # a 2-frame sequence weighs as much as a 4-frame one: AUC = (95.24 + 47.62) / 2
    bench = average_over_sequences([perfect, half])
    assert bench.num_sequences == 2
    assert bench.auc == pytest.approx(PERFECT_AUC * 0.75)
    assert bench.precision == 75.0 and bench.norm_precision == 100.0
    assert set(bench.scores()) == {"AUC", "OP50", "OP75", "Precision", "Norm Precision"}
    with pytest.raises(ValueError):
        average_over_sequences([])


def test_op50_op75_are_strictly_greater():
    gt = np.array([BOX] * 3)
    # frame 1: [15,10,10,10] -> inter 50, IoU 50/150 = 1/3; frame 2: [12,10,10,10] -> IoU 2/3
    result = sequence_curves(np.array([BOX, [15, 10, 10, 10], [12, 10, 10, 10]]), gt)
    assert result.op50 == pytest.approx(100 * 2 / 3) and result.op75 == pytest.approx(100 / 3)


# --- grounding -------------------------------------------------------------------------------------------

def test_continuous_iou_known_values_and_errors():
    gt = [[0, 0, 1, 1]] * 3
    pred = [[0, 0, 4, 1], [0, 0, 2, 1], [0.5, 0, 1.5, 1]]
    # 1/4, 1/2, and 0.5 overlap / (1 + 1 - 0.5) = 1/3 (no +1: coordinates are continuous)
    np.testing.assert_allclose(continuous_iou_xyxy(pred, gt), [0.25, 0.5, 1 / 3])
    # an inverted prediction (x2 < x1) cannot intersect: IoU 0, as with the official torchvision-style code
    assert continuous_iou_xyxy([[0.8, 0, 0.2, 1]], [[0, 0, 1, 1]]) == 0.0
    with pytest.raises(ValueError, match="2 predicted boxes for 1"):
        continuous_iou_xyxy([[0, 0, 1, 1]] * 2, [[0, 0, 1, 1]])


def test_grounding_thresholds_are_strictly_greater():
    gt = [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 3, 1], [0, 0, 1, 1]]
    pred = [[0, 0, 4, 1], [0, 0, 2, 1], [0, 0, 4, 1], [0, 0, 1, 1]]
    # IoUs exactly 0.25, 0.5, 0.75, 1.0: each fails its own threshold
    result = grounding_accuracy(pred, gt)
    assert (result.acc_25, result.acc_50, result.acc_75) == (75.0, 50.0, 25.0)
    assert result.mean_iou == pytest.approx(62.5) and result.num_samples == 4
    assert accuracy_from_ious([0.5, 0.51]).acc_50 == 50.0


RECORDS = [  # shuffled on purpose: "last sentence" is the highest index, not the last record
    GroundingRecord(3, 2, 0.8), GroundingRecord(1, 1, 0.3), GroundingRecord(2, 0, 0.6),
    GroundingRecord(1, 0, 0.9), GroundingRecord(3, 0, 0.2), GroundingRecord(3, 1, 0.1),
]


def test_grounding_protocols():
    # official: one sample per ref, its last sentence -> IoUs 0.3 (ref 1), 0.6 (ref 2), 0.8 (ref 3)
    official = grounding_accuracy_from_records(RECORDS, "one_per_ref")
    assert official.num_samples == 3 and official.acc_50 == pytest.approx(100 * 2 / 3)
    assert official.mean_iou == pytest.approx(100 * 1.7 / 3)
    # per expression: all six, IoU > 0.5 for 0.8, 0.6, 0.9 -> 3/6
    per_expression = grounding_accuracy_from_records(RECORDS, "per_expression")
    assert per_expression.num_samples == 6 and per_expression.acc_50 == 50.0


def test_grounding_records_errors():
    with pytest.raises(ValueError, match="duplicate grounding record for ref 1, sentence 0"):
        grounding_accuracy_from_records(RECORDS + [GroundingRecord(1, 0, 0.5)], "per_expression")
    with pytest.raises(ValueError, match="unknown grounding protocol"):
        grounding_accuracy_from_records(RECORDS, "per_ref")
    with pytest.raises(ValueError, match="no grounding samples"):
        grounding_accuracy_from_records([])


# --- properties on random inputs (seeded) ----------------------------------------------------------------

def random_boxes(rng, n):
    """Integer x,y,w,h boxes as the result files hold, with some zero sizes mixed in."""
    return np.concatenate([rng.integers(0, 60, (n, 2)), rng.integers(0, 30, (n, 2))], axis=1).astype(float)


def slow_clean_predictions(pred, gt, dataset):
    """Frame-by-frame reading of the toolkit's rules (docs/official-code.md: Results and metrics), to check
    the vectorised repair."""
    pred = [list(row) for row in pred]
    for i in range(1, min(len(pred), len(gt))):
        if pred[i][2] == 0 or pred[i][3] == 0:
            pred[i] = list(pred[i - 1])
    pred = pred[:len(gt)] + [[0.0] * 4] * (len(gt) - len(pred))
    pred[0] = list(gt[0])
    return np.array(pred)


@pytest.mark.parametrize("seed", range(20))
def test_sequence_properties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 40))
    gt = random_boxes(rng, n)
    pred = random_boxes(rng, int(rng.integers(1, 50)))
    visible = rng.random(n) > 0.2
    for dataset in ("tnl2k", "lasot", "otb"):
        if dataset == "lasot" and len(pred) < n:
            continue
        result = sequence_curves(pred, gt, visible if dataset == "lasot" else None, dataset)
        assert np.all(np.diff(result.success_curve) <= 0)  # more demanding threshold, fewer successes
        assert np.all(np.diff(result.precision_curve) >= 0) and np.all(np.diff(result.norm_precision_curve) >= 0)
        assert 0.0 <= result.auc <= PERFECT_AUC + 1e-9
        assert result.success_curve[-1] == 0.0
        assert 0.0 <= result.norm_precision <= 100.0
    np.testing.assert_array_equal(clean_predictions(pred, gt, "tnl2k"), slow_clean_predictions(pred, gt, "tnl2k"))


@pytest.mark.parametrize("seed", range(5))
def test_iou_properties(seed):
    rng = np.random.default_rng(seed)
    a, b = random_boxes(rng, 200) + [0, 0, 1, 1], random_boxes(rng, 200) + [0, 0, 1, 1]  # non-empty
    iou = pixel_iou_xywh(a, b)
    np.testing.assert_array_equal(iou, pixel_iou_xywh(b, a))  # symmetric
    assert np.all((0.0 <= iou) & (iou <= 1.0))
    np.testing.assert_array_equal(pixel_iou_xywh(a, a), 1.0)
    # the +1 pixel terms cancel: same value as the continuous IoU of the same rectangles
    np.testing.assert_allclose(iou, continuous_iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b)), rtol=1e-12)
    np.testing.assert_array_equal(continuous_iou_xyxy(xywh_to_xyxy(a), xywh_to_xyxy(b)),
                                  continuous_iou_xyxy(xywh_to_xyxy(b), xywh_to_xyxy(a)))


# --- bit-exact against the toolkit's operation order -------------------------------------------------------
# `toolkit_scores` re-computes a benchmark in torch, operation by operation as JointNLT's pytracking analysis
# does it (extract_results: per-frame errors in float64, per-sequence rates as float32 count / frames;
# plot_results: float32 mean over sequences, x 100, mean over thresholds). It shares no code with the kit,
# and the kit's scores must equal it with `==` on inputs built to land on thresholds.

def _toolkit_sequence(pred, anno, visible, dataset):
    pred, anno = torch.tensor(pred, dtype=torch.float64).clone(), torch.tensor(anno, dtype=torch.float64)
    for i in range(1, pred.shape[0]):
        if (pred[i, 2:] == 0.0).any() and not torch.isnan(anno[i, :]).any():
            pred[i, :] = pred[i - 1, :]
    if pred.shape[0] > anno.shape[0]:
        pred = pred[:anno.shape[0]]
    elif pred.shape[0] < anno.shape[0]:
        pred = torch.cat((pred, torch.zeros((anno.shape[0] - pred.shape[0], 4), dtype=pred.dtype)))
    pred[0, :] = anno[0, :]
    valid = (anno[:, 2:] > 0.0).sum(1) == 2
    if visible is not None:
        visible = torch.tensor(visible, dtype=torch.uint8).bool()
        valid = valid & visible

    def centre_err(normalised):
        pc = pred[:, :2] + 0.5 * (pred[:, 2:] - 1.0)
        ac = anno[:, :2] + 0.5 * (anno[:, 2:] - 1.0)
        if normalised:
            pc, ac = pc / anno[:, 2:], ac / anno[:, 2:]
        return ((pc - ac) ** 2).sum(1).sqrt()

    top_left = torch.max(pred[:, :2], anno[:, :2])
    bottom_right = torch.min(pred[:, :2] + pred[:, 2:] - 1.0, anno[:, :2] + anno[:, 2:] - 1.0)
    inter = (bottom_right - top_left + 1.0).clamp(0).prod(dim=1)
    overlap = inter / (pred[:, 2:].prod(dim=1) + anno[:, 2:].prod(dim=1) - inter)
    err, err_norm = centre_err(False), centre_err(True)
    err[~valid] = float("Inf")
    err_norm[~valid] = -1.0
    overlap[~valid] = -1.0
    if dataset == "lasot":
        err_norm[~visible] = float("Inf")
        err[~visible] = float("Inf")
    n = anno.shape[0]
    t_overlap = torch.arange(0.0, 1.0 + 0.05, 0.05, dtype=torch.float64)
    t_centre = torch.arange(0, 51, dtype=torch.float64)
    return ((overlap.view(-1, 1) > t_overlap.view(1, -1)).sum(0).float() / n,
            (err.view(-1, 1) <= t_centre.view(1, -1)).sum(0).float() / n,
            (err_norm.view(-1, 1) <= (t_centre / 100.0).view(1, -1)).sum(0).float() / n)


def toolkit_scores(sequences):
    """{AUC, OP50, OP75, Precision, Norm Precision} of one tracker over [(pred, anno, visible, dataset)]."""
    rates = [_toolkit_sequence(*s) for s in sequences]
    success, centre, norm = (torch.stack([r[k] for r in rates])[:, None, :] for k in range(3))
    # the pickle round trip: float32 -> Python floats -> torch.tensor (float32 again, unchanged)
    success, centre, norm = (torch.tensor(x.tolist()) for x in (success, centre, norm))
    auc_curve = success.mean(0) * 100.0
    thresholds = torch.tensor(torch.arange(0.0, 1.05, 0.05, dtype=torch.float64).tolist())  # float32
    return {"AUC": auc_curve.mean(-1)[0].item(), "OP50": auc_curve[:, thresholds == 0.50][0, 0].item(),
            "OP75": auc_curve[:, thresholds == 0.75][0, 0].item(),
            "Precision": (centre.mean(0) * 100.0)[0, 20].item(),
            "Norm Precision": (norm.mean(0) * 100.0)[0, 20].item()}


def _np_threshold_boxes():
    """(gt, pred) pairs whose normalised centre error is exactly 0.2 in real numbers, and for which the
    toolkit's `c_pred / w - c_gt / w` rounds above 0.2 while `(c_pred - c_gt) / w` gives exactly 0.2."""
    pairs = []
    for w in range(5, 200):
        for x in range(0, 120, 7):
            d = round(0.2 * w)
            if d != 0.2 * w:
                continue
            gx, px = x + 0.5 * (w - 1), x + d + 0.5 * (w - 1)
            if px / w - gx / w > 0.2 and (px - gx) / w <= 0.2:
                pairs.append(([x, 40.0, w, 30.0], [x + d, 40.0, w, 30.0]))
    return pairs


def _adversarial_benchmark(dataset, rng):
    """Sequences mixing threshold-landing frames (IoU 0.5 / 0.75, centre error 20 px, normalised error 0.2)
    with random ones, zero-size predictions, short predictions and frames without a target."""
    np_pairs = _np_threshold_boxes()
    gt_box = [30.0, 30.0, 20.0, 10.0]
    landing = [
        ([30.0, 30.0, 10.0, 10.0], gt_box),   # IoU = 100 / 200 = 0.5 exactly (fails IoU > 0.5)
        ([30.0, 30.0, 15.0, 10.0], gt_box),   # IoU = 150 / 200 = 0.75 (fails IoU > 0.7500000000000001)
        ([50.0, 30.0, 20.0, 10.0], gt_box),   # centre error 20 px exactly
        ([42.0, 46.0, 20.0, 10.0], gt_box),   # centre error sqrt(12^2 + 16^2) = 20 px exactly
        ([34.0, 32.0, 20.0, 10.0], gt_box),   # normalised error sqrt(0.2^2 + 0.2^2) landing near 0.28
    ] + [(pred, gt) for gt, pred in np_pairs[::7]]
    sequences = []
    for length in (3, 7, 11, 29):
        gt = np.tile([30.0, 30.0, 20.0, 10.0], (length, 1))
        gt[:, 2:] = rng.integers(1, 60, size=(length, 2))
        pred = gt + rng.normal(0, 3, size=gt.shape).round()
        pred[:, 2:] = np.abs(pred[:, 2:])
        for i, (p, g) in zip(rng.choice(np.arange(1, length), size=min(len(landing), length - 1), replace=False),
                             landing):
            pred[i], gt[i] = p, g
        visible = rng.random(length) > 0.2
        visible[0] = True
        gt[~visible & (rng.random(length) > 0.5)] = 0.0     # some frames without a box at all
        gt[0] = [30.0, 30.0, 20.0, 10.0]
        pred[rng.random(length) > 0.85, 2] = 0.0            # "no output": repeats the previous box
        if dataset != "lasot" and length == 11:
            pred = pred[:8]                                 # padded with failures
        sequences.append((pred, gt, visible if dataset == "lasot" else None, dataset))
    sequences.append((np.array([p for _, p in np_pairs]), np.array([g for g, _ in np_pairs]), None
                      if dataset != "lasot" else np.ones(len(np_pairs), bool), dataset))
    return sequences


def test_normalised_error_uses_the_toolkits_division_order():
    pairs = _np_threshold_boxes()
    assert len(pairs) > 20  # frames where the two orders fall on different sides of 0.20
    gt, pred = np.array([g for g, _ in pairs]), np.array([p for _, p in pairs])
    errors = normalised_centre_error(pred, gt)
    assert (errors > 0.2).all()   # the toolkit's arithmetic: every one misses NP@0.20
    # ... where dividing the difference would have counted every one as a hit
    centres = lambda b: b[:, :2] + 0.5 * (b[:, 2:] - 1.0)  # noqa: E731
    assert (np.linalg.norm((centres(pred) - centres(gt)) / gt[:, 2:], axis=1) <= 0.2).all()
    result = sequence_curves(np.concatenate([gt[:1], pred]), np.concatenate([gt[:1], gt]), dataset="tnl2k")
    assert result.norm_precision == np.float32(1 / (len(pairs) + 1)) * np.float32(100.0)


@pytest.mark.parametrize("dataset", ["lasot", "tnl2k", "otb"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_equal_the_toolkit_bit_for_bit_on_threshold_landing_frames(dataset, seed):
    sequences = _adversarial_benchmark(dataset, np.random.default_rng(seed))
    ours = average_over_sequences([sequence_curves(p, g, v, d) for p, g, v, d in sequences])
    assert ours.scores() == toolkit_scores(sequences)
    # and per sequence (a one-sequence benchmark)
    for s in sequences:
        assert sequence_curves(*s).scores() == toolkit_scores([s])


def test_threshold_frames_fall_where_the_toolkit_puts_them():
    gt = np.tile([30.0, 30.0, 20.0, 10.0], (5, 1))
    pred = np.array([gt[0], [30, 30, 10, 10], [30, 30, 15, 10], [50, 30, 20, 10], [42, 46, 20, 10]], float)
    result = sequence_curves(pred, gt, dataset="otb")
    # IoU 0.5 and 0.75 are not "> 0.5" / "> 0.75"; 20 px errors are "<= 20"
    assert result.op50 == np.float32(2 / 5) * np.float32(100.0)   # frame 0 (GT) and the 0.75 frame
    assert result.op75 == np.float32(1 / 5) * np.float32(100.0)   # frame 0 only
    assert result.precision == 100.0
