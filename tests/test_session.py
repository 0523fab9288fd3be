"""`kit.tracking.session`: one call tracks a whole video. It gives exactly the tracker's step-by-step results on
a bundled video, says why it ended, keeps what was tracked before a stop or a broken frame, and its box
files and options behave as documented."""
import json
from pathlib import Path

import numpy as np
import pytest

from kit.tracking.boxfiles import read_boxes_csv, read_boxes_txt, write_box_files
from kit.tracking.session import (END, ERROR, MAX_FRAMES, STOPPED, ground_first_frame, load_tracker, track_boxes,
                                  track_video)
from kit.tracking.tracker import Prompt, TrackerInputError
from kit.tracking.video import VideoError, open_video

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"
SYNTHETIC = EXAMPLES / "synthetic.mp4"
EXAMPLE = json.loads((EXAMPLES / "examples.json").read_text())[0]
FRAMES = 6


@pytest.fixture(scope="module")
def tracker(tiny_weights):
    return load_tracker(tiny_weights, device="cpu", precision="fp32")


def prompts():
    return [Prompt(text=EXAMPLE["text"]), Prompt(text=EXAMPLE["text"], box=tuple(EXAMPLE["box"]))]


def test_a_bundled_video_gives_the_trackers_step_by_step_results(tracker):
    frames = [frame for _, frame in open_video(SYNTHETIC)][:FRAMES]
    state, expected = tracker.init(frames[0], prompts())
    by_step = [expected]
    for frame in frames[1:]:
        state, results = tracker.step(state, frame)
        by_step.append(results)

    run = track_video(tracker, SYNTHETIC, prompts(), max_frames=FRAMES)
    got = list(run)
    assert [r.index for r in got] == list(range(FRAMES)) and run.end == MAX_FRAMES and run.frames == FRAMES
    for result, step in zip(got, by_step):
        assert len(result.targets) == 2
        for target, alone in zip(result.targets, step):
            assert target.box == alone.box and target.score == alone.score and target.present == alone.present
    assert got[0].targets[0].search_box is None
    # the search region is centred on the previous box, its side ceil(sqrt(w*h) * search_factor)
    x, y, w, h = got[0].targets[1].box
    sx, sy, side, side2 = got[1].targets[1].search_box
    assert side == side2 == np.ceil(np.sqrt(w * h) * tracker.config.search_factor)
    assert abs(sx + side / 2 - (x + w / 2)) <= 1 and abs(sy + side / 2 - (y + h / 2)) <= 1
    assert got[-1].state.frame_index == FRAMES - 1


def test_frames_as_arrays_or_image_files_give_the_same_boxes(tracker, tmp_path):
    import cv2

    frames = [frame for _, frame in open_video(SYNTHETIC)][:3]
    paths = []
    for i, frame in enumerate(frames):
        paths.append(tmp_path / f"{i:04d}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    prompt = prompts()[1]
    np.testing.assert_array_equal(track_boxes(tracker, frames, prompt), track_boxes(tracker, paths, prompt))
    paths[2].unlink()
    with pytest.raises(VideoError, match="0002.png is not a readable image"):
        track_boxes(tracker, paths, prompt)


def test_a_stop_request_and_a_broken_video_keep_the_frames_tracked(tracker, tmp_path):
    asked = []
    run = track_video(tracker, SYNTHETIC, prompts()[1:], should_stop=lambda: len(asked) >= 2 or asked.append(1))
    assert len(list(run)) == 3 and run.end == STOPPED

    cut = tmp_path / "cut.mp4"
    data = SYNTHETIC.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    run = track_video(tracker, cut, prompts()[1:])
    kept = list(run)
    assert run.end == ERROR and isinstance(run.error, VideoError) and 1 <= len(kept)

    run = track_video(tracker, [frame for _, frame in open_video(SYNTHETIC)][:4], prompts()[1:])
    assert len(list(run)) == 4 and run.end == END


def test_nothing_to_track_raises_before_any_frame(tracker):
    with pytest.raises(VideoError, match="has no frames"):
        track_video(tracker, [], prompts())
    run = track_video(tracker, SYNTHETIC, [Prompt(text="x", box=(0, 0, 0, 5))])
    with pytest.raises(TrackerInputError, match="zero or negative size"):
        next(run)


def test_warnings_are_data_and_a_downscaled_video_reports_original_pixels(tracker):
    video = open_video(SYNTHETIC, max_side=80)
    first = next(iter(track_video(tracker, video, [Prompt(text=" ".join(["red"] * 50))])))
    assert any("WordPiece tokens but the model reads" in w for w in first.warnings)
    row = first.box_row()
    np.testing.assert_allclose(row.box, np.array(first.targets[0].box) / video.scale)
    grounded = ground_first_frame(tracker, video, Prompt(text=EXAMPLE["text"]))
    assert grounded.state is None and grounded.index == 0


def test_options_reach_the_tracker_and_unknown_ones_are_errors(tiny_weights):
    with_attention = load_tracker(tiny_weights, device="cpu", attention=True, absent_below=0.5)
    assert with_attention.config.attention and with_attention.config.absent_below == 0.5
    assert with_attention.precision == "fp32"   # auto: the small models stay fp32 on a CPU
    second = list(track_video(with_attention, SYNTHETIC, prompts()[1:], max_frames=2))[1].targets[0]
    assert second.search_crop is not None and second.search_crop.crop_box[2] == second.search_box[2]
    assert second.attention["target"].ndim == 2
    with pytest.raises(TypeError, match="attenton"):
        load_tracker(tiny_weights, device="cpu", attenton=True)


def test_box_files_one_format_or_all_three(tracker, tmp_path):
    rows = [r.box_row() for r in track_video(tracker, SYNTHETIC, prompts()[1:], max_frames=3)]
    written = write_box_files(rows, tmp_path / "run_boxes", {"video": "synthetic.mp4"})
    assert [p.name for p in written] == ["run_boxes.txt", "run_boxes.csv", "run_boxes.json"]
    assert read_boxes_txt(written[0]).shape == (3, 4) and len(read_boxes_csv(written[1])) == 3
    assert json.loads(written[2].read_text())["video"] == "synthetic.mp4"
    assert write_box_files(rows, tmp_path / "one.csv", {}) == [tmp_path / "one.csv"]
    with pytest.raises(ValueError, match="unknown box file type '.xyz'"):
        write_box_files(rows, tmp_path / "boxes.xyz", {})
