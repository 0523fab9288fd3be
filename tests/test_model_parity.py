"""Model-level parity with the official code: every stored intermediate of golden-mini's five runs.

The dimensions come from `weights.pth['variant']` + `['bert_config']`, so the same tests run unchanged on a
full-size golden directory (JOINTNLT_GOLDEN_DIR).
"""
import pytest
import torch

from kit.model.record import record
from kit.weights.checkpoint import load_official

FEATURE_TOL = dict(atol=1e-4, rtol=1e-4)
BOX_TOL = dict(atol=1e-5, rtol=0)
RUNS = ["grounding", "portrait_grounding", "track_no_temporal", "track_temporal36", "track_temporal72"]
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


@pytest.fixture(scope="module")
def golden(golden_dir):
    model = load_official(golden_dir / "weights.pth")
    io = torch.load(golden_dir / "model_io.pt", weights_only=False)
    return model, io


def _close(ours, theirs, name, tol=FEATURE_TOL):
    theirs = torch.as_tensor(theirs)
    torch.testing.assert_close(ours.float().reshape(theirs.shape), theirs.float(), **tol,
                               msg=lambda m: f"{name}: {m}")


def _portrait_input(io):
    patch = torch.as_tensor(io["portrait_patch_uint8"]).permute(2, 0, 1)[None].float() / 255
    _, _, new_w, new_h = io["portrait_coords"]
    mask = torch.ones(1, *patch.shape[-2:], dtype=torch.bool)
    mask[:, :new_h, :new_w] = False
    return (patch - MEAN) / STD, mask


def _run(model, io, run):
    """Our forward for one golden run, with every intermediate recorded (`kit.model.record`)."""
    with torch.inference_mode(), record(model) as trace:
        text = model.encode_text(io["text_ids"], io["text_mask"])
        if run == "grounding":
            image = model.encode_image(io["grounding_img"], torch.as_tensor(io["grounding_att"]).bool())
            return model.ground(text, image), trace
        if run == "portrait_grounding":
            image = model.encode_image(*_portrait_input(io))
            return model.ground(text, image), trace
        template = model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None])
        search = model.encode_image(io["search_img"], torch.as_tensor(io["search_att"])[None])  # recorded last
        temporal = {"track_no_temporal": None,
                    "track_temporal36": io["grounding"]["out_roi_feature"].flatten(2),
                    "track_temporal72": io["temporal72"]}[run]
        return model.track(text, template, search, temporal), trace


def test_text_encoder(golden):
    model, io = golden
    with torch.inference_mode(), record(model) as trace:
        text = model.encode_text(io["text_ids"], io["text_mask"])
    hidden, inverted_mask = io["grounding"]["language_backbone"]
    _close(trace["language_backbone"], hidden, "BERT last layer")
    assert torch.equal(text.padding_mask, inverted_mask.bool())
    _close(text.tokens, io["grounding"]["text_proj"], "text_proj")


def test_template_features(golden):
    model, io = golden
    with torch.inference_mode(), record(model) as trace:
        template = model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None])
    for i, (ours, theirs) in enumerate(zip(trace["visual_backbone"], io["template_backbone"], strict=True)):
        _close(ours, theirs, f"template Swin stage {i}")
    _close(template.tokens, io["template_src"], "template_src")
    assert torch.equal(template.padding_mask, io["template_mask"])


@pytest.mark.parametrize("run", RUNS)
def test_run_intermediates_and_outputs(golden, run):
    model, io = golden
    expected = io[run]
    pred, trace = _run(model, io, run)
    for i, (ours, theirs) in enumerate(zip(trace["visual_backbone"], expected["visual_backbone"], strict=True)):
        _close(ours, theirs, f"Swin stage {i}")
    for name in ["visu_proj", "vl_joint_trans", "target_decoder", "score_map_tl", "score_map_br", "roi"]:
        _close(trace[name], expected[name], name)
    if "temporal_decoder" in expected:
        clue, memory = trace["temporal_decoder"]
        _close(clue, expected["temporal_decoder"][0], "SGTM output (TC)")
        _close(memory, expected["temporal_decoder"][1], "SGTM memory")
    else:
        assert "temporal_decoder" not in trace
    _close(trace["box_head"], expected["box_head"], "corner head xyxy", BOX_TOL)
    _close(pred.head_boxes, expected["raw_head_boxes_cxcywh"], "head cxcywh", BOX_TOL)
    _close(pred.boxes, expected["out_pred_boxes"], "returned boxes (w,h x1.5)", BOX_TOL)
    _close(pred.roi_feature, expected["out_roi_feature"], "RoI feature")


def test_boxes_are_head_boxes_enlarged_out_of_place(golden):
    model, io = golden
    pred, _ = _run(model, io, "grounding")
    torch.testing.assert_close(pred.boxes[:, :2], pred.head_boxes[:, :2])
    torch.testing.assert_close(pred.boxes[:, 2:], pred.head_boxes[:, 2:] * 1.5)
    # Golden weights make some widths negative: the degenerate path must still give finite RoIs.
    assert torch.isfinite(pred.roi_feature).all()


def test_the_official_forward_entry_points_give_the_same_boxes(golden):
    """The official raw-input forward (training) and forward_test (tracking) are our encode + ground / track."""
    model, io = golden
    with torch.inference_mode():
        text = model.encode_text(io["text_ids"], io["text_mask"])
        grounding = model.ground(text, model.encode_image(io["grounding_img"],
                                                          torch.as_tensor(io["grounding_att"]).bool()))
        tracking = model.track(text, model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None]),
                               model.encode_image(io["search_img"], torch.as_tensor(io["search_att"])[None]),
                               io["temporal72"])  # the golden tracking forward used the 72-token clue
    _close(grounding.boxes, io["grounding_forward_test_pred_boxes"], "grounding forward", BOX_TOL)
    _close(tracking.boxes, io["track_forward_pred_boxes"], "tracking forward", BOX_TOL)


def test_recording_changes_no_result_and_stops_with_the_block(golden):
    model, io = golden
    recorded, trace = _run(model, io, "track_temporal72")
    assert "temporal_decoder" in trace and not any(m._forward_hooks for m in model.modules())
    with torch.inference_mode():
        text = model.encode_text(io["text_ids"], io["text_mask"])
        plain = model.track(text, model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None]),
                            model.encode_image(io["search_img"], torch.as_tensor(io["search_att"])[None]),
                            io["temporal72"])
    assert torch.equal(plain.boxes, recorded.boxes) and torch.equal(plain.roi_feature, recorded.roi_feature)