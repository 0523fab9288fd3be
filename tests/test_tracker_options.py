"""The tracker's robustness options for real footage (motion prior, bounded scale change, hold at low
confidence): each changes what it should, and with all of them off the tracker is the official one."""
import numpy as np
import pytest
import torch

from kit.weights.checkpoint import load_official
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_official(golden_dir / "weights.pth"), torch.load(golden_dir / "tracker_io.pt", weights_only=False)


def _run(model, io, config, box=(200.0, 120.0, 90.0, 60.0), steps=3):
    tracker = Tracker(model, config)
    state, (first,) = tracker.init(io["frames"][0], [Prompt(token_ids=(io["text_ids"], io["text_mask"]), box=box)])
    boxes, scores = [first.box], []
    for frame in io["frames"][1:1 + steps]:
        state, (result,) = tracker.step(state, frame)
        boxes.append(result.box)
        scores.append(result.score)
    return np.array(boxes), scores


def test_options_are_off_by_default_and_off_means_the_official_boxes(golden):
    model, io = golden
    config = TrackerConfig()
    assert (config.motion_prior, config.max_scale_change, config.hold_below) == (None, None, None)
    official, _ = _run(model, io, TrackerConfig())
    explicit, _ = _run(model, io, TrackerConfig(motion_prior=None, max_scale_change=None, hold_below=None))
    assert np.array_equal(official, explicit)


def test_a_flat_corner_prior_changes_nothing_and_a_peaked_one_pulls_the_corners(golden):
    model, io = golden
    cfg = model.config
    side = cfg.search_feat_size
    g = torch.Generator().manual_seed(0)
    image = torch.randn(1, 3, cfg.search_size, cfg.search_size, generator=g)
    template = torch.randn(1, 3, cfg.template_size, cfg.template_size, generator=g)
    ids, mask = io["text_ids"], io["text_mask"]
    with torch.inference_mode():
        text = model.encode_text(ids, mask)
        search = model.encode_image(image, torch.zeros(1, cfg.search_size, cfg.search_size, dtype=torch.bool))
        tpl = model.encode_image(template, torch.zeros(1, cfg.template_size, cfg.template_size, dtype=torch.bool))
        plain = model.track(text, tpl, search)
        flat = model.track(text, tpl, search, corner_prior=torch.zeros(1, 2, side, side))
        peaked = torch.full((1, 2, side, side), -1e4)
        peaked[0, 0, 2, 3] = 0     # top-left corner at cell (row 2, column 3)
        peaked[0, 1, 9, 11] = 0    # bottom-right at (row 9, column 11)
        pulled = model.track(text, tpl, search, corner_prior=peaked)
    torch.testing.assert_close(flat.boxes, plain.boxes, rtol=0, atol=1e-6)
    assert torch.equal(flat.score_tl, plain.score_tl)     # the confidence maps stay the head's own
    x0, y0 = 3 * cfg.stride / cfg.search_size, 2 * cfg.stride / cfg.search_size
    x1, y1 = 11 * cfg.stride / cfg.search_size, 9 * cfg.stride / cfg.search_size
    expected = torch.tensor([(x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * cfg.box_enlarge, (y1 - y0) * cfg.box_enlarge])
    torch.testing.assert_close(pulled.boxes[0], expected, rtol=0, atol=1e-5)


def test_motion_prior_keeps_the_box_nearer_the_previous_one(golden):
    model, io = golden
    free, _ = _run(model, io, TrackerConfig())
    held, _ = _run(model, io, TrackerConfig(motion_prior=0.05))
    centre = lambda b: b[:, :2] + b[:, 2:] / 2  # noqa: E731
    moved_free = np.linalg.norm(np.diff(centre(free), axis=0), axis=1).sum()
    moved_held = np.linalg.norm(np.diff(centre(held), axis=0), axis=1).sum()
    assert not np.allclose(free, held)
    assert moved_held < moved_free


def test_scale_change_is_bounded_per_frame(golden):
    model, io = golden
    free, _ = _run(model, io, TrackerConfig())
    ratios_free = free[1:, 2:] / free[:-1, 2:]
    assert np.abs(np.log(ratios_free)).max() > np.log(1.05)     # the free tracker does change size more
    bounded, _ = _run(model, io, TrackerConfig(max_scale_change=0.05))
    ratios = bounded[1:, 2:] / bounded[:-1, 2:]
    assert np.all(ratios <= 1.05 + 1e-9) and np.all(ratios >= 1 / 1.05 - 1e-9)


def test_hold_below_keeps_the_box_while_confidence_is_low(golden):
    model, io = golden
    held, scores = _run(model, io, TrackerConfig(hold_below=1.01))   # every score is below 1.01
    assert all(s < 1.01 for s in scores)
    assert np.array_equal(held, np.repeat(held[:1], len(held), 0))
    never, _ = _run(model, io, TrackerConfig(hold_below=0.0))
    assert np.array_equal(never, _run(model, io, TrackerConfig())[0])


def test_appearance_descriptor_finds_the_template_pattern_and_maps_frame_boxes_into_the_crop():
    from kit.tracking import appearance

    g = torch.Generator().manual_seed(0)
    side, stride, C = 15, 16, 8
    tokens = torch.randn(side * side, C, generator=g)
    target = (5 * stride, 4 * stride, 9 * stride, 8 * stride)           # a 4x4-cell box, crop pixels
    reference = appearance.descriptor(tokens, side, stride, target)
    assert torch.isclose(reference.norm(), torch.tensor(1.0))
    same = float(appearance.descriptor(tokens, side, stride, target) @ reference)
    shifted = float(appearance.descriptor(tokens, side, stride, tuple(v + 2 * stride for v in target)) @ reference)
    larger = float(appearance.descriptor(tokens, side, stride, (2 * stride, stride, 12 * stride, 11 * stride))
                   @ reference)
    assert same == pytest.approx(1.0) and shifted < 0.5 and larger < 0.8
    # a frame box -> the crop's pixels: crop square at (-10, 20) of side 100, resized x2.4
    assert appearance.frame_box_to_crop((30, 40, 10, 5), (-10, 20, 100), 2.4) == pytest.approx((96, 48, 120, 60))


def test_appearance_check_keeps_a_still_target_where_the_model_moves_it(golden):
    model, io = golden
    box = (200.0, 120.0, 90.0, 60.0)
    frame = io["frames"][0]
    prompt = Prompt(token_ids=(io["text_ids"], io["text_mask"]), box=box)
    for config, stays in ((TrackerConfig(), False), (TrackerConfig(appearance_check=True), True)):
        tracker = Tracker(model, config)
        state, _ = tracker.init(frame, [prompt])
        assert (state.targets[0].appearance is not None) == stays
        for _ in range(3):                       # the same frame again: the target has not moved
            state, (result,) = tracker.step(state, frame)
        assert np.allclose(result.box, box) == stays, result.box


def test_model_recommended_settings_fill_only_what_the_caller_left_open():
    from kit.config import LITE_TRACKER, get_preset
    from kit.tracking.tracker import with_model_settings

    assert get_preset("paper").tracker == {} and get_preset("lite").tracker == LITE_TRACKER
    assert with_model_settings(TrackerConfig(), {}) == TrackerConfig()             # paper model: official tracker
    lite = with_model_settings(TrackerConfig(), LITE_TRACKER)
    assert (lite.appearance_check, lite.motion_prior, lite.max_scale_change) == (True, 0.5, 0.1)
    mine = with_model_settings(TrackerConfig(motion_prior=2.0, appearance_check=False), LITE_TRACKER)
    assert (mine.appearance_check, mine.motion_prior, mine.max_scale_change) == (False, 2.0, 0.1)
    assert with_model_settings(TrackerConfig(model_settings=False), LITE_TRACKER) == TrackerConfig(model_settings=False)
    with pytest.raises(ValueError, match="unknown tracker settings \\['warp_speed'\\]"):
        with_model_settings(TrackerConfig(), {"warp_speed": 9})


def test_the_bundled_lite_tracks_with_its_real_footage_checks_and_the_paper_tracker_turns_them_off():
    from kit.weights.loading import load_model

    model = load_model(None)
    assert Tracker(model).config.appearance_check is True
    assert Tracker(model, TrackerConfig(model_settings=False)).config.appearance_check is None


def test_the_real_footage_checks_leave_sentence_only_starts_alone(golden):
    """They hold on to the first box, so only a target started from the user's box gets them: a grounding
    start (which may be the wrong region) tracks exactly as the paper's tracker, also beside a box start."""
    model, io = golden
    checks = TrackerConfig(appearance_check=True, motion_prior=0.5, max_scale_change=0.1)
    text = (io["text_ids"], io["text_mask"])

    def run(config, prompts, steps=3):
        tracker = Tracker(model, config)
        state, first = tracker.init(io["frames"][0], prompts)
        boxes = [[r.box for r in first]]
        for frame in io["frames"][1:1 + steps]:
            state, results = tracker.step(state, frame)
            boxes.append([r.box for r in results])
        return np.array(boxes)

    sentence_only = [Prompt(token_ids=text)]
    assert np.array_equal(run(checks, sentence_only), run(TrackerConfig(), sentence_only))
    both = [Prompt(token_ids=text), Prompt(token_ids=text, box=(200.0, 120.0, 90.0, 60.0))]
    mixed = run(checks, both)
    assert np.array_equal(mixed[:, 0], run(TrackerConfig(), sentence_only)[:, 0])
    assert not np.array_equal(mixed[:, 1], run(TrackerConfig(), both)[:, 1])
