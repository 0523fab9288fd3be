"""Any weights we read -> our format (`model.safetensors` + `config.json`), optionally in bf16/fp16, and a
description of a weights reference (variant, parameters, dtype, size, origin) without building a model."""
from __future__ import annotations

import json
import os
import shlex
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from kit.weights.checkpoint import (adapt_official_keys, describe_value, load_pretrained, official_config,
                                   official_state_dict, read_official, read_saved_config, save_pretrained)
from kit.weights.files import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, load_state_dict_strict

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# safetensors header dtype names -> ours
_SAFETENSORS_DTYPES = {"F32": "fp32", "BF16": "bf16", "F16": "fp16", "F64": "fp64"}
# Persistent buffers: stored in the file, but not parameters.
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class Conversion:
    """What `convert` did: where from, where to, what was kept and what was left behind."""

    source: str
    destination: Path
    variant: str
    parameters: int
    dtype: str
    size_bytes: int
    dropped: list[str] = field(default_factory=list)  # top-level entries of an official file not kept

    def summary(self) -> str:
        text = (f"{self.source} -> {self.destination}: {self.variant}, {self.parameters / 1e6:.1f} M parameters, "
                f"{self.dtype}, {self.size_bytes / 2**20:.0f} MiB")
        if self.dropped:
            text += f"; weights only, left out the other entries of the file ({', '.join(self.dropped)})"
        return text


def is_official_file(path: Path) -> bool:
    """A local file that is not ours (`.safetensors`, `config.json`): read as an official checkpoint."""
    return path.is_file() and path.suffix not in (".safetensors", ".json")


def read_any(path: str | Path):
    """(model in eval mode, entries of an official file that were dropped) for a local file or folder in
    either format (`kit.weights.loading.local_weights` turns any reference into one)."""
    path = Path(path).expanduser()
    if is_official_file(path):
        ckpt = read_official(path)
        model = _build(official_config(ckpt))
        state_dict = adapt_official_keys(official_state_dict(ckpt, str(path)), model, source=str(path))
        load_state_dict_strict(model, state_dict, source=str(path))
        dropped = [f"{key} ({describe_value(value)})" for key, value in ckpt.items() if key != "net"] \
            if "net" in ckpt else []
        return model.eval(), dropped
    return load_pretrained(path), []


def _build(cfg):
    from kit.model import build_model

    return build_model(cfg)


def convert(src: str | Path, dst: str | Path, *, dtype: str = "fp32", source: dict | None = None,
            overwrite: bool = False, reference: str | None = None) -> Conversion:
    """Write `src` (a local official file, or our folder/.safetensors) into the folder `dst` in our format,
    weights only; `reference` is what the user named (hf://..., 'official'), recorded as the origin. fp32 keeps every
    bit; bf16/fp16 round each floating tensor once (to nearest). The folder appears complete or not at all: it is
    written beside `dst` and renamed."""
    if dtype not in DTYPES:
        raise CheckpointError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}.")
    dst = Path(dst).expanduser()
    if dst.exists() and not (overwrite and dst.is_dir()) and not (dst.is_dir() and not any(dst.iterdir())):
        raise CheckpointError(f"{dst} already exists; choose a new folder (or pass --force to replace it).")
    model, dropped = read_any(src)
    if dtype != "fp32":
        model.to(DTYPES[dtype])  # floating tensors only; integer buffers keep their type
    named = reference or str(src)
    origin = dict(source or {"converted_from": named, "command": shlex.join(
        ["python", "-m", "kit.weights", "convert", named, str(dst), "--dtype", dtype])})
    dst.parent.mkdir(parents=True, exist_ok=True)
    staging = dst.parent / f".{dst.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        save_pretrained(model, staging, metadata={"dtype": dtype, "source": origin})
        if dst.exists():
            shutil.rmtree(dst)
        os.replace(staging, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    info = describe(dst)
    return Conversion(named, dst, info["variant"], info["parameters"], dtype, info["size_bytes"], dropped)


def safetensors_header(path: Path) -> dict:
    """The JSON header of a safetensors file (names, dtypes, shapes), read without loading any tensor."""
    try:
        with path.open("rb") as file:
            (length,) = struct.unpack("<Q", file.read(8))
            if length > 100_000_000:
                raise ValueError("header length out of range")
            return json.loads(file.read(length))
    except (OSError, ValueError, struct.error) as err:
        raise CheckpointError(f"{path} is not a readable safetensors file ({err}).") from err


def count_parameters(shapes: dict[str, tuple[int, ...]]) -> int:
    """Parameters among stored tensors (persistent buffers such as BatchNorm statistics excluded)."""
    total = 0
    for key, shape in shapes.items():
        if not key.endswith(_BUFFER_SUFFIXES):
            n = 1
            for d in shape:
                n *= d
            total += n
    return total


def describe(path: str | Path, reference: str | None = None) -> dict:
    """Variant, parameters, dtype, size and origin of local weights (as named by `reference`), from the file
    headers (our format) or the checkpoint's entries (official file), without building a model."""
    ref = reference or str(path)
    path = Path(path).expanduser()
    if path.is_dir() and (path / CONFIG_NAME).is_file():
        path = path / WEIGHTS_NAME
    if path.suffix == ".safetensors":
        header = {k: v for k, v in safetensors_header(path).items() if k != "__metadata__"}
        config_file = path.parent / CONFIG_NAME
        saved = read_saved_config(config_file) if config_file.is_file() else {}
        dtypes = sorted({_SAFETENSORS_DTYPES.get(v["dtype"], v["dtype"]) for v in header.values()
                         if v["dtype"] in _SAFETENSORS_DTYPES})
        return {"reference": str(ref), "path": str(path.parent if saved else path), "format": "jointnlt-kit",
                "variant": saved.get("config", {}).get("name", "?"),
                "parameters": count_parameters({k: tuple(v["shape"]) for k, v in header.items()}),
                "dtype": saved.get("dtype") or "/".join(dtypes), "size_bytes": path.stat().st_size
                + (config_file.stat().st_size if config_file.is_file() else 0),
                "source": saved.get("source", {}), "package_weights": saved.get("package_weights", [])}
    ckpt = read_official(path)
    state = official_state_dict(ckpt, str(path))
    floats = sorted({str(v.dtype).replace("torch.", "") for v in state.values() if v.is_floating_point()})
    return {"reference": str(ref), "path": str(path), "format": "official (pickled torch checkpoint)",
            "variant": official_config(ckpt).name,
            "parameters": count_parameters({k: tuple(v.shape) for k, v in state.items()
                                            if not k.endswith("relative_position_index")}),
            "dtype": {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}.get("/".join(floats),
                                                                                  "/".join(floats)),
            "size_bytes": path.stat().st_size,
            "source": {"official_entries": [f"{k} ({describe_value(v)})" for k, v in ckpt.items() if k != "net"]}}
