"""Pre- and post-processing parity with the official tracker (docs/official-code.md: Crops, Tracking; quirks 6-8, 12).

Golden part: crops, masks, grounding inputs and normalised tensors of golden-mini reproduced from its frames
(uint8 within 1 LSB; in practice bit-exact), and the map-back functions reproducing stored states. Hand
part: the quirks on tiny synthetic images, with values computed by hand.
"""
import math

import numpy as np
import pytest
import torch

from kit.tracking.crops import (
    clip_box,
    frame_box_to_grounding,
    grounding_box_to_frame,
    grounding_resize,
    normalize,
    sample_target,
    search_box_to_frame,
)


@pytest.fixture(scope="module")
def model_io(golden_dir):
    return torch.load(golden_dir / "model_io.pt", weights_only=False)


@pytest.fixture(scope="module")
def tracker_io(golden_dir):
    return torch.load(golden_dir / "tracker_io.pt", weights_only=False)


def assert_uint8_close(ours: np.ndarray, ref: np.ndarray, what: str):
    """±1 LSB allowed (another cv2 build may round the bilinear resize differently)."""
    assert ours.dtype == np.uint8 and ours.shape == ref.shape, (what, ours.dtype, ours.shape, ref.shape)
    diff = np.abs(ours.astype(np.int16) - ref.astype(np.int16))
    assert diff.max() <= 1, f"{what}: max diff {diff.max()}, {(diff > 0).sum()} values differ"


# ---------------------------------------------------------------------------------------------------------
# golden-mini: model_io.pt


@pytest.mark.parametrize("prefix, image_key", [("grounding", "img0"), ("portrait", "portrait_img")])
def test_grounding_resize_matches_golden(model_io, prefix, image_key):
    g = grounding_resize(model_io[image_key], 320)
    assert_uint8_close(g.patch, model_io[f"{prefix}_patch_uint8"], prefix)
    assert g.coords == model_io[f"{prefix}_coords"]
    if prefix == "grounding":
        np.testing.assert_array_equal(g.pad_mask, model_io["grounding_att"][0].numpy() > 0)
    else:
        new_w, new_h = g.coords[2:]
        assert not g.pad_mask[:new_h, :new_w].any() and g.pad_mask.sum() == 320 * 320 - new_w * new_h


def test_grounding_box_label_matches_golden(model_io):
    h, w = model_io["img0"].shape[:2]
    label = frame_box_to_grounding(model_io["box0"], model_io["grounding_coords"], w, h)
    np.testing.assert_allclose(label, model_io["grounding_gt_norm_xywh"].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name, image_key, factor, size", [
    ("template", "img0", 2.0, 128),  # template: frame 0, box0
    ("search", "img1", 5.0, 320),  # search: frame 1, previous state = box0
])
def test_sample_target_matches_golden(model_io, name, image_key, factor, size):
    crop = sample_target(model_io[image_key], model_io["box0"], factor, size)
    assert_uint8_close(crop.patch, model_io[f"{name}_uint8"], name)
    np.testing.assert_array_equal(crop.pad_mask, model_io[f"{name}_att"])
    assert crop.resize_factor == pytest.approx(model_io[f"{name}_resize_factor"], rel=1e-15)


@pytest.mark.parametrize("name, uint8_key", [
    ("grounding", "grounding_patch_uint8"), ("template", "template_uint8"), ("search", "search_uint8"),
])
def test_normalize_matches_golden(model_io, name, uint8_key):
    ours = normalize(model_io[uint8_key], device="cpu")
    assert ours.dtype == torch.float32 and ours.shape == model_io[f"{name}_img"].shape
    torch.testing.assert_close(ours, model_io[f"{name}_img"], rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------------------------
# golden-mini: tracker_io.pt


def crop_frame_indices(run: dict, n_frames: int) -> list[int]:
    """Crops are recorded in call order: the init crops on frame 0 (JOINT: template 128 px + the unused
    144-px `template_img`; TRACK: template), then one search crop per frame 1..n-1."""
    n_init = len(run["crops"]) - (n_frames - 1)
    return [0] * n_init + list(range(1, n_frames))


@pytest.mark.parametrize("mode", ["joint", "track"])
def test_every_tracker_crop_matches_golden(tracker_io, mode):
    run, frames = tracker_io[mode], tracker_io["frames"]
    indices = crop_frame_indices(run, len(frames))
    assert len(run["crops"]) == {"joint": 2, "track": 1}[mode] + len(frames) - 1  # init crops + one per frame
    # search crops are centred on the previous state (state_after_init, then each returned state)
    searches = [c["box"] for c in run["crops"][indices.count(0):]]
    assert searches == [run["state_after_init"]] + run["states"][:-1]
    for i, (rec, f) in enumerate(zip(run["crops"], indices)):
        crop = sample_target(frames[f], rec["box"], rec["factor"], rec["output_sz"])
        assert_uint8_close(crop.patch, rec["patch"], f"{mode} crop {i}")
        np.testing.assert_array_equal(crop.pad_mask, rec["att"], err_msg=f"{mode} crop {i}")
        assert crop.resize_factor == pytest.approx(rec["resize_factor"], rel=1e-15)


def test_joint_init_crops_are_cut_at_the_grounding_state(tracker_io):
    # Holds for any golden directory: JOINT cuts its init crops (template 128 px, the unused 144-px
    # `template_img`) at the grounding box mapped to the frame, whatever its size (golden-mini's has w = 0,
    # see test_zero_width_box_crop_hand_values), and they reproduce bit for bit.
    run, frame0 = tracker_io["joint"], tracker_io["frames"][0]
    init = run["crops"][:crop_frame_indices(run, len(tracker_io["frames"])).count(0)]
    assert [(c["factor"], c["output_sz"]) for c in init] == [(2.0, 128), (1.0, 144)]
    for rec in init:
        assert list(rec["box"]) == list(run["state_after_init"])
        crop = sample_target(frame0, rec["box"], rec["factor"], rec["output_sz"])
        assert_uint8_close(crop.patch, rec["patch"], f"init crop {rec['factor']}")


def test_grounding_map_back_gives_joint_init_state(model_io, tracker_io):
    # model_io's grounding run is the JOINT initialisation of tracker_io: same frame, same sentence.
    assert np.array_equal(tracker_io["frames"][0], model_io["img0"])
    assert torch.equal(tracker_io["text_ids"], model_io["text_ids"])
    h, w = model_io["img0"].shape[:2]
    state = grounding_box_to_frame(model_io["grounding_forward_test_pred_boxes"][0],
                                   model_io["grounding_coords"], w, h)
    assert state == tracker_io["joint"]["state_after_init"]


def test_search_map_back_gives_track_first_state(model_io, tracker_io):
    # model_io's track_no_temporal run is TRACK's frame 1: template from box0 on frame 0, search on frame 1.
    run = tracker_io["track"]
    assert np.array_equal(run["crops"][0]["patch"], model_io["template_uint8"])
    assert np.array_equal(run["crops"][1]["patch"], model_io["search_uint8"])
    h, w = model_io["img1"].shape[:2]
    pred = model_io["track_no_temporal"]["out_pred_boxes"]  # (1, 4), width < 0: clip_box makes it 10
    box = search_box_to_frame(pred, run["state_after_init"], model_io["search_resize_factor"])
    assert clip_box(box, h, w, margin=10) == run["states"][0]  # bit-exact


@pytest.mark.parametrize("mode", ["joint", "track"])
def test_saved_rows_are_gt_then_truncated_states(tracker_io, mode):
    run = tracker_io[mode]
    rows = np.array([tracker_io["gt"][0].tolist()] + run["states"]).astype(int)  # frame 0 = GT, also in NL
    np.testing.assert_array_equal(rows, run["saved_txt_rows"])


# ---------------------------------------------------------------------------------------------------------
# hand-computed cases


def ramp(h: int, w: int) -> np.ndarray:
    """uint8 image whose pixel (y, x) is (x + 1, y + 1, 7): every position is identifiable."""
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx + 1, yy + 1, np.full_like(xx, 7)], axis=-1).astype(np.uint8)


def test_zero_width_box_crop_hand_values():
    # golden-mini's JOINT init state (328, 115, 0, 34) has w = 0: the zero-size guard sets w := 1 *before* the
    # centre is computed, and half-to-even rounding decides the pixel: x1 = round(328 + 0.5 - 6) =
    # round(322.5) = 322 (not 323); at factor 1: crop 6, x1 = round(325.5) = 326, y1 = round(132 - 3) = 129.
    frame = np.zeros((360, 640, 3), np.uint8)
    assert sample_target(frame, [328.0, 115.0, 0.0, 34.0], 2.0, 128).crop_box == (322, 126, 12)
    assert sample_target(frame, [328.0, 115.0, 0.0, 34.0], 1.0, 144).crop_box == (326, 129, 6)


@pytest.mark.parametrize("x, expected_x1", [(2.5, 2), (3.5, 4), (-0.5, 0), (4.4999, 4)])
def test_sample_target_rounds_half_to_even(x, expected_x1):
    image = ramp(20, 20)
    crop = sample_target(image, [x, 6.0, 4.0, 4.0], 1.0, 4)  # crop_sz 4, x1 = round(x), y1 = 6
    assert crop.crop_box == (expected_x1, 6, 4)
    np.testing.assert_array_equal(crop.patch, image[6:10, expected_x1:expected_x1 + 4])
    assert not crop.pad_mask.any() and crop.resize_factor == 1.0


def test_sample_target_pads_one_extra_pixel_at_right_and_bottom():
    image = ramp(10, 10)
    crop = sample_target(image, [6.0, 6.0, 4.0, 4.0], 1.0, 4)  # x2 = y2 = 10 = W = H: fits exactly...
    assert crop.crop_box == (6, 6, 4)
    # ...but x2_pad = x2 - W + 1 = 1: the frame's last column and row are replaced by padding
    np.testing.assert_array_equal(crop.patch[:3, :3], image[6:9, 6:9])
    assert (crop.patch[3, :] == 0).all() and (crop.patch[:, 3] == 0).all()
    expected_mask = np.zeros((4, 4), bool)
    expected_mask[3, :] = expected_mask[:, 3] = True
    np.testing.assert_array_equal(crop.pad_mask, expected_mask)
    # one pixel further from the border: no padding at all
    inner = sample_target(image, [5.0, 5.0, 4.0, 4.0], 1.0, 4)
    np.testing.assert_array_equal(inner.patch, image[5:9, 5:9])
    assert not inner.pad_mask.any()


def test_sample_target_pads_left_and_top_exactly():
    image = ramp(10, 10)
    crop = sample_target(image, [-1.0, -2.0, 4.0, 4.0], 1.0, 4)
    assert crop.crop_box == (-1, -2, 4)
    np.testing.assert_array_equal(crop.patch[2:, 1:], image[0:2, 0:3])
    assert (crop.patch[:2] == 0).all() and (crop.patch[:, 0] == 0).all()
    assert crop.pad_mask.sum() == 16 - 2 * 3


def test_mask_is_bilinear_then_nonzero():
    # 1 padding column out of 4, upscaled to 8: bilinear weights 1, 0.75, 0.25, 0, ... -> 3 padded columns
    image = ramp(10, 10)
    crop = sample_target(image, [-1.0, 3.0, 4.0, 4.0], 1.0, 8)
    assert crop.resize_factor == 2.0
    np.testing.assert_array_equal(crop.pad_mask.any(axis=0), [True] * 3 + [False] * 5)
    assert crop.pad_mask[:, :3].all() and not crop.pad_mask[:, 3:].any()


@pytest.mark.parametrize("box, factor, crop_box", [
    ([5.0, 5.0, 0.0, 0.0], 2.0, (4, 4, 2)),  # w = h = 1: crop 2, x1 = round(5 + 0.5 - 1) = round(4.5) = 4
    ([5.0, 5.0, 0.0, 9.0], 1.0, (4, 8, 3)),  # w := 1 only: crop ceil(sqrt(9)) = 3, y1 = round(8) = 8
])
def test_sample_target_zero_size_guard(box, factor, crop_box):
    crop = sample_target(ramp(20, 20), box, factor, 16)
    assert crop.crop_box == crop_box and crop.resize_factor == 16 / crop_box[2]


def test_sample_target_crop_outside_the_frame_is_all_padding():
    crop = sample_target(ramp(10, 10), [30.0, 2.0, 4.0, 4.0], 1.0, 8)
    assert crop.pad_mask.all() and not crop.patch.any()
    crop = sample_target(ramp(10, 10), [-30.0, -30.0, 4.0, 4.0], 1.0, 8)  # official: negative-index wrap
    assert crop.pad_mask.all() and not crop.patch.any()


def test_sample_target_accepts_tensors_and_arrays():
    image = ramp(20, 20)
    ref = sample_target(image, [3.0, 4.0, 5.0, 6.0], 2.0, 16)
    for box in (torch.tensor([3.0, 4.0, 5.0, 6.0]), np.array([3, 4, 5, 6]), (3, 4, 5, 6)):
        crop = sample_target(image, box, 2.0, 16)
        assert crop.crop_box == ref.crop_box and np.array_equal(crop.patch, ref.patch)


@pytest.mark.parametrize("box, message", [
    ([math.nan, 0.0, 5.0, 5.0], "finite"),
    ([0.0, 0.0, math.inf, 5.0], "finite"),
    ([0.0, 0.0, -5.0, 5.0], ">= 0"),
    ([0.0, 0.0, 5.0], "4 numbers"),
])
def test_sample_target_rejects_bad_boxes(box, message):
    with pytest.raises(ValueError, match=message):
        sample_target(ramp(10, 10), box, 2.0, 8)


@pytest.mark.parametrize("shape, coords", [
    ((30, 100), [0, 0, 64, 19]),  # int(64 * 30 / 100) = int(19.2) = 19
    ((100, 30), [0, 0, 19, 64]),
    ((50, 50), [0, 0, 64, 64]),  # w == h: "else" branch, no padding
    ((16, 24), [0, 0, 64, 42]),  # up-scaling: int(42.67) = 42
])
def test_grounding_resize_truncates_short_side_and_pads_bottom_right(shape, coords):
    g = grounding_resize(ramp(*shape), 64)
    assert g.coords == coords
    new_w, new_h = coords[2:]
    assert g.patch.shape == (64, 64, 3) and g.pad_mask.shape == (64, 64)
    assert not g.pad_mask[:new_h, :new_w].any() and g.pad_mask.sum() == 64 * 64 - new_w * new_h
    assert not g.patch[new_h:].any() and not g.patch[:, new_w:].any()


def test_frame_box_to_grounding_scales_each_axis():
    # frame 100x30 -> 64x19: x scale 0.64, y scale 19/30 (the label uses both; the map-back uses only x)
    label = frame_box_to_grounding([10, 15, 50, 6], [0, 0, 64, 19], 100, 30, size=64)
    np.testing.assert_allclose(label, [6.4 / 64, 9.5 / 64, 32 / 64, 3.8 / 64], rtol=1e-12)
    assert label.dtype == np.float64  # integer boxes are fine (quirk 28)


@pytest.mark.parametrize("pred_px, coords, frame_wh, expected", [
    # half-to-even: (10.5, 20.5, 4.5, 3.5) -> (10, 20, 4, 4) -> xyxy (8, 18, 12, 22); scale 128/64 = 2
    ((10.5, 20.5, 4.5, 3.5), [0, 0, 64, 36], (128, 72), [16.0, 36.0, 8.0, 8.0]),
    # box crossing the bottom of the image area (y 30..38, image ends at 36): intersected
    ((32, 34, 8, 8), [0, 0, 64, 36], (128, 72), [56.0, 60.0, 16.0, 12.0]),
    # box wholly in the bottom padding: height 0, y kept (outside the frame, as the official)
    ((32, 50, 8, 4), [0, 0, 64, 36], (128, 72), [56.0, 96.0, 16.0, 0.0]),
    # single scale: frame 100x30 -> 64x19; y also scaled by 100/64 = 1.5625 (not 30/19)
    ((32, 8, 8, 8), [0, 0, 64, 19], (100, 30), [43.75, 6.25, 12.5, 12.5]),
])
def test_grounding_box_to_frame_by_hand(pred_px, coords, frame_wh, expected):
    pred = torch.tensor(pred_px, dtype=torch.float32) / 64  # dyadic: exact in float32
    assert grounding_box_to_frame(pred, coords, *frame_wh, size=64) == expected


def test_search_box_to_frame_by_hand():
    prev = [100.0, 100.0, 50.0, 50.0]  # centre (125, 125); crop_sz 250 -> rf = 320/250
    rf = 320 / 250
    box = search_box_to_frame(torch.tensor([0.5, 0.5, 0.2, 0.1]), prev, rf)
    np.testing.assert_allclose(box, [100.0, 112.5, 50.0, 25.0], atol=1e-4)
    # predictions of several queries are averaged; shape (N, 4) is accepted
    two = search_box_to_frame(torch.tensor([[0.4, 0.5, 0.2, 0.1], [0.6, 0.5, 0.2, 0.1]]), prev, rf)
    np.testing.assert_allclose(two, box, atol=1e-4)


def test_search_box_to_frame_uses_unrounded_previous_centre():
    # crop centre = previous centre (100.3 + 25 = 125.3) although the crop starts at the rounded pixel 0
    prev = [100.3, 100.0, 50.0, 50.0]
    crop = sample_target(ramp(300, 300), prev, 5.0, 320)
    assert crop.crop_box == (0, 0, 250)
    box = search_box_to_frame([0.5, 0.5, 50 * crop.resize_factor / 320, 0.1], prev, crop.resize_factor)
    assert box[0] + box[2] / 2 == pytest.approx(125.3, abs=1e-4)
    assert box[1] + box[3] / 2 == pytest.approx(125.0, abs=1e-4)


@pytest.mark.parametrize("box, expected", [
    ([100, 50, 30, 20], [100, 50, 30, 20]),  # inside: unchanged
    ([-5, 10, 30, 20], [0, 10, 25, 20]),  # partly left: cut at x = 0
    ([620, 345, 30, 30], [620, 345, 20, 15]),  # partly right/bottom: cut at W, H
    ([700, 10, 30, 20], [630, 10, 10, 20]),  # wholly right: x1 <= W - 10, w >= 10
    ([-100, -50, 30, 20], [0, 0, 10, 10]),  # wholly top-left: x2, y2 >= 10
    ([635, 355, 20, 20], [630, 350, 10, 10]),  # bottom-right corner
    ([50, 60, 0, 0], [50, 60, 10, 10]),  # zero size
    ([50, 60, -20, 5], [50, 60, 10, 10]),  # negative width (the head can predict it)
])
def test_clip_box_margin_10(box, expected):
    assert clip_box(box, 360, 640, margin=10) == expected


def test_clip_box_margin_0():
    assert clip_box([-5, -5, 10, 10], 100, 100, margin=0) == [0, 0, 5, 5]
    assert clip_box([95, 95, 10, 10], 100, 100, margin=0) == [95, 95, 5, 5]


def test_normalize_values_dtype_and_batch():
    patch = np.zeros((2, 3, 3), np.uint8)
    patch[0, 0] = 255
    x = normalize(patch)
    assert x.shape == (1, 3, 2, 3) and x.dtype == torch.float32
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(x[0, :, 0, 0], (1 - mean) / std)
    torch.testing.assert_close(x[0, :, 1, 2], -mean / std)
    batch = normalize(np.stack([patch, patch[::-1]]))
    assert batch.shape == (2, 3, 2, 3)
    assert torch.equal(batch[1:], normalize(np.ascontiguousarray(patch[::-1])))
    assert torch.equal(normalize(torch.from_numpy(patch)), x)
    assert normalize(patch, dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError, match="uint8"):
        normalize(patch.astype(np.float32))
