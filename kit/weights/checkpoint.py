"""The two checkpoint formats: the official `.pth.tar` (read safely, its keys checked for our model) and ours
(`save_pretrained`: safetensors weights and a config.json). Users load either with `kit.weights.loading.load_model`.
Weights are always loaded strictly: any missing, unexpected or mis-shaped key is a `CheckpointError` with a
one-line summary (and the full lists in `.report`), never the official code's silent `strict=False`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from kit.config import ModelConfig, bert_config_from_official, get_preset
from kit.weights.files import (CONFIG_NAME, WEIGHTS_NAME, CheckpointError, RefusedGlobal, compare_keys,
                               first_line, load_state_dict_strict, load_torch_file)

FORMAT_NAME, FORMAT_VERSION = "jointnlt-kit", 1
OFFICIAL_NET_TYPES = ("JointNLT", "TransNLT")  # the released file calls the model TransNLT


def _sniff(path: Path) -> str | None:
    """What a file that cannot be a torch checkpoint looks like; None if it might be one."""
    with path.open("rb") as file:
        head = file.read(512)
    if not head:
        return "is empty (0 bytes)"
    if head[:2] == b"PK" or head[:1] == b"\x80":  # torch's zip format, or its legacy pickle format
        return None
    if head[257:262] == b"ustar":  # the official `.pth.tar` is a zip despite its name
        return "is a tar archive, not a PyTorch checkpoint: extract it and pass the checkpoint inside"
    if len(head) > 8 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 100_000_000:
        return "is a safetensors file, not an official checkpoint: load it with load_model or load_pretrained"
    if head[4:8] == b"ftyp":
        return "is an MP4/MOV video, not a PyTorch checkpoint"
    kinds = {b"\xff\xd8\xff": "a JPEG image", b"\x89PNG": "a PNG image", b"GIF8": "a GIF image",
             b"RIFF": "a RIFF (AVI/WAV/WebP) file", b"\x1aE\xdf\xa3": "a Matroska/WebM video",
             b"\x1f\x8b": "a gzip archive"}
    for magic, kind in kinds.items():
        if head.startswith(magic):
            return f"is {kind}, not a PyTorch checkpoint"
    try:
        text = head.decode("utf-8").lstrip().lower()
    except UnicodeDecodeError:
        return "is not a PyTorch checkpoint (unrecognised content)"
    if text.startswith(("<!doctype html", "<html")):
        return "is an HTML page, not a PyTorch checkpoint (a failed download? fetch the file again)"
    return "is a text file, not a PyTorch checkpoint"


def read_official(path: str | Path) -> dict:
    """The official checkpoint dict (`{'net': state_dict, 'net_type', ...}`, or a bare state dict), read
    without running or importing anything from the file. Training objects come back as `PickledObject`s."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path}: no such file. Check the path of the checkpoint.")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory, not a checkpoint file: pass the .pth.tar file inside "
                              "it, or use load_model for a directory written by save_pretrained.")
    try:
        problem = _sniff(path)
    except OSError as err:
        raise CheckpointError(f"{path} could not be read ({first_line(err)}).") from err
    if problem:
        raise CheckpointError(f"{path} {problem}.")
    try:
        ckpt = load_torch_file(path, pickled_objects=True, mmap=True)
    except RefusedGlobal as err:
        raise CheckpointError(f"{path} asks to run {err} while loading, which a weights file never needs; "
                              "refusing to load it. Only use checkpoints from a source you trust.") from err
    except Exception as err:  # torch/pickle/zip errors of a damaged file come in many types
        raise CheckpointError(f"{path} could not be read as a PyTorch checkpoint, it looks truncated or "
                              f"corrupt ({first_line(err)}). Download it again.") from err
    _check_official(ckpt, str(path))
    return ckpt


def describe_value(obj) -> str:
    return getattr(obj, "pickled_as", None) or type(obj).__name__


def _is_state_dict(obj) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _check_official(ckpt, source: str) -> None:
    official_state_dict(ckpt, source)  # raises if there is no usable state dict
    net_type = ckpt.get("net_type")
    if net_type is not None and net_type not in OFFICIAL_NET_TYPES:
        raise CheckpointError(f"{source} holds a {net_type!r} network, not JointNLT (net_type must be one "
                              f"of {', '.join(OFFICIAL_NET_TYPES)}). Is it a checkpoint of another tracker?")


def official_state_dict(ckpt, source: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """`ckpt['net']` (or `ckpt` itself when it already is a state dict), without a DDP `module.` prefix."""
    if not isinstance(ckpt, Mapping):
        raise CheckpointError(f"{source} holds a {describe_value(ckpt)}, not a checkpoint dict with a 'net' "
                              "state dict. Is it a JointNLT checkpoint?")
    if "net" not in ckpt and not _is_state_dict(ckpt):
        keys = ", ".join(map(str, list(ckpt)[:6])) or "none"
        raise CheckpointError(f"{source} has no 'net' state dict (top-level keys: {keys}). "
                              "Is it a JointNLT checkpoint?")
    net = ckpt.get("net", ckpt)
    if not isinstance(net, Mapping) or not net:
        what = "empty" if isinstance(net, Mapping) else f"of type {describe_value(net)}"
        raise CheckpointError(f"{source}: its 'net' entry is {what}, not a state dict. "
                              "The file is damaged or not a JointNLT checkpoint.")
    bad = next((k for k, v in net.items() if not (isinstance(k, str) and isinstance(v, torch.Tensor))), None)
    if bad is not None:
        raise CheckpointError(f"{source}: entry {bad!r} of 'net' is not a tensor (type {describe_value(net[bad])}). "
                              "The file is not a valid state dict.")
    if all(key.startswith("module.") for key in net):  # saved from a DistributedDataParallel wrapper
        return {key[len("module."):]: value for key, value in net.items()}
    return dict(net)


# ---------------------------------------------------------------------------------------------------
# Official keys -> our model

def _recomputed_buffer(model: nn.Module, key: str) -> torch.Tensor | None:
    try:
        return model.get_buffer(key)
    except AttributeError:
        return None


def adapt_official_keys(state_dict: Mapping[str, torch.Tensor], model: nn.Module,
                        source: str = "the checkpoint") -> dict[str, torch.Tensor]:
    """The official keys, checked for our model: our modules keep the official names, but the official file also
    stores buffers that our model
    recomputes and keeps out of its state dict (the Swin `relative_position_index`, non-persistent in timm):
    each stored copy must equal ours exactly (else the window layout differs) and is then dropped."""
    ours = model.state_dict()
    adapted = {}
    for key, value in state_dict.items():
        buffer = None if key in ours else _recomputed_buffer(model, key)
        if buffer is None:
            adapted[key] = value  # unknown keys stay, so the strict load reports them
            continue
        if tuple(value.shape) != tuple(buffer.shape) or not torch.equal(value.to(buffer), buffer):
            raise CheckpointError(f"{source}: the stored {key!r} (shape {tuple(value.shape)}) differs from the "
                                  f"one this model computes (shape {tuple(buffer.shape)}). Is the window size "
                                  "of the config right?")
    return adapted


# ---------------------------------------------------------------------------------------------------
# Strict loading

def _build_model(cfg: ModelConfig) -> nn.Module:
    from kit.model import build_model  # here, not at the top: kit.model may use this module

    return build_model(cfg)


# ---------------------------------------------------------------------------------------------------
# The official checkpoint

def official_config(ckpt: Mapping) -> ModelConfig:
    """The config an official file asks for: `ckpt['variant']` (golden files) else the paper's, with the
    BERT dimensions of `ckpt['bert_config']` when present."""
    variant = ckpt.get("variant", "paper")
    try:
        cfg = get_preset(variant)
    except ValueError as err:
        raise CheckpointError(f"the checkpoint names variant {variant!r}, which this kit does not know "
                              f"({err}). In Python, pass config= (e.g. get_preset('paper')) to load_model; for "
                              "the command lines, save it with save_pretrained and pass that folder.") from err
    if "bert_config" in ckpt:
        cfg.language.hf_config = bert_config_from_official(ckpt["bert_config"])
    return cfg


def load_official(path: str | Path, config: ModelConfig | None = None, device: str | torch.device = "cpu"):
    """A model in eval mode with the weights of an official checkpoint (`JointNLT_ep0300.pth.tar`)."""
    ckpt = read_official(path)
    model = _build_model(config if config is not None else official_config(ckpt))
    state_dict = adapt_official_keys(official_state_dict(ckpt, str(path)), model, source=str(path))
    load_state_dict_strict(model, state_dict, source=str(path))
    return model.eval().to(device)


# ---------------------------------------------------------------------------------------------------
# Our format: model.safetensors + config.json

def _independent_tensors(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors that share memory (tied weights, views) or are not contiguous."""
    seen, out = set(), {}
    for key, tensor in state_dict.items():
        tensor = tensor.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        out[key] = tensor.clone() if storage in seen else tensor.contiguous()
        seen.add(storage)
    return out


# Encoders whose weights may be left out of a file because an installed package provides them, by the
# model's module name -> the config field that must say "package".
PACKAGE_MODULES = {"language_backbone": lambda cfg: cfg.language.pretrained,
                   "visual_backbone": lambda cfg: cfg.vision.pretrained}


def save_pretrained(model: nn.Module, directory: str | Path, *, exclude_package_weights: tuple[str, ...] = (),
                    metadata: Mapping | None = None) -> Path:
    """Write `model.safetensors` and `config.json` (format, version, `model.config`) into `directory`.
    `metadata` adds entries to config.json that loading ignores (e.g. `dtype`, `source`).

    `exclude_package_weights=("language_backbone",)` leaves out an encoder that comes unchanged from an
    installed package (e.g. a frozen MiniLM): the file gets smaller and `load_pretrained` reads that
    encoder from the package again. Refused unless the config names the package as that encoder's source
    and the model's weights still equal the package's (so nothing trained is silently dropped)."""
    from safetensors.torch import save_file

    directory = Path(directory).expanduser()
    if directory.exists() and not directory.is_dir():
        raise CheckpointError(f"{directory} is a file; save_pretrained needs a directory to write into.")
    state = model.state_dict()
    for name in exclude_package_weights:
        _check_package_module(model, name)
        state = {k: v for k, v in state.items() if not k.startswith(name + ".")}
    directory.mkdir(parents=True, exist_ok=True)
    save_file(_independent_tensors(state), directory / WEIGHTS_NAME, metadata={"format": "pt"})
    config = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "config": model.config.to_dict(),
              **(metadata or {})}
    if exclude_package_weights:
        config["package_weights"] = list(exclude_package_weights)
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def _check_package_module(model: nn.Module, name: str) -> None:
    if name not in PACKAGE_MODULES:
        raise CheckpointError(f"{name!r} cannot be left out; only {sorted(PACKAGE_MODULES)} come from packages.")
    if PACKAGE_MODULES[name](model.config) != "package":
        raise CheckpointError(f"{name} cannot be left out: the config does not load it from a package.")
    fresh = _build_model(model.config)
    _load_package_module(fresh, name)
    theirs = getattr(fresh, name).state_dict()
    for key, value in getattr(model, name).state_dict().items():
        if not torch.equal(value.detach().cpu(), theirs[key]):
            raise CheckpointError(f"{name}.{key} differs from the package's weights (it was trained); it cannot "
                                  "be left out of the file.")


def unchanged_package_modules(model: nn.Module) -> list[str]:
    """The encoders `save_pretrained` may leave out: loaded from a package and not changed since."""
    names = []
    for name in PACKAGE_MODULES:
        try:
            _check_package_module(model, name)
            names.append(name)
        except CheckpointError:
            pass
    return names


def _load_package_module(model: nn.Module, name: str) -> None:
    from kit.weights.pretrained import load_language_weights, load_vision_weights

    loader = load_language_weights if name == "language_backbone" else load_vision_weights
    loader(getattr(model, name), "package")


def read_saved_config(path: Path) -> dict:
    if not path.is_file():
        raise CheckpointError(f"{path.parent} has no {CONFIG_NAME} beside the weights: copy the {CONFIG_NAME} "
                              "that save_pretrained wrote with them into that folder (in Python, passing config= "
                              "to load_model also works).")
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not readable JSON ({first_line(err)}).") from err
    if not isinstance(saved, dict) or saved.get("format") != FORMAT_NAME or "config" not in saved:
        raise CheckpointError(f"{path} is not a {FORMAT_NAME} config (no \"format\": \"{FORMAT_NAME}\").")
    if saved.get("version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer kit (format version {saved['version']}, this "
                              f"kit reads {FORMAT_VERSION}). Update the kit.")
    return saved


def _read_config(path: Path) -> ModelConfig:
    saved = read_saved_config(path)
    try:
        return ModelConfig.from_dict(saved["config"])
    except (TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(f"{path} holds an invalid model config ({first_line(err)}).") from err


def load_pretrained(path: str | Path, device: str | torch.device = "cpu", config: ModelConfig | None = None):
    """A model in eval mode from a `save_pretrained` directory or its `.safetensors` file. Encoders the file
    left out (`package_weights` in config.json) are read from their installed package."""
    from safetensors import safe_open

    path = Path(path).expanduser()
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if not weights.is_file():
        raise CheckpointError(f"{weights}: no such file. Pass a directory written by save_pretrained.")
    config_file = weights.parent / CONFIG_NAME
    saved = read_saved_config(config_file) if config_file.is_file() else {}
    model = _build_model(config if config is not None else _read_config(config_file))
    try:
        with safe_open(weights, framework="pt", device="cpu", backend="pread") as file:
            stored = {key: torch.empty(file.get_slice(key).get_shape(), device="meta") for key in file.keys()}
            for name in saved.get("package_weights", []):
                if name not in PACKAGE_MODULES:
                    raise CheckpointError(f"{config_file} lists an unknown package module {name!r}.")
                _load_package_module(model, name)
                stored.update({f"{name}.{k}": v for k, v in getattr(model, name).state_dict().items()})
            report = compare_keys(model, stored)
            if not report.ok:
                load_state_dict_strict(model, stored, source=str(weights))  # raises with the report
            # One tensor at a time, read straight into the model's own (pread, not mmap): loading never
            # holds a second copy of the weights. bf16/fp16 files are upcast to the model's dtype here.
            targets = model.state_dict()
            with torch.no_grad():
                for key in file.keys():
                    targets[key].copy_(file.get_tensor(key))
    except CheckpointError:
        raise
    except Exception as err:  # safetensors raises its own SafetensorError, OSError, ...
        raise CheckpointError(f"{weights} is not a readable safetensors file, it looks truncated or corrupt "
                              f"({first_line(err)}).") from err
    return model.eval().to(device)
