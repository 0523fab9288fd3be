"""Grounding accuracy on RefCOCOg, as the official `tracking/test_grounding.py` measures it
(docs/official-code.md: Results and metrics; quirk numbers refer to its table):

the whole image through `grounding_resize` (320 px, padded), the model in grounding mode (zero template),
IoU between `cxcywh_to_xyxy(prediction)` and the resized ground truth, both normalised to the padded
square (no clipping, continuous IoU), Acc@0.5 = fraction with IoU > 0.5.

Protocols: 'one_per_ref' (official, quirk 29: each ref once, with its last sentence) and 'per_expression'
(the usual RefCOCOg protocol: every sentence). Refs are visited by position, not by id (FIX of the official
IndexError, quirk 30).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import torch

from kit.boxes import cxcywh_to_xyxy
from kit.data import ReferredObject
from kit.evaluation.metrics import (GROUNDING_PROTOCOLS, GroundingRecord, GroundingResult, continuous_iou_xyxy,
                                    grounding_accuracy_from_records)
from kit.evaluation.runner import read_rgb
from kit.model import Features
from kit.runtime import inference
from kit.text import TextTruncatedWarning
from kit.tracking.crops import frame_box_to_grounding, grounding_resize, normalize


def ground_ref(model, encoder, ref: ReferredObject, sentence_indices: list[int], device) -> list[GroundingRecord]:
    """IoU of the model's grounding for the chosen sentences of one ref (the image is encoded once).
    A sentence the tokenizer cannot use (no known word) scores IoU 0, as a failed grounding."""
    image = read_rgb(ref.image)
    H, W = image.shape[:2]
    size = model.config.search_size
    g = grounding_resize(image, size)
    x, y, w, h = frame_box_to_grounding(ref.box, g.coords, W, H, size)
    gt_xyxy = np.array([[x, y, x + w, y + h]])
    max_len = model.config.language.max_text_len
    encoded, records = {}, []
    for i in sentence_indices:
        try:
            encoded[i] = encoder.encode(ref.sentences[i], max_len)
        except ValueError:
            records.append(GroundingRecord(ref.ref_id, i, 0.0))
    if not encoded:
        return records
    k = len(encoded)
    ids = torch.cat([e.ids for e in encoded.values()]).to(device)
    mask = torch.cat([e.mask for e in encoded.values()]).to(device)
    pixels = model.encode_image(normalize(g.patch, device), torch.as_tensor(g.pad_mask, device=device)[None])
    images = Features(pixels.tokens.repeat(k, 1, 1), pixels.padding_mask.repeat(k, 1))  # (k,N,C), (k,N)
    pred = model.ground(model.encode_text(ids, mask), images)
    pred_xyxy = cxcywh_to_xyxy(pred.boxes.float()).cpu().numpy()  # normalised, w,h x1.5, not clipped
    ious = np.nan_to_num(continuous_iou_xyxy(pred_xyxy, np.repeat(gt_xyxy, k, axis=0)), nan=0.0)
    return records + [GroundingRecord(ref.ref_id, i, float(v)) for i, v in zip(encoded, ious)]


def grounding_records(model, refs: Iterable[ReferredObject], protocols=GROUNDING_PROTOCOLS, device="cpu",
                      precision: str = "fp32", encoder=None, progress: bool = False) -> list[GroundingRecord]:
    """Records of every sample the protocols need: only last sentences for 'one_per_ref' alone, every
    sentence when 'per_expression' is asked (the last ones then serve both)."""
    from tqdm import tqdm

    from kit.text import SentenceEncoder

    unknown = set(protocols) - set(GROUNDING_PROTOCOLS)
    if unknown:
        raise ValueError(f"unknown grounding protocol(s) {sorted(unknown)}; expected {GROUNDING_PROTOCOLS}")
    encoder = encoder or SentenceEncoder()
    every_sentence = "per_expression" in protocols
    refs = list(refs)
    records = []
    with inference(device, precision), warnings.catch_warnings():
        warnings.simplefilter("ignore", TextTruncatedWarning)  # the model reads 38 tokens, as the official
        for ref in tqdm(refs, unit="ref", desc="grounding", disable=not progress, dynamic_ncols=True):
            indices = list(range(len(ref.sentences))) if every_sentence else [len(ref.sentences) - 1]
            records += ground_ref(model, encoder, ref, indices, device)
    return records


def evaluate_grounding(model, refs: Iterable[ReferredObject], protocols=GROUNDING_PROTOCOLS, device="cpu",
                       precision: str = "fp32", encoder=None, progress: bool = False
                       ) -> tuple[dict[str, GroundingResult], list[GroundingRecord]]:
    """Acc@0.25/0.5/0.75 and mean IoU per protocol, and the per-sample records."""
    records = grounding_records(model, refs, protocols, device, precision, encoder, progress)
    return {p: grounding_accuracy_from_records(records, p) for p in protocols}, records


def grounding_rows(results: dict[str, GroundingResult]) -> list[dict]:
    return [{"Protocol": p, "Samples": r.num_samples, "Acc@0.25": r.acc_25, "Acc@0.5": r.acc_50,
             "Acc@0.75": r.acc_75, "mean IoU": r.mean_iou} for p, r in results.items()]
