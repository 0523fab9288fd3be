"""Which weights to load, and from where: `load_model(ref)` takes an official `.pth.tar`, a directory written
by `save_pretrained`, a Hugging Face Hub reference (`hf://owner/repo[/file][@revision]`), `official` (the
authors' checkpoint, fetched and converted once) or nothing (the default: $JOINTNLT_WEIGHTS, else the bundled
JointNLT-Lite)."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from kit.config import ModelConfig
from kit.weights.checkpoint import load_official, load_pretrained
from kit.weights.files import CONFIG_NAME, WEIGHTS_NAME, CheckpointError, first_line
from kit.weights.refs import (HUB_PATTERNS, HUB_PREFIX, OFFICIAL_REF, OFFICIAL_SUFFIXES, looks_like_hub_repo,
                              parse_hub_ref)


def resolve_weights(ref: str | Path, *, cache_dir: str | Path | None = None,
                    local_files_only: bool | None = None) -> Path:
    """A local file or directory, what a Hub reference downloads to, or for `official` the converted authors'
    checkpoint in the cache (fetched on first use). Only an explicit `hf://...`, a bare `owner/repo` that is
    not a local path, or `official` ever reaches the network. `local_files_only=None` follows
    HF_HUB_OFFLINE."""
    text = str(ref)
    if text.strip() == OFFICIAL_REF:  # the authors' checkpoint, fetched and converted once (kit.weights.official)
        from kit.weights.official import fetch_official

        return fetch_official()
    if text.startswith(HUB_PREFIX):
        hub = parse_hub_ref(text[len(HUB_PREFIX):])
        if hub is None:
            raise CheckpointError(f"{text} is not a valid Hub reference; use hf://owner/repo[/file][@revision].")
    else:
        local = Path(text).expanduser()
        if local.exists():
            return local
        if isinstance(ref, Path) or not looks_like_hub_repo(text):
            raise CheckpointError(f"{text}: no such file or directory. Pass a checkpoint path, or a Hub "
                                  "reference like hf://owner/repo.")
        hub = parse_hub_ref(text)
    try:
        return _download(*hub, cache_dir=cache_dir, local_files_only=local_files_only)
    except Exception as err:  # offline, unknown repo/file/revision, HTTP errors: all mean "not fetched"
        local = "" if text.startswith(HUB_PREFIX) else "is not a local path, and "
        raise CheckpointError(f"{text} {local}could not be fetched from the Hugging Face Hub ({first_line(err)}). "
                              "Check the name and your connection, or download the weights and pass the local "
                              "path.") from err


def _download(repo_id: str, filename: str | None, revision: str | None, *,
              cache_dir, local_files_only: bool | None) -> Path:
    import huggingface_hub  # only for Hub references

    kwargs = {"revision": revision, "cache_dir": cache_dir}
    if local_files_only is not None:
        kwargs["local_files_only"] = local_files_only
    if filename:
        return Path(huggingface_hub.hf_hub_download(repo_id, filename, **kwargs))
    return Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, **kwargs))


def local_weights(ref: str | Path, **kwargs) -> Path:
    """The local file or our folder that `ref` names (`resolve_weights`); of a folder without config.json (a
    Hub snapshot of official files) its one checkpoint file."""
    path = resolve_weights(ref, **kwargs)
    if path.is_dir() and not (path / CONFIG_NAME).is_file():
        path = _checkpoint_in_directory(path)
    return path


def _checkpoint_in_directory(directory: Path) -> Path:
    """The one checkpoint file in a directory that has no config.json (e.g. a Hub snapshot)."""
    found = sorted(p for p in directory.iterdir()
                   if p.is_file() and p.name.endswith(OFFICIAL_SUFFIXES + (".safetensors",)))
    if len(found) != 1:
        what = "no checkpoint file" if not found else f"several checkpoints ({', '.join(p.name for p in found)})"
        raise CheckpointError(f"{directory} holds {what}; pass the file you mean, or a directory written by "
                              "save_pretrained.")
    return found[0]


# The bundled JointNLT-Lite (docs/model-card.md): the default everywhere a weights reference is optional.
BUNDLED_MODEL = Path(__file__).resolve().parents[2] / "assets" / "jointnlt-lite"
WEIGHTS_ENV = "JOINTNLT_WEIGHTS"


def default_weights() -> str:
    """The weights used when none are given: $JOINTNLT_WEIGHTS if set, else the bundled Lite model."""
    return os.environ.get(WEIGHTS_ENV, "").strip() or str(BUNDLED_MODEL)


def load_model(ref: str | Path | None = None, *, device: str | torch.device = "cpu",
               config: ModelConfig | None = None, cache_dir: str | Path | None = None,
               local_files_only: bool | None = None):
    """Any weights reference -> a model in eval mode: our format (directory or `.safetensors`) or an official
    checkpoint, local or on the Hub, or `"official"` (the authors' checkpoint, fetched, converted and cached
    on first use: kit.weights.official); None = `default_weights()`. `config` overrides the one the weights
    come with."""
    if ref is None or str(ref).strip() == "":
        ref = default_weights()
        if Path(ref) == BUNDLED_MODEL and not (BUNDLED_MODEL / WEIGHTS_NAME).is_file():
            raise CheckpointError(f"the bundled model is missing ({BUNDLED_MODEL / WEIGHTS_NAME}); restore it "
                                  "with `git checkout assets/`, or pass weights explicitly.")
    path = local_weights(ref, cache_dir=cache_dir, local_files_only=local_files_only)
    if path.is_dir() or path.suffix == ".safetensors":
        return load_pretrained(path, device=device, config=config)
    return load_official(path, config=config, device=device)
