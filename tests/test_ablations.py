"""The Table 1 ablation variants build, run forward and backward, and wire their parts as the paper says."""
import pytest
import torch

from kit.model.record import record
from kit.config import VARIANTS, get_preset
from kit.model import build_model

B = 2


def _tiny(variant):
    cfg = get_preset("mini_test", variant)
    cfg.language.hf_config.update(vocab_size=120, intermediate_size=64, hidden_size=48, num_attention_heads=4)
    cfg.search_size, cfg.template_size = 160, 64   # smaller inputs keep the test fast; token counts follow
    torch.manual_seed(0)
    return build_model(cfg)


def _inputs(cfg):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(1, 120, (B, cfg.language.max_text_len), generator=g)
    mask = torch.ones_like(ids)
    mask[:, 12:] = 0
    search = torch.randn(B, 3, cfg.search_size, cfg.search_size, generator=g)
    search_mask = torch.zeros(B, cfg.search_size, cfg.search_size, dtype=torch.bool)
    search_mask[1, :, 120:] = True  # one sample partly padded
    template = torch.randn(B, 3, cfg.template_size, cfg.template_size, generator=g)
    template_mask = torch.zeros(B, cfg.template_size, cfg.template_size, dtype=torch.bool)
    return ids, mask, search, search_mask, template, template_mask


def _grads(model, loss):
    model.zero_grad()
    loss.backward(retain_graph=True)  # the tracking graph includes the grounding pass
    return {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}


def _touches(names, prefix):
    return any(n.startswith(prefix) for n in names)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_forward_backward(variant):
    model = _tiny(variant).train()
    ids, mask, search, search_mask, template, template_mask = _inputs(model.config)
    text, image = model.encode_text(ids, mask), model.encode_image(search, search_mask)
    grounding = model.ground(text, image)
    temporal = torch.cat([grounding.roi_feature.flatten(2)] * 2, dim=-1)   # 72 RoI tokens, gradients flow
    tracking = model.track(text, model.encode_image(template, template_mask), image, temporal)
    for pred in (grounding, tracking):
        assert pred.boxes.shape == (B, 4) and pred.roi_feature.shape == (B, 256, 6, 6)
        assert torch.isfinite(pred.boxes).all()
    grounding_params = _grads(model, grounding.boxes.sum())
    tracking_params = _grads(model, tracking.boxes.sum())
    arch = model.config.architecture

    assert _touches(grounding_params, "visual_backbone") and _touches(grounding_params, "language_backbone")
    assert _touches(grounding_params, "vl_joint_trans.") and _touches(grounding_params, "box_head.")
    if arch.separate_relation:   # SepRM: each task trains its own relation encoder and head
        assert not _touches(grounding_params, "vl_joint_trans_tracking")
        assert _touches(tracking_params, "vl_joint_trans_tracking") and _touches(tracking_params, "box_head_tracking")
        assert not _touches(tracking_params, "vl_joint_trans.") and not _touches(tracking_params, "box_head.")
    else:
        assert _touches(tracking_params, "vl_joint_trans.") and _touches(tracking_params, "box_head.")
    assert hasattr(model, "target_decoder") == arch.target_decoder
    assert _touches(tracking_params, "target_decoder") == arch.target_decoder
    assert hasattr(model, "temporal_decoder") == arch.temporal
    assert _touches(tracking_params, "temporal_decoder") == arch.temporal


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_temporal_clue_changes_prediction_only_with_a_temporal_module(variant):
    model = _tiny(variant).eval()
    ids, mask, search, search_mask, template, template_mask = _inputs(model.config)
    temporal = torch.randn(B, 256, 72, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        text, s = model.encode_text(ids, mask), model.encode_image(search, search_mask)
        t = model.encode_image(template, template_mask)
        without, with_clue = model.track(text, t, s, None), model.track(text, t, s, temporal)
    changed = not torch.equal(without.boxes, with_clue.boxes)
    assert changed == model.config.architecture.temporal


@pytest.mark.parametrize("variant,expected_memory", [("msrm_tm", 72), ("full", 73)])
def test_nl_cls_token_joins_the_temporal_memory_only_in_the_full_model(variant, expected_memory):
    model = _tiny(variant).eval()
    ids, mask, search, search_mask, template, template_mask = _inputs(model.config)
    with torch.inference_mode(), record(model) as trace:
        text, s = model.encode_text(ids, mask), model.encode_image(search, search_mask)
        model.track(text, model.encode_image(template, template_mask), s, torch.randn(B, 256, 72))
    clue, memory = trace["temporal_decoder"]
    assert memory.shape == (expected_memory, B, 256) and clue.shape == (1, B, 256)


def test_grounding_ignores_the_template_placeholder():
    """The grounding template is a fully masked zero block: its values cannot reach the output."""
    model = _tiny("full").eval()
    ids, mask, search, search_mask, *_ = _inputs(model.config)
    with torch.inference_mode():
        text, s = model.encode_text(ids, mask), model.encode_image(search, search_mask)
        placeholder = model.template_placeholder(B, s.tokens.device)
        noisy = type(placeholder)(torch.randn_like(placeholder.tokens), placeholder.padding_mask)
        a = model.ground(text, s)
        b = model._predict("grounding", text, noisy, s, None, False, None)
    torch.testing.assert_close(a.boxes, b.boxes)


def test_text_in_query_adds_the_sentence_only_where_there_is_no_temporal_clue():
    model = _tiny("full").eval()
    ids, mask, search, search_mask, template, template_mask = _inputs(model.config)
    assert not get_preset("paper").text_in_query and get_preset("lite").text_in_query
    with torch.no_grad():
        text, image = model.encode_text(ids, mask), model.encode_image(search, search_mask)
        tpl = model.encode_image(template, template_mask)
        temporal = torch.randn(B, 256, 36)
        off = (model.ground(text, image), model.track(text, tpl, image), model.track(text, tpl, image, temporal))
        model.config.text_in_query = True
        on = (model.ground(text, image), model.track(text, tpl, image), model.track(text, tpl, image, temporal))
    assert not torch.allclose(off[0].boxes, on[0].boxes) and not torch.allclose(off[1].boxes, on[1].boxes)
    torch.testing.assert_close(off[2].boxes, on[2].boxes, rtol=0, atol=0)   # with a temporal clue: unchanged


def test_full_and_msrm_tm_are_one_network_for_grounding():
    """benchmarks/ablation.py trains their grounding-only phase once: same parameters from the same seed, same
    grounding output; only tracking with a temporal clue (SGTM reading the NL CLS token) tells them apart."""
    tm, full = _tiny("msrm_tm").eval(), _tiny("full").eval()
    state_tm, state_full = tm.state_dict(), full.state_dict()
    assert state_tm.keys() == state_full.keys()
    assert all(torch.equal(state_tm[k], state_full[k]) for k in state_tm)
    ids, mask, search, search_mask, template, template_mask = _inputs(tm.config)
    temporal = torch.randn(B, 256, 72, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        out = []
        for model in (tm, full):
            text, s = model.encode_text(ids, mask), model.encode_image(search, search_mask)
            out.append((model.ground(text, s).boxes,
                        model.track(text, model.encode_image(template, template_mask), s, temporal).boxes))
    assert torch.equal(out[0][0], out[1][0])
    assert not torch.equal(out[0][1], out[1][1])
