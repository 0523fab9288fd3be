"""The demo without a browser: input checks and their messages, grounding and tracking runs (caps,
down-scaling, stopping, attention overlay, output files), and the page's handlers turning every failure into
a message. Uses the tiny test model on short clips; the browser tests are in tests/browser/."""
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from video_files import zero_frame_video

from demo import pipeline
from demo.config import DemoConfig, config_from_env
from demo.pipeline import GROUND, TRACK_NL, TRACK_NLBB, DemoInputError, RunRequest
from kit.tracking.boxfiles import read_boxes_txt
from kit.tracking.drawing import overlay_attention
from kit.tracking.video import open_video

REPO_ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC = REPO_ROOT / "assets" / "examples" / "synthetic.mp4"
SENTENCE = "the tangerine diamond on top"
BOX = (16, 50, 31, 45)  # the example's box on frame 0 of synthetic.mp4 (320x240)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest: the tiny model on one thread


@pytest.fixture(scope="module")
def store(tiny_weights):
    store = pipeline.ModelStore(DemoConfig(weights=str(tiny_weights)))
    store.load()
    return store


def _run(store, request, config, out_dir, **kwargs):
    events = list(pipeline.run(store.tracker(request.attention), request, config, out_dir, **kwargs))
    assert isinstance(events[0], pipeline.FirstFrame) and isinstance(events[-1], pipeline.RunResult)
    return events


# --- inputs ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, box", [("16,50,31,45", BOX), ("16 50 31 45", BOX),
                                       ("(16, 50, 31.5, 45)", (16, 50, 31.5, 45)), ("", None), ("  ", None),
                                       (None, None)])
def test_parse_box_reads_four_numbers(text, box):
    assert pipeline.parse_box(text) == box


@pytest.mark.parametrize("text", ["1,2,3", "1,2,3,4,5", "a,b,c,d", "1,2,nan,4", "1,2,inf,4"])
def test_parse_box_refuses_anything_else(text):
    with pytest.raises(DemoInputError, match="four numbers x,y,w,h"):
        pipeline.parse_box(text)


def test_two_clicks_make_a_box_in_any_order():
    assert pipeline.box_from_clicks((10, 20), (40, 60)) == (10, 20, 31, 41)
    assert pipeline.box_from_clicks((40, 60), (10, 20)) == (10, 20, 31, 41)
    assert pipeline.box_from_clicks((40, 20), (10, 60)) == (10, 20, 31, 41)
    with pytest.raises(DemoInputError, match="different x and y"):
        pipeline.box_from_clicks((10, 20), (10, 60))


def test_only_files_in_the_allowed_folders_are_read(tmp_path):
    inside = tmp_path / "uploads" / "clip.mp4"
    inside.parent.mkdir()
    inside.write_bytes(b"x")
    roots = [tmp_path / "uploads"]
    assert pipeline.check_input_path(str(inside), roots) == inside.resolve()
    for outside in [tmp_path / "secret.mp4", tmp_path / "uploads" / ".." / "secret.mp4", Path("/etc/passwd")]:
        with pytest.raises(DemoInputError, match="was not uploaded through this page") as err:
            pipeline.check_input_path(str(outside), roots)
        assert str(tmp_path) not in str(err.value)  # no server path in the message
    with pytest.raises(DemoInputError, match="no video"):
        pipeline.check_input_path(None, roots)


def _truncated(path):
    data = SYNTHETIC.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def _png(path):
    import cv2

    cv2.imwrite(str(path), np.zeros((20, 20, 3), np.uint8))
    return path


BAD_VIDEOS = {
    "text named .mp4": (lambda p: (p / "notes.mp4").write_text("hello") and p / "notes.mp4",
                        "notes.mp4 is not a readable video"),
    "empty file": (lambda p: (p / "empty.mp4").write_bytes(b"") or p / "empty.mp4", "empty.mp4 is empty"),
    "image": (lambda p: _png(p / "photo.png"), "photo.png is an image"),
    "no frames": (lambda p: zero_frame_video(p / "zero.avi"), "zero.avi has a video stream but no frames"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_videos_give_one_line_messages_naming_only_the_file(tmp_path, case):
    make, message = BAD_VIDEOS[case]
    path = make(tmp_path)
    with pytest.raises(DemoInputError, match=message) as err:
        pipeline.preview(path, DemoConfig())
    assert "\n" not in str(err.value) and str(tmp_path) not in str(err.value)


def test_preview_says_what_the_caps_do():
    plain = pipeline.preview(SYNTHETIC, DemoConfig())
    assert plain.frame.shape == (480, 640, 3) and plain.zoom == 2 and plain.scale == 1 and plain.notes == []
    assert plain.summary == "synthetic.mp4: 320×240, 100 frames, 25 frames/s"

    capped = pipeline.preview(SYNTHETIC, DemoConfig(max_side=160, max_frames=40))
    assert capped.frame.shape == (360, 480, 3) and capped.zoom == 3 and capped.scale == 0.5
    assert "Down-scaled from 320×240 to 160×120" in capped.notes[0]
    assert "The video has 100 frames; the demo tracks the first 40." in capped.notes[1]


@pytest.mark.parametrize("text, box, mode, message", [
    ("", None, TRACK_NL, "the sentence is empty"),
    ("   ", None, GROUND, "the sentence is empty"),
    ("", BOX, TRACK_NL, "(or choose NL+BB to start from the box alone)"),
    (SENTENCE, None, TRACK_NLBB, "NL+BB needs a box"),
    (SENTENCE, (400, 10, 20, 20), TRACK_NLBB, "lies outside the 320x240 frame"),
    (SENTENCE, (300, 10, 40, 20), TRACK_NLBB, "extends past the 320x240 frame; its part inside is 300,10,20,20"),
    (SENTENCE, (10, 10, 0, 20), TRACK_NLBB, "zero or negative size"),
    (SENTENCE, None, "dance", "unknown mode"),
])
def test_bad_requests_are_refused_before_any_work(store, tmp_path, text, box, mode, message):
    request = RunRequest(SYNTHETIC, text, box, mode)
    with pytest.raises(DemoInputError, match=re.escape(message)):
        next(pipeline.run(store.tracker(), request, DemoConfig(), tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_a_box_alone_is_enough_for_nl_bb_and_an_unused_box_is_mentioned():
    video = open_video(SYNTHETIC, max_side=160)
    prompt, notes = pipeline.make_prompt(RunRequest(SYNTHETIC, "", BOX, TRACK_NLBB), video)
    assert prompt.text is None and prompt.box == (8, 25, 15.5, 22.5) and notes == []  # scaled to 160x120
    prompt, notes = pipeline.make_prompt(RunRequest(SYNTHETIC, SENTENCE, BOX, TRACK_NL), video)
    assert prompt.box is None and "The box was not used" in notes[0]


# --- runs ------------------------------------------------------------------------------------------------

def _box_files(result):
    txt, csv_path, json_path = result.files
    assert [p.suffix for p in result.files] == [".txt", ".csv", ".json"]
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    return read_boxes_txt(txt), rows, json.loads(json_path.read_text())


def test_tracking_writes_a_playable_video_and_one_box_row_per_frame(store, tmp_path):
    config = DemoConfig(max_frames=12)
    events = _run(store, RunRequest(SYNTHETIC, SENTENCE, None, TRACK_NL), config, tmp_path)
    first, progress, result = events[0], events[1:-1], events[-1]
    assert first.image.shape == (240, 320, 3)
    assert [p.done for p in progress] == list(range(1, 13)) and progress[-1].total == 12
    assert result.frames == 12 and not result.stopped
    assert result.notes[0] == ("The video has 100 frames; the demo tracks the first 12. For the whole video use "
                               "`python -m kit.track`.")
    boxes, rows, saved = _box_files(result)
    assert len(boxes) == len(rows) == len(saved["frames"]) == len(result.scores) == 12
    assert tuple(boxes[0]) == pytest.approx(first.box, abs=0.01)  # frame 0 = the grounding result
    assert saved["video"] == "synthetic.mp4" and saved["text"] == SENTENCE and saved["width"] == 320
    video = open_video(result.video)
    assert (video.width, video.height, video.num_frames) == (320, 240, 12)
    with av.open(str(result.video)) as container:
        assert container.streams.video[0].codec_context.name == "h264"


def test_downscaled_runs_report_boxes_in_the_original_pixels(store, tmp_path):
    config = DemoConfig(max_frames=5, max_side=160)
    result = _run(store, RunRequest(SYNTHETIC, SENTENCE, BOX, TRACK_NLBB), config, tmp_path)[-1]
    boxes, _, saved = _box_files(result)
    assert tuple(boxes[0]) == BOX  # the given box, back in 320x240 pixels
    assert (saved["width"], saved["height"], saved["tracked_size"]) == (320, 240, [160, 120])
    assert "Down-scaled from 320×240 to 160×120" in result.notes[0]
    assert open_video(result.video).original_size == (160, 120)


def test_stopping_keeps_the_results_so_far(store, tmp_path):
    asked = []

    def stop_after_three():
        asked.append(1)
        return len(asked) > 3

    result = _run(store, RunRequest(SYNTHETIC, SENTENCE, BOX, TRACK_NLBB), DemoConfig(), tmp_path,
                  should_stop=stop_after_three)[-1]
    assert result.stopped and result.frames == 4
    assert "Stopped at your request after 4 frames; their boxes are kept." in result.notes
    assert len(_box_files(result)[0]) == 4 and open_video(result.video).num_frames == 4


def test_a_decoding_failure_part_way_keeps_the_frames_before_it(store, tmp_path):
    broken = _truncated(tmp_path / "cut.mp4")
    result = _run(store, RunRequest(broken, SENTENCE, BOX, TRACK_NLBB), DemoConfig(), tmp_path / "out")[-1]
    assert result.stopped and 0 < result.frames < 100
    assert any(n.startswith("Stopped: cut.mp4 stopped decoding at frame") for n in result.notes)
    assert len(_box_files(result)[0]) == result.frames


def test_grounding_only_gives_the_first_frame_and_one_row(store, tmp_path):
    events = _run(store, RunRequest(SYNTHETIC, SENTENCE, BOX, GROUND), DemoConfig(), tmp_path)
    assert len(events) == 2
    result = events[-1]
    assert result.video is None and result.frames == 1
    assert "The box was not used" in result.notes[0]
    assert len(_box_files(result)[0]) == 1


def test_a_long_sentence_is_truncated_with_a_note(store, tmp_path):
    long_text = " ".join(["the small orange diamond near the top edge"] * 8)
    result = _run(store, RunRequest(SYNTHETIC, long_text, None, GROUND), DemoConfig(), tmp_path)[-1]
    assert any("WordPiece tokens but the model reads" in n for n in result.notes), result.notes


def test_attention_overlay_lies_on_the_search_region(store, tmp_path):
    frame = np.zeros((240, 320, 3), np.uint8)
    attention = np.zeros((10, 10), np.float32)
    attention[0, 9] = 1.0  # top-right token of the search region
    # box 20x20 at (100,100): search region side ceil(20*5)=100 around its centre -> x 60..160, y 60..160
    out = overlay_attention(frame, attention, (60, 60, 100, 100))
    weight = out.sum(axis=2).astype(float)
    ys, xs = np.indices(weight.shape)
    centre = ((xs * weight).sum() / weight.sum(), (ys * weight).sum() / weight.sum())
    assert centre == pytest.approx((154.5, 64.5), abs=1.0)  # the token covers x 150..159, y 60..69
    # and a run with the overlay on writes its video
    result = _run(store, RunRequest(SYNTHETIC, SENTENCE, BOX, TRACK_NLBB, attention=True),
                  DemoConfig(max_frames=4), tmp_path)[-1]
    assert open_video(result.video).num_frames == 4


def test_old_run_folders_are_deleted(tmp_path):
    old = pipeline.new_run_dir(tmp_path, keep_s=3600)
    (old / "boxes.txt").write_text("1,2,3,4\n")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    recent = pipeline.new_run_dir(tmp_path, keep_s=3600)
    new = pipeline.new_run_dir(tmp_path, keep_s=3600)
    assert not old.exists() and recent.exists() and new.exists() and recent != new


def test_bundled_examples_have_their_videos_and_boxes_inside_the_frame():
    from kit.tracking.tracker import check_box

    examples = pipeline.load_examples()
    assert {e["file"] for e in examples} >= {"synthetic.mp4", "bunny.mp4"}
    for example in examples:
        width, height = open_video(pipeline.EXAMPLES_DIR / example["file"]).original_size
        assert example["text"].strip() and example["title"].strip()
        if example.get("box"):
            check_box(example["box"], height, width)


# --- model and config ------------------------------------------------------------------------------------

def test_the_bundled_model_is_the_default(monkeypatch):
    monkeypatch.delenv("JOINTNLT_WEIGHTS", raising=False)
    store = pipeline.ModelStore(DemoConfig(device="cpu"))
    assert store.describe().startswith("**Model:** JointNLT-Lite (bundled, `assets/jointnlt-lite`) (not loaded")
    assert "**device:** CPU · **precision:** fp32" in store.describe()


def test_weights_that_cannot_load_are_reported_on_every_run(tmp_path):
    from kit.weights.checkpoint import CheckpointError

    store = pipeline.ModelStore(DemoConfig(weights=str(tmp_path / "missing.pth.tar")))
    for _ in range(2):
        with pytest.raises(CheckpointError, match="no such file or directory"):
            store.load()
    assert "**could not be loaded:**" in store.describe()


def test_config_comes_from_the_environment_then_flags():
    env = {"JOINTNLT_DEMO_MAX_FRAMES": "50", "JOINTNLT_DEVICE": "cpu", "JOINTNLT_DEMO_MAX_SIDE": "480"}
    config = config_from_env(env, max_side=320, weights=None)
    assert (config.max_frames, config.device, config.max_side) == (50, "cpu", 320)
    with pytest.raises(ValueError, match="JOINTNLT_DEMO_MAX_FRAMES must be a whole number"):
        config_from_env({"JOINTNLT_DEMO_MAX_FRAMES": "many"})
    with pytest.raises(ValueError, match="max_frames must be at least 1"):
        config_from_env({}, max_frames=0)
    assert config.accelerate == "none"
    assert config_from_env({"JOINTNLT_ACCELERATE": "compile"}).accelerate == "compile"
    with pytest.raises(ValueError, match="accelerate must be one of none, compile, got 'onnx'"):
        config_from_env({}, accelerate="onnx")


# --- the page's handlers ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def handlers(store, tmp_path_factory):
    from demo.app import Handlers

    handlers = Handlers(DemoConfig(max_frames=6), store, tmp_path_factory.mktemp("runs"))
    handlers.allowed_roots.append(tmp_path_factory.getbasetemp())  # the tests' own files stand for uploads
    return handlers


def _session(name="s1"):
    return SimpleNamespace(session_hash=name)


def test_a_run_from_the_page_yields_status_first_frame_video_plot_and_files(handlers):
    updates = list(handlers.run(str(SYNTHETIC), SENTENCE, "", TRACK_NL, False, False, _session()))
    status, image, video, plot, files = updates[-1]
    assert status.startswith("**Done: 6 frames.**")
    assert image.shape == (240, 320, 3) and Path(video["value"]).is_file()
    assert video["playback_position"] == pytest.approx(5 / 25)  # the player opens on the last frame (5 at 25/s)
    assert list(plot.columns) == ["frame", "score"] and len(plot) == 6
    assert [Path(f).suffix for f in files] == [".txt", ".csv", ".json"]
    assert any(u[0].startswith("First frame: box") for u in updates)  # shown before the video is done


@pytest.mark.parametrize("video, text, box, mode, message", [
    (None, SENTENCE, "", TRACK_NL, "no video"),
    ("/etc/hostname", SENTENCE, "", TRACK_NL, "hostname was not uploaded through this page"),
    (str(SYNTHETIC), "", "", TRACK_NL, "the sentence is empty"),
    (str(SYNTHETIC), SENTENCE, "1,2,3", TRACK_NLBB, "the box is four numbers"),
    (str(SYNTHETIC), SENTENCE, "310,10,40,40", TRACK_NLBB, "extends past the 320x240 frame"),
])
def test_bad_input_from_the_page_is_a_message(handlers, video, text, box, mode, message):
    updates = list(handlers.run(video, text, box, mode, False, False, _session()))
    assert updates[-1][0].startswith("⚠️ **") and message in updates[-1][0]


def test_an_unexpected_error_is_a_message_too(handlers, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "run", broken)
    status = list(handlers.run(str(SYNTHETIC), SENTENCE, "", TRACK_NL, False, False, _session()))[-1][0]
    assert status.startswith("⚠️ **Unexpected error (RuntimeError): disk on fire.**")
    assert "Traceback" in capsys.readouterr().err  # the details go to the server log only


def test_stop_ends_the_session_s_run_with_its_results(handlers):
    session = _session("stopper")
    handlers.start(session)
    handlers.stop(session)
    status = list(handlers.run(str(SYNTHETIC), SENTENCE, "", TRACK_NL, False, False, session))[-1][0]
    assert status.startswith("**Stopped: 1 frame.**")
    handlers.start(session)  # the next Run starts afresh
    status = list(handlers.run(str(SYNTHETIC), SENTENCE, "", TRACK_NL, False, False, session))[-1][0]
    assert status.startswith("**Done: 6 frames.**")


def test_two_clicks_on_the_first_frame_set_the_box_and_nl_bb(handlers):
    import gradio as gr

    image, frame, pending, status = handlers.show_first_frame(str(SYNTHETIC), "")
    # 320x240 is shown enlarged x2 (pipeline.SHOW_AT_LEAST); clicks are mapped back to the video's pixels
    assert image.shape == (480, 640, 3) and pending is None and "100 frames" in status
    image, pending, box, mode, status = handlers.click(frame, None, "", TRACK_NL,
                                                       gr.SelectData(None, {"index": [33, 100], "value": None}))
    assert pending == (16, 50) and box == "" and "opposite corner" in status
    image, pending, box, mode, status = handlers.click(frame, pending, "", TRACK_NL,
                                                       gr.SelectData(None, {"index": [92, 189], "value": None}))
    assert (pending, box, mode) == (None, "16,50,31,45", TRACK_NLBB)
    assert tuple(image[100, 40]) == pipeline.PALETTE[0]  # the box is drawn at the shown size (top edge)
    assert handlers.clear_box(frame, mode)[1:] == (None, "", TRACK_NL)


def test_small_videos_are_shown_enlarged_and_clicks_stay_in_video_pixels(tmp_path):
    from kit.tracking.video import VideoWriter

    path = tmp_path / "qcif.mp4"
    with VideoWriter(path, 10, 176, 144) as writer:
        for _ in range(3):
            writer.write(np.full((144, 176, 3), 128, np.uint8))
    shown = pipeline.preview(path, DemoConfig())
    assert shown.zoom == 3 and shown.frame.shape == (432, 528, 3) and shown.scale == 1
    assert pipeline.click_point((527, 431), shown.scale, shown.zoom) == (175, 143)  # the last pixel
    assert pipeline.click_point((3, 5), 0.5, 1) == (6, 10)  # a down-scaled video: not enlarged


def test_a_warning_goes_when_the_input_changes_and_other_lines_stay():
    from demo.app import clear_warning

    assert clear_warning("⚠️ **the sentence is empty**") == ""
    assert clear_warning("synthetic.mp4: 320×240, 100 frames") == {"__type__": "update"}
    assert clear_warning(None) == {"__type__": "update"}


def test_a_bad_upload_shows_a_message_in_place_of_the_first_frame(handlers, tmp_path):
    path = tmp_path / "notes.mp4"
    path.write_text("hello")
    image, frame, _, status = handlers.show_first_frame(str(path), "")
    assert image is None and frame is None and "notes.mp4 is not a readable video" in status


def test_the_page_builds_with_a_queue_and_one_model_run_at_a_time(tiny_weights):
    from demo.app import TITLE, build_app

    config = DemoConfig(weights=str(tiny_weights), concurrency=1)
    app = build_app(config)
    assert app.title == TITLE
    run = [fn for fn in app.fns.values() if fn.name == "run"]
    assert len(run) == 1 and run[0].concurrency_limit == 1 and run[0].concurrency_id == "model"
    stop = [fn for fn in app.fns.values() if fn.name == "stop"]
    assert stop[0].queue is False  # Stop is answered at once, not behind the run it stops


def test_importing_kit_does_not_import_gradio():
    code = "import kit, sys; assert 'gradio' not in sys.modules, 'kit imported gradio'"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr


def test_a_bad_flag_is_one_line_and_nothing_is_served():
    from demo.app import main

    with pytest.raises(SystemExit) as exit_:
        main(["--max-frames", "0"])
    assert exit_.value.code == "error: max_frames must be at least 1, got 0"  # printed to stderr, status 1
