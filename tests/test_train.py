"""Training: config presets and strict overrides, the LR schedule, losses on hand-computed boxes, the sampler
and processing on a tiny synthetic benchmark, a loss that decreases on a fixed batch, bf16 and clipping,
exact resume, CSV / TensorBoard logs, and a 2-process torchrun (gloo) run on the CPU.

All run in seconds on 2 CPU cores with the `smoke` preset (a ~3M-parameter model, 128-px crops); the
torchrun test starts two Python processes (~10-20 s).
"""
import csv
import dataclasses
import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("skimage", reason="the synthetic benchmark's backgrounds are scikit-image's bundled photos")

from kit.data import load_dataset
from kit.data import synthetic as syn
from kit.train import config as tc
from kit.train.actor import JointActor
from kit.train.engine import train_one_epoch
from kit.train.losses import (box_terms, box_token_distribution, corner_map_loss, grounding_loss,
                              target_attention_loss, tracking_loss)
from kit.train.main import build_training_model, train
from kit.train.main import main as train_main
from kit.train.optim import build_optimizer, build_scaler, build_scheduler, lr_factor, parameter_groups
from kit.train.processing import Processing, all_padding, box_in_crop, collate, mentions_left_or_right
from kit.train.sampling import (
    DRAW_COUNTS,
    EpochBatches,
    SamplingError,
    Sample,
    Source,
    TrainingSampler,
    VirtualEpoch,
    check_draws,
    sample_rng,
    validation_samples,
)

REPO = Path(__file__).resolve().parents[1]
TINY = syn.SyntheticConfig(width=160, height=120, train_frames=24, eval_frames=24, train=4, val=2, test=0,
                           grounding_train=4, grounding_val=0, grounding_test=0)


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    syn.write_benchmark(root, TINY, splits=("train", "val"), progress=False)
    return root


def smoke_config(root: Path, out_dir: Path, *overrides: str) -> tc.TrainConfig:
    cfg = tc.get_train_preset("smoke")
    return tc.parse_overrides([f"data.roots.synthetic={root}", f"run.out_dir={out_dir}", *overrides], cfg)


@pytest.fixture(scope="module")
def smoke_parts(synthetic_root):
    cfg = smoke_config(synthetic_root, Path("unused"))
    torch.manual_seed(0)
    model = build_training_model(cfg)
    processing = Processing(model.config, cfg.data)
    dataset = VirtualEpoch(TrainingSampler.from_config(cfg.data), processing, seed=0)
    return cfg, model, processing, dataset


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --- config -------------------------------------------------------------------------------------------------

def test_presets_resolve_and_round_trip_through_json():
    for name in tc.PRESETS:
        cfg = tc.get_train_preset(name)
        tc.validate(cfg)
        assert tc.TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    paper = tc.get_train_preset("paper")
    assert (paper.optim.lr_head, paper.optim.lr_vision, paper.optim.lr_language) == (2e-4, 1e-4, 1e-5)
    assert (paper.optim.batch_size, paper.optim.epochs, paper.optim.samples_per_epoch) == (8, 300, 60000)
    assert paper.optim.milestones == (200, 250, 290) and paper.optim.grad_clip_norm == 0.1
    assert (paper.loss.giou_weight, paper.loss.l1_weight) == (2.0, 5.0)
    assert paper.model.pretrained and paper.data.ratios == (1.0, 1.0, 1.0, 1.0)


def test_synthetic_cpu_uses_the_pretrained_lite_model():
    model = tc.get_train_preset("synthetic_cpu").model
    assert (model.preset, model.pretrained) == ("lite", True)


def test_weight_sources_override_the_model_preset():
    paper = tc.model_config(tc.get_train_preset("paper").model)
    assert (paper.vision.pretrained, paper.language.pretrained) == ("timm", "bert-base-uncased")
    choice = tc.parse_overrides(["model.preset=train_tiny", "model.language_weights=/some/folder",
                                 "model.vision_weights=none"]).model
    cfg = tc.model_config(choice)
    assert (cfg.vision.pretrained, cfg.language.pretrained) == (None, "/some/folder")


def test_overrides_are_coerced_to_the_field_types():
    cfg = tc.parse_overrides(["optim.lr_head=1e-3", "optim.batch_size=4", "run.tensorboard=false",
                              "optim.milestones=10,20", "data.datasets=synthetic:train", "data.ratios=2",
                              "data.roots.synthetic=/x", "model.variant=msrm", "optim.betas=0.8,0.9"],
                             tc.get_train_preset("smoke"))
    assert cfg.optim.lr_head == 1e-3 and isinstance(cfg.optim.lr_head, float)
    assert cfg.optim.batch_size == 4 and cfg.run.tensorboard is False
    assert cfg.optim.milestones == (10, 20) and cfg.data.datasets == ("synthetic:train",)
    assert cfg.data.ratios == (2.0,) and cfg.data.roots.synthetic == "/x" and cfg.optim.betas == (0.8, 0.9)
    assert tc.parse_overrides(["optim.milestones="]).optim.milestones == ()


@pytest.mark.parametrize("item, message", [
    ("optim.lr=1e-3", "unknown config key 'optim.lr': optim has no 'lr'; valid keys: optim.lr_head"),
    ("nope=1", "unknown config key 'nope'"),
    ("optim=1", "'optim' is a section"),
    ("optim.batch_size=two", "optim.batch_size must be an integer, got 'two'"),
    ("run.progress=maybe", "run.progress must be true or false"),
    ("optim.lr_head", "overrides are key=value"),
    ("data.ratios=1,1,1", "data.datasets (4) and data.ratios (3) must have the same"),
    ("optim.precision=fp8", "optim.precision must be fp32, bf16 or fp16"),
])
def test_bad_overrides_are_errors(item, message):
    with pytest.raises(ValueError) as err:
        tc.parse_overrides([item])
    assert message in str(err.value)


def test_command_line_prints_the_resolved_config():
    out = subprocess.run([sys.executable, "-m", "kit.train", "--preset", "smoke", "optim.lr_head=0.5",
                          "--print-config"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["optim"]["lr_head"] == 0.5
    bad = subprocess.run([sys.executable, "-m", "kit.train", "--preset", "smoke", "optim.lr=1"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown config key 'optim.lr'" in bad.stderr


def test_unknown_model_preset_and_small_vocabulary_are_errors():
    with pytest.raises(ValueError, match="unknown model preset 'nope'"):
        tc.model_config(tc.ModelChoice(preset="nope"))
    with pytest.raises(ValueError, match="text vocabulary of 2500 tokens"):
        build_training_model(tc.parse_overrides(["model.preset=mini_test"], tc.get_train_preset("smoke")))


# --- optimiser and schedule ---------------------------------------------------------------------------------

@pytest.mark.parametrize("epoch, factor", [
    (1, 0.01 * (1 - 1 / 30) + 1 / 30), (2, 0.01 * (1 - 2 / 30) + 2 / 30), (29, 0.01 / 30 + 29 / 30), (30, 1.0),
    (31, 1.0), (200, 1.0), (201, 0.1), (250, 0.1), (251, 0.01), (290, 0.01), (291, 0.001), (300, 0.001),
])
def test_warmup_multistep_factors_of_the_paper_schedule(epoch, factor):
    o = tc.get_train_preset("paper").optim
    assert lr_factor(epoch - 1, o.warmup_epochs, o.warmup_factor, o.milestones, o.gamma) == pytest.approx(factor)
    if epoch == 1:
        assert round(factor, 3) == 0.043


def test_scheduler_steps_once_per_epoch_on_every_group():
    model = torch.nn.ModuleDict({"visual_backbone": torch.nn.Linear(2, 2), "language_backbone": torch.nn.Linear(2, 2),
                                 "box_head": torch.nn.Linear(2, 2)})
    o = tc.get_train_preset("paper").optim
    optimizer = build_optimizer(model, o)
    assert [g["name"] for g in optimizer.param_groups] == ["head", "vision", "language"]
    scheduler = build_scheduler(optimizer, o)
    lrs = []
    for _epoch in range(1, 301):
        lrs.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx([2e-4 * 0.043, 1e-4 * 0.043, 1e-5 * 0.043], rel=1e-2)
    assert lrs[29] == pytest.approx([2e-4, 1e-4, 1e-5])
    assert lrs[200] == pytest.approx([2e-5, 1e-5, 1e-6]) and lrs[299] == pytest.approx([2e-7, 1e-7, 1e-8])
    assert optimizer.defaults["weight_decay"] == 1e-4


def test_zero_learning_rate_freezes_the_group():
    model = torch.nn.ModuleDict({"language_backbone": torch.nn.Linear(2, 2), "box_head": torch.nn.Linear(2, 2)})
    groups = parameter_groups(model, dataclasses.replace(tc.OptimConfig(), lr_language=0.0))
    assert [g["name"] for g in groups] == ["head"]
    assert not any(p.requires_grad for p in model["language_backbone"].parameters())


def test_fp16_needs_cuda():
    assert build_scaler("bf16", torch.device("cpu")) is None
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        build_scaler("fp16", torch.device("cpu"))


# --- losses --------------------------------------------------------------------------------------------------

def test_giou_and_l1_on_hand_computed_boxes():
    gt = torch.tensor([[0.1, 0.1, 0.2, 0.2]] * 3)                        # x,y,w,h -> (0.1,0.1)-(0.3,0.3)
    pred = torch.tensor([[0.2, 0.2, 0.2, 0.2],                          # same box: GIoU 1
                         [0.3, 0.3, 0.2, 0.2],                          # (0.2,0.2)-(0.4,0.4): IoU 1/7, hull 0.09
                         [0.7, 0.7, 0.2, 0.2]])                         # (0.6,0.6)-(0.8,0.8): disjoint, hull 0.49
    terms = box_terms(pred, gt)
    giou = torch.tensor([1.0, 1 / 7 - (0.09 - 0.07) / 0.09, 0 - (0.49 - 0.08) / 0.49])
    assert torch.allclose(terms.giou_loss, 1 - giou, atol=1e-6)
    assert torch.allclose(terms.iou, torch.tensor([1.0, 1 / 7, 0.0]), atol=1e-6)
    assert terms.l1.item() == pytest.approx((0 + 0.1 * 4 + 0.5 * 4) / 12, abs=1e-6)
    assert grounding_loss(terms).item() == pytest.approx(2 * (1 - giou).mean().item() + 5 * terms.l1.item(), abs=1e-6)
    official = box_terms(pred, gt, official=True)                         # no degenerate box: the same numbers
    assert torch.allclose(official.giou_loss, terms.giou_loss, atol=1e-6)


def test_ground_truth_is_clamped_to_the_image():
    gt = torch.tensor([[-0.1, 0.5, 0.3, 0.7]])                            # x1 -0.1 -> 0, y2 1.2 -> 1
    pred = torch.tensor([[0.1, 0.75, 0.2, 0.5]])                          # exactly (0,0.5)-(0.2,1)
    terms = box_terms(pred, gt)
    assert terms.iou.item() == pytest.approx(1.0) and terms.l1.item() == pytest.approx(0.0, abs=1e-7)


def test_degenerate_box_no_longer_zeroes_the_batch():
    gt = torch.tensor([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]])
    pred = torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.2, 0.2, -0.1, 0.2]], requires_grad=True)  # 2nd: x2 < x1
    robust = box_terms(pred, gt)
    assert robust.giou_loss[0].item() == pytest.approx(1 - (1 / 7 - 0.02 / 0.09), abs=1e-6)
    # w clamped to 0: a zero-area box at x=0.2, y 0.1-0.3 inside the hull of the GT: IoU 0, GIoU -(0.04-0.04)/0.04
    assert robust.iou[1].item() == 0.0 and robust.giou_loss[1].item() == pytest.approx(1.0, abs=1e-6)
    loss = tracking_loss(robust, torch.tensor([1.0, 1.0]))
    loss.backward()
    assert torch.isfinite(pred.grad).all() and pred.grad.abs().sum() > 0
    official = box_terms(pred.detach(), gt, official=True)              # PRESERVE option: whole batch zeroed
    assert official.giou_loss.tolist() == [0.0, 0.0] and official.iou.tolist() == [0.0, 0.0]
    assert official.l1.item() == pytest.approx(robust.l1.item())


def test_tracking_loss_is_masked_by_the_grounding_iou():
    terms = box_terms(torch.tensor([[0.3, 0.3, 0.2, 0.2], [0.7, 0.7, 0.2, 0.2]]),
                      torch.tensor([[0.1, 0.1, 0.2, 0.2], [0.1, 0.1, 0.2, 0.2]]))
    mask = torch.tensor([1.0, 0.0])
    expected = 2 * terms.giou_loss[0].item() / 2 + 5 * terms.l1.item() * 0.5   # L1 scaled by the valid fraction
    assert tracking_loss(terms, mask).item() == pytest.approx(expected, abs=1e-6)
    assert tracking_loss(terms, torch.zeros(2)).item() == 0.0


def test_corner_map_loss_targets_the_heads_corners():
    # GT x,y,w,h (0.4,0.2,0.3,0.45) on a 10x10 map: centre (0.55,0.425), head half-size = GT half / 1.5 =
    # (0.1,0.15): head corners (0.45,0.275) and (0.65,0.575), i.e. cells (4.5,2.75) and (6.5,5.75).
    gt = torch.tensor([[0.4, 0.2, 0.3, 0.45]])
    cells = torch.arange(10.0)

    def gaussian_logits(u, v, sigma=1.0):
        return (-0.5 * ((cells[None, :] - u) ** 2 + (cells[:, None] - v) ** 2) / sigma ** 2).reshape(1, 1, 10, 10)

    exact = corner_map_loss(gaussian_logits(4.5, 2.75), gaussian_logits(6.5, 5.75), gt, 1.5)
    assert exact.shape == (1,) and exact.item() == pytest.approx(0.0, abs=1e-5)     # KL of the target to itself
    shifted = corner_map_loss(gaussian_logits(5.5, 2.75), gaussian_logits(6.5, 5.75), gt, 1.5)
    far = corner_map_loss(gaussian_logits(0.0, 9.0), gaussian_logits(6.5, 5.75), gt, 1.5)
    assert 0 < shifted.item() < far.item()
    # one cell off in x on one map: KL of two unit Gaussians one sigma apart = 0.5 (up to truncation), halved
    assert shifted.item() == pytest.approx(0.25, abs=0.02)
    tl, br = torch.zeros(1, 1, 10, 10, requires_grad=True), torch.zeros(1, 1, 10, 10, requires_grad=True)
    corner_map_loss(tl, br, gt, 1.5).sum().backward()                     # a flat map is pulled to each corner
    for grad, (u, v) in ((tl.grad, (4.5, 2.75)), (br.grad, (6.5, 5.75))):
        y, x = divmod(int(grad.flatten().argmin()), 10)
        assert abs(x - u) <= 0.5 and abs(y - v) <= 0.75


def test_target_attention_loss_puts_the_attention_on_the_boxs_cells():
    gt = torch.tensor([[0.25, 0.0, 0.25, 0.5],      # exactly column 1, rows 0-1 of a 4x4 grid
                       [0.2, 0.2, 0.1, 0.1]])       # straddles cells (0,0), (0,1), (1,0), (1,1) equally
    dist = box_token_distribution(gt, 4)
    expected = torch.zeros(2, 16)
    expected[0, [1, 5]] = 0.5
    expected[1, [0, 1, 4, 5]] = 0.25
    torch.testing.assert_close(dist, expected)
    assert target_attention_loss(expected[:, None], gt, 4).abs().max() < 1e-5      # attention = target: KL 0
    uniform = torch.full((2, 1, 16), 1 / 16)
    torch.testing.assert_close(target_attention_loss(uniform, gt, 4), torch.tensor([math.log(8), math.log(4)]))


# --- sampling and processing ---------------------------------------------------------------------------------

def test_sampler_draws_visible_frames_after_the_grounding_frame(synthetic_root):
    cfg = tc.get_train_preset("smoke").data
    cfg.roots.synthetic = str(synthetic_root)
    sampler = TrainingSampler.from_config(cfg)
    assert [s.is_video for s in sampler.sources] == [True, False]
    videos = load_dataset("synthetic", synthetic_root, split="train")
    drawn = {"video": 0, "image": 0}
    for i in range(40):
        s = sampler.sample(sample_rng(0, 1, i))
        if "grounding" in s.frames[0].relative_to(synthetic_root).parts:   # a grounding image: 1 frame x 3
            assert s.frame_ids == [0, 0, 0] and len(set(s.frames)) == 1
            drawn["image"] += 1
            continue
        drawn["video"] += 1
        seq = videos[s.name]
        g, searches = s.frame_ids[0], s.frame_ids[1:]
        assert g < min(30, len(seq)) - 2 and len(searches) == 2 and all(g < k < g + 200 for k in searches)
        assert seq.visible[[g, *searches]].all()
        np.testing.assert_array_equal(s.boxes, seq.boxes[[g, *searches]])
        assert s.sentence == seq.sentence and s.frames == [seq.frames[k] for k in s.frame_ids]
    assert drawn["video"] > 5 and drawn["image"] > 5                    # ratios 1:1
    first, again = sampler.sample(sample_rng(0, 1, 7)), sampler.sample(sample_rng(0, 1, 7))
    assert first.frame_ids == again.frame_ids and first.frames == again.frames    # fixed by (seed, epoch, index)


def test_epoch_batches_shard_the_virtual_epoch():
    ranks = [list(EpochBatches(20, 3, epoch=2, rank=r, world_size=2)) for r in (0, 1)]
    assert [len(b) for b in ranks] == [3, 3]
    flat = [key for r in ranks for batch in r for key in batch]
    assert len(set(flat)) == 18 and {e for e, _ in flat} == {2}
    assert all(i % 2 == 0 for _, i in (k for b in ranks[0] for k in b))
    assert list(EpochBatches(20, 3, epoch=2, rank=1, world_size=2, start=2)) == ranks[1][2:]


def test_processing_shapes_and_labels_map_back_to_the_ground_truth(smoke_parts):
    cfg, model, processing, dataset = smoke_parts
    item = dataset[(1, 0)]
    S, n = model.config.search_size, cfg.data.num_search
    assert item["grounding_img"].shape == (3, S, S) and item["grounding_mask"].dtype == torch.bool
    assert item["search_img"].shape == (n, 3, S, S) and item["search_mask"].shape == (n, S, S)
    assert item["search_box"].shape == (n, 4) and item["text_ids"].shape == (40,)
    assert item["text_mask"].sum() > 2 and not all_padding(item["search_mask"][0], model.config.search_feat_size)

    # Un-augmented: a crop around a known box; the label maps back to the frame's ground truth exactly.
    source = Source("synthetic:val", cfg.data.roots)
    sample, crop_boxes = validation_samples(source, 1, num_search=2)[0]
    out = processing(sample, None, crop_boxes=crop_boxes)
    gt, around = sample.boxes[1], np.asarray(crop_boxes[0])
    crop_sz = math.ceil(math.sqrt(around[2] * around[3]) * cfg.data.search_factor)
    rf = S / crop_sz
    label = out["search_box"][0].double().numpy() * S
    centre = (label[:2] + label[2:] / 2 - (S - 1) / 2) / rf + around[:2] + around[2:] / 2
    np.testing.assert_allclose(np.concatenate([centre - label[2:] / rf / 2, label[2:] / rf]), gt, atol=1e-4)
    scale = S / TINY.width                                                 # grounding: long side -> S, aspect kept
    np.testing.assert_allclose(out["grounding_box"].double().numpy() * S / scale, sample.boxes[0], atol=1e-4)
    assert out["grounding_coords"].tolist() == [0, 0, S, int(S * TINY.height / TINY.width)]
    # centre (9-1)/2 + (14-12)*2 = 8 -> x = 8 - 4 = 4 px; y: centre 4 -> 0 (the (out-1)/2 convention)
    assert box_in_crop([12, 10, 4, 4], [10, 10, 4, 4], 2.0, 9).tolist() == pytest.approx([4 / 9, 0, 8 / 9, 8 / 9])


def test_left_right_words_are_detected():
    for sentence in ("the red circle left of the ring", "Right-hand star", "the leftmost one", "RIGHT"):
        assert mentions_left_or_right(sentence)
    for sentence in ("the bright star", "an upright cross", "copyright sign", "the upper ring"):
        assert not mentions_left_or_right(sentence)


def test_no_flip_when_the_sentence_says_left_or_right(smoke_parts, synthetic_root):
    cfg, model, _, dataset = smoke_parts
    source = Source("synthetic:train", cfg.data.roots)
    seq = source[0]
    ids = [int(i) for i in np.flatnonzero(seq.visible & (seq.boxes[:, 2] > 0))[[0, 3, 6]]]
    base = Sample(seq.dataset, seq.name, "", [seq.frames[i] for i in ids], seq.boxes[ids], ids)

    def run(sentence, flip_prob, aware=True):
        data = dataclasses.replace(cfg.data, flip_prob=flip_prob, language_aware_flip=aware)
        return Processing(model.config, data)(dataclasses.replace(base, sentence=sentence), sample_rng(3, 1, 0))

    never = run("the red circle left of the blue ring", 0.0)
    kept = run("the red circle left of the blue ring", 1.0)           # flips asked for, but not done
    for key in ("search_img", "search_box", "search_mask"):
        assert torch.equal(kept[key], never[key])
    assert not kept["flip_allowed"]
    official = run("the red circle left of the blue ring", 1.0, aware=False)   # the official behaviour flips
    assert not torch.equal(official["search_img"], never["search_img"])
    neutral_never, neutral = run("the red circle", 0.0), run("the red circle", 1.0)
    assert not torch.equal(neutral["search_box"], neutral_never["search_box"])


# --- training steps -----------------------------------------------------------------------------------------

def test_loss_decreases_on_a_fixed_batch(smoke_parts):
    cfg, model, processing, dataset = smoke_parts
    torch.manual_seed(0)
    model = build_training_model(cfg)
    # Every tracking term counts (mask threshold -1), so the objective does not grow when the grounding
    # IoU passes 0.5 and switches the tracking losses on.
    actor = JointActor(model, processing, dataclasses.replace(cfg.loss, track_iou_threshold=-1.0), cfg.data.num_search)
    batch = collate([dataset[(1, i)] for i in range(4)])
    optimizer = build_optimizer(model, cfg.optim)
    losses = []
    train_one_epoch(actor, [batch] * 12, optimizer, device=torch.device("cpu"), grad_clip_norm=cfg.optim.grad_clip_norm,
                    on_step=lambda stats: losses.append(float(stats["loss"])) and False)
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses)
    assert np.mean(losses[-3:]) < 0.7 * losses[0], losses


def test_bf16_step_on_cpu_and_clipping_applies(smoke_parts):
    cfg, _, processing, dataset = smoke_parts
    torch.manual_seed(0)
    model = build_training_model(cfg)
    actor = JointActor(model, processing, cfg.loss, cfg.data.num_search)
    batch = collate([dataset[(1, i)] for i in range(2)])
    optimizer = build_optimizer(model, cfg.optim)
    before = [p.detach().clone() for p in model.parameters()]
    norms = []

    def after_step(stats):
        grads = torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
        norms.append((float(stats["grad_norm"]), torch.linalg.vector_norm(grads).item()))
        assert math.isfinite(float(stats["loss"]))

    train_one_epoch(actor, [batch], optimizer, device=torch.device("cpu"), precision="bf16", grad_clip_norm=0.1,
                    on_step=after_step)
    (pre_clip, post_clip), = norms
    assert pre_clip > 0.1 and post_clip == pytest.approx(0.1, rel=1e-3)    # the gradients that stepped were clipped
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_training_writes_logs_and_resumes_exactly(synthetic_root, tmp_path):
    # 4 iterations per epoch; run A saves at step 3 (mid-epoch 1) and goes on to step 6 (epoch 2).
    common = ["optim.epochs=2", "optim.warmup_epochs=2", "run.max_steps=6"]
    a = train(smoke_config(synthetic_root, tmp_path / "a", *common, "run.checkpoint_every_steps=3",
                           "run.tensorboard=true"))
    assert a["step"] == 6 and Path(a["checkpoint"]).name == "step00000006"
    ckpt = tmp_path / "a" / "checkpoints" / "step00000003"
    assert {p.name for p in ckpt.iterdir()} == {"model.safetensors", "config.json", "training_state.pt",
                                                "train_config.json"}
    state = torch.load(ckpt / "training_state.pt", weights_only=True)
    assert state["position"] == {"epoch": 1, "batch": 3, "step": 3}
    saved_cfg = tc.TrainConfig.from_dict(json.loads((tmp_path / "a" / "train_config.json").read_text()))
    assert saved_cfg.run.max_steps == 6 and saved_cfg.name == "smoke"
    rows = read_csv(tmp_path / "a" / "log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6] and {r["epoch"] for r in rows} == {"1", "2"}
    assert {"loss", "loss_grounding", "loss_track1", "loss_track2", "lr_head", "samples_per_s"} <= set(rows[0])
    assert float(rows[0]["lr_head"]) == pytest.approx(1e-3 * (0.01 * 0.5 + 0.5))  # warm-up epoch 1 of 2
    assert float(rows[4]["lr_head"]) == pytest.approx(1e-3)
    assert [int(r["step"]) for r in read_csv(tmp_path / "a" / "eval.csv")] == [4]
    assert list((tmp_path / "a" / "tb").glob("events.out.tfevents.*"))

    from kit.weights.loading import load_model
    assert load_model(ckpt).config.name == "train_tiny"              # a checkpoint is a model in our format

    b = train(smoke_config(synthetic_root, tmp_path / "b", *common, f"run.resume={ckpt}", "run.workers=1"))
    assert b["step"] == 6
    resumed = read_csv(tmp_path / "b" / "log.csv")
    assert [r["step"] for r in resumed] == ["4", "5", "6"]
    keys = ("loss", "loss_grounding", "loss_track1", "loss_track2", "grad_norm", "iou_grounding", "lr_head")
    assert [[r[k] for k in keys] for r in resumed] == [[r[k] for k in keys] for r in rows[3:]]  # bit for bit
    from safetensors.torch import load_file
    wa = load_file(tmp_path / "a" / "checkpoints" / "step00000006" / "model.safetensors")
    wb = load_file(tmp_path / "b" / "checkpoints" / "step00000006" / "model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_single_step_actor_ablation_variant_and_auto_resume(synthetic_root, tmp_path):
    # forward_joint (one tracking pass, temporal None) on the MSRM-only ablation, then `run.resume=auto`.
    overrides = ["data.num_search=1", "model.variant=msrm", "optim.epochs=1", "run.eval_dataset="]
    first = train(smoke_config(synthetic_root, tmp_path, *overrides, "run.max_steps=2"))
    assert first["step"] == 2 and "loss_track1" in first["train"] and "loss_track2" not in first["train"]
    second = train(smoke_config(synthetic_root, tmp_path, *overrides, "run.resume=auto"))
    assert second["step"] == 4 and second["epoch"] == 2                   # the rest of epoch 1 (4 iterations)
    assert [r["step"] for r in read_csv(tmp_path / "log.csv")] == ["1", "2", "3", "4"]


def test_time_budget_stops_and_saves_and_custom_evaluation_is_logged(synthetic_root, tmp_path):
    calls = []

    def evaluate_fn(model, device, epoch):
        calls.append(epoch)
        return {"custom_metric": 0.25}

    done = train(smoke_config(synthetic_root, tmp_path, "run.max_minutes=1e-9"), evaluate_fn=evaluate_fn)
    assert done["step"] == 1 and Path(done["checkpoint"]).is_dir() and calls == []   # stopped mid-epoch
    done = train(smoke_config(synthetic_root, tmp_path / "b", "optim.epochs=1", "run.eval_dataset="),
                 evaluate_fn=evaluate_fn)
    assert calls == [1] and read_csv(tmp_path / "b" / "eval.csv")[0]["custom_metric"] == "0.25"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_on_cpu(synthetic_root, tmp_path):
    out_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "kit.train", "--preset", "smoke",
           f"data.roots.synthetic={synthetic_root}", f"run.out_dir={out_dir}", "optim.epochs=1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=240, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    # 8 samples per epoch, 2 per batch, 2 processes: 2 iterations each.
    assert "[rank 0] done: 2 steps" in out and "[rank 1] done: 2 steps" in out
    state = torch.load(out_dir / "checkpoints" / "step00000002" / "training_state.pt", weights_only=True)
    assert len(state["rng"]) == 2 and not torch.equal(state["rng"][0]["torch"], state["rng"][1]["torch"])
    assert (out_dir / "train_config.json").is_file() and (out_dir / "checkpoints" / "LATEST").is_file()
    assert [r["step"] for r in read_csv(out_dir / "log.csv")] == ["1", "2"]  # rank 0 alone writes the log


def test_ground_truth_template_where_grounding_misses_trains_tracking_from_the_start(smoke_parts):
    cfg, model, processing, dataset = smoke_parts
    batch = collate([dataset[(1, i)] for i in range(2)])
    torch.manual_seed(0)
    official = JointActor(model, processing, cfg.loss, cfg.data.num_search).eval()
    curriculum = JointActor(model, processing, dataclasses.replace(cfg.loss, template_from_gt_when_missed=True),
                            cfg.data.num_search).eval()
    with torch.no_grad():
        a, b = official(batch)["stats"], curriculum(batch)["stats"]
    assert a["track_mask"] == b["track_mask"] == 0.0        # an untrained model misses: no usable template
    assert a["loss_track1"] == 0.0 and a["loss_track2"] == 0.0   # official: no tracking signal at all
    assert b["loss_track1"] > 0.0 and b["loss_track2"] > 0.0     # curriculum: tracking learns anyway
    assert a["loss_grounding"] == b["loss_grounding"]


def test_lite_presets_are_two_phases_with_minilm_frozen_and_the_training_aids():
    ground, joint, paper = (tc.get_train_preset(n) for n in ("lite_ground", "lite", "paper"))
    assert ground.data.num_search == 0 and ground.model.pretrained and not ground.model.init_from
    assert joint.data.num_search == 2 and joint.model.init_from == ground.run.out_dir
    for cfg in (ground, joint):
        assert cfg.model.preset == "lite" and cfg.optim.lr_language == 0.0
        assert cfg.loss.corner_map_weight > 0 and cfg.loss.target_attention_weight > 0
    assert joint.loss.template_from_gt_when_missed and not paper.loss.template_from_gt_when_missed
    assert paper.loss.corner_map_weight == paper.loss.target_attention_weight == 0 and paper.data.num_search == 2


@pytest.mark.parametrize("official", [False, True])
def test_actor_encodes_the_sentence_and_the_template_once_or_per_pass(smoke_parts, official):
    cfg, model, processing, dataset = smoke_parts
    batch = collate([dataset[(1, i)] for i in range(2)])
    calls = {"text": 0, "image": []}
    hooks = [model.language_backbone.register_forward_hook(lambda m, i, o: calls.__setitem__("text", calls["text"] + 1)),
             model.visual_backbone.register_forward_hook(lambda m, i, o: calls["image"].append(i[0].shape[-1]))]
    loss_cfg = dataclasses.replace(cfg.loss, official_encode_per_pass=official)
    try:
        out = JointActor(model, processing, loss_cfg, 2).eval()(batch)
    finally:
        for h in hooks:
            h.remove()
    S, T = model.config.search_size, model.config.template_size
    if official:   # text in each of the 3 passes, the template in each tracking pass
        assert calls["text"] == 3 and sorted(calls["image"]) == sorted([S, T, S, T, S])
    else:          # grounding, template, 2 searches
        assert calls["text"] == 1 and sorted(calls["image"]) == sorted([S, T, S, S])
    shared = JointActor(model, processing, cfg.loss, 2).eval()(batch)   # no dropout in eval: the same function
    assert out["loss"].item() == pytest.approx(shared["loss"].item(), rel=1e-5)


def test_grounding_only_training_and_a_second_phase_from_its_weights(synthetic_root, tmp_path):
    first = train(smoke_config(synthetic_root, tmp_path / "g", "data.num_search=0", "optim.epochs=1",
                               "loss.corner_map_weight=1.0"))
    rows = read_csv(tmp_path / "g" / "log.csv")
    assert first["step"] == 4 and "aid_grounding" in rows[0] and "loss_track1" not in rows[0]
    assert float(rows[0]["loss"]) > float(rows[0]["loss_grounding"])       # the corner-map term is added
    assert set(read_csv(tmp_path / "g" / "eval.csv")[0]) == {"step", "epoch", "loss", "grounding_miou", "grounding_acc"}

    cfg = smoke_config(synthetic_root, tmp_path / "j", f"model.init_from={tmp_path / 'g'}", "optim.epochs=1")  # run dir
    from safetensors.torch import load_file
    saved = load_file(Path(first["checkpoint"]) / "model.safetensors")
    started = build_training_model(cfg).state_dict()
    assert all(torch.equal(saved[k], started[k]) for k in saved)            # every weight from phase 1
    second = train(cfg)
    assert second["step"] == 4 and "loss_track2" in read_csv(tmp_path / "j" / "log.csv")[0]

    from kit.weights.checkpoint import CheckpointError
    other = smoke_config(synthetic_root, tmp_path / "x", f"model.init_from={first['checkpoint']}", "model.variant=seprm")
    with pytest.raises(CheckpointError):                                     # another architecture: strict
        build_training_model(other)


def test_num_search_takes_zero_one_or_two():
    cfg = tc.parse_overrides(["data.num_search=0"], tc.get_train_preset("smoke"))
    assert cfg.data.num_search == 0
    with pytest.raises(ValueError, match="0 \\(grounding only\\)"):
        tc.parse_overrides(["data.num_search=3"], tc.get_train_preset("smoke"))


# --- paper = the official training signal; each fix an option ---------------------------------------------------

def test_paper_reproduces_the_official_training_signal_and_each_fix_is_an_override():
    paper = tc.get_train_preset("paper")
    assert paper.optim.official_amp_skips_clipping and paper.optim.precision == "fp16"   # quirk 15: no clip under AMP
    assert paper.loss.official_degenerate_zeroing and paper.loss.official_encode_per_pass   # quirks 18, 31
    assert not paper.data.language_aware_flip                                          # quirk 20
    assert paper.data.official_tnl2k_pairing and paper.data.lasot_visible_needs_box      # quirks 17, 26
    fixed = tc.parse_overrides(["optim.official_amp_skips_clipping=false", "loss.official_degenerate_zeroing=false",
                                "loss.official_encode_per_pass=false",
                                "data.language_aware_flip=true", "data.official_tnl2k_pairing=false",
                                "data.lasot_visible_needs_box=false"], tc.get_train_preset("paper"))
    default = tc.TrainConfig()   # the dataclass defaults (custom runs, the CPU presets) keep the fixes
    for section in ("optim", "loss", "data"):
        for key in ("official_amp_skips_clipping", "official_degenerate_zeroing", "language_aware_flip",
                    "official_tnl2k_pairing", "lasot_visible_needs_box", "official_encode_per_pass"):
            if hasattr(getattr(default, section), key):
                assert getattr(getattr(fixed, section), key) == getattr(getattr(default, section), key), key
    phase1 = tc.get_train_preset("paper_phase1")
    assert (phase1.data.num_search, phase1.optim.epochs, phase1.run.out_dir) == (1, 50, "runs/paper-phase1")
    assert dataclasses.replace(phase1.data, num_search=2) == paper.data and phase1.loss == paper.loss
    assert dataclasses.replace(phase1.optim, epochs=300) == paper.optim      # same schedule: phase 2 resumes it


@pytest.mark.parametrize("official", [True, False])
def test_clipping_under_amp_official_or_fixed(smoke_parts, official):
    cfg, _, processing, dataset = smoke_parts
    torch.manual_seed(0)
    model = build_training_model(cfg)
    actor = JointActor(model, processing, cfg.loss, cfg.data.num_search)
    batch = collate([dataset[(1, i)] for i in range(2)])
    seen = []

    def after_step(stats):
        grads = torch.stack([p.grad.norm() for p in model.parameters() if p.grad is not None])
        seen.append((stats.get("grad_norm"), torch.linalg.vector_norm(grads).item()))

    train_one_epoch(actor, [batch], build_optimizer(model, cfg.optim), device=torch.device("cpu"), precision="bf16",
                    grad_clip_norm=0.1, official_amp_skips_clipping=official, on_step=after_step)
    (clip_stat, stepped_norm), = seen
    if official:   # the official trainer: under AMP the gradients step unclipped
        assert clip_stat is None and stepped_norm > 0.1
    else:
        assert float(clip_stat) > 0.1 and stepped_norm == pytest.approx(0.1, rel=1e-3)


def write_lasot_annotations(root: Path) -> Path:
    seq = root / "cat" / "cat-1"
    seq.mkdir(parents=True)
    (seq / "groundtruth.txt").write_text("1,1,5,5\n2,2,0,5\n3,3,5,5\n4,4,5,5\n")   # frame 1: w = 0, flags clear
    (seq / "full_occlusion.txt").write_text("0,0,0,1\n")
    (seq / "out_of_view.txt").write_text("0,0,0,0\n")
    (seq / "nlp.txt").write_text("a cat\n")
    return root


def test_lasot_visibility_with_or_without_the_box_size(tmp_path):
    roots = tc.RootsConfig(lasot=str(write_lasot_annotations(tmp_path / "lasot")))
    assert Source("lasot:all", roots)[0].visible.tolist() == [True, True, True, False]          # flags only
    assert Source("lasot:all", roots, lasot_visible_needs_box=True)[0].visible.tolist() == [True, False, True, False]


# --- the sampler at scale: count mismatches, datasets that yield nothing, errors --------------------------------

def write_tnl2k_train(root: Path, sequences: int = 3, boxes: int = 24, images: int = 20) -> Path:
    """TNL2K training sequences with more ground-truth rows than images (as 12 released videos have)."""
    import cv2

    for k in range(sequences):
        seq = root / f"video_{k}"
        (seq / "imgs").mkdir(parents=True)
        rows = [[40 + 2 * i, 30 + k, 30, 24] for i in range(boxes)]
        (seq / "groundtruth.txt").write_text("".join(",".join(map(str, r)) + "\n" for r in rows))
        (seq / "language.txt").write_text("the red box\n")
        for i, (x, y, w, h) in enumerate(rows[:images]):
            image = np.full((120, 160, 3), 100, np.uint8)
            image[y:y + h, x:x + w] = (30, 30, 220)
            cv2.imwrite(str(seq / "imgs" / f"{i + 1:05d}.jpg"), image)
    return root


@pytest.mark.parametrize("official_pairing", [False, True])
def test_sampler_survives_tnl2k_count_mismatches_and_counts_them(smoke_parts, tmp_path, capfd, official_pairing):
    cfg, _, processing, _ = smoke_parts
    root = write_tnl2k_train(tmp_path / "TNL2K_train")
    data = dataclasses.replace(cfg.data, datasets=("tnl2k",), ratios=(1.0,), official_tnl2k_pairing=official_pairing,
                               roots=dataclasses.replace(cfg.data.roots, tnl2k=str(root)))
    dataset = VirtualEpoch(TrainingSampler.from_config(data), processing, seed=0)
    items = [dataset[(1, i)] for i in range(40)]            # the unguarded sampler raised IndexError on ~40 %
    draws, used, invalid, past, errors = sum(item["draw_counts"] for item in items)[0].tolist()
    assert used == 40 and errors == 0 and past > 5 and draws == used + invalid + past
    assert all(item["draw_counts"].shape == (1, len(DRAW_COUNTS)) for item in items)
    warned = [line for line in capfd.readouterr().err.splitlines() if "ground-truth boxes but" in line]
    images = 21 if official_pairing else 20   # official: box 20 gets image 19 (path_list[frame_id - 1])
    assert sorted(warned) == [f"warning: tnl2k: video_{k}: 24 ground-truth boxes but {images} images; draws of "
                              f"frames {images}..23 are redrawn (as the official sampler does)" for k in range(3)]
    seq = dataset.sampler.sources[0][0]
    if official_pairing:
        assert [f.name for f in seq.frames[:2]] == ["00020.jpg", "00001.jpg"] and seq.frames[20].name == "00020.jpg"
    else:
        assert [f.name for f in seq.frames[:2]] == ["00001.jpg", "00002.jpg"]


def test_a_dataset_in_another_layout_stops_the_run_with_one_line(synthetic_root, tmp_path, capfd):
    parts = tmp_path / "TNL2K_train"      # the multi-part download: one more folder level
    write_tnl2k_train(parts / "TNL2K_train_subset_P1", sequences=1)
    argv = ["--preset", "smoke", f"data.roots.synthetic={synthetic_root}", f"data.roots.tnl2k={parts}",
            "data.datasets=synthetic:train,tnl2k", "data.ratios=1,1", f"run.out_dir={tmp_path / 'run'}"]
    with pytest.raises(SystemExit) as stopped:
        train_main(argv)
    assert stopped.value.code == 2
    out, err = capfd.readouterr()
    assert re.search(r"data: synthetic:train .*; probe: 20 draws: [1-9]\d* used", out)   # the healthy dataset
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [f"error: dataset tnl2k ({parts}) gave no usable sample in 20 draws (0 invalid, 0 past the "
                      "last image, 20 errors): check data.roots.tnl2k and its layout, or drop it from data.datasets"]
    assert err.count("warning: sampler: tnl2k: DatasetFormatError:") == 1   # reported once, then counted
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_arbitrary_sampling_exceptions_are_counted_reported_once_and_stop_at_an_absurd_rate(smoke_parts, capfd):
    cfg, _, processing, _ = smoke_parts
    sampler = TrainingSampler.from_config(cfg.data)

    def flaky(sample, rng, crop_boxes=None):
        if rng.random() < 0.3:
            raise KeyError("a bug in a reader")
        return processing(sample, rng, crop_boxes)

    dataset = VirtualEpoch(sampler, flaky, seed=0)
    counts = sum(dataset[(1, i)]["draw_counts"] for i in range(24)).numpy()
    assert counts[:, 4].sum() > 3 and counts[:, 1].sum() == 24
    assert capfd.readouterr().err.count("KeyError: 'a bug in a reader' (redrawn") == len(sampler.sources)
    check_draws(counts, sampler.sources, sampler.probs, max_error_rate=0.5, min_draws=20)   # 30 %: tolerated
    with pytest.raises(SamplingError, match=r"draws raised errors \(more than data.max_error_rate=0.1\)"):
        check_draws(counts, sampler.sources, sampler.probs, max_error_rate=0.1, min_draws=20)
    hopeless = VirtualEpoch(sampler, lambda *a, **k: (_ for _ in ()).throw(KeyError("always")), seed=0, max_attempts=5)
    with pytest.raises(SamplingError, match=r"no usable sample in 5 draws .* last problem: KeyError"):
        hopeless[(1, 0)]


# --- two phases: one search frame, then two, with the optimiser and the schedule carried over --------------------

def test_two_phase_recipe_carries_optimiser_schedule_and_position(synthetic_root, tmp_path, capfd):
    common = ["optim.warmup_epochs=3", "optim.milestones=2", "run.eval_dataset="]
    first = train(smoke_config(synthetic_root, tmp_path / "p1", *common, "data.num_search=1", "optim.epochs=1"))
    assert first["step"] == 4 and first["epoch"] == 2
    out = capfd.readouterr().out
    assert "data: synthetic:train" in out and "epoch 1 draws: synthetic:train" in out
    draws = read_csv(tmp_path / "p1" / "draws.csv")
    assert [(r["epoch"], r["dataset"]) for r in draws] == [("1", "synthetic:train"), ("1", "synthetic:grounding_train")]
    assert sum(int(r["used"]) for r in draws) == 8 and all(int(r["draws"]) >= int(r["used"]) for r in draws)

    second = train(smoke_config(synthetic_root, tmp_path / "p2", *common, "optim.epochs=3",
                                f"run.resume={tmp_path / 'p1'}"))
    assert second["step"] == 12 and second["epoch"] == 4
    rows = read_csv(tmp_path / "p2" / "log.csv")
    assert [int(r["step"]) for r in rows] == list(range(5, 13)) and "loss_track2" in rows[0]
    # epoch 2 of the same schedule (warm-up 2/3), epoch 3 after the milestone at 2 (x 0.1)
    assert float(rows[0]["lr_head"]) == pytest.approx(1e-3 * (0.01 / 3 + 2 / 3))
    assert float(rows[-1]["lr_head"]) == pytest.approx(1e-3 * 0.1)
    state = torch.load(Path(second["checkpoint"]) / "training_state.pt", weights_only=True)
    assert state["scheduler"]["last_epoch"] == 3
    before = torch.load(Path(first["checkpoint"]) / "training_state.pt", weights_only=True)["optimizer"]["state"]
    after = state["optimizer"]["state"]
    assert before and {int(s["step"]) for s in before.values()} == {4}
    # AdamW moments carried over: the parameters phase 1 trained went on counting; those only the second
    # search frame uses (the temporal path) started in phase 2
    assert {int(after[k]["step"]) for k in before} == {12} and {int(after[k]["step"]) for k in after
                                                                 if k not in before} == {8}


def _efficientnet_like():
    """A stand-in with the timm EfficientNet parameter names the partial-freezing rule reads."""
    body = torch.nn.Module()
    body.conv_stem = torch.nn.Conv2d(3, 4, 3)
    body.bn1 = torch.nn.BatchNorm2d(4)
    body.blocks = torch.nn.Sequential(*[torch.nn.Sequential(torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4))
                                        for _ in range(5)])
    vision = torch.nn.Module()
    vision.body = body
    return torch.nn.ModuleDict({"visual_backbone": vision, "box_head": torch.nn.Linear(2, 2)})


def test_partial_vision_fine_tuning_freezes_the_stem_and_the_first_blocks():
    from kit.train.optim import keep_frozen_batchnorm_statistics

    model = _efficientnet_like()
    groups = parameter_groups(model, dataclasses.replace(tc.OptimConfig(), vision_train_from_block=3))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in model.named_parameters()
                         if n.startswith(("visual_backbone.body.blocks.3", "visual_backbone.body.blocks.4", "box_head"))}
    vision_group = next(g for g in groups if g["name"] == "vision")
    assert len(vision_group["params"]) == 8              # blocks 3 and 4: conv w,b + bn w,b each
    model.train()
    keep_frozen_batchnorm_statistics(model)
    assert not model["visual_backbone"].body.bn1.training and not model["visual_backbone"].body.blocks[2][1].training
    assert model["visual_backbone"].body.blocks[3][1].training


def test_a_frozen_batchnorm_keeps_its_statistics_through_a_training_epoch(smoke_parts):
    from kit.train.engine import train_one_epoch
    from kit.train.optim import build_optimizer

    import copy

    cfg, model, processing, dataset = smoke_parts
    model = copy.deepcopy(model)
    bn = torch.nn.BatchNorm2d(3)
    model.visual_backbone.add_module("extra_bn_for_test", bn)   # a BatchNorm in the frozen encoder
    optim = build_optimizer(model, dataclasses.replace(cfg.optim, lr_vision=0.0))
    loader = [collate([dataset[(1, i)] for i in range(2)])]
    train_one_epoch(JointActor(model, processing, cfg.loss, 2), loader, optim, device=torch.device("cpu"))
    assert not bn.training                    # kept in eval mode by the epoch ...
    assert model.box_head.training            # ... while the trained parts train


def test_lite_real_starts_from_phase_two_with_the_imagenet_encoder_frozen():
    cfg = tc.get_train_preset("lite_real")
    assert cfg.model.init_from == tc.get_train_preset("lite").run.out_dir and cfg.model.reset_vision
    assert cfg.optim.lr_vision == 0.0 and cfg.optim.lr_language == 0.0
    assert cfg.data.datasets == ("synthetic:train", "semireal:train")


def test_reset_vision_puts_the_imagenet_encoder_back_after_init_from(tmp_path):
    import copy

    from kit.weights.loading import BUNDLED_MODEL
    from kit.weights.pretrained import load_vision_weights

    cfg = tc.get_train_preset("lite_real")
    cfg.model.init_from = str(BUNDLED_MODEL)
    cfg.model.reset_vision = False
    kept = build_training_model(cfg)
    cfg.model.reset_vision = True
    reset = build_training_model(cfg)
    reference = copy.deepcopy(reset.visual_backbone)
    load_vision_weights(reference, "package")    # the package's weights, loaded afresh
    for (name, a), b, c in zip(reset.visual_backbone.state_dict().items(), reference.state_dict().values(),
                               kept.visual_backbone.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(reset.visual_backbone.state_dict().values(),
                                                      kept.visual_backbone.state_dict().values()))
    assert all(torch.equal(a, b) for (n, a), b in zip(reset.box_head.state_dict().items(),
                                                      kept.box_head.state_dict().values()))
