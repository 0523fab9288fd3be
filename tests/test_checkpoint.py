"""Checkpoints: safe reading of the official file, strict loading with a report, our safetensors format, Hub
references (through a hand-made local Hugging Face cache: no network), and one-line errors for bad files."""
import builtins
import json
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections import OrderedDict

import pytest
import torch
from torch import nn

from kit.weights import checkpoint
from kit.weights.checkpoint import (adapt_official_keys, load_official, load_pretrained, official_state_dict,
                                   read_official, save_pretrained)
from kit.weights.loading import load_model, resolve_weights
from kit.weights.files import CheckpointError, LoadReport, PickledObject, compare_keys, load_state_dict_strict
from kit.config import ModelConfig, bert_config_from_official, get_preset

INDEX_KEY = "visual_backbone.stages.0.blocks.0.attn.relative_position_index"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


class TinyNet(nn.Module):
    """A stand-in for the model with what matters here: official-style names, a recomputed (non-persistent)
    Swin index buffer, BatchNorm buffers, tied weights and a non-contiguous buffer."""

    def __init__(self, config=None, width=4):
        super().__init__()
        self.config = config or get_preset("mini_test")
        block = nn.Module()
        block.attn = nn.Linear(width, width)
        block.attn.register_buffer("relative_position_index", torch.arange(4).view(2, 2), persistent=False)
        self.visual_backbone = nn.Module()
        self.visual_backbone.stages = nn.ModuleList([nn.Module()])
        self.visual_backbone.stages[0].blocks = nn.ModuleList([block])
        self.embed = nn.Embedding(5, width)
        self.decode = nn.Linear(width, 5, bias=False)
        self.decode.weight = self.embed.weight
        self.norm = nn.BatchNorm1d(width)
        self.register_buffer("table", torch.randn(3, width).t())


def official_net(model: nn.Module) -> dict:
    """What the official file stores for `model`: its state dict plus the recomputed index buffer."""
    net = {k: v.clone() for k, v in model.state_dict().items()}
    net[INDEX_KEY] = model.get_buffer(INDEX_KEY).clone()
    return net


@pytest.fixture
def tiny_builder(monkeypatch):
    """Make the loaders build TinyNet instead of the real model."""
    monkeypatch.setattr(checkpoint, "_build_model", lambda cfg: TinyNet(cfg))


def assert_one_line(err: CheckpointError, *phrases: str):
    text = str(err)
    assert "\n" not in text and "Traceback" not in text
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"


# ---------------------------------------------------------------------------------------------------
# Reading the official file safely

def test_checkpoint_with_training_objects_loads_without_importing_them(tmp_path, monkeypatch):
    marker = tmp_path / "training_code_was_imported"
    (tmp_path / "train_admin.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n"
        "class Settings:\n    pass\n"
        "class AverageMeter:\n    def __init__(self):\n        self.avg, self.count = 0.25, 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import train_admin

    settings = train_admin.Settings()
    settings.env, settings.lr = train_admin.Settings(), 1e-4
    param = nn.Parameter(torch.ones(3))
    optimizer = torch.optim.AdamW([param])
    param.square().sum().backward()
    optimizer.step()
    net = {"box_head.conv1.weight": torch.randn(2, 3), "box_head.bn.num_batches_tracked": torch.tensor(7)}
    path = tmp_path / "JointNLT_ep0300.pth.tar"
    torch.save({"epoch": 300, "actor_type": "JointNLTActor", "net_type": "TransNLT", "net": net,
                "optimizer": optimizer.state_dict(), "settings": settings,
                "stats": OrderedDict(train=OrderedDict(Loss=train_admin.AverageMeter()))}, path)
    # The module stays importable, so importing it would leave the marker behind.
    del sys.modules["train_admin"]
    marker.unlink()
    with pytest.raises(pickle.UnpicklingError):  # so the restricted unpickler is what gets exercised
        torch.load(path, weights_only=True)

    ckpt = read_official(path)

    assert "train_admin" not in sys.modules and not marker.exists()
    assert ckpt["net"].keys() == net.keys() and all(torch.equal(ckpt["net"][k], v) for k, v in net.items())
    assert torch.equal(ckpt["optimizer"]["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])
    assert isinstance(ckpt["settings"], PickledObject)
    assert ckpt["settings"].pickled_as == "train_admin.Settings" and ckpt["settings"].state["lr"] == 1e-4
    assert ckpt["stats"]["train"]["Loss"].state == {"avg": 0.25, "count": 3}


class Payload:
    """Pickles as a call of `func(*args)`: what a malicious checkpoint does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _touch_code(marker):
    return f"__import__('pathlib').Path({str(marker)!r}).touch()"


PAYLOADS = {
    "posix.system": lambda m: Payload(os.system, f"touch {m}"),
    "builtins.eval": lambda m: Payload(builtins.eval, _touch_code(m)),
    "builtins.exec": lambda m: Payload(builtins.exec, _touch_code(m)),
    "builtins.getattr": lambda m: Payload(builtins.getattr, "text", "upper"),
    "builtins.__import__": lambda m: Payload(builtins.__import__, "os"),
    "subprocess.call": lambda m: Payload(subprocess.call, ["touch", str(m)]),
}


@pytest.mark.parametrize("container", ["torch", "plain-pickle"])
@pytest.mark.parametrize("name", PAYLOADS)
def test_malicious_pickle_is_refused_not_executed(tmp_path, name, container):
    marker = tmp_path / "payload_ran"
    path = tmp_path / "evil.pth.tar"
    if container == "torch":
        torch.save({"net": {"w": torch.zeros(2)}, "settings": PAYLOADS[name](marker)}, path)
    else:  # torch's legacy reader unpickles a plain pickle as the file's "magic number"
        path.write_bytes(pickle.dumps({"settings": PAYLOADS[name](marker)}, protocol=2))
    with pytest.raises(CheckpointError) as err:
        read_official(path)
    assert not marker.exists()
    assert_one_line(err.value, str(path), f"asks to run {name}", "refusing")


def _write_torch(obj):
    return lambda path: torch.save(obj, path)


def _zip_of_text(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hi")


def _tar_of_text(path):
    with tarfile.open(path, "w") as archive:
        archive.add(__file__, "notes.txt")


def _truncated(path, legacy=False):
    torch.save({"net": {"w": torch.randn(64, 64)}}, path, _use_new_zipfile_serialization=not legacy)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


BAD_FILES = {
    "empty": (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
    "text": (lambda p: p.write_text("checkpoint: JointNLT_ep0300\n"), "is a text file, not a PyTorch checkpoint"),
    "html": (lambda p: p.write_text("<!DOCTYPE html><html>Google Drive - virus scan warning</html>"),
             "is an HTML page"),
    "mp4": (lambda p: p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200)), "is an MP4/MOV video"),
    "binary": (lambda p: p.write_bytes(bytes(range(7, 200))), "unrecognised content"),
    "truncated zip": (_truncated, "looks truncated or corrupt"),
    "truncated legacy": (lambda p: _truncated(p, legacy=True), "looks truncated or corrupt"),
    "zip, not torch": (_zip_of_text, "looks truncated or corrupt"),
    "tar": (_tar_of_text, "is a tar archive"),
    "safetensors": (lambda p: p.write_bytes(len(b'{"w":{}}').to_bytes(8, "little") + b'{"w":{}}'),
                    "is a safetensors file"),
    "a list": (_write_torch([torch.zeros(1)]), "holds a list, not a checkpoint dict"),
    "no net": (_write_torch({"epoch": 3, "stats": {}}), "has no 'net' state dict (top-level keys: epoch, stats)"),
    "empty net": (_write_torch({"net": {}}), "its 'net' entry is empty, not a state dict"),
    "non-tensor in net": (_write_torch({"net": {"w": torch.zeros(1), "b": 3}}), "entry 'b' of 'net' is not a tensor (type int)"),
    "other tracker": (_write_torch({"net": {"w": torch.zeros(1)}, "net_type": "STARKST"}),
                      "holds a 'STARKST' network, not JointNLT"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_file_gives_one_line_error(tmp_path, kind):
    write, phrase = BAD_FILES[kind]
    path = tmp_path / "ckpt.pth.tar"
    write(path)
    with pytest.raises(CheckpointError) as err:
        read_official(path)
    assert_one_line(err.value, str(path), phrase)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(CheckpointError) as err:
        read_official(tmp_path / "nope.pth.tar")
    assert_one_line(err.value, "nope.pth.tar: no such file")
    with pytest.raises(CheckpointError) as err:
        read_official(tmp_path)
    assert_one_line(err.value, "is a directory, not a checkpoint file")


def test_bare_state_dict_and_ddp_prefix(tmp_path):
    weights = {"module.a.weight": torch.ones(2), "module.b": torch.zeros(1)}
    path = tmp_path / "bare.pth"
    torch.save(weights, path)
    assert official_state_dict(read_official(path)).keys() == {"a.weight", "b"}
    assert official_state_dict({"net": weights, "net_type": "JointNLT"}).keys() == {"a.weight", "b"}


# ---------------------------------------------------------------------------------------------------
# Official names -> ours, strict loading

def test_adapt_drops_index_buffers_that_match_and_renames():
    model = TinyNet()
    net = official_net(model)
    adapted = adapt_official_keys(net, model)
    assert INDEX_KEY not in adapted and adapted.keys() == model.state_dict().keys()

    net["visual_backbone.stray"] = torch.zeros(1)  # unknown keys pass through, for the strict report
    assert "visual_backbone.stray" in adapt_official_keys(net, model)


@pytest.mark.parametrize("stored", [torch.tensor([[0, 1], [3, 2]]), torch.arange(9).view(3, 3)])
def test_adapt_refuses_an_index_buffer_that_differs(stored):
    model = TinyNet()
    net = official_net(model)
    net[INDEX_KEY] = stored
    with pytest.raises(CheckpointError) as err:
        adapt_official_keys(net, model, source="w.pth")
    assert_one_line(err.value, "w.pth", INDEX_KEY, "differs from the one this model computes")


def test_strict_load_reports_missing_unexpected_and_misshaped_keys():
    model = TinyNet()
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    del sd["embed.weight"], sd["norm.running_mean"]
    sd["extra.weight"] = torch.zeros(1)
    sd["norm.weight"] = torch.ones(6)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointError) as err:
        load_state_dict_strict(model, sd, source="w.pth")
    assert err.value.report == LoadReport(missing=["embed.weight", "norm.running_mean"],
                                          unexpected=["extra.weight"], mismatched=[("norm.weight", (6,), (4,))])
    assert str(err.value) == (
        "w.pth does not match this model config ('mini_test'): 2 missing, 1 unexpected, 1 mis-shaped key(s), "
        "e.g. missing 'embed.weight', unexpected 'extra.weight', shape of 'norm.weight' is (6,) in the file "
        "but (4,) in the model. Is this the right preset/variant?")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing half-loaded


def test_strict_load_of_matching_weights():
    model, source = TinyNet(), TinyNet()
    load_state_dict_strict(model, source.state_dict(), source="w.pth")
    assert compare_keys(model, source.state_dict()).ok
    assert all(torch.equal(v, source.state_dict()[k]) for k, v in model.state_dict().items())


def test_load_official_with_the_stand_in(tmp_path, tiny_builder):
    original = TinyNet()
    path = tmp_path / "JointNLT_ep0300.pth.tar"
    torch.save({"net_type": "TransNLT", "net": official_net(original)}, path)
    model = load_model(path)
    assert not model.training and model.config.name == "paper"  # no 'variant' in the file: the paper's
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in model.state_dict().items())


def test_official_config_from_variant_and_bert_config():
    bert = {"vocab_size_or_config_json_file": 2500, "num_hidden_layers": 1}
    cfg = checkpoint.official_config({"variant": "swin_b_ep300", "bert_config": bert})
    assert cfg.name == "paper" and cfg.language.hf_config["vocab_size"] == 2500
    with pytest.raises(CheckpointError) as err:
        checkpoint.official_config({"variant": "swin_t_ep50"})
    assert_one_line(err.value, "'swin_t_ep50'", "pass config=", "for the command lines, save it with save_pretrained")


# ---------------------------------------------------------------------------------------------------
# Our format

def test_save_and_load_pretrained_round_trip_exactly(tmp_path, tiny_builder):
    model = TinyNet()
    with torch.no_grad():
        model.norm.running_mean.normal_()
    save_pretrained(model, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert saved["format"] == "jointnlt-kit" and saved["version"] == 1
    assert ModelConfig.from_dict(saved["config"]) == model.config

    for ref in (tmp_path / "out", tmp_path / "out" / "model.safetensors", str(tmp_path / "out")):
        loaded = load_model(ref)
        assert loaded.config == model.config and not loaded.training
        assert loaded.state_dict().keys() == model.state_dict().keys()
        assert all(torch.equal(v, model.state_dict()[k]) for k, v in loaded.state_dict().items())
        assert loaded.decode.weight is loaded.embed.weight  # still tied


def test_load_pretrained_errors(tmp_path, tiny_builder):
    directory = save_pretrained(TinyNet(), tmp_path / "out")
    config = directory / "config.json"
    weights = directory / "model.safetensors"

    saved = json.loads(config.read_text())
    config.write_text(json.dumps(dict(saved, config=dict(saved["config"], colour="red"))))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(directory)
    assert_one_line(err.value, "holds an invalid model config", "colour")

    config.write_text(json.dumps(dict(saved, version=2)))
    with pytest.raises(CheckpointError) as err:
        load_pretrained(directory)
    assert_one_line(err.value, "written by a newer kit")

    config.write_text("{not json")
    with pytest.raises(CheckpointError) as err:
        load_pretrained(directory)
    assert_one_line(err.value, "is not readable JSON")

    config.unlink()
    with pytest.raises(CheckpointError) as err:
        load_model(weights)
    assert_one_line(err.value, "has no config.json beside the weights: copy the config.json")

    config.write_text(json.dumps(saved))
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(CheckpointError) as err:
        load_model(directory)
    assert_one_line(err.value, str(weights), "not a readable safetensors file")


def test_load_pretrained_reports_a_config_mismatch(tmp_path, tiny_builder, monkeypatch):
    directory = save_pretrained(TinyNet(), tmp_path / "out")
    monkeypatch.setattr(checkpoint, "_build_model", lambda cfg: TinyNet(cfg, width=6))
    with pytest.raises(CheckpointError) as err:
        load_model(directory)
    assert_one_line(err.value, "does not match this model config ('mini_test')", "mis-shaped")
    assert len(err.value.report.mismatched) == 9 and not err.value.report.missing


def test_directory_without_a_checkpoint(tmp_path):
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path)
    assert_one_line(err.value, "holds no checkpoint file")


# ---------------------------------------------------------------------------------------------------
# References: local paths and a hand-made Hugging Face cache (the real huggingface_hub code runs offline)

def make_hub_cache(cache, repo_id, files):
    """The standard cache layout: models--owner--repo/{refs/main, snapshots/<commit>/<files>}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        shutil.copy(source, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, tiny_builder):
    saved = save_pretrained(TinyNet(), tmp_path / "saved")
    cache = tmp_path / "hub-cache"
    snapshot = make_hub_cache(cache, "someone/jointnlt", {
        "config.json": saved / "config.json", "model.safetensors": saved / "model.safetensors"})
    return cache, snapshot


def test_local_paths_are_returned_as_is(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"x")
    assert resolve_weights(tmp_path / "w.pth") == tmp_path / "w.pth"
    assert resolve_weights(str(tmp_path)) == tmp_path
    for missing in ("checkpoints/JointNLT_ep0300.pth.tar", str(tmp_path / "nope"), "./owner/repo"):
        with pytest.raises(CheckpointError) as err:
            resolve_weights(missing)
        assert_one_line(err.value, f"{missing}: no such file or directory")


@pytest.mark.parametrize("ref, expected", [
    ("hf://someone/jointnlt", ""),
    ("someone/jointnlt", ""),
    (f"hf://someone/jointnlt@{COMMIT}", ""),
    ("hf://someone/jointnlt/model.safetensors", "model.safetensors"),
    ("hf://someone/jointnlt/config.json@main", "config.json"),
])
def test_hub_references_resolve_from_the_cache(hub_cache, ref, expected):
    cache, snapshot = hub_cache
    assert resolve_weights(ref, cache_dir=cache, local_files_only=True) == snapshot / expected


def test_hub_offline_mode_from_the_environment(hub_cache, monkeypatch):
    import huggingface_hub

    cache, snapshot = hub_cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert resolve_weights("hf://someone/jointnlt", cache_dir=cache) == snapshot
    model = load_model("hf://someone/jointnlt", cache_dir=cache)
    assert isinstance(model, TinyNet) and not model.training


@pytest.mark.parametrize("ref", ["hf://someone/other", "hf://someone/jointnlt/missing.pth.tar",
                                 "hf://someone/jointnlt@v9"])
def test_hub_reference_not_available_offline(hub_cache, ref):
    cache, _ = hub_cache
    with pytest.raises(CheckpointError) as err:
        resolve_weights(ref, cache_dir=cache, local_files_only=True)
    assert_one_line(err.value, ref, "could not be fetched from the Hugging Face Hub", "pass the local path")


def test_invalid_hub_reference():
    with pytest.raises(CheckpointError) as err:
        resolve_weights("hf://just-a-name")
    assert_one_line(err.value, "is not a valid Hub reference")


def test_bare_repo_name_that_is_not_local_nor_cached(hub_cache):
    cache, _ = hub_cache
    with pytest.raises(CheckpointError) as err:
        resolve_weights("someone/unknown", cache_dir=cache)
    assert_one_line(err.value, "someone/unknown is not a local path, and could not be fetched from the Hugging Face")


# ---------------------------------------------------------------------------------------------------
# With the real model (kit.model) and the golden weights of the official code

@pytest.fixture(scope="module")
def golden_model(golden_dir):
    return load_model(golden_dir / "weights.pth")


def test_golden_weights_load_strictly(golden_dir, golden_model):
    from kit.model import build_model

    ckpt = read_official(golden_dir / "weights.pth")
    cfg = get_preset(ckpt["variant"])
    cfg.language.hf_config = bert_config_from_official(ckpt["bert_config"])
    model = build_model(cfg)
    official = official_state_dict(ckpt)
    adapted = adapt_official_keys(official, model)
    report = compare_keys(model, adapted)
    assert report.ok, report
    assert set(official) - set(adapted) == {k for k in official if k.endswith("attn.relative_position_index")}

    # load_model(path) picked the same config and holds exactly the file's weights, in eval mode
    assert golden_model.config == cfg and not golden_model.training
    ours = golden_model.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in adapted.items())


def test_golden_weights_into_a_wrong_variant_are_refused(golden_dir):
    ckpt = read_official(golden_dir / "weights.pth")
    cfg = get_preset(ckpt["variant"], "msrm")
    cfg.language.hf_config = bert_config_from_official(ckpt["bert_config"])
    with pytest.raises(CheckpointError) as err:
        load_official(golden_dir / "weights.pth", config=cfg)
    assert_one_line(err.value, "does not match this model config", "Is this the right preset/variant?")
    assert err.value.report.unexpected and not err.value.report.ok


def test_real_model_round_trips_through_our_format(tmp_path, golden_model):
    directory = save_pretrained(golden_model, tmp_path / "golden")
    loaded = load_model(directory)
    assert loaded.config == golden_model.config
    expected = golden_model.state_dict()
    assert loaded.state_dict().keys() == expected.keys()
    assert all(torch.equal(v, expected[k]) for k, v in loaded.state_dict().items())
