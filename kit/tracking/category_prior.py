"""A first box from the sentence without vision-language training: an ImageNet category prior.

NOT the paper's grounding. The bundled Lite has never seen a real image paired with a sentence (none exists
offline), so for sentence-only starts on real footage it can use what its two pretrained encoders already
know: MiniLM embeds the sentence and the 1,000 ImageNet class names (from timm), the closest classes are
taken when they are close enough, and the class activation map (CAM) of the EfficientNet-Lite0 ImageNet
classifier for those classes gives the box: the connected region above 30 % of the map's peak that holds the peak. JointNLT then
tracks from that box. Sentences that name no ImageNet category ("the man on the left" names none; "the red
car" names one) get `None`, and the caller falls back to the model's own grounding.

    prior = CategoryPrior.from_packages()
    found = prior.find(frame, "the big grey rabbit")   # CategoryBox(box=(x, y, w, h), classes=[...], ...) or None
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

# A sentence names a category when its embedding is at least this close (cosine) to the category's phrase.
# Set on our own validation sentences, never on the held-out clips (docs/model-card.md has the hit rates).
NAME_THRESHOLD = 0.45
CLASS_MARGIN = 0.05          # ... and every class within this of the best one joins the map (hare + wood rabbit)
MAX_CLASSES = 5
INPUT_SHORT_SIDE = 320       # the frame is resized to this shorter side for the classifier (aspect kept)
# The box is the region above this share of the map's peak. Chosen on our validation frames (bunny labels and
# the semi-real first frames, benchmarks/category_prior.py): 0.1-0.5 gave mean IoU 0.31-0.42 on the bunny and
# 0.23-0.31 on the semi-real frames; 0.3 is the best balance (0.5 boxes only the rabbit's head).
CAM_FRACTION = 0.3


@dataclass
class CategoryBox:
    box: tuple[float, float, float, float]   # x, y, w, h in frame pixels
    classes: list[str]                        # the ImageNet classes whose map gave the box
    similarity: float                         # cosine of the sentence to the best class phrase
    peak_share: float                         # share of the map's mass inside the box


def class_phrases() -> list[str]:
    """'a photo of a hare' per ImageNet-1k class, with every synonym timm lists ('wood rabbit, cottontail')."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return [f"a photo of a {info.index_to_description(i)}" for i in range(1000)]


class CategoryPrior:
    def __init__(self, classifier: torch.nn.Module, text_encoder: torch.nn.Module, sentence_encoder,
                 pixel_mean=(0.5, 0.5, 0.5), pixel_std=(0.5, 0.5, 0.5)):
        self.classifier = classifier.eval()
        self.text_encoder = text_encoder.eval()        # a transformers BertModel (MiniLM)
        self.sentences = sentence_encoder               # kit.text.SentenceEncoder
        self.mean = torch.tensor(pixel_mean).view(1, 3, 1, 1) * 255
        self.std = torch.tensor(pixel_std).view(1, 3, 1, 1) * 255
        self.names = class_phrases()
        self.class_embeddings = self.embed(self.names)   # (1000, 384), unit length

    @classmethod
    def from_packages(cls, text_encoder: torch.nn.Module | None = None) -> "CategoryPrior":
        """EfficientNet-Lite0 and MiniLM from their offline packages (nothing is downloaded). `text_encoder`:
        reuse a loaded MiniLM (e.g. the Lite model's `language_backbone.bert`) instead of reading it again."""
        from kit.weights.pretrained import imagenet_classifier
        from kit.text import SentenceEncoder

        if text_encoder is None:
            from kit.weights.pretrained import minilm_encoder
            text_encoder = minilm_encoder()
        return cls(imagenet_classifier("tf_efficientnet_lite0", "package"), text_encoder, SentenceEncoder())

    @torch.inference_mode()
    def embed(self, sentences: list[str]) -> torch.Tensor:
        """Mean-pooled, unit-length MiniLM sentence embeddings (as sentence-transformers computes them)."""
        out = []
        for start in range(0, len(sentences), 128):
            ids, mask = self.sentences.encode_batch(sentences[start:start + 128], 40)
            hidden = self.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            mask = mask.unsqueeze(-1).to(hidden.dtype)
            out.append(F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1), dim=-1))
        return torch.cat(out)

    def categories(self, sentence: str) -> tuple[list[int], float]:
        """The ImageNet classes the sentence names (best first) and the best cosine; [] when none is close."""
        sims = (self.embed([sentence]) @ self.class_embeddings.T)[0]
        best = float(sims.max())
        if best < NAME_THRESHOLD:
            return [], best
        order = torch.argsort(sims, descending=True)[:MAX_CLASSES]
        return [int(i) for i in order if float(sims[i]) >= best - CLASS_MARGIN], best

    @torch.inference_mode()
    def activation_map(self, frame: np.ndarray, classes: list[int]) -> np.ndarray:
        """(H, W) CAM of the classes (mean of their classifier rows) over the frame, >= 0, frame resolution."""
        H, W = frame.shape[:2]
        scale = INPUT_SHORT_SIDE / min(H, W)
        size = (max(32, round(W * scale)), max(32, round(H * scale)))
        image = torch.from_numpy(cv2.resize(frame, size, interpolation=cv2.INTER_AREA)).permute(2, 0, 1)[None]
        x = (image.float() - self.mean) / self.std
        features = self.classifier.forward_features(x)                        # (1, 1280, h, w) before pooling
        weights = self.classifier.get_classifier().weight[classes].mean(0)    # (1280,)
        cam = torch.einsum("c,chw->hw", weights, features[0]).clamp(min=0).numpy()
        return cv2.resize(cam, (W, H), interpolation=cv2.INTER_LINEAR)

    def find(self, frame: np.ndarray, sentence: str) -> CategoryBox | None:
        classes, similarity = self.categories(sentence)
        if not classes:
            return None
        cam = self.activation_map(frame, classes)
        if cam.max() <= 0:
            return None
        box, share = box_from_map(cam, CAM_FRACTION)
        info_names = [self.names[i].removeprefix("a photo of a ").split(",")[0] for i in classes]
        return CategoryBox(box, info_names, similarity, share)


def box_from_map(cam: np.ndarray, fraction: float = 0.5) -> tuple[tuple[float, float, float, float], float]:
    """The bounding box of the connected region above `fraction` of the peak that holds the peak, and the
    share of the map's mass inside it."""
    mask = (cam >= fraction * cam.max()).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    peak = np.unravel_index(int(np.argmax(cam)), cam.shape)
    x, y, w, h, _ = stats[labels[peak]]
    share = float(cam[y:y + h, x:x + w].sum() / max(cam.sum(), 1e-12))
    return (float(x), float(y), float(w), float(h)), share
