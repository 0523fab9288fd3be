"""Devices and precision: explicit choices, clear errors, and bf16 that stays close to fp32."""
import os
from pathlib import Path

import pytest
import torch

from kit.model.record import record
from kit.weights.checkpoint import load_official
from kit.runtime import autocast, resolve_device


def test_auto_device_is_cuda_only_when_available():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_a_gpu_is_a_clear_error():
    with pytest.raises(ValueError, match="no CUDA GPU is available here; use --device cpu"):
        resolve_device("cuda")


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(ValueError, match="precision must be one of"):
        autocast("cpu", "int4")


def _boxes(model, io, precision):
    with torch.inference_mode(), autocast("cpu", precision):
        text = model.encode_text(io["text_ids"], io["text_mask"])
        grounding = model.ground(text, model.encode_image(io["grounding_img"],
                                                          torch.as_tensor(io["grounding_att"]).bool()))
        template = model.encode_image(io["template_img"], torch.as_tensor(io["template_att"])[None])
        search = model.encode_image(io["search_img"], torch.as_tensor(io["search_att"])[None])
        tracking = model.track(text, template, search, io["temporal72"])
    return torch.cat([grounding.boxes.float(), tracking.boxes.float()])


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_boxes_stay_within_1e_2_of_fp32(golden_dir, precision):
    model = load_official(golden_dir / "weights.pth")
    io = torch.load(golden_dir / "model_io.pt", weights_only=False)
    with record(model) as trace:
        low = _boxes(model, io, precision)
    assert trace["vl_joint_trans"].dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert (low - _boxes(model, io, "fp32")).abs().max() < 1e-2


def test_inference_context_has_no_autograd_and_the_chosen_precision():
    from kit.runtime import inference

    layer = torch.nn.Linear(4, 4)
    with inference("cpu", "bf16"):
        out = layer(torch.randn(2, 4))
        assert torch.is_inference_mode_enabled()
    assert out.dtype == torch.bfloat16 and not out.requires_grad


def test_precast_weights_changes_speed_not_results(golden_dir):
    from kit.runtime import precast_weights

    io = torch.load(golden_dir / "model_io.pt", weights_only=False)
    reference = _boxes(load_official(golden_dir / "weights.pth"), io, "bf16")
    model = precast_weights(load_official(golden_dir / "weights.pth"), "bf16")
    assert model.visual_backbone.stages[2].blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert model.vl_joint_trans.encoder.layers[0].self_attn.in_proj_weight.dtype == torch.bfloat16
    assert model.vl_joint_trans.encoder.layers[0].norm1.weight.dtype == torch.float32
    torch.testing.assert_close(_boxes(model, io, "bf16"), reference, atol=0, rtol=0)


def test_cpu_threads_order_argument_then_variables_then_cores():
    from kit.runtime import cpu_threads

    assert cpu_threads(3, {"JOINTNLT_THREADS": "2", "OMP_NUM_THREADS": "1"}) == 3
    assert cpu_threads(None, {"JOINTNLT_THREADS": "2", "OMP_NUM_THREADS": "1"}) == 2
    assert cpu_threads(None, {"JOINTNLT_THREADS": " ", "OMP_NUM_THREADS": "1"}) == 1
    assert cpu_threads(None, {"JOINTNLT_THREADS": "Adaptive", "OMP_NUM_THREADS": "1"}) == "adaptive"
    cores = len(os.sched_getaffinity(0))
    assert cpu_threads(None, {}) == ("adaptive" if cores <= 2 else cores)
    with pytest.raises(ValueError, match="JOINTNLT_THREADS must be a whole number of threads or 'adaptive', got 'many'"):
        cpu_threads(None, {"JOINTNLT_THREADS": "many"})
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        cpu_threads(0, {})


def _run(governor, seconds_of) -> list[int]:
    """Feed the governor frames whose time depends on the thread count it picked; the picks, in order."""
    picks = []
    for seconds in seconds_of:
        threads = governor.next_threads
        picks.append(threads)
        governor.observe(threads, seconds[threads])
    return picks


IDLE = {2: 0.05, 1: 0.08}      # two spinning threads win on an idle 2-core machine
BUSY = {2: 1.50, 1: 0.19}      # ... and collapse when other processes take the cores


def test_thread_governor_stays_on_two_threads_when_idle_and_probes_less_and_less():
    from kit.runtime import ThreadGovernor

    governor = ThreadGovernor((2, 1), first_wait=8, max_wait=64)
    picks = _run(governor, [IDLE] * 200)
    probes = [i for i, n in enumerate(picks) if n == 1]
    assert governor.current == 2 and governor.switches == 0
    assert probes[:4] == [8, 8 + 17, 8 + 17 + 33, 8 + 17 + 33 + 65]   # the wait doubles: 8, 16, 32, 64
    assert sum(IDLE[n] for n in picks) < 1.02 * 200 * IDLE[2]          # < 2 % over always-two


def test_thread_governor_drops_to_one_thread_at_once_under_load_and_comes_back_when_idle():
    from kit.runtime import ThreadGovernor

    governor = ThreadGovernor((2, 1), first_wait=8, max_wait=256)
    picks = _run(governor, [IDLE] * 20 + [BUSY] * 300 + [IDLE] * 100)
    assert picks[20] == 2 and picks[21] == 1 and picks[22] == 1        # one slow frame, then one thread
    busy = picks[21:320]
    assert busy.count(2) <= 6                                           # probes back off: 8, 16, ... 256
    assert sum(BUSY[n] for n in busy) < 1.3 * len(busy) * BUSY[1]
    assert governor.current == 2 and picks[-50:].count(2) >= 47        # idle again: back on two threads


def test_configure_threads_fixed_number_has_no_governor(monkeypatch):
    import contextlib

    import torch

    from kit import runtime

    before = torch.get_num_threads()
    try:
        assert runtime.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
        assert isinstance(runtime.frame_threads(), contextlib.nullcontext)
        assert runtime.configure_threads("adaptive") == "adaptive"
        with runtime.frame_threads() as threads:
            assert threads == torch.get_num_threads() == min(2, runtime.available_cores())
    finally:
        runtime.configure_threads(before)


def test_importing_kit_sets_a_passive_wait_policy_before_torch_loads_on_more_than_two_cores():
    import subprocess
    import sys

    code = ("import os; os.environ.pop('OMP_WAIT_POLICY', None); os.sched_setaffinity(0, {cpus}); import kit, torch; "
            "print(os.environ.get('OMP_WAIT_POLICY', 'unset'))")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    two = sorted(os.sched_getaffinity(0))[:2]
    out = subprocess.run([sys.executable, "-c", code.format(cpus=set(two))], env=env, capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "unset"       # <= 2 cores: spinning threads, the governor picks 2 or 1
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's choice wins
    out = subprocess.run([sys.executable, "-c", code.format(cpus=set(two)).replace(
        "os.environ.pop('OMP_WAIT_POLICY', None); ", "")], env=env, capture_output=True, text=True, check=True,
        cwd=Path(__file__).resolve().parents[1])
    assert out.stdout.strip() == "ACTIVE"


def test_unknown_acceleration_is_a_clear_error():
    from kit.runtime import accelerate

    with pytest.raises(ValueError, match=r"acceleration must be one of \['none', 'compile'\], got 'onnx'"):
        accelerate(torch.nn.Linear(2, 2), "onnx")
    with pytest.raises(ValueError, match="runs with precision fp32, bf16 or fp16, not int8"):
        accelerate(torch.nn.Linear(2, 2), "compile", "int8")


@pytest.mark.slow  # compiles the mini vision encoder: 7 min at load 4 (python -m pytest -m slow -k compile)
def test_compiled_vision_encoder_keeps_boxes_within_1e_2_of_eager_fp32(golden_dir):
    from kit.runtime import accelerate

    io = torch.load(golden_dir / "model_io.pt", weights_only=False)
    eager = load_official(golden_dir / "weights.pth")
    reference = _boxes(eager, io, "fp32")
    fast = accelerate(load_official(golden_dir / "weights.pth"), "compile")
    boxes = _boxes(fast, io, "fp32")
    assert (boxes - reference).abs().max() < 1e-2
    assert (boxes - reference).abs().max() < 1e-4          # in fact: the same sums in another order
    assert fast.state_dict().keys() == eager.state_dict().keys()
