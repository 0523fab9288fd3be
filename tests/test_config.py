"""Configs: presets, serialisation, the paper's exact size, and swappable encoders."""
import json

import pytest
import torch

from kit.config import ModelConfig, VisionConfig, get_preset
from kit.model import build_model

# docs/official-code.md: The model, measured on the official code.
PAPER_PARAMS = {"visual_backbone": 59_438_456, "language_backbone": 108_891_648, "vl_joint_trans": 4_738_560,
                "temporal_decoder": 11_059_712, "target_decoder": 6_321_152, "box_head": 1_956_738,
                "visu_proj": 131_328, "text_proj": 196_864, "vl_pos_embed": 129_280, "sep_embed": 256,
                "temporal_query_embed": 256, "target_query_embed": 256}


def test_paper_preset_has_the_official_parameter_count_per_module():
    model = build_model(get_preset("paper"))
    counts = {}
    for name, p in model.named_parameters():
        top = name.split(".")[0]
        counts[top] = counts.get(top, 0) + p.numel()
    assert counts == PAPER_PARAMS
    assert sum(counts.values()) == 192_864_506
    assert model.config.num_positions == 505


def test_config_round_trips_through_json():
    cfg = get_preset("mini_test", "msrm_tm")
    again = ModelConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_unknown_config_keys_and_names_are_errors():
    d = get_preset("paper").to_dict()
    d["vision"]["embed_dims"] = 3
    with pytest.raises(ValueError, match="unknown VisionConfig keys: \\['embed_dims'\\]"):
        ModelConfig.from_dict(d)
    with pytest.raises(ValueError, match="unknown preset 'big'"):
        get_preset("big")
    with pytest.raises(ValueError, match="unknown variant 'nope'"):
        get_preset("paper", "nope")


def test_official_variant_names_map_to_presets():
    assert get_preset("swin_b_ep300") == get_preset("paper")


def _forward_shapes(cfg):
    model = build_model(cfg).eval()
    ids = torch.randint(1, 100, (1, cfg.language.max_text_len))
    mask = torch.ones_like(ids)
    img = torch.randn(1, 3, cfg.search_size, cfg.search_size)
    img_mask = torch.zeros(1, cfg.search_size, cfg.search_size, dtype=torch.bool)
    with torch.inference_mode():
        pred = model.ground(model.encode_text(ids, mask), model.encode_image(img, img_mask))
    return model, pred


def test_any_timm_backbone_with_a_stride_16_map_and_any_bert_family_encoder():
    cfg = get_preset("mini_test")
    cfg.vision = VisionConfig(backbone="resnet18")
    cfg.language.model_type = "distilbert"
    cfg.language.hf_config = dict(vocab_size=200, dim=64, n_layers=1, n_heads=2, hidden_dim=64,
                                  max_position_embeddings=64)
    cfg.search_size, cfg.template_size = 128, 64
    model, pred = _forward_shapes(cfg)
    assert model.visual_backbone.num_channels == 256   # resnet18 layer3, stride 16
    assert model.language_backbone.num_channels == 64
    assert pred.boxes.shape == (1, 4) and pred.roi_feature.shape == (1, 256, 6, 6)


def test_a_backbone_without_the_needed_stride_is_refused():
    from kit.model.vision import build_vision_backbone

    with pytest.raises(ValueError, match="timm model 'resnet18' has no stride-64 feature map"):
        build_vision_backbone(VisionConfig(backbone="resnet18"), stride=64)
