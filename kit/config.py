"""Model configuration: plain dataclasses and the named presets (`paper`, `lite`, `mini_test`).

A config is data: it can be printed, compared, written to JSON next to a checkpoint and read back.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

# The precisions a model runs in (kit.runtime applies them): fp32; bf16 and fp16 = autocast; int8 = int8 encoder
# weights, CPU inference only. Training takes the first three.
PRECISIONS = ("fp32", "bf16", "fp16", "int8")
TRAINING_PRECISIONS = PRECISIONS[:3]
# Accelerations, orthogonal to precision (kit.runtime.accelerate): none = the eager model; compile = torch.compile
# of the vision encoder.
ACCELERATIONS = ("none", "compile")

# The crops the model sees, as official: a square of side sqrt(w*h) x factor around the target, resized to
# `ModelConfig.template_size` / `search_size`. Training (`DataConfig`) and tracking (`TrackerConfig`) take
# these, and must agree.
TEMPLATE_FACTOR = 2.0
SEARCH_FACTOR = 5.0

# Every kit pipeline normalises images with these (kit.tracking.crops.normalize).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# bert-base-uncased, as the official code builds it (pytorch_pretrained_bert 0.6.2 defaults).
BERT_BASE_UNCASED: dict[str, Any] = {
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
}

# sentence-transformers/all-MiniLM-L6-v2 (the `lite` text encoder): a 6-layer BERT, bert-base-uncased's vocabulary.
MINILM_L6: dict[str, Any] = dict(BERT_BASE_UNCASED, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                                 intermediate_size=1536)


@dataclass
class VisionConfig:
    """The image encoder. `backbone="swin"` is the paper's detection-style Swin (first three stages);
    any other value is a timm model name whose stride-16 feature map is used."""

    backbone: str = "swin"
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18)
    num_heads: tuple[int, ...] = (4, 8, 16)
    window_size: int = 7
    patch_size: int = 4
    mlp_ratio: float = 4.0
    drop_path_rate: float = 0.2
    # Where `kit.weights.pretrained.build_pretrained_model` takes the encoder's weights when a training run
    # starts from scratch: "package" (an offline pip package), a local file, "timm" or a Hub id (these two
    # download), None = random. Never read when weights come from a checkpoint.
    pretrained: str | None = None
    # timm backbones only: the normalisation the backbone was trained with, if not ImageNet's (the model
    # converts its ImageNet-normalised input). None = ImageNet's.
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None


@dataclass
class LanguageConfig:
    """The text encoder: any `transformers` BERT-family model, built from `hf_config`.
    `pretrained` ("package", a local folder, or a Hub id that downloads; None = random) is only read by
    `kit.weights.pretrained.build_pretrained_model`, when a training run starts from scratch."""

    model_type: str = "bert"
    hf_config: dict[str, Any] = field(default_factory=lambda: dict(BERT_BASE_UNCASED))
    pretrained: str | None = None
    max_text_len: int = 40  # [CLS] + 38 WordPiece tokens + [SEP]
    # The encoder's last hidden state is multiplied by this before the text projection (no weights). 1 = the
    # paper. MiniLM's hidden states are ~13x smaller (RMS 0.45) than EfficientNet-Lite0's map (5.8), so with
    # equal projections the text tokens enter the relation encoder ~7x weaker than the image tokens and a
    # small budget learns to ignore them; `lite` scales them to the image tokens' size (docs/lite.md).
    output_scale: float = 1.0


@dataclass
class TransformerConfig:
    """Widths and depths of the three transformers the paper adds on top of the encoders."""

    hidden_dim: int = 256
    num_heads: int = 8
    ffn_dim: int = 1024
    dropout: float = 0.1
    relation_layers: int = 6        # multi-source relation encoder (MSRM)
    temporal_enc_layers: int = 6    # semantics-guided temporal module (SGTM), encoder
    temporal_dec_layers: int = 6    # SGTM decoder
    target_dec_layers: int = 6      # target decoder (TQ + TC)
    head_channels: int = 256        # corner head


@dataclass
class ArchitectureConfig:
    """Switches for the ablations of the paper's Table 1 (see `VARIANTS`)."""

    separate_relation: bool = False   # SepRM: one relation encoder + head per task
    target_decoder: bool = True       # TDec: target query decoded over the search tokens
    temporal: bool = True             # TM: temporal clue from historical RoI tokens
    temporal_text_cls: bool = True    # SGTM: NL CLS token joins the RoI tokens


VARIANTS: dict[str, ArchitectureConfig] = {
    "seprm": ArchitectureConfig(separate_relation=True, target_decoder=False, temporal=False, temporal_text_cls=False),
    "msrm": ArchitectureConfig(target_decoder=False, temporal=False, temporal_text_cls=False),
    "msrm_tdec": ArchitectureConfig(target_decoder=True, temporal=False, temporal_text_cls=False),
    "msrm_tm": ArchitectureConfig(target_decoder=True, temporal=True, temporal_text_cls=False),
    "full": ArchitectureConfig(),
}


@dataclass
class ModelConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    architecture: ArchitectureConfig = field(default_factory=ArchitectureConfig)
    template_size: int = 128
    search_size: int = 320      # also the grounding input size (they share the position embeddings)
    stride: int = 16            # of the vision feature map
    box_enlarge: float = 1.5    # w,h of returned boxes = head's w,h x 1.5 (official semantics)
    # Whether the tracker uses the temporal clue after a box start (NL+BB). The official tracker does not
    # (paper's TRACK mode; the paper model is evaluated that way); a model trained only with the temporal
    # clue (the bundled Lite) loses the target without it. `TrackerConfig.temporal` overrides.
    temporal_after_box: bool = False
    # Not in the paper: add the sentence (the mean of the projected text tokens over the real ones) to the
    # target query whenever there is no temporal clue (grounding; tracking without history).
    # The official query is a constant there, so the sentence reaches the boxes only through the relation
    # encoder, which a small budget does not teach (docs/lite.md). Adds no weights; off = the official model.
    text_in_query: bool = False
    # Tracker settings this model was validated with (`TrackerConfig` fields), used where the caller leaves an
    # option at None. Empty = the paper's tracker. The bundled Lite: the real-footage checks (docs/tracking.md).
    tracker: dict[str, Any] = field(default_factory=dict)
    name: str = "custom"

    @property
    def template_tokens(self) -> int:
        return (self.template_size // self.stride) ** 2

    @property
    def search_feat_size(self) -> int:
        return self.search_size // self.stride

    @property
    def search_tokens(self) -> int:
        return self.search_feat_size ** 2

    @property
    def num_positions(self) -> int:
        """Sequence length of the relation encoder: text | template | SEP | search (505 for the paper)."""
        return self.language.max_text_len + self.template_tokens + 1 + self.search_tokens

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        return dataclass_from_dict(cls, d)


def dataclass_from_dict(cls, d: dict[str, Any]):
    """Rebuild a (nested) dataclass from `asdict` output; unknown keys are an error, lists become tuples."""
    hints = typing.get_type_hints(cls)
    unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    kwargs = {}
    for key, value in d.items():
        kind = hints[key]
        if dataclasses.is_dataclass(kind):
            kwargs[key] = dataclass_from_dict(kind, value)
        elif isinstance(value, list):
            kwargs[key] = tuple(value)
        else:
            kwargs[key] = value
    return cls(**kwargs)


# ---------------------------------------------------------------------------------------------------
# Presets

def paper() -> ModelConfig:
    """The official `swin_b_ep300` model (Swin-B stages 0-2, bert-base-uncased, 6-layer transformers)."""
    return ModelConfig(name="paper")


def mini_test() -> ModelConfig:
    """The small random-weight model that the golden parity files (outputs of the official code, read by the
    parity tests) were made with."""
    return ModelConfig(
        name="mini_test",
        vision=VisionConfig(embed_dim=32, depths=(2, 2, 2), num_heads=(1, 2, 4)),
        language=LanguageConfig(hf_config=dict(
            BERT_BASE_UNCASED, vocab_size=2500, num_hidden_layers=1, intermediate_size=256,
            max_position_embeddings=64)),
        transformer=TransformerConfig(ffn_dim=128, relation_layers=2, temporal_enc_layers=2,
                                      temporal_dec_layers=2, target_dec_layers=2),
    )


# Chosen on our real validation set (bunny labels + semi-real sequences, docs/model-card.md#real-footage).
LITE_TRACKER: dict[str, Any] = {"appearance_check": True, "motion_prior": 0.5, "max_scale_change": 0.1}


def lite() -> ModelConfig:
    """The bundled CPU model: EfficientNet-Lite0 (to its stride-16 map, 112 channels) and MiniLM-L6, both
    pretrained from offline packages, with small paper transformers. Sizes chosen by measurement: docs/lite.md."""
    return ModelConfig(
        name="lite",
        vision=VisionConfig(backbone="tf_efficientnet_lite0", pretrained="package",
                            pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5)),  # TF EfficientNet's [-1, 1]
        language=LanguageConfig(hf_config=dict(MINILM_L6), pretrained="package", output_scale=7.0),
        transformer=TransformerConfig(hidden_dim=192, num_heads=6, ffn_dim=384, relation_layers=4,
                                      temporal_enc_layers=1, temporal_dec_layers=1, target_dec_layers=2,
                                      head_channels=96),
        template_size=96, search_size=240, temporal_after_box=True, text_in_query=True,
        tracker=dict(LITE_TRACKER),
    )


PRESETS = {"paper": paper, "lite": lite, "mini_test": mini_test}
# The official checkpoints name their dimensions by experiment; map those names to our presets.
OFFICIAL_VARIANTS = {"swin_b_ep300": "paper", "swin_b_ep300_track": "paper", "mini_test": "mini_test"}


def get_preset(name: str, variant: str = "full") -> ModelConfig:
    """A named preset, optionally with one of the Table 1 ablation variants."""
    name = OFFICIAL_VARIANTS.get(name, name)
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {sorted(VARIANTS)}")
    cfg = PRESETS[name]()
    cfg.architecture = dataclasses.replace(VARIANTS[variant])
    return cfg


def bert_config_from_official(d: dict[str, Any]) -> dict[str, Any]:
    """Translate a pytorch_pretrained_bert config dict (as stored in golden `weights.pth`) to HF names."""
    out = dict(BERT_BASE_UNCASED)
    for key, value in d.items():
        out["vocab_size" if key == "vocab_size_or_config_json_file" else key] = value
    return out
