"""The video tracker around JointNLT, with explicit state (in the spirit of SAM 2's video predictor).

    tracker = Tracker(model, device="cpu", precision="bf16")
    state, first = tracker.init(frame0, [Prompt(text="the zebra on the left")])   # NL   (paper: JOINT)
    state, first = tracker.init(frame0, [Prompt(text="...", box=(x, y, w, h))])   # NL+BB (paper: TRACK)
    for frame in frames:
        state, results = tracker.step(state, frame)                              # one TargetResult per target

Everything a video needs between frames lives in `TrackState` (cached text and template encodings, the
temporal RoI tokens, the boxes), so several videos can be tracked with one `Tracker`. Several targets in one
video are batched through the model. The paper's protocol (docs/official-code.md: Tracking) is the default;
the additions (confidence score, re-grounding, absence reporting, attention maps) are options in
`TrackerConfig`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from kit.config import SEARCH_FACTOR, TEMPLATE_FACTOR
from kit.model import Features, JointNLT, Prediction
from kit.runtime import frame_threads, inference, resolve_device
from kit.tracking import appearance
from kit.tracking.crops import (Crop, clip_box, grounding_box_to_frame, grounding_resize, normalize, sample_target,
                                search_box_to_frame)


@dataclass
class TrackerConfig:
    template_factor: float = TEMPLATE_FACTOR
    search_factor: float = SEARCH_FACTOR
    margin: int = 10                 # clip_box keeps >= margin px inside the frame (official)
    # The NL start box (the grounding result) is clipped like every later box (FIX: the official tracker starts
    # from the raw grounding box, which can lie in the padding below a wide frame, or have zero size; the next
    # search crop is then all padding). False = official, except for a box whose centre is outside the frame.
    clip_start: bool = True
    # The temporal clue (TQ + TC). None = on after NL grounding; after an initial box as the model's config
    # says (`ModelConfig.temporal_after_box`: off for the paper model, as the official TRACK mode; on for Lite).
    temporal: bool | None = None
    # Beyond the paper (off by default):
    reground_below: float | None = None   # re-run grounding on the full frame when the score stays below this
    reground_patience: int = 5            # ... for this many consecutive frames
    absent_below: float | None = None     # report `present=False` when the score is below this
    attention: bool = False               # return the TQ/TC cross-attention and SGTM attention maps
    # Robustness on real footage (not in the paper). None = what the model's config recommends
    # (`ModelConfig.tracker`: nothing for the paper model, i.e. the official tracker; the real-footage checks for
    # the bundled Lite); `model_settings=False` ignores those. Measured on the real validation set
    # (benchmarks/real_validation.py, docs/tracking.md):
    model_settings: bool = True
    motion_prior: float | None = None     # Gaussian prior on each corner map around the previous box's corner,
                                          # sigma = this x the target's size (smaller = stay closer)
    max_scale_change: float | None = None  # per frame, w and h change by at most this factor (0.1 = +-10 %)
    hold_below: float | None = None       # keep the previous box when the confidence is below this
    appearance_check: bool | None = None  # of the new box, the previous box's size at the new centre and the
                                          # previous box, keep the one whose encoder tokens look most like
                                          # the template's target (kit.tracking.appearance)
    # Sentence-only starts: try the ImageNet category prior first (kit.tracking.category_prior; NOT the paper's
    # grounding) and fall back to the model's grounding when the sentence names no ImageNet category.
    category_prior: bool = False


@dataclass
class Prompt:
    """What the user gives for one target: a sentence, a box (x,y,w,h in frame pixels), or both.
    `token_ids` = (ids, mask) of shape (1,40) bypasses the tokenizer (parity tests)."""

    text: str | None = None
    box: tuple[float, float, float, float] | None = None
    token_ids: tuple[torch.Tensor, torch.Tensor] | None = None


@dataclass
class TargetState:
    text: Features                         # (1,40,C) cached for the whole video
    template: Features                     # (1,64,C) cached for the whole video
    box: list[float]                       # last box, frame pixels (x,y,w,h)
    use_temporal: bool
    first_roi: torch.Tensor | None = None  # (1,C,36) RoI tokens of the grounding result
    last_roi: torch.Tensor | None = None   # (1,C,36) RoI tokens of the previous frame
    low_score_frames: int = 0
    appearance: torch.Tensor | None = None  # the target's descriptor in the template (appearance_check)
    # Started from the user's box: only such targets get the real-footage checks (appearance check, motion
    # prior, bounded scale change), which hold on to the first box. A grounding or category-prior start may be
    # the wrong region, and there the checks kept the tracker from drifting onto the right one (docs/tracking.md).
    box_start: bool = False


@dataclass
class TrackState:
    frame_index: int
    frame_size: tuple[int, int]            # (H, W)
    targets: list[TargetState]


@dataclass
class TargetResult:
    box: tuple[float, float, float, float]  # (x,y,w,h) frame pixels
    score: float                           # confidence from the corner heat maps, in (0, 1]
    present: bool = True
    regrounded: bool = False
    # How a sentence-only start found its box: 'grounding' (the model), 'category prior: hare, ...' (the
    # ImageNet category prior); empty for boxes given by the user and for tracked frames.
    found_by: str = ""
    # With TrackerConfig.attention: 'target' (Hs,Ws) cross-attention of the target query (TQ + TC) over the
    # search tokens (last decoder layer); 'temporal' (1+L,1+L) SGTM encoder self-attention (last layer).
    attention: dict[str, np.ndarray] = field(default_factory=dict)
    # The square search region this frame was tracked in, (x, y, side, side) in frame pixels, centred on the
    # previous box (where `attention['target']` lies); None on the frame a target starts.
    search_box: tuple[float, float, float, float] | None = None
    # With TrackerConfig.attention: that search crop itself (the image the attention maps lie on).
    search_crop: Crop | None = None


def with_model_settings(config: TrackerConfig, recommended: dict) -> TrackerConfig:
    """`config` with the options it leaves at None set as the model recommends (`ModelConfig.tracker`),
    unless `config.model_settings` is False."""
    fields = {f.name for f in dataclasses.fields(TrackerConfig)}
    unknown = sorted(set(recommended) - fields)
    if unknown:
        raise ValueError(f"the model's config recommends unknown tracker settings {unknown}")
    if not config.model_settings:
        return config
    return dataclasses.replace(config, **{k: v for k, v in recommended.items() if getattr(config, k) is None})


class TrackerInputError(ValueError):
    """A frame, sentence or box the tracker cannot use; the message is one line for the user."""


class Tracker:
    def __init__(self, model: JointNLT, config: TrackerConfig | None = None, device="auto",
                 precision: str = "fp32", sentence_encoder=None):
        self.model = model.eval()
        self.config = with_model_settings(config or TrackerConfig(), model.config.tracker)
        self.device = resolve_device(device)
        self.precision = precision
        self._sentence_encoder = sentence_encoder
        self._category_prior = None   # built on first use (TrackerConfig.category_prior)
        cfg = model.config
        self.search_size, self.template_size = cfg.search_size, cfg.template_size
        self._max_text_len = cfg.language.max_text_len

    # ------------------------------------------------------------------ initialisation
    def init(self, frame: np.ndarray, prompts: list[Prompt]) -> tuple[TrackState, list[TargetResult]]:
        """Start tracking the prompted targets on `frame` (the first frame, or any frame)."""
        frame = check_frame(frame)
        if not prompts:
            raise TrackerInputError("no target given: pass at least one sentence or box")
        H, W = frame.shape[:2]
        with inference(self.device, self.precision):
            targets, results = zip(*(self._init_target(frame, p) for p in prompts))
        return TrackState(0, (H, W), list(targets)), list(results)

    def add_target(self, state: TrackState, frame: np.ndarray, prompt: Prompt,
                   replace: int | None = None) -> tuple[TrackState, TargetResult]:
        """Add a target mid-video, or re-select target `replace` (new sentence and/or box) on this frame."""
        frame = check_frame(frame, state.frame_size)
        with inference(self.device, self.precision):
            target, result = self._init_target(frame, prompt)
        targets = list(state.targets)
        if replace is None:
            targets.append(target)
        else:
            targets[replace] = target
        return dataclasses.replace(state, targets=targets), result

    def _init_target(self, frame: np.ndarray, prompt: Prompt) -> tuple[TargetState, TargetResult]:
        H, W = frame.shape[:2]
        if prompt.text is None and prompt.token_ids is None and prompt.box is None:
            raise TrackerInputError("a target needs a sentence, a box, or both")
        text = self._encode_text(prompt)
        prior = self._category_box(frame, prompt) if prompt.box is None else None
        if prior is not None:    # the category prior's box, then tracked as from a user's box
            box = clip_box(list(prior.box), H, W, self.config.margin)
            temporal = self.config.temporal
            first_roi = None
            use_temporal = bool(self.model.config.temporal_after_box if temporal is None else temporal)
            result = TargetResult(tuple(box), prior.similarity, found_by="category prior: " + ", ".join(prior.classes))
        elif prompt.box is None:   # NL: ground the sentence on the whole frame (paper: JOINT)
            pred, box = self._ground(frame, text)
            box = self._start_box(box, H, W)
            first_roi = pred.roi_feature.flatten(2)
            use_temporal = self.config.temporal is not False
            result = TargetResult(tuple(box), corner_score(pred)[0], found_by="grounding")
        else:                    # NL+BB (paper: TRACK): the official tracker never used the temporal module
            box = [float(v) for v in check_box(prompt.box, H, W)]
            temporal = self.config.temporal
            first_roi = None
            use_temporal = bool(self.model.config.temporal_after_box if temporal is None else temporal)
            result = TargetResult(tuple(box), 1.0)
        template = self._encode_template(frame, box)
        if use_temporal and first_roi is None:
            first_roi = self._roi_at(frame, text, template, box)
        box_start = prompt.box is not None
        appearance = (self._template_descriptor(frame, box, template)
                      if self.config.appearance_check and box_start else None)
        return TargetState(text, template, box, use_temporal, first_roi, appearance=appearance,
                           box_start=box_start), result

    def _start_box(self, box: list[float], H: int, W: int) -> list[float]:
        x, y, w, h = box
        centre_inside = 0 <= x + 0.5 * w <= W and 0 <= y + 0.5 * h <= H
        if self.config.clip_start or not centre_inside:
            return clip_box(box, H, W, self.config.margin)
        return box

    # ------------------------------------------------------------------ per frame
    def step(self, state: TrackState, frame: np.ndarray) -> tuple[TrackState, list[TargetResult]]:
        """Track every target into `frame`; returns the new state and one result per target."""
        frame = check_frame(frame, state.frame_size)
        H, W = state.frame_size
        with frame_threads(), inference(self.device, self.precision):   # frame_threads: kit.runtime
            crops = [sample_target(frame, t.box, self.config.search_factor, self.search_size)
                     for t in state.targets]
            new_targets, results = [], []
            predictions, search = self._track_batch(state.targets, crops)
            for k, (target, crop, (pred, row)) in enumerate(zip(state.targets, crops, predictions)):
                box = search_box_to_frame(pred.boxes[row].float(), target.box, crop.resize_factor,
                                          self.search_size)
                box = clip_box(box if _finite(box) else target.box, H, W, self.config.margin)  # NaN: stay put
                if target.appearance is not None:
                    box = self._most_alike(box, target, search.tokens[k], crop, (H, W))
                new, result = self._after_step(frame, target, pred, row, box)
                x1, y1, side = (float(v) for v in crop.crop_box)
                new_targets.append(new)
                results.append(dataclasses.replace(result, search_box=(x1, y1, side, side),
                                                   search_crop=crop if self.config.attention else None))
        return TrackState(state.frame_index + 1, state.frame_size, new_targets), results

    def _track_batch(self, targets: list[TargetState], crops) -> tuple[list[tuple[Prediction, int]], Features]:
        """Batched forward passes (targets grouped by temporal length, which a batch must share);
        returns, per target, its batch's prediction and its row in it, and the search crops' encoder tokens."""
        groups: dict[int, list[int]] = {}
        temporals = [self._temporal_tokens(t) for t in targets]
        for i, tokens in enumerate(temporals):
            groups.setdefault(0 if tokens is None else tokens.shape[-1], []).append(i)
        search = self.model.encode_image(
            normalize(np.stack([c.patch for c in crops]), self.device),
            torch.as_tensor(np.stack([c.pad_mask for c in crops]), device=self.device))
        parts: dict[int, tuple[Prediction, int]] = {}
        for indices in groups.values():
            pick = torch.tensor(indices, device=self.device)
            temporal = temporals[indices[0]]
            pred = self.model.track(
                _cat_features([targets[i].text for i in indices]),
                _cat_features([targets[i].template for i in indices]),
                Features(search.tokens[pick], search.padding_mask[pick]),
                None if temporal is None else torch.cat([temporals[i] for i in indices]),
                need_weights=self.config.attention,
                corner_prior=self._corner_prior([targets[i] for i in indices], [crops[i] for i in indices]))
            for row, i in enumerate(indices):
                parts[i] = (pred, row)
        return [parts[i] for i in range(len(targets))], search

    def _corner_prior(self, targets: list[TargetState], crops) -> torch.Tensor | None:
        """(B,2,H,W) log of a Gaussian around where the previous box's corners fall on the corner head's grid
        (`TrackerConfig.motion_prior`), or None. The search crop is centred on the previous box; the head's
        corners are those of the returned box shrunk by `box_enlarge`; its grid points are cell corners."""
        sigma_factor = self.config.motion_prior
        if sigma_factor is None or not any(t.box_start for t in targets):
            return None
        cfg = self.model.config
        grid = torch.arange(cfg.search_feat_size, dtype=torch.float32, device=self.device) * cfg.stride
        priors = []
        for target, crop in zip(targets, crops):
            _, _, w, h = target.box
            hw, hh = 0.5 * w * crop.resize_factor / cfg.box_enlarge, 0.5 * h * crop.resize_factor / cfg.box_enlarge
            sigma = max(sigma_factor * 2 * math.sqrt(hw * hh), float(cfg.stride))
            c = self.search_size / 2
            maps = []
            for ex, ey in ((c - hw, c - hh), (c + hw, c + hh)):
                gx, gy = -(grid - ex) ** 2 / (2 * sigma ** 2), -(grid - ey) ** 2 / (2 * sigma ** 2)
                maps.append(gy[:, None] + gx[None, :])
            prior = torch.stack(maps)
            priors.append(prior if target.box_start else torch.zeros_like(prior))  # 0 = no prior, exactly
        return torch.stack(priors)

    def _temporal_tokens(self, target: TargetState) -> torch.Tensor | None:
        """Official queue: [grounding RoI] on the first frame, then [grounding RoI, previous frame's RoI]."""
        if not target.use_temporal:
            return None
        rois = [target.first_roi] + ([target.last_roi] if target.last_roi is not None else [])
        return torch.cat(rois, dim=-1)

    def _after_step(self, frame, target, preds, i, box) -> tuple[TargetState, TargetResult]:
        score = corner_score(preds, i)[0]
        box = self._bounded(box, target.box, score, frame.shape[:2], target.box_start)
        low = target.low_score_frames + 1 if (self.config.reground_below is not None
                                              and score < self.config.reground_below) else 0
        new = dataclasses.replace(target, box=box, last_roi=preds.roi_feature[i:i + 1].flatten(2),
                                  low_score_frames=low)
        result = TargetResult(tuple(box), score, attention=_attention_maps(preds, i, self.model))
        if low >= self.config.reground_patience:
            new, result = self._reground(frame, new, result)
        if self.config.absent_below is not None:
            result.present = result.score >= self.config.absent_below
        return new, result

    def _bounded(self, box: list[float], previous: list[float], score: float, size,
                 box_start: bool) -> list[float]:
        """The robustness options on one new box: hold it still at low confidence, bound its change of size
        (targets started from a box only)."""
        if self.config.hold_below is not None and score < self.config.hold_below:
            return list(previous)
        r = self.config.max_scale_change
        if r is None or not box_start:
            return box
        x, y, w, h = box
        pw, ph = previous[2], previous[3]
        nw, nh = min(max(w, pw / (1 + r)), pw * (1 + r)), min(max(h, ph / (1 + r)), ph * (1 + r))
        H, W = size
        return clip_box([x + (w - nw) / 2, y + (h - nh) / 2, nw, nh], H, W, self.config.margin)

    def _template_descriptor(self, frame, box, template: Features) -> torch.Tensor:
        crop = sample_target(frame, box, self.config.template_factor, self.template_size)
        stride = self.model.config.stride
        return appearance.descriptor(template.tokens[0], self.template_size // stride, stride,
                                     appearance.frame_box_to_crop(box, crop.crop_box, crop.resize_factor))

    def _most_alike(self, box, target: TargetState, search_tokens, crop, size) -> list[float]:
        """`appearance_check`: of the new box, the previous size at the new centre and the previous box, the
        one whose descriptor is closest to the template's (ties keep the model's box)."""
        x, y, w, h = box
        px, py, pw, ph = target.box
        candidates = [box, clip_box([x + (w - pw) / 2, y + (h - ph) / 2, pw, ph], *size, self.config.margin),
                      list(target.box)]
        stride = self.model.config.stride
        boxes = [appearance.frame_box_to_crop(c, crop.crop_box, crop.resize_factor) for c in candidates]
        scores = (appearance.descriptors(search_tokens, self.search_size // stride, stride, boxes)
                  @ target.appearance).tolist()
        return candidates[max(range(len(candidates)), key=lambda i: (scores[i], -i))]

    def _reground(self, frame, target: TargetState, current: TargetResult) -> tuple[TargetState, TargetResult]:
        """The joint model can ground any frame: re-acquire the target from the sentence alone."""
        pred, box = self._ground(frame, target.text)
        score = float(corner_score(pred)[0])
        if score <= current.score:
            return dataclasses.replace(target, low_score_frames=0), current
        H, W = frame.shape[:2]
        box = clip_box(box, H, W, self.config.margin)
        first_roi = pred.roi_feature.flatten(2) if target.use_temporal else target.first_roi
        new = dataclasses.replace(target, box=box, first_roi=first_roi, last_roi=None, low_score_frames=0)
        return new, TargetResult(tuple(box), score, regrounded=True)

    # ------------------------------------------------------------------ building blocks
    def ground(self, frame: np.ndarray, prompt: Prompt) -> TargetResult:
        """Grounding only: where is the sentence's target in this frame?"""
        frame = check_frame(frame)
        with inference(self.device, self.precision):
            pred, box = self._ground(frame, self._encode_text(prompt))
        return TargetResult(tuple(box), float(corner_score(pred)[0]))

    def _ground(self, frame, text: Features) -> tuple[Prediction, list[float]]:
        H, W = frame.shape[:2]
        g = grounding_resize(frame, self.search_size)
        image = self.model.encode_image(normalize(g.patch, self.device),
                                        torch.as_tensor(g.pad_mask, device=self.device)[None])
        pred = self.model.ground(text, image)
        box = grounding_box_to_frame(pred.boxes[0].float(), g.coords, W, H, self.search_size)
        return pred, box if _finite(box) else [0.0, 0.0, float(W), float(H)]  # NaN: the whole frame, score 0

    def _encode_template(self, frame, box) -> Features:
        crop = sample_target(frame, box, self.config.template_factor, self.template_size)
        return self.model.encode_image(normalize(crop.patch, self.device),
                                       torch.as_tensor(crop.pad_mask, device=self.device)[None])

    def _roi_at(self, frame, text, template, box) -> torch.Tensor:
        """RoI tokens of the target at `box` (the temporal clue's first entry when no grounding was run)."""
        crop = sample_target(frame, box, self.config.search_factor, self.search_size)
        search = self.model.encode_image(normalize(crop.patch, self.device),
                                         torch.as_tensor(crop.pad_mask, device=self.device)[None])
        return self.model.track(text, template, search, None).roi_feature.flatten(2)

    def _encode_text(self, prompt: Prompt) -> Features:
        if prompt.token_ids is not None:
            ids, mask = prompt.token_ids
        elif prompt.box is not None and (prompt.text is None or not prompt.text.strip()):
            encoded = self.sentence_encoder.encode_no_sentence(self._max_text_len)   # a box alone
            ids, mask = encoded.ids, encoded.mask
        else:
            try:
                encoded = self.sentence_encoder.encode(prompt.text, self._max_text_len)
            except (TypeError, ValueError) as err:
                raise TrackerInputError(str(err)) from None
            ids, mask = encoded.ids, encoded.mask
        known = self.model.language_backbone.bert.config.vocab_size
        if int(ids.max()) >= known:
            raise TrackerInputError(f"the sentence uses token id {int(ids.max())} but this model's text encoder "
                                    f"knows only {known} tokens: the checkpoint does not fit the bert-base-uncased "
                                    f"vocabulary")
        return self.model.encode_text(ids.to(self.device), mask.to(self.device))

    def _category_box(self, frame, prompt: Prompt):
        if not self.config.category_prior or not (prompt.text or "").strip():
            return None
        if self._category_prior is None:
            from kit.tracking.category_prior import CategoryPrior
            self._category_prior = CategoryPrior.from_packages(_minilm_of(self.model))
        return self._category_prior.find(frame, prompt.text)

    @property
    def sentence_encoder(self):
        if self._sentence_encoder is None:
            from kit.text import SentenceEncoder
            self._sentence_encoder = SentenceEncoder()
        return self._sentence_encoder


# ---------------------------------------------------------------------------------------------------------

def corner_score(pred: Prediction, index: int | None = None) -> list[float]:
    """Confidence per target: geometric mean of the two corner heat maps' peak probabilities, in (0, 1].

    A sharp, single-peaked map (the target is clearly there) gives ~1; a flat map gives 1/(H·W)."""
    rows = slice(None) if index is None else slice(index, index + 1)
    peaks = [s[rows].flatten(1).float().softmax(1).amax(1) for s in (pred.score_tl, pred.score_br)]
    return torch.nan_to_num((peaks[0] * peaks[1]).sqrt(), nan=0.0).tolist()  # a NaN map: no confidence


def _attention_maps(pred: Prediction, i: int, model: JointNLT) -> dict[str, np.ndarray]:
    maps = {}
    if pred.target_attention:
        side = model.config.search_feat_size
        maps["target"] = pred.target_attention[-1][i, 0].float().reshape(side, side).cpu().numpy()
    if pred.temporal_attention:
        maps["temporal"] = pred.temporal_attention[-1][i].float().cpu().numpy()
    return maps


def _minilm_of(model: JointNLT):
    """The model's text encoder when it is the packaged all-MiniLM-L6-v2 (the Lite's, frozen), else None."""
    from kit.config import MINILM_L6

    lang = model.config.language
    same = all(lang.hf_config.get(k) == v for k, v in MINILM_L6.items() if k != "hidden_dropout_prob")
    on_cpu = next(model.parameters()).device.type == "cpu"
    return model.language_backbone.bert if lang.pretrained == "package" and same and on_cpu else None


def _finite(box) -> bool:
    return all(np.isfinite(box))


def _cat_features(items: list[Features]) -> Features:
    return Features(torch.cat([f.tokens for f in items]), torch.cat([f.padding_mask for f in items]))


def check_frame(frame, size: tuple[int, int] | None = None) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        raise TrackerInputError(f"a frame must be an RGB uint8 array (H,W,3); got {type(frame).__name__} "
                                f"{shape} {getattr(frame, 'dtype', '')}".rstrip())
    if frame.shape[0] < 1 or frame.shape[1] < 1:
        raise TrackerInputError(f"a frame must have at least one pixel; got {frame.shape[1]}x{frame.shape[0]}")
    if size is not None and frame.shape[:2] != tuple(size):
        raise TrackerInputError(f"frame size changed from {size[1]}x{size[0]} to {frame.shape[1]}x{frame.shape[0]}")
    return frame


def check_box(box, H: int, W: int) -> tuple[float, float, float, float]:
    """A user box (x,y,w,h) must have positive size and lie inside the W x H frame."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        raise TrackerInputError(f"a box is four numbers x,y,w,h; got {box!r}") from None
    if not all(np.isfinite([x, y, w, h])):
        raise TrackerInputError(f"the box {x:g},{y:g},{w:g},{h:g} has a non-finite value")
    if w <= 0 or h <= 0:
        raise TrackerInputError(f"the box {x:g},{y:g},{w:g},{h:g} has zero or negative size; width and height "
                                f"must be > 0")
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x2 <= x1 or y2 <= y1:
        raise TrackerInputError(f"the box {x:g},{y:g},{w:g},{h:g} lies outside the {W}x{H} frame")
    if (x1, y1, x2, y2) != (x, y, x + w, y + h):
        raise TrackerInputError(f"the box {x:g},{y:g},{w:g},{h:g} extends past the {W}x{H} frame; its part inside"
                                f" is {x1:g},{y1:g},{x2 - x1:g},{y2 - y1:g}")
    return x, y, w, h
