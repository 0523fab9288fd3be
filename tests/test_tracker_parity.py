"""Tracker-level parity with the official tracker: golden-mini's 8-frame `joint` (NL) and `track` (NL+BB) runs."""
import numpy as np
import pytest
import torch

from kit.weights.checkpoint import load_official
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig

PX_TOL = 1e-3


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_official(golden_dir / "weights.pth"), torch.load(golden_dir / "tracker_io.pt", weights_only=False)


def _run(model, io, prompt):
    # clip_start=False: the official start state (golden grounds a zero-width box, which we would clip)
    tracker = Tracker(model, TrackerConfig(clip_start=False), device="cpu")
    frames = io["frames"]
    state, _ = tracker.init(frames[0], [prompt])
    after_init = list(state.targets[0].box)
    boxes = []
    for frame in frames[1:]:
        state, (result,) = tracker.step(state, frame)
        boxes.append(result.box)
    return state, after_init, np.array(boxes)


def test_nl_initialisation_grounds_then_tracks_with_the_temporal_clue(golden):
    model, io = golden
    expected = io["joint"]
    state, after_init, boxes = _run(model, io, Prompt(token_ids=(io["text_ids"], io["text_mask"])))
    np.testing.assert_allclose(after_init, expected["state_after_init"], atol=PX_TOL, rtol=0)
    torch.testing.assert_close(state.targets[0].first_roi, expected["template_roi_feature"], atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(boxes, np.array(expected["states"], dtype=float), atol=PX_TOL, rtol=0)
    assert state.targets[0].use_temporal


def test_nl_bb_initialisation_tracks_without_the_temporal_module(golden):
    model, io = golden
    expected = io["track"]
    box = tuple(float(v) for v in io["gt"][0])
    state, after_init, boxes = _run(model, io, Prompt(token_ids=(io["text_ids"], io["text_mask"]), box=box))
    np.testing.assert_allclose(after_init, expected["state_after_init"], atol=PX_TOL, rtol=0)
    np.testing.assert_allclose(boxes, np.array(expected["states"], dtype=float), atol=PX_TOL, rtol=0)
    assert not state.targets[0].use_temporal


def test_official_result_rows_are_gt_then_int_truncated_states(golden):
    """What the official runner writes (frame 0 = GT box, then int-truncated states)."""
    model, io = golden
    _, _, boxes = _run(model, io, Prompt(token_ids=(io["text_ids"], io["text_mask"])))
    rows = np.vstack([io["gt"][:1], boxes]).astype(int)
    np.testing.assert_array_equal(rows, io["joint"]["saved_txt_rows"])
