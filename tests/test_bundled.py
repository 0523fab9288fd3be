"""The bundled JointNLT-Lite (assets/jointnlt-lite): package-provided encoders left out of the file, the
default weights everywhere, the export of a training run, and the CLI on the bundled examples."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from kit.weights import checkpoint, loading
from kit.weights.checkpoint import CheckpointError, load_pretrained, save_pretrained
from kit.weights.loading import BUNDLED_MODEL, load_model
from kit.config import get_preset
from kit.model import build_model
from kit.train.export import export

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def require_packages():
    import importlib.util

    from kit.weights.pretrained import PACKAGES

    for package in PACKAGES.values():
        module = package.module
        if importlib.util.find_spec(module) is None:
            if os.environ.get("JOINTNLT_REQUIRE_PACKAGES") == "1":
                pytest.fail(f"{module} is not installed (JOINTNLT_REQUIRE_PACKAGES=1)")
            pytest.skip(f"{module} is not installed")


@pytest.fixture(scope="module")
def lite_model():
    require_packages()
    from kit.weights.pretrained import build_pretrained_model

    torch.manual_seed(0)
    return build_pretrained_model(get_preset("lite"))


def test_unchanged_package_encoder_is_left_out_and_read_back(lite_model, tmp_path):
    from safetensors import safe_open

    assert checkpoint.unchanged_package_modules(lite_model) == ["language_backbone", "visual_backbone"]
    save_pretrained(lite_model, tmp_path, exclude_package_weights=("language_backbone",))
    with safe_open(tmp_path / "model.safetensors", "pt") as f:
        keys = list(f.keys())
    assert keys and not any(k.startswith("language_backbone.") for k in keys)
    assert json.loads((tmp_path / "config.json").read_text())["package_weights"] == ["language_backbone"]
    back = load_pretrained(tmp_path)
    for (name, a), (_, b) in zip(lite_model.state_dict().items(), back.state_dict().items()):
        assert torch.equal(a, b), name


def test_a_trained_encoder_is_never_left_out(lite_model, tmp_path):
    model = load_pretrained(save_pretrained(lite_model, tmp_path / "full"))
    with torch.no_grad():
        model.language_backbone.bert.embeddings.word_embeddings.weight[5, 0] += 1.0
    with pytest.raises(CheckpointError, match="differs from the package's weights"):
        save_pretrained(model, tmp_path / "out", exclude_package_weights=("language_backbone",))
    assert checkpoint.unchanged_package_modules(model) == ["visual_backbone"]
    with pytest.raises(CheckpointError, match="only .* come from packages"):
        save_pretrained(model, tmp_path / "out", exclude_package_weights=("box_head",))


def test_export_keeps_what_training_changed(tmp_path):
    torch.manual_seed(0)
    model = build_model(get_preset("mini_test"))          # random encoders: nothing comes from a package
    save_pretrained(model, tmp_path / "run" / "checkpoints" / "step00000002")
    (tmp_path / "run" / "checkpoints" / "LATEST").write_text("step00000002\n")
    source, left_out = export(tmp_path / "run", tmp_path / "model")
    assert source.name == "step00000002" and left_out == []
    back = load_model(tmp_path / "model")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), back.state_dict().values()))
    with pytest.raises(CheckpointError, match="neither a checkpoint folder"):
        export(tmp_path / "model" / "nothing", tmp_path / "x")


def test_the_bundled_model_is_the_default_and_small(monkeypatch):
    require_packages()
    monkeypatch.delenv("JOINTNLT_WEIGHTS", raising=False)
    assert (BUNDLED_MODEL / "model.safetensors").stat().st_size <= 30 * 2**20
    assert loading.default_weights() == str(BUNDLED_MODEL)
    model = load_model()
    assert model.config.name == "lite" and not model.training
    monkeypatch.setenv("JOINTNLT_WEIGHTS", "/nowhere/weights")
    with pytest.raises(CheckpointError, match="/nowhere/weights: no such file"):
        load_model()


def test_examples_are_described_and_playable():
    from kit.tracking.video import open_video

    examples = json.loads((EXAMPLES / "examples.json").read_text())
    assert {e["file"] for e in examples} == {"synthetic.mp4", "bunny.mp4"}
    for e in examples:
        video = open_video(EXAMPLES / e["file"])
        W, H = video.original_size
        x, y, w, h = e["box"]
        assert e["text"].strip() and 0 <= x and 0 <= y and x + w <= W and y + h <= H and w > 0 and h > 0


def _example_auc(mode: str) -> tuple[float, float]:
    """AUC (%) of the bundled model and of the static first box on the synthetic example clip."""
    from kit.evaluation.metrics import sequence_curves
    from kit.tracking.tracker import Prompt, Tracker
    from kit.tracking.boxfiles import read_boxes_txt
    from kit.tracking.video import open_video

    example = next(e for e in json.loads((EXAMPLES / "examples.json").read_text()) if e["file"] == "synthetic.mp4")
    gt = read_boxes_txt(EXAMPLES / example["groundtruth"])
    tracker = Tracker(load_model(), device="cpu")
    boxes = []
    for i, frame in open_video(EXAMPLES / example["file"]):
        if i == 0:
            prompt = Prompt(text=example["text"], box=tuple(example["box"]) if mode == "nlbb" else None)
            state, (result,) = tracker.init(frame, [prompt])
        else:
            state, (result,) = tracker.step(state, frame)
        boxes.append(result.box)
    visible = gt[:, 2] > 0
    ours = sequence_curves(np.array(boxes), gt, visible).success_curve.mean() * 100
    static = sequence_curves(np.repeat(gt[:1], len(gt), axis=0), gt, visible).success_curve.mean() * 100
    return ours, static


def test_the_bundled_model_tracks_the_example_far_better_than_a_static_box(monkeypatch):
    require_packages()
    monkeypatch.delenv("JOINTNLT_WEIGHTS", raising=False)
    ours, static = _example_auc("nlbb")
    assert ours > static + 20, (ours, static)


def _bunny_mean_iou(tracker) -> float:
    """Mean IoU of the tracked rabbit against our hand labels (frames 15, 30, ...), from the frame-0 label."""
    from kit.evaluation.metrics import pixel_iou_xywh
    from kit.tracking.session import track_video
    from kit.tracking.tracker import Prompt

    rows = [line.split(",") for line in (EXAMPLES / "bunny_labels.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    labels = {int(r[0]): np.array([float(v) for v in r[1:5]]) for r in rows}
    prompt = Prompt(text="the big grey rabbit coming out of its burrow", box=tuple(labels[0]))
    boxes = {f.index: np.array(f.targets[0].box) for f in track_video(tracker, EXAMPLES / "bunny.mp4", [prompt])}
    ious = [pixel_iou_xywh(boxes[i][None], labels[i][None])[0] for i in sorted(labels) if i > 0]
    return float(np.mean(ious))


def test_the_bundled_model_keeps_the_real_rabbit_better_than_a_still_box(monkeypatch):
    """Real footage: with its real-footage checks (the default) the bundled Lite follows the rabbit of the
    bundled clip better than its first box left still (0.42); the paper's tracker alone does not."""
    from kit.tracking.tracker import Tracker, TrackerConfig

    require_packages()
    model = load_model(BUNDLED_MODEL)
    checked = _bunny_mean_iou(Tracker(model, device="cpu"))
    paper = _bunny_mean_iou(Tracker(model, TrackerConfig(model_settings=False), device="cpu"))
    assert checked > 0.5 and paper < 0.4, (checked, paper)


@pytest.mark.parametrize("example,extra", [("bunny.mp4", ["--box", "116,122,147,160"]), ("synthetic.mp4", [])])
def test_the_cli_runs_the_bundled_model_on_the_examples(example, extra, tmp_path, capsys, monkeypatch):
    """Issue 6's 'done when': a real sample video from a box (NL+BB), a synthetic one from the sentence
    alone (NL), the bundled model, nothing downloaded (conftest puts the Hub client offline)."""
    from kit.cli import EXIT_OK
    from kit.track import main
    from kit.tracking.boxfiles import read_boxes_txt
    from kit.tracking.video import open_video

    require_packages()
    monkeypatch.delenv("JOINTNLT_WEIGHTS", raising=False)
    text = next(e["text"] for e in json.loads((EXAMPLES / "examples.json").read_text()) if e["file"] == example)
    out, boxes = tmp_path / "out.mp4", tmp_path / "boxes.txt"
    assert main([str(EXAMPLES / example), "--text", text, *extra, "--out", str(out), "--boxes", str(boxes),
                 "--max-frames", "12", "--device", "cpu"]) == EXIT_OK
    assert read_boxes_txt(boxes).shape == (12, 4)
    assert sum(1 for _ in open_video(out)) == 12
