"""Degenerate starts and crops never give NaN and never crash, with and without attention maps: a start box
outside the frame, of zero size, a search crop that is all padding, 1-pixel and extremely thin videos.
(A NaN box used to reach roi_align, which segfaults: the demo server died with it.)"""
import dataclasses

import numpy as np
import pytest
import torch

from kit.weights.loading import load_model
from kit.model.transformer import attend
from kit.tracking.crops import clip_box, sample_target
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig, TrackerInputError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
ATTENTION = [pytest.param(False, id="no-maps"), pytest.param(True, id="attention-maps")]


@pytest.fixture(scope="module")
def model():
    return load_model(None)  # the bundled JointNLT-Lite: the model the demo serves


def _frames(h, w, n=4, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _check(results, h, w, attention):
    """results[0] is the start (no maps); a re-grounded frame has no tracking maps either."""
    for i, r in enumerate(results):
        x, y, bw, bh = r.box
        assert np.isfinite(r.box).all() and np.isfinite(r.score), r
        assert 0 <= r.score <= 1
        assert bw > 0 and bh > 0 and x < w and y < h and x + bw > 0 and y + bh > 0, r.box  # touches the frame
        if i == 0 or r.regrounded:
            assert r.attention == {}
        elif attention:
            assert set(r.attention) == {"target", "temporal"}
            assert all(np.isfinite(m).all() for m in r.attention.values())
        else:
            assert r.attention == {}


def _run(tracker, frames, prompt, state_box=None):
    state, first = tracker.init(frames[0], [prompt])
    if state_box is not None:  # force a start state the grounding could give (official: not clipped)
        state.targets[0] = dataclasses.replace(state.targets[0], box=list(state_box))
    results = list(first)
    for frame in frames[1:]:
        state, (r,) = tracker.step(state, frame)
        results.append(r)
    return results


@pytest.mark.parametrize("attention", ATTENTION)
@pytest.mark.parametrize("h,w", [(1, 1), (1, 400), (400, 1), (3, 2000), (144, 176), (360, 640)])
def test_nl_start_on_tiny_and_extreme_frames_stays_finite(model, attention, h, w):
    frames = _frames(h, w)
    tracker = Tracker(model, TrackerConfig(attention=attention, reground_below=1.01, reground_patience=2))
    _check(_run(tracker, frames, Prompt(text="the big grey rabbit")), h, w, attention)


@pytest.mark.parametrize("attention", ATTENTION)
@pytest.mark.parametrize("box", [(262.0, 852.0, 300.0, 0.0),      # grounded in the padding below a 720p frame
                                 (-500.0, -500.0, 20.0, 20.0),    # above-left, far out
                                 (640.0, 100.0, 0.0, 0.0),        # zero size
                                 (5000.0, 300.0, 1e-3, 1e5)])     # absurd aspect
def test_out_of_frame_and_zero_size_states_with_all_padding_crops(model, attention, box):
    frames = _frames(720, 1280, n=3)
    if box[0] > 1000 or box[1] > 720 or box[0] < -100:
        x, y, w, h = box
        crop = sample_target(frames[1], (x, y, max(w, 1.0), max(h, 1.0)), 5.0, 320)
        assert crop.pad_mask.all(), "the case must produce an all-padding search crop"
    config = TrackerConfig(attention=attention, clip_start=False)  # the official, unclipped start
    results = _run(Tracker(model, config), frames, Prompt(text="the rabbit", box=(10, 10, 50, 50)), state_box=box)
    _check(results, 720, 1280, attention)


def test_maps_do_not_change_the_boxes_of_an_all_padding_crop(model):
    """Fully masked attention rows are the same with and without maps (they used to be 0 vs NaN)."""
    frames = _frames(720, 1280, n=3)
    runs = [_run(Tracker(model, TrackerConfig(attention=a, clip_start=False)), frames,
                 Prompt(text="the rabbit", box=(10, 10, 50, 50)), state_box=(262.0, 852.0, 300.0, 0.0))
            for a in (False, True)]
    for plain, mapped in zip(*runs):
        np.testing.assert_allclose(plain.box, mapped.box, atol=1e-3)
        assert plain.score == pytest.approx(mapped.score, abs=1e-5)


def test_start_box_is_clipped_unless_official_and_inside():
    tracker = Tracker.__new__(Tracker)
    tracker.config = TrackerConfig()
    assert tracker._start_box([262.0, 852.0, 300.0, 0.0], 720, 1280) == [262.0, 710.0, 300.0, 10.0]
    assert tracker._start_box([328.0, 115.0, 0.0, 34.0], 360, 640) == [328.0, 115.0, 10.0, 34.0]
    tracker.config = TrackerConfig(clip_start=False)    # official: the raw box where its crop meets the frame
    assert tracker._start_box([328.0, 115.0, 0.0, 34.0], 360, 640) == [328.0, 115.0, 0.0, 34.0]
    assert tracker._start_box([262.0, 852.0, 300.0, 0.0], 720, 1280) == [262.0, 710.0, 300.0, 10.0]


def test_clip_box_keeps_boxes_inside_frames_smaller_than_the_margin():
    assert clip_box([-9.0, -9.0, 10.0, 10.0], 1, 1) == [0.0, 0.0, 1.0, 1.0]
    assert clip_box([3.0, 0.0, 50.0, 50.0], 4, 400) == [3.0, 0.0, 50.0, 4.0]
    assert clip_box([100.0, 50.0, 30.0, 20.0], 360, 640) == [100.0, 50.0, 30.0, 20.0]  # official elsewhere


def test_empty_frame_is_refused_in_one_line(model):
    with pytest.raises(TrackerInputError, match="at least one pixel"):
        Tracker(model).init(np.zeros((0, 5, 3), np.uint8), [Prompt(text="x")])


@pytest.mark.parametrize("need_weights", [False, True])
def test_attend_fully_masked_rows_give_the_bias_and_zero_weights(need_weights):
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(8, 2).eval()
    torch.nn.init.normal_(mha.out_proj.bias)
    q, k = torch.randn(3, 2, 8), torch.randn(5, 2, 8)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[0, 1] = True
    mask[1] = True                                       # row 1: every key is padding
    with torch.inference_mode():
        out, weights = attend(mha, q, k, k, mask, need_weights)
        reference, _ = mha(q, k, k, key_padding_mask=mask, need_weights=False)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[:, 1], mha.out_proj.bias.detach().expand(3, 8))
    torch.testing.assert_close(out[:, 0], reference[:, 0])
    if need_weights:
        assert weights.shape == (2, 3, 5) and (weights[1] == 0).all()
        torch.testing.assert_close(weights[0].sum(-1), torch.ones(3))


def test_non_finite_predictions_keep_the_previous_box_with_score_zero(model, monkeypatch):
    frames = _frames(360, 640, n=2)
    tracker = Tracker(model, TrackerConfig(attention=True))
    state, _ = tracker.init(frames[0], [Prompt(text="the rabbit", box=(100, 100, 60, 40))])
    track = model.track

    def poisoned(*args, **kwargs):
        pred = track(*args, **kwargs)
        return dataclasses.replace(pred, boxes=torch.full_like(pred.boxes, float("nan")),
                                   score_tl=torch.full_like(pred.score_tl, float("nan")))

    monkeypatch.setattr(model, "track", poisoned)
    _, (r,) = tracker.step(state, frames[1])
    assert r.box == (100.0, 100.0, 60.0, 40.0) and r.score == 0.0


def test_roi_align_survives_nan_search_tokens(model):
    from kit.model import Features

    with torch.inference_mode():
        text = model.encode_text(torch.tensor([[101, 102] + [0] * 38]), torch.tensor([[1, 1] + [0] * 38]))
        t = model.config.template_size
        tpl = model.encode_image(torch.zeros(1, 3, t, t), torch.zeros(1, t, t, dtype=torch.bool))
        n, c = model.config.search_feat_size ** 2, model.config.transformer.hidden_dim
        search = Features(torch.full((1, n, c), float("nan")), torch.zeros(1, n, dtype=torch.bool))
        pred = model.track(text, tpl, search, None, need_weights=True)   # used to segfault in roi_align
    assert pred.roi_feature.shape[0] == 1
