"""Tracker behaviour beyond the paper's protocol: several targets, confidence, re-grounding, absence,
attention maps, mid-video re-selection, and clear errors for bad frames and boxes."""
import numpy as np
import pytest
import torch

from kit.weights.checkpoint import load_official
from kit.tracking.tracker import Prompt, Tracker, TrackerConfig, TrackerInputError, check_box


@pytest.fixture(scope="module")
def golden(golden_dir):
    return load_official(golden_dir / "weights.pth"), torch.load(golden_dir / "tracker_io.pt", weights_only=False)


def _prompt(io, box=None):
    return Prompt(token_ids=(io["text_ids"], io["text_mask"]), box=box)


def _track(tracker, frames, prompts, steps=3):
    state, first = tracker.init(frames[0], prompts)
    results = [first]
    for frame in frames[1:1 + steps]:
        state, r = tracker.step(state, frame)
        results.append(r)
    return state, results


def test_several_targets_in_one_batch_match_tracking_each_alone(golden):
    model, io = golden
    frames = io["frames"]
    boxes = [(200.0, 120.0, 90.0, 60.0), (400.0, 200.0, 60.0, 80.0)]
    tracker = Tracker(model, device="cpu")
    _, together = _track(tracker, frames, [_prompt(io), _prompt(io, boxes[0]), _prompt(io, boxes[1])])
    for k, prompt in enumerate([_prompt(io), _prompt(io, boxes[0]), _prompt(io, boxes[1])]):
        _, alone = _track(tracker, frames, [prompt])
        for frame_results, frame_alone in zip(together, alone):
            np.testing.assert_allclose(frame_results[k].box, frame_alone[0].box, atol=1e-3)
            assert frame_results[k].score == pytest.approx(frame_alone[0].score, abs=1e-4)


def test_scores_are_probabilities_and_absence_follows_the_threshold(golden):
    model, io = golden
    _, results = _track(Tracker(model, TrackerConfig(absent_below=0.5)), io["frames"], [_prompt(io)])
    for (r,) in results[1:]:
        assert 1 / 400 <= r.score <= 1
        assert r.present == (r.score >= 0.5)
    _, results = _track(Tracker(model, TrackerConfig(absent_below=1.01)), io["frames"], [_prompt(io)])
    assert not any(r.present for (r,) in results[1:])


def test_regrounding_reacquires_the_target_after_a_run_of_low_scores(golden):
    from kit.tracking.crops import clip_box

    model, io = golden
    frames = io["frames"]
    plain = Tracker(model)
    _, tracked = _track(plain, frames, [_prompt(io)], steps=2)
    grounded = plain.ground(frames[2], _prompt(io))
    # every score is below 1.01: frame 1 starts the run, frame 2 reaches the patience and re-grounds; the
    # grounding result is taken when it scores higher than the tracking result
    _, results = _track(Tracker(model, TrackerConfig(reground_below=1.01, reground_patience=2)), frames,
                        [_prompt(io)], steps=2)
    assert results[1][0].regrounded is False
    np.testing.assert_allclose(results[1][0].box, tracked[1][0].box, atol=1e-3)
    takes_grounding = grounded.score > tracked[2][0].score
    assert results[2][0].regrounded is takes_grounding
    expected = clip_box(grounded.box, 360, 640) if takes_grounding else tracked[2][0].box
    np.testing.assert_allclose(results[2][0].box, expected, atol=1e-3)


def test_attention_maps_cover_the_search_tokens_and_the_temporal_memory(golden):
    model, io = golden
    _, results = _track(Tracker(model, TrackerConfig(attention=True)), io["frames"], [_prompt(io)], steps=2)
    first, second = results[1][0], results[2][0]
    assert first.attention["target"].shape == (20, 20)
    assert first.attention["target"].sum() == pytest.approx(1.0, abs=1e-3)
    assert first.attention["temporal"].shape == (1 + 36, 1 + 36)   # NL CLS + grounding RoI
    assert second.attention["temporal"].shape == (1 + 72, 1 + 72)  # + previous frame's RoI


def test_temporal_clue_can_be_switched_on_for_a_box_start(golden):
    model, io = golden
    state, _ = _track(Tracker(model, TrackerConfig(temporal=True)), io["frames"],
                      [_prompt(io, (200.0, 120.0, 90.0, 60.0))], steps=2)
    assert state.targets[0].use_temporal and state.targets[0].first_roi.shape == (1, 256, 36)


def test_the_model_config_decides_the_temporal_clue_after_a_box_start(golden, monkeypatch):
    model, io = golden
    box = _prompt(io, (200.0, 120.0, 90.0, 60.0))
    state, _ = _track(Tracker(model), io["frames"], [box], steps=1)
    assert not model.config.temporal_after_box and not state.targets[0].use_temporal   # official TRACK mode
    monkeypatch.setattr(model.config, "temporal_after_box", True)                    # as the bundled Lite
    state, _ = _track(Tracker(model), io["frames"], [box], steps=1)
    assert state.targets[0].use_temporal
    state, _ = _track(Tracker(model, TrackerConfig(temporal=False)), io["frames"], [box], steps=1)
    assert not state.targets[0].use_temporal                                          # the option wins


def test_a_target_can_be_reselected_mid_video(golden):
    model, io = golden
    tracker = Tracker(model)
    state, _ = _track(tracker, io["frames"], [_prompt(io)], steps=2)
    new_box = (300.0, 150.0, 50.0, 40.0)
    state, result = tracker.add_target(state, io["frames"][3], _prompt(io, new_box), replace=0)
    assert result.box == new_box and len(state.targets) == 1 and state.targets[0].box == list(new_box)
    state, result = tracker.add_target(state, io["frames"][3], _prompt(io, new_box))
    assert len(state.targets) == 2
    state, results = tracker.step(state, io["frames"][4])
    np.testing.assert_allclose(results[0].box, results[1].box, atol=1e-3)


@pytest.mark.parametrize("box,message", [
    ((10, 10, 0, 20), "zero or negative size"),
    ((10, 10, 20, -5), "zero or negative size"),
    ((700, 10, 20, 20), "lies outside the 640x360 frame"),
    ((-50, -50, 20, 20), "lies outside the 640x360 frame"),
    ((630, 350, 20, 20), "extends past the 640x360 frame; its part inside is 630,350,10,10"),
    ((1, 2, 3), "a box is four numbers"),
    ((1, 2, float("nan"), 4), "non-finite"),
])
def test_bad_boxes_are_refused_with_a_clear_message(box, message):
    with pytest.raises(TrackerInputError, match=message.replace("(", r"\(")):
        check_box(box, 360, 640)


def test_bad_frames_and_prompts_are_refused(golden):
    model, io = golden
    tracker = Tracker(model)
    with pytest.raises(TrackerInputError, match="RGB uint8 array"):
        tracker.init(io["frames"][0].astype(np.float32), [_prompt(io)])
    with pytest.raises(TrackerInputError, match="no target given"):
        tracker.init(io["frames"][0], [])
    with pytest.raises(TrackerInputError, match="needs a sentence, a box, or both"):
        tracker.init(io["frames"][0], [Prompt()])
    state, _ = tracker.init(io["frames"][0], [_prompt(io)])
    with pytest.raises(TrackerInputError, match="frame size changed from 640x360 to 320x360"):
        tracker.step(state, io["frames"][1][:, :320].copy())


def test_a_sentence_is_tokenised_like_the_official_ids_and_a_box_alone_works(golden):
    model, io = golden
    tracker = Tracker(model)
    by_text = tracker.ground(io["frames"][0], Prompt(text="The red car on the LEFT"))
    by_ids = tracker.ground(io["frames"][0], _prompt(io))
    assert by_text.box == by_ids.box
    state, (result,) = tracker.init(io["frames"][0], [Prompt(box=(200, 120, 90, 60))])
    assert result.box == (200, 120, 90, 60)
    state, _ = tracker.step(state, io["frames"][1])
    with pytest.raises(TrackerInputError, match="the sentence is empty"):
        tracker.init(io["frames"][0], [Prompt(text="   ")])
