"""A procedurally generated NL-tracking benchmark where language and the temporal clue both matter.

Every scene is 3-6 coloured shapes over a crop of a real photo (scikit-image's bundled CC0 / public-domain
samples) seen by a slowly panning and zooming camera. Among the objects are distractors similar to the
target: same shape in another colour, same colour in another shape, and sometimes an identical twin that
differs only in position. The sentence is made from the FIRST frame, as in LaSOT / TNL2K, and names the
target by attributes and relations ("the small red triangle left of the blue ring", "the upper green
star", "tiny crimson triangle to the left of the blue circle outline"); it is only emitted when its filter (`referents`) selects exactly the target among all
objects of frame 0, so language is necessary to ground it. Over the sequence the target moves, changes
scale, passes behind an occluder bar, may leave the frame and come back, and its appearance drifts (hue,
texture, aspect and rotation), so the first-frame template alone gets worse: the temporal clue matters.

Write the benchmark (the test split, 100 x 100 frames + 300 grounding images, ~140 MiB, takes 35-50 s on
2 cores; the default train split is ~10x that):

    python -m kit.data.synthetic --root data/synthetic --splits test            # THE benchmark
    python -m kit.data.synthetic --root data/synthetic --splits train val test --workers 2
    python -m kit.data.synthetic --root data/synthetic --train 200 --val 20 --splits train val

Layout (LaSOT's, read by `kit.data.lasot.LaSOT(root, split=read_split(root, 'test'), tag='synthetic')`):

    root/<class>/<class>-<n>/img/00000001.jpg ...   frames, 1-based; <class> = the target's shape
    root/<class>/<class>-<n>/groundtruth.txt       one integer `x,y,w,h` line per frame
    root/<class>/<class>-<n>/full_occlusion.txt    one comma-separated 0/1 line
    root/<class>/<class>-<n>/out_of_view.txt       one comma-separated 0/1 line
    root/<class>/<class>-<n>/nlp.txt               the sentence (never contains a comma)
    root/<class>/<class>-<n>/synthetic.json        what was generated: objects, description, events
    root/{train,val,test}.txt                      sequence names `<class>-<n>`, one a line (as LaSOT's lists)
    root/grounding/...                             grounding-only images (the RefCOCOg role): a LaSOT root
                                                   of 1-frame sequences with its own train/val/test.txt
    root/meta.json, root/README.md                 generator version, seeds, counts, configuration

Names: sequence i of a split is `<shape>-<n>` with shape = SHAPES[i % 8] (balanced classes) and
n = offset + i // 8 + 1, offsets test 0, val 1000, train 2000, so names never collide across splits and
do not depend on the other splits' counts.

Annotation conventions (documented choices):
  * a box is the tight integer box of the target's pixels inside the frame (alpha > 0.5);
  * out_of_view = 1 when less than a quarter of the target's area lies inside the frame; its box is
    `0,0,0,0` (LaSOT's boxes of absent targets carry no meaning and are scored through the flags; zero
    boxes also make readers that take w > 0 as "visible", as for TNL2K/OTB, agree);
  * full_occlusion = 1 when less than a tenth of the in-frame target is unhidden (behind the occluder
    bar or other objects); its box is kept: where the target is, behind the occluder, as LaSOT's
    annotators do when the position is determinable;
  * frame 0 always shows the whole target, unoccluded.

Determinism: sequence i of split s is drawn from `np.random.default_rng([seed, SPLIT_CODES[s], i])` alone,
so sequences are generated independently (in parallel) and the same seed gives byte-identical files for
the same scikit-image photos (pin scikit-image==0.26.0), OpenCV and NumPy. The test split (and the
grounding test images) use `BENCHMARK_SEED` whatever `--seed` says: that fixed split is the benchmark the
notebooks and the bundled model report on. `--test-seed` exists for robustness studies only.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib.util
import itertools
import json
import math
import multiprocessing
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

GENERATOR_VERSION = "1.0"
BENCHMARK_SEED = 20240  # THE test split: sequences 0..99 of split 'test' drawn with this seed

SPLITS = ("train", "val", "test")
SPLIT_CODES = {"train": 0, "val": 1, "test": 2, "grounding_train": 3, "grounding_val": 4, "grounding_test": 5}
_NAME_OFFSETS = {"test": 0, "val": 1000, "train": 2000}  # n of `<class>-<n>`; test/val hold <= 8000 each

# Backgrounds: scikit-image's bundled photos that are CC0 or public domain (see skimage.data docstrings).
# Read straight from the installed package folder: nothing is downloaded.
BACKGROUND_PHOTOS = ("astronaut.png", "camera.png", "chelsea.png", "coffee.png", "rocket.jpg", "brick.png",
                     "grass.png", "gravel.png")

# --- the vocabulary: attributes of objects and the words for them -------------------------------------

SHAPES = ("circle", "square", "triangle", "ring", "star", "cross", "diamond", "hexagon")
COLOUR_HUES = {"red": 0, "orange": 28, "yellow": 55, "green": 120, "cyan": 180, "blue": 225, "purple": 275,
               "pink": 320}  # hue in degrees; neighbours are >= 28 degrees apart, objects jitter +-4
SIZE_RADII = {"small": (0.05, 0.07), "large": (0.09, 0.12)}  # radius / min(width, height) at frame 0
TEXTURES = ("plain", "striped", "dotted", "checkered")
ATTRIBUTES = ("size", "texture", "colour", "shape")  # also the word order of a noun phrase

DIRECTIONS = ("left_of", "right_of", "above", "below")  # binary: candidate relative to a reference object
SUPERLATIVES = ("leftmost", "rightmost", "topmost", "bottommost")  # among the attribute matches
RELATIONS = DIRECTIONS + ("nearest",) + SUPERLATIVES

WORDS = {
    "colour": {"red": ("red", "crimson", "scarlet"), "orange": ("orange", "tangerine"),
               "yellow": ("yellow", "golden", "lemon"), "green": ("green", "emerald"),
               "cyan": ("cyan", "turquoise", "aqua"), "blue": ("blue", "azure", "cobalt"),
               "purple": ("purple", "violet"), "pink": ("pink", "magenta")},
    "shape": {"circle": ("circle", "disc", "round shape"), "square": ("square", "box", "block"),
              "triangle": ("triangle", "triangular shape"), "ring": ("ring", "hoop", "circle outline", "donut"),
              "star": ("star", "five-pointed star"), "cross": ("cross", "plus sign", "plus"),
              "diamond": ("diamond", "rhombus", "lozenge"), "hexagon": ("hexagon", "six-sided shape")},
    "size": {"small": ("small", "tiny", "little"), "large": ("large", "big", "huge")},
    "texture": {"plain": ("plain", "solid"), "striped": ("striped", "stripy"),
                "dotted": ("dotted", "spotted", "polka-dot"), "checkered": ("checkered", "chequered", "checked")},
}
TEXTURE_POSTFIX = {"plain": ("with no pattern",), "striped": ("with stripes",),
                   "dotted": ("with dots", "with spots"), "checkered": ("with a checkered pattern",)}
GENERIC_NOUNS = ("one", "object", "shape", "thing")
RELATION_WORDS = {"left_of": ("left of", "to the left of", "on the left of"),
                  "right_of": ("right of", "to the right of", "on the right of"),
                  "above": ("above", "over", "higher than"),
                  "below": ("below", "under", "beneath", "underneath", "lower than"),
                  "nearest": ("next to", "closest to", "nearest to", "beside", "near")}
SUPERLATIVE_BEFORE = {"leftmost": ("leftmost",), "rightmost": ("rightmost",),
                      "topmost": ("topmost", "highest", "uppermost"), "bottommost": ("lowest", "bottommost")}
SUPERLATIVE_AFTER = {"leftmost": ("on the far left", "furthest to the left", "nearest the left edge"),
                     "rightmost": ("on the far right", "furthest to the right", "nearest the right edge"),
                     "topmost": ("nearest the top", "closest to the top", "furthest up"),
                     "bottommost": ("nearest the bottom", "closest to the bottom", "furthest down")}
PAIR_BEFORE = {"leftmost": ("left-hand",), "rightmost": ("right-hand",), "topmost": ("upper", "top"),
               "bottommost": ("lower", "bottom")}  # when exactly two objects match: "the upper red star"
PAIR_AFTER = {"leftmost": ("on the left",), "rightmost": ("on the right",), "topmost": ("on top", "at the top"),
              "bottommost": ("at the bottom", "lower down")}
LEADS = ("", "", "", "", "", "track ", "follow ", "find ", "locate ")
LINKS = ("", "", "", "that is ", "which is ")

OUT_OF_VIEW_FRACTION = 0.25     # out_of_view when less of the target's area is inside the frame
FULL_OCCLUSION_FRACTION = 0.10  # full_occlusion when less of the in-frame target is unhidden


@dataclass(frozen=True)
class SyntheticConfig:
    """How the benchmark is drawn. Counts are per split; `seed` drives train/val, `test_seed` the test."""

    width: int = 320
    height: int = 240
    train_frames: int = 60
    eval_frames: int = 100          # val and test sequences
    min_objects: int = 3
    max_objects: int = 6
    jpeg_quality: int = 90
    seed: int = 0
    test_seed: int = BENCHMARK_SEED
    train: int = 1000
    val: int = 50
    test: int = 100
    grounding_train: int = 2000
    grounding_val: int = 100
    grounding_test: int = 300
    twin_probability: float = 0.35      # an identical twin: only a relation tells them apart
    exit_probability: float = 0.35      # the target leaves the frame and comes back
    occluder_probability: float = 0.45  # the target passes behind an occluder bar
    drift: float = 1.0                  # strength of the target's appearance drift (0 = none)
    camera_motion: float = 1.0          # strength of pan / zoom (0 = static camera)

    def frames(self, split: str) -> int:
        return 1 if split.startswith("grounding") else self.train_frames if split == "train" else self.eval_frames

    def count(self, split: str) -> int:
        return getattr(self, split)

    def split_seed(self, split: str) -> int:
        return self.test_seed if split in ("test", "grounding_test") else self.seed


# --- scene objects and descriptions --------------------------------------------------------------------

@dataclass(frozen=True)
class SceneObject:
    """An object as seen in frame 0: categorical attributes, centre (x, y) and radius in pixels."""

    shape: str
    colour: str
    size: str
    texture: str
    x: float
    y: float
    radius: float
    role: str = "other"  # target | twin | same_shape | same_colour | same_shape_colour | other

    def attribute(self, name: str) -> str:
        return getattr(self, name)


@dataclass(frozen=True)
class Description:
    """What a sentence says: attribute values (None = not mentioned), an optional relation and, for the
    binary relations (DIRECTIONS + 'nearest'), an attribute-only description of the reference object."""

    colour: str | None = None
    shape: str | None = None
    size: str | None = None
    texture: str | None = None
    relation: str | None = None
    reference: Description | None = None

    def attributes(self) -> dict[str, str]:
        return {a: getattr(self, a) for a in ATTRIBUTES if getattr(self, a) is not None}

    def kind(self) -> str:
        return ("attributes" if self.relation is None else
                "superlative" if self.relation in SUPERLATIVES else "relation")

    def to_dict(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "reference"}
        if self.reference is not None:
            out["reference"] = self.reference.to_dict()
        return out


def _attribute_matches(desc: Description, objects: list[SceneObject]) -> list[int]:
    want = desc.attributes()
    return [i for i, o in enumerate(objects) if all(o.attribute(a) == v for a, v in want.items())]


def _direction_holds(a: SceneObject, b: SceneObject, relation: str, strict: bool) -> bool:
    """Is `a` <relation> `b`? Strict: clearly (separated by most of both radii, within 45 degrees of the
    direction). Loose: arguably (on that side, within ~63 degrees), used to find ambiguous candidates."""
    dx, dy = a.x - b.x, a.y - b.y
    along, across = {"left_of": (-dx, dy), "right_of": (dx, dy), "above": (-dy, dx), "below": (dy, dx)}[relation]
    if strict:
        return along >= 0.8 * (a.radius + b.radius) and along >= abs(across)
    return along > 0 and along >= 0.5 * abs(across)


def _superlative_key(o: SceneObject, relation: str) -> float:
    return {"leftmost": o.x, "rightmost": -o.x, "topmost": o.y, "bottommost": -o.y}[relation]


def referents(desc: Description, objects: list[SceneObject]) -> list[int]:
    """Indices of every object of frame 0 the description could reasonably mean.

    Near-boundary cases count as possible referents, so that a description is only accepted when no
    reader could hesitate: a superlative includes every candidate within half their radii (+4 px) of the
    extreme; a direction includes every candidate loosely on that side; 'nearest' every candidate within
    1.3x (+6 px) of the nearest distance. A binary relation whose reference is not unique means nothing ([]).
    """
    candidates = _attribute_matches(desc, objects)
    if desc.relation is None or not candidates:
        return candidates
    if desc.relation in SUPERLATIVES:
        keys = {i: _superlative_key(objects[i], desc.relation) for i in candidates}
        best = min(candidates, key=keys.__getitem__)
        return [i for i in candidates
                if keys[i] - keys[best] < 0.5 * (objects[i].radius + objects[best].radius) + 4.0]
    if desc.reference is None or desc.reference.relation is not None:
        raise ValueError("a binary relation needs an attribute-only reference description")
    refs = referents(desc.reference, objects)
    if len(refs) != 1:
        return []
    ref = objects[refs[0]]
    candidates = [i for i in candidates if i != refs[0]]
    if desc.relation == "nearest":
        if not candidates:
            return []
        dist = {i: math.hypot(objects[i].x - ref.x, objects[i].y - ref.y) for i in candidates}
        best = min(dist.values())
        return [i for i in candidates if dist[i] <= 1.3 * best + 6.0]
    if desc.relation not in DIRECTIONS:
        raise ValueError(f"unknown relation {desc.relation!r}; expected one of {RELATIONS}")
    return [i for i in candidates if _direction_holds(objects[i], ref, desc.relation, strict=False)]


def describes(desc: Description, objects: list[SceneObject], target: int) -> bool:
    """True when the description selects exactly `target` among `objects` and clearly holds for it:
    the only sentences the generator emits."""
    if referents(desc, objects) != [target]:
        return False
    t = objects[target]
    if desc.relation in SUPERLATIVES:  # "the upper one" needs another one
        return len(_attribute_matches(desc, objects)) >= 2
    if desc.relation in DIRECTIONS:
        ref = objects[referents(desc.reference, objects)[0]]
        return _direction_holds(t, ref, desc.relation, strict=True)
    if desc.relation == "nearest":  # "next to" only when it is close
        ref = objects[referents(desc.reference, objects)[0]]
        limit = 3.0 * (t.radius + ref.radius) + 10.0
        return math.hypot(t.x - ref.x, t.y - ref.y) <= limit
    return True


def _attribute_subsets(obj: SceneObject, require_noun_or_colour: bool = True):
    for k in range(1, len(ATTRIBUTES) + 1):
        for names in itertools.combinations(ATTRIBUTES, k):
            if require_noun_or_colour and "shape" not in names and "colour" not in names:
                continue
            yield Description(**{a: obj.attribute(a) for a in names})


def _reference_descriptions(objects: list[SceneObject], j: int) -> list[Description]:
    """The shortest unique attribute-only descriptions of object j (preferring ones that name the shape)."""
    unique = [d for d in _attribute_subsets(objects[j]) if referents(d, objects) == [j]]
    with_shape = [d for d in unique if d.shape is not None] or unique
    if not with_shape:
        return []
    shortest = min(len(d.attributes()) for d in with_shape)
    return [d for d in with_shape if len(d.attributes()) == shortest]


def candidate_descriptions(objects: list[SceneObject], target: int) -> list[Description]:
    """Every description the grammar can form for the target that passes `describes`."""
    out = []
    refs = {j: _reference_descriptions(objects, j) for j in range(len(objects)) if j != target}
    for base in _attribute_subsets(objects[target]):
        fields = base.attributes()
        out.append(base)
        out += [Description(**fields, relation=r) for r in SUPERLATIVES]
        for ref_descs in refs.values():
            for ref in ref_descs:
                out += [Description(**fields, relation=r, reference=ref) for r in DIRECTIONS + ("nearest",)]
    return [d for d in out if describes(d, objects, target)]


def choose_description(rng: np.random.Generator, objects: list[SceneObject], target: int) -> Description | None:
    """Pick one valid description: first its kind (attributes 0.4, superlative 0.25, relation 0.35, among
    the kinds available), then one of that kind, favouring ones that name shape and colour and are short."""
    valid = candidate_descriptions(objects, target)
    if not valid:
        return None
    kinds = {"attributes": 0.4, "superlative": 0.25, "relation": 0.35}
    present = [k for k in kinds if any(d.kind() == k for d in valid)]
    p = np.array([kinds[k] for k in present])
    kind = present[rng.choice(len(present), p=p / p.sum())]
    pool = [d for d in valid if d.kind() == kind]
    w = np.array([(2.0 if d.shape else 1.0) * (2.0 if d.colour else 1.0) * 0.5 ** max(0, len(d.attributes()) - 2)
                  for d in pool])
    return pool[rng.choice(len(pool), p=w / w.sum())]


# --- sentences: one description, many surface forms ----------------------------------------------------

def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """The first (canonical) word half of the time, otherwise any of them."""
    return options[0] if rng.random() < 0.5 else options[rng.integers(len(options))]


def _noun_phrase(rng: np.random.Generator, desc: Description, before: str | None = None) -> str:
    words = [before] if before else []
    postfix = None
    if desc.size:
        words.append(_pick(rng, WORDS["size"][desc.size]))
    if desc.texture:
        if rng.random() < 0.3:
            postfix = _pick(rng, TEXTURE_POSTFIX[desc.texture])
        else:
            words.append(_pick(rng, WORDS["texture"][desc.texture]))
    if desc.colour:
        words.append(_pick(rng, WORDS["colour"][desc.colour]))
    words.append(_pick(rng, WORDS["shape"][desc.shape]) if desc.shape else _pick(rng, GENERIC_NOUNS))
    if postfix:
        words.append(postfix)
    return " ".join(words)


def realize(rng: np.random.Generator, desc: Description, objects: list[SceneObject]) -> str:
    """One sentence for the description, with synonyms and paraphrases; lower case, never a comma."""
    lead = LEADS[rng.integers(len(LEADS))]
    article = "the " if rng.random() < 0.85 else ""
    if desc.relation is None:
        body = _noun_phrase(rng, desc)
    elif desc.relation in SUPERLATIVES:
        pair = len(_attribute_matches(desc, objects)) == 2
        before, after = (PAIR_BEFORE, PAIR_AFTER) if pair else (SUPERLATIVE_BEFORE, SUPERLATIVE_AFTER)
        if rng.random() < 0.5:
            body = _noun_phrase(rng, desc, before=_pick(rng, before[desc.relation]))
        else:
            body = f"{_noun_phrase(rng, desc)} {_pick(rng, after[desc.relation])}"
    else:
        link = LINKS[rng.integers(len(LINKS))]
        body = (f"{_noun_phrase(rng, desc)} {link}{_pick(rng, RELATION_WORDS[desc.relation])} "
                f"the {_noun_phrase(rng, desc.reference)}")
    sentence = f"{lead}{article}{body}"
    assert "," not in sentence  # LaSOT's training reader keeps only the text before the first comma
    return sentence


# --- drawing ----------------------------------------------------------------------------------------------

def _regular(n: int, radius: float = 1.0, start: float = -90.0) -> np.ndarray:
    a = np.deg2rad(start + 360.0 * np.arange(n) / n)
    return radius * np.stack([np.cos(a), np.sin(a)], 1)


def _star() -> np.ndarray:
    outer, inner = _regular(5), _regular(5, 0.45, -90.0 + 36.0)
    return np.stack([outer, inner], 1).reshape(-1, 2)


_T = 0.34  # half thickness of the cross arms
UNIT_POLYGONS = {  # (outer polygons, holes), radius ~1, centred at 0, y down
    "circle": ([_regular(64)], []),
    "square": ([np.array([[-0.8, -0.8], [0.8, -0.8], [0.8, 0.8], [-0.8, 0.8]])], []),
    "triangle": ([_regular(3, 1.1, -90.0) + [0, 0.12]], []),
    "ring": ([_regular(64)], [_regular(64, 0.55)]),
    "star": ([_star() * 1.1], []),
    "cross": ([np.array([[-_T, -1], [_T, -1], [_T, -_T], [1, -_T], [1, _T], [_T, _T], [_T, 1], [-_T, 1],
                         [-_T, _T], [-1, _T], [-1, -_T], [-_T, -_T]]) * 0.95], []),
    "diamond": ([np.array([[0, -1.05], [0.72, 0], [0, 1.05], [-0.72, 0]])], []),
    "hexagon": ([_regular(6, 0.95, 0.0)], []),
}
_SUPERSAMPLE = 4


def _hsv_to_rgb(hue_deg: float, sat: float, val: float) -> np.ndarray:
    hsv = np.array([[[hue_deg % 360.0 / 2.0, sat * 255.0, val * 255.0]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def render_object(shape: str, cx: float, cy: float, radius: float, aspect: float, angle: float,
                  rgb: np.ndarray, texture: str, texture_strength: float) -> tuple[int, int, np.ndarray, np.ndarray]:
    """Draw one shape (anti-aliased, sub-pixel): returns (x0, y0, alpha (h,w) float32 in [0,1],
    colour (h,w,3) float32 RGB) of a patch whose top-left pixel is (x0, y0) in frame coordinates."""
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    scale = np.array([radius * aspect, radius / aspect])
    rot = np.array([[c, -s], [s, c]])
    extent = radius * max(aspect, 1.0 / aspect) * 1.12 + 2.0
    x0, y0 = math.floor(cx - extent), math.floor(cy - extent)
    w = h = math.ceil(2 * extent) + 2
    ss = _SUPERSAMPLE
    canvas = np.zeros((h * ss, w * ss), np.uint8)
    outers, holes = UNIT_POLYGONS[shape]

    def to_canvas(poly):  # frame coords -> supersampled canvas coords (pixel centres at integers), 4 bits
        pts = (poly * scale) @ rot.T + [cx, cy]
        pts = (pts - [x0, y0] + 0.5) * ss - 0.5
        return [np.round(pts * 16).astype(np.int32)]

    for poly in outers:
        cv2.fillPoly(canvas, to_canvas(poly), 255, lineType=cv2.LINE_8, shift=4)
    for poly in holes:
        cv2.fillPoly(canvas, to_canvas(poly), 0, lineType=cv2.LINE_8, shift=4)
    alpha = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0

    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = (xs + x0 - cx) / radius, (ys + y0 - cy) / radius
    u, v = c * dx + s * dy, -s * dx + c * dy  # object-local coordinates: the pattern turns with the shape
    shade = 1.08 - 0.12 * (u + v) / 1.4  # light from the top left
    colour = rgb[None, None, :] * shade[..., None]
    if texture != "plain" and texture_strength > 0:
        if texture == "striped":
            pattern = (np.sin(2 * np.pi * 1.6 * (u + v) / 1.4) > 0).astype(np.float32)
        elif texture == "dotted":
            fu, fv = (u * 1.7) % 1.0 - 0.5, (v * 1.7) % 1.0 - 0.5
            pattern = (fu * fu + fv * fv < 0.07).astype(np.float32)
        else:  # checkered
            pattern = ((np.floor(u * 1.5) + np.floor(v * 1.5)) % 2).astype(np.float32)
        second = rgb * 0.45 + 255.0 * 0.55 if texture != "checkered" else rgb * 0.55
        mix = (texture_strength * pattern)[..., None]
        colour = colour * (1 - mix) + second[None, None, :] * shade[..., None] * mix
    return x0, y0, alpha, np.clip(colour, 0, 255)


def _composite(frame: np.ndarray, x0: int, y0: int, alpha: np.ndarray, colour: np.ndarray):
    """Blend a patch into the float frame in place; returns the frame-clipped slices (or None)."""
    H, W = frame.shape[:2]
    h, w = alpha.shape
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + w, W), min(y0 + h, H)
    if fx0 >= fx1 or fy0 >= fy1:
        return None
    ps = (slice(fy0 - y0, fy1 - y0), slice(fx0 - x0, fx1 - x0))
    fs = (slice(fy0, fy1), slice(fx0, fx1))
    a = alpha[ps][..., None]
    frame[fs] = frame[fs] * (1 - a) + colour[ps] * a
    return fs, ps


@functools.cache
def _photo(name: str) -> np.ndarray:
    """A bundled scikit-image photo as RGB uint8 (gray ones as 3 equal channels)."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("the synthetic benchmark draws its backgrounds from scikit-image's bundled "
                                  "photos: pip install scikit-image==0.26.0")
    path = Path(spec.submodule_search_locations[0]) / "data" / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: bundled scikit-image photo not found (scikit-image==0.26.0 ships it)")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image.setflags(write=False)
    return image


def _photo_crop(rng: np.random.Generator, width: int, height: int, name: str | None = None) -> tuple[str, np.ndarray]:
    """A random crop of a random photo, resized to (height, width), randomly flipped."""
    name = name or BACKGROUND_PHOTOS[rng.integers(len(BACKGROUND_PHOTOS))]
    photo = _photo(name)
    ph, pw = photo.shape[:2]
    scale = min(pw / width, ph / height) * rng.uniform(0.5, 1.0)
    cw, ch = max(8, int(width * scale)), max(8, int(height * scale))
    x, y = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
    crop = cv2.resize(photo[y:y + ch, x:x + cw], (width, height), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return name, np.ascontiguousarray(crop)


def _smooth_path(keys: np.ndarray, num_frames: int) -> np.ndarray:
    """Catmull-Rom curve through K keys (K, D) spread evenly over the frames -> (num_frames, D)."""
    keys = np.asarray(keys, np.float64)
    if num_frames == 1 or len(keys) == 1:
        return np.repeat(keys[:1], num_frames, 0)
    pos = np.linspace(0, len(keys) - 1, num_frames)
    i = np.minimum(pos.astype(int), len(keys) - 2)
    t = (pos - i)[:, None]
    padded = np.concatenate([keys[:1], keys, keys[-1:]])
    p0, p1, p2, p3 = padded[i], padded[i + 1], padded[i + 2], padded[i + 3]
    return 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t ** 2
                  + (3 * p1 - p0 - 3 * p2 + p3) * t ** 3)


def _num_keys(rng: np.random.Generator, num_frames: int, low: int = 12, high: int = 21) -> int:
    spacing = min(int(rng.integers(low, high)), max(2, (num_frames - 1) // 3))
    return max(2, math.ceil((num_frames - 1) / spacing) + 1)


# --- scenes ---------------------------------------------------------------------------------------------

def _draw_attributes(rng: np.random.Generator, role: str, target: SceneObject | None, shape: str | None = None):
    colours, shapes = list(COLOUR_HUES), list(SHAPES)
    attrs = {"shape": shape or shapes[rng.integers(len(shapes))], "colour": colours[rng.integers(len(colours))],
             "size": ("small", "large")[rng.integers(2)],
             "texture": "plain" if rng.random() < 0.55 else TEXTURES[1 + rng.integers(len(TEXTURES) - 1)]}
    if target is None:
        return attrs
    if role == "twin":
        return {a: target.attribute(a) for a in ATTRIBUTES}
    if role == "same_shape":
        attrs["shape"] = target.shape
        attrs["colour"] = [c for c in colours if c != target.colour][rng.integers(len(colours) - 1)]
    elif role == "same_colour":
        attrs["colour"] = target.colour
        attrs["shape"] = [s for s in shapes if s != target.shape][rng.integers(len(shapes) - 1)]
    elif role == "same_shape_colour":  # differs in size or in texture
        attrs.update(shape=target.shape, colour=target.colour, size=target.size, texture=target.texture)
        if rng.random() < 0.5:
            attrs["size"] = "large" if target.size == "small" else "small"
        else:
            attrs["texture"] = [t for t in TEXTURES if t != target.texture][rng.integers(len(TEXTURES) - 1)]
    return attrs


def sample_scene(rng: np.random.Generator, cfg: SyntheticConfig, target_shape: str | None = None,
                 max_tries: int = 200) -> tuple[list[SceneObject], Description]:
    """Objects of frame 0 (index 0 is the target) and a description that singles the target out."""
    W, H = cfg.width, cfg.height
    base = min(W, H)
    for _ in range(max_tries):
        n = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
        roles = ["twin"] if rng.random() < cfg.twin_probability else []
        similar = ("same_shape", "same_colour", "same_shape_colour")
        roles += [similar[k] for k in rng.choice(3, size=int(rng.integers(1, 3)), replace=False)]
        roles = (roles + ["other"] * n)[: n - 1]
        roles = ["target"] + [roles[k] for k in rng.permutation(len(roles))]
        objects: list[SceneObject] = []
        for role in roles:
            attrs = _draw_attributes(rng, role, objects[0] if objects else None,
                                     target_shape if role == "target" else None)
            lo, hi = SIZE_RADII[attrs["size"]]
            radius = float(rng.uniform(lo, hi) * base)
            for _attempt in range(60):
                m = radius * 1.15 + 3.0
                x, y = float(rng.uniform(m, W - m)), float(rng.uniform(m, H - m))
                if all(math.hypot(x - o.x, y - o.y) > 1.15 * (radius + o.radius) + 6.0 for o in objects):
                    objects.append(SceneObject(**attrs, x=x, y=y, radius=radius, role=role))
                    break
            else:
                if role == "target":
                    break
        if len(objects) < cfg.min_objects or objects[0].role != "target":
            continue
        desc = choose_description(rng, objects, 0)
        if desc is not None:
            return objects, desc
    raise RuntimeError("could not draw a describable scene; relax min/max_objects or the frame size")


class SyntheticSequence(NamedTuple):
    frames: list[np.ndarray]      # RGB uint8 (H, W, 3)
    boxes: np.ndarray             # (N, 4) int64 x,y,w,h; 0,0,0,0 when out of view
    full_occlusion: np.ndarray    # (N,) uint8 0/1
    out_of_view: np.ndarray       # (N,) uint8 0/1
    sentence: str
    meta: dict


# Coordinates: the "world" is frame 0's pixel grid (x right, y down). The camera maps a world point q to
# frame t at zoom[t] * (q - centre) + centre + pan[t]; frame 0 is the identity. The background photo is a
# world-sized canvas larger than the frame, whose pixel b shows world point b - offset.

def _to_frame(q: np.ndarray, pan: np.ndarray, zoom: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """World points (T, 2) -> frame points, frame t with pan[t], zoom[t]."""
    return zoom[:, None] * (q - centre) + centre + pan


def _to_world(p: np.ndarray, pan: np.ndarray, zoom: np.ndarray, centre: np.ndarray) -> np.ndarray:
    return (p - centre - pan) / zoom[:, None] + centre


def _camera(rng: np.random.Generator, cfg: SyntheticConfig, T: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth pan (T, 2) in pixels (at most 12 % of the frame) and zoom (T,) in [1/1.2, 1.2]."""
    K = _num_keys(rng, T, 20, 35)
    m = cfg.camera_motion
    pan = rng.normal(0, 0.06 * m, (K, 2)).clip(-0.12 * m, 0.12 * m) * [cfg.width, cfg.height]
    log_zoom = rng.uniform(-1, 1, K) * math.log(1.2) * m
    pan[0], log_zoom[0] = 0, 0
    return _smooth_path(pan, T), np.exp(_smooth_path(log_zoom[:, None], T)[:, 0])


def _background(rng: np.random.Generator, cfg: SyntheticConfig) -> tuple[str, np.ndarray, np.ndarray]:
    """(photo name, world canvas RGB uint8 large enough for every camera pose, offset of the world origin).
    The photo is desaturated, flattened and slightly blurred so that the objects' colours read."""
    m = cfg.camera_motion
    half = (0.5 + 0.12 * m) * 1.2 ** m + 0.03
    bw, bh = int(2 * half * cfg.width), int(2 * half * cfg.height)
    photo, bg = _photo_crop(rng, bw, bh)
    hsv = cv2.cvtColor(bg, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] *= rng.uniform(0.25, 0.55)
    bg = cv2.cvtColor(hsv.clip(0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    bg = bg.mean() + (bg - bg.mean()) * rng.uniform(0.6, 0.9) + rng.uniform(-15, 15)
    bg = (bg * (1 + rng.normal(0, 0.04, 3))).clip(0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 1.2)  # a little depth of field (and ~20 % smaller JPEGs)
    return photo, bg, np.array([(bw - cfg.width) / 2.0, (bh - cfg.height) / 2.0])


def _trajectory(rng: np.random.Generator, cfg: SyntheticConfig, obj: SceneObject, T: int) -> np.ndarray:
    """World centre path (T, 2) through random keys inside the frame."""
    K = _num_keys(rng, T)
    speed = rng.uniform(0.5, 2.5) * cfg.width / 320.0 * (T - 1) / max(K - 1, 1)
    keys = [np.array([obj.x, obj.y])]
    m = obj.radius + 2.0
    for _ in range(K - 1):
        keys.append(np.clip(keys[-1] + rng.normal(0, speed, 2), [m, m], [cfg.width - m, cfg.height - m]))
    return _smooth_path(np.stack(keys), T)


def _keep_in_view(path, radius, pan, zoom, centre, W, H) -> np.ndarray:
    """Clamp a world path so that the camera never loses the object's centre (half a radius inside)."""
    seen = np.clip(_to_frame(path, pan, zoom, centre), radius * 0.5, np.array([W - 1, H - 1]) - radius * 0.5)
    return _to_world(seen, pan, zoom, centre)


def _leave_and_return(rng, path, max_radius, pan, zoom, centre, W, H) -> np.ndarray:
    """The path again through its keys, with one (or two consecutive) inner keys moved beyond the frame
    edge nearest to it, far enough for the whole object to leave."""
    T = len(path)
    K = _num_keys(rng, T)
    t_k = np.linspace(0, T - 1, K).round().astype(int)
    seen = _to_frame(path[t_k], pan[t_k], zoom[t_k], centre)  # keys, in frame coordinates
    k = int(rng.integers(1, K - 1))
    ks = [k, k + 1] if (k + 1 < K - 1 and rng.random() < 0.3) else [k]
    side = int(np.argmin([seen[k, 0], W - 1 - seen[k, 0], seen[k, 1], H - 1 - seen[k, 1]]))
    beyond = max_radius * zoom.max() + rng.uniform(4, 20)
    axis, where = side // 2, (-beyond, (W - 1, H - 1)[side // 2] + beyond)[side % 2]
    seen[ks, axis] = where
    return _smooth_path(_to_world(seen, pan[t_k], zoom[t_k], centre), T)


def _drift(rng: np.random.Generator, cfg: SyntheticConfig, target: SceneObject, T: int) -> dict:
    """The target's appearance drift: hue (15-40 degrees), texture appearing or fading, aspect and rotation,
    ramping from nothing at frame 0 to full strength at the last frame."""
    d = cfg.drift
    tex0 = 0.0 if target.texture == "plain" else 1.0
    return {"hue_degrees": float(rng.choice([-1, 1]) * rng.uniform(15, 40) * d),
            "texture": target.texture if target.texture != "plain" else TEXTURES[1 + rng.integers(3)],
            "texture_strength": [tex0, float(np.clip(tex0 + (1 - 2 * tex0) * rng.uniform(0.5, 1.0) * d, 0, 1))],
            "aspect_end": math.exp(rng.uniform(-1, 1) * math.log(1.35) * d),
            "rotation_degrees": float(rng.uniform(-30, 30) * d)}


def _place_occluder(rng, objects, path, extent, pan, zoom, centre, W, H) -> dict | None:
    """A gray slab in the world over the target's position at a frame t_o. It stands still when it can be
    placed clear of every object of frame 0; otherwise it slides in, against the target's motion, from
    beyond the frame edge (outside the frame at frame 0). Kept only if it hides the target fully for 1 to
    T/6 frames (estimated with boxes)."""
    T = len(path)
    for attempt in range(12):
        t_o = int(rng.integers(int(0.3 * T), max(int(0.85 * T), int(0.3 * T) + 1)))
        at = path[t_o]
        seen = _to_frame(at[None], pan[t_o:t_o + 1], zoom[t_o:t_o + 1], centre)[0]
        if np.any(seen < extent[t_o]) or np.any(seen > np.array([W, H]) - extent[t_o]):
            continue  # the target is (partly) out of view then
        vel = path[min(t_o + 1, T - 1)] - path[max(t_o - 1, 0)]
        axis = 0 if abs(vel[0]) >= abs(vel[1]) else 1  # 0: an upright bar, crossed horizontally
        half = np.array([extent[t_o] * rng.uniform(1.2, 1.8) + 2, extent[t_o] * rng.uniform(1.6, 2.4)])
        half = half[[axis, 1 - axis]]
        velocity = np.zeros(2)
        if attempt >= 6:
            edge = float((W, H)[axis]) if vel[axis] > 0 else 0.0
            start = edge - half[axis] - 2 if edge == 0 else edge + half[axis] + 2
            velocity[axis] = (at[axis] - start) / t_o
        rect = np.concatenate([at - half, at + half])  # x0, y0, x1, y1 in the world at t_o
        r0 = rect - np.tile(velocity * t_o, 2)  # at frame 0
        gaps = [math.hypot(max(r0[0] - o.x, 0, o.x - r0[2]), max(r0[1] - o.y, 0, o.y - r0[3])) - o.radius * 1.15
                for o in objects]
        hidden = _hidden_frames(path, 0.6 * extent, rect, velocity, t_o, pan, zoom, centre, W, H)
        if min(gaps) > 3 and 1 <= hidden <= T / 6:
            return {"axis": "vertical" if axis == 0 else "horizontal", "rect": rect.round(2).tolist(),
                    "frame": t_o, "velocity": velocity.round(4).tolist()}
    return None


def _hidden_frames(path, extent, rect, velocity, t_o, pan, zoom, centre, W, H) -> int:
    """About how many frames the bar hides the target: with boxes in frame coordinates, less than
    FULL_OCCLUSION_FRACTION of the in-frame part of the target's box is left uncovered."""
    def to_frame(corners):  # (T, 4) world x0,y0,x1,y1 -> frame
        return np.concatenate([_to_frame(corners[:, :2], pan, zoom, centre),
                               _to_frame(corners[:, 2:], pan, zoom, centre)], 1)

    def area(b):
        return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)

    box = to_frame(np.concatenate([path - extent[:, None], path + extent[:, None]], 1))
    bar = to_frame(rect[None] + np.tile(velocity, 2) * (np.arange(len(path))[:, None] - t_o))
    inside = np.concatenate([np.maximum(box[:, :2], 0), np.minimum(box[:, 2:], [W, H])], 1)
    covered = np.concatenate([np.maximum(inside[:, :2], bar[:, :2]), np.minimum(inside[:, 2:], bar[:, 2:])], 1)
    a_in = area(inside)
    return int(((a_in > 0) & (a_in - area(covered) < FULL_OCCLUSION_FRACTION * a_in)).sum())


def _occluder_layer(rng, bar: dict, size: tuple[int, int], offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The bar on a world canvas: (RGB uint8, alpha uint8), a gray photo texture with a dark rim."""
    bh, bw = size
    _, texture = _photo_crop(rng, bw, bh)
    gray = cv2.cvtColor(texture, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = 110 + (gray - gray.mean()) * 0.5 + rng.uniform(-40, 40)
    rgb = (gray[..., None] * np.array([1.0, 0.97, 0.92]) * rng.uniform(0.9, 1.1)).clip(0, 255).astype(np.uint8)
    x0, y0, x1, y1 = (np.array(bar["rect"]) + np.tile(offset, 2)).round().astype(int)
    alpha = np.zeros((bh, bw), np.uint8)
    alpha[y0:y1, x0:x1] = 255
    rim = alpha > 0
    rim[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = False
    rgb[rim] //= 2
    return rgb, alpha


def _hide(visibility: np.ndarray, target_slices, slices, alpha: np.ndarray) -> None:
    """Multiply the target's visibility by (1 - alpha) of an object drawn over it, where they overlap."""
    (ty, tx), ((fy, fx), (py, px)) = target_slices, slices
    y0, y1 = max(ty.start, fy.start), min(ty.stop, fy.stop)
    x0, x1 = max(tx.start, fx.start), min(tx.stop, fx.stop)
    if y0 >= y1 or x0 >= x1:
        return
    oy, ox = py.start - fy.start, px.start - fx.start  # frame -> object patch
    visibility[y0 - ty.start:y1 - ty.start, x0 - tx.start:x1 - tx.start] *= 1 - alpha[y0 + oy:y1 + oy, x0 + ox:x1 + ox]


def generate_sequence(rng: np.random.Generator, cfg: SyntheticConfig = SyntheticConfig(),
                      num_frames: int | None = None, target_shape: str | None = None) -> SyntheticSequence:
    """One annotated sequence in memory (frames RGB). `num_frames` defaults to cfg.train_frames; 1 gives a
    grounding image. The same generator state gives the same sequence."""
    T = int(num_frames or cfg.train_frames)
    W, H = cfg.width, cfg.height
    centre = np.array([(W - 1) / 2.0, (H - 1) / 2.0])
    objects, desc = sample_scene(rng, cfg, target_shape)
    sentence = realize(rng, desc, objects)
    pan, zoom = _camera(rng, cfg, T)
    photo, bg, offset = _background(rng, cfg)

    # motion: world centre paths, log-scale, rotation; colours; drawing order
    n = len(objects)
    paths = np.stack([_keep_in_view(_trajectory(rng, cfg, o, T), o.radius, pan, zoom, centre, W, H)
                      for o in objects])  # (n, T, 2): no object leaves the frame by accident
    strong_scale = bool(rng.random() < 0.5)
    log_scale = np.stack([_smooth_path(rng.uniform(-1, 1, (_num_keys(rng, T), 1))
                                       * math.log(1.6 if (i == 0 and strong_scale) else 1.15), T)[:, 0]
                          for i in range(n)])
    log_scale -= log_scale[:, :1]
    angle0 = rng.uniform(-12, 12, n)
    hue0 = np.array([COLOUR_HUES[o.colour] for o in objects]) + rng.uniform(-4, 4, n)
    sat0, val0 = rng.uniform(0.75, 0.95, n), rng.uniform(0.8, 1.0, n)
    z_order = rng.permutation(n)

    # events of the target (object 0): leaving and re-entering, drift, occluder; global light changes
    events = {"exit": False, "occluder": None, "strong_scale": strong_scale}
    if T >= 8 and rng.random() < cfg.exit_probability:
        max_radius = objects[0].radius * 1.6 * 1.35 * 1.12  # scale, aspect drift, drawing margin
        paths[0] = _leave_and_return(rng, paths[0], max_radius, pan, zoom, centre, W, H)
        events["exit"] = True
    drift = _drift(rng, cfg, objects[0], T)
    ramp = np.linspace(0, 1, T) ** 1.5
    aspect_end = drift["aspect_end"]
    extent = objects[0].radius * np.exp(log_scale[0]) * max(aspect_end, 1 / aspect_end) * 1.12  # (T,)
    if T >= 8 and rng.random() < cfg.occluder_probability:
        events["occluder"] = _place_occluder(rng, objects, paths[0], extent, pan, zoom, centre, W, H)
    bar = events["occluder"]
    bar_layer = _occluder_layer(rng, bar, bg.shape[:2], offset) if bar is not None else None
    brightness = _smooth_path(np.r_[1.0, rng.uniform(0.9, 1.1, _num_keys(rng, T, 20, 35) - 1)][:, None], T)[:, 0]

    frames, boxes = [], np.zeros((T, 4), np.int64)
    in_frame, visible, target_rgb = np.zeros(T), np.zeros(T), np.zeros((T, 3), np.int64)
    occluder_boxes = []  # per frame x0,y0,x1,y1 of the bar in the frame
    centres = np.stack([_to_frame(p, pan, zoom, centre) for p in paths])  # (n, T, 2)
    for t in range(T):
        z = float(zoom[t])
        M = np.array([[z, 0, centre[0] + pan[t, 0] - z * (offset[0] + centre[0])],  # canvas -> frame t
                      [0, z, centre[1] + pan[t, 1] - z * (offset[1] + centre[1])]])
        frame = cv2.warpAffine(bg, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        frame = frame.astype(np.float32)
        target = None  # (frame slices, alpha inside the frame, visibility, total alpha) once drawn
        for i in z_order:
            o = objects[i]
            radius = max(o.radius * math.exp(log_scale[i, t]) * z, 4.0)
            if i == 0:
                r = ramp[t]
                rgb = _hsv_to_rgb(hue0[0] + drift["hue_degrees"] * r, sat0[0], val0[0])
                s0, s1 = drift["texture_strength"]
                style = (aspect_end ** r, angle0[0] + drift["rotation_degrees"] * r, drift["texture"],
                         s0 + (s1 - s0) * r)
                target_rgb[t] = rgb.round().astype(np.int64)
            else:
                rgb = _hsv_to_rgb(hue0[i], sat0[i], val0[i])
                style = (1.0, angle0[i], o.texture, 1.0)
            x0, y0, alpha, colour = render_object(o.shape, *centres[i, t], radius, style[0], style[1], rgb,
                                                  style[2], style[3])
            slices = _composite(frame, x0, y0, alpha, colour)
            if i == 0:
                fs, ps = slices if slices is not None else (None, None)
                a = alpha[ps] if fs is not None else np.zeros((0, 0), np.float32)
                target = (fs, a, np.ones_like(a), float(alpha.sum()))
            elif target is not None and target[0] is not None and slices is not None:
                _hide(target[2], target[0], slices, alpha)
        if bar_layer is not None:
            shift = np.array(bar["velocity"]) * (t - bar["frame"])  # the bar's own motion in the world
            Mb = M + np.array([[0, 0, z * shift[0]], [0, 0, z * shift[1]]])
            bar_rgb = cv2.warpAffine(bar_layer[0], Mb, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
            bar_a = cv2.warpAffine(bar_layer[1], Mb, (W, H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT).astype(np.float32)[..., None] / 255.0
            frame = frame * (1 - bar_a) + bar_rgb.astype(np.float32) * bar_a
            if target[0] is not None:
                target[2][...] *= 1 - bar_a[target[0]][..., 0]
            corners = z * (np.reshape(bar["rect"], (2, 2)) + shift - centre) + centre + pan[t]
            occluder_boxes.append(corners.reshape(-1).round(2).tolist())
        frames.append((frame * brightness[t]).clip(0, 255).round().astype(np.uint8))

        fs, a, visibility, total = target
        inside = float(a.sum())
        in_frame[t] = inside / max(total, 1e-6)
        visible[t] = float((a * visibility).sum()) / inside if inside > 0 else 0.0
        mask = a > 0.5
        if in_frame[t] >= OUT_OF_VIEW_FRACTION and mask.any():
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            boxes[t] = [fs[1].start + cols[0], fs[0].start + rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1]
    out_of_view = (boxes[:, 2] == 0).astype(np.uint8)
    full_occlusion = ((out_of_view == 0) & (visible < FULL_OCCLUSION_FRACTION)).astype(np.uint8)

    drift_meta = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in drift.items()}
    drift_meta["texture_strength"] = [round(v, 3) for v in drift["texture_strength"]]
    meta = {
        "generator": GENERATOR_VERSION, "sentence": sentence, "description": desc.to_dict(),
        "objects": [{**{k: v for k, v in dataclasses.asdict(o).items() if k not in ("x", "y", "radius")},
                     "centre": [round(o.x, 2), round(o.y, 2)], "radius": round(o.radius, 2)} for o in objects],
        "target_index": 0, "background": photo, "events": events, "drift": drift_meta,
        "in_frame_fraction": [round(float(v), 4) for v in in_frame],
        "visible_fraction": [round(float(v), 4) for v in visible],
        "target_rgb": target_rgb.tolist(), "occluder_boxes": occluder_boxes,
        "camera": {"pan": pan.round(2).tolist(), "zoom": zoom.round(4).tolist()},
    }
    return SyntheticSequence(frames, boxes, full_occlusion, out_of_view, sentence, meta)


# --- on disk --------------------------------------------------------------------------------------------

def sequence_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The only randomness of sequence `index` of `split`."""
    return np.random.default_rng([int(seed), SPLIT_CODES[split], int(index)])


def sequence_name(split: str, index: int) -> str:
    """`<shape>-<n>`: balanced target classes, numbers disjoint across splits (see the module docstring)."""
    base = split.removeprefix("grounding_")
    n = _NAME_OFFSETS[base] + index // len(SHAPES) + 1
    if base != "train" and n > _NAME_OFFSETS[base] + 1000:
        raise ValueError(f"split {split!r} holds at most {1000 * len(SHAPES)} sequences")
    return f"{SHAPES[index % len(SHAPES)]}-{n}"


def make_sequence(cfg: SyntheticConfig, split: str, index: int) -> SyntheticSequence:
    """Sequence `index` of `split`, exactly as `write_benchmark` writes it."""
    rng = sequence_rng(cfg.split_seed(split), split, index)
    return generate_sequence(rng, cfg, cfg.frames(split), target_shape=SHAPES[index % len(SHAPES)])


def _split_root(root: Path, split: str) -> Path:
    return root / "grounding" if split.startswith("grounding_") else root


def split_file(root: str | Path, split: str) -> Path:
    """`root/<split>.txt`, or `root/grounding/<split>.txt` for 'grounding_<split>'."""
    return _split_root(Path(root), split) / f"{split.removeprefix('grounding_')}.txt"


def read_split(root: str | Path, split: str) -> list[str]:
    """The sequence names of a split ('train', 'val', 'test', 'grounding_train', ...) as written."""
    return [line.strip() for line in split_file(root, split).read_text().splitlines() if line.strip()]


def write_sequence(seq_dir: Path, seq: SyntheticSequence, jpeg_quality: int = 90) -> int:
    """Write one sequence in LaSOT's layout (replacing what was there); returns the bytes written."""
    if seq_dir.exists():
        shutil.rmtree(seq_dir)
    (seq_dir / "img").mkdir(parents=True)
    size = 0
    for i, frame in enumerate(seq.frames, start=1):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for {seq_dir} frame {i}")
        (seq_dir / "img" / f"{i:08d}.jpg").write_bytes(data.tobytes())
        size += len(data)
    texts = {
        "groundtruth.txt": "".join(f"{x},{y},{w},{h}\n" for x, y, w, h in seq.boxes.tolist()),
        "full_occlusion.txt": ",".join(map(str, seq.full_occlusion.tolist())) + "\n",
        "out_of_view.txt": ",".join(map(str, seq.out_of_view.tolist())) + "\n",
        "nlp.txt": seq.sentence + "\n",
        "synthetic.json": json.dumps(seq.meta, sort_keys=True, separators=(",", ":")) + "\n",
    }
    for name, text in texts.items():
        (seq_dir / name).write_text(text)
        size += len(text)
    return size


def _write_task(task: tuple[str, SyntheticConfig, str, int]) -> int:
    root, cfg, split, index = task
    name = sequence_name(split, index)
    seq_dir = _split_root(Path(root), split) / name.rsplit("-", 1)[0] / name
    return write_sequence(seq_dir, make_sequence(cfg, split, index), cfg.jpeg_quality)


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core already


def write_benchmark(root: str | Path, cfg: SyntheticConfig = SyntheticConfig(), splits=SPLITS,
                    workers: int = 1, progress: bool = True) -> dict:
    """Write the given splits (each with its grounding images) under `root`; returns the summary that
    is also merged into `root/meta.json`. Other splits already there are kept."""
    root = Path(root)
    splits = list(splits)
    bad = [s for s in splits if s not in SPLITS]
    if bad:
        raise ValueError(f"unknown split(s) {bad}; choose from {SPLITS}")
    parts = [p for s in splits for p in (s, f"grounding_{s}") if cfg.count(p) > 0]
    for p in parts:
        sequence_name(p, cfg.count(p) - 1)  # fail now, not in a worker, when a split is too large
    tasks = [(str(root), cfg, p, i) for p in parts for i in range(cfg.count(p))]
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc=f"synthetic {'+'.join(splits)}", unit="seq", disable=not progress)
    sizes = []
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=_worker_init) as pool:
            for size in pool.imap(_write_task, tasks, chunksize=4):
                sizes.append(size)
                bar.update()
    else:
        for task in tasks:
            sizes.append(_write_task(task))
            bar.update()
    bar.close()
    for p in parts:
        path = split_file(root, p)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(sequence_name(p, i) + "\n" for i in range(cfg.count(p))))

    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("generator") != GENERATOR_VERSION:
        meta = {}
    meta.update(generator=GENERATOR_VERSION, benchmark_seed=BENCHMARK_SEED, layout="lasot",
                backgrounds={"package": "scikit-image", "version": _skimage_version(),
                             "photos": list(BACKGROUND_PHOTOS)})
    meta.setdefault("splits", {})
    config = dataclasses.asdict(cfg)
    for p in parts:
        meta["splits"][p] = {"count": cfg.count(p), "frames": cfg.frames(p), "seed": cfg.split_seed(p),
                             "list": str(split_file(root, p).relative_to(root)),
                             "config": {k: v for k, v in config.items() if k not in ("train", "val", "test") and
                                        not k.startswith("grounding")}}
    meta["splits"] = dict(sorted(meta["splits"].items()))
    meta_path.write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    (root / "README.md").write_text(_readme(meta))
    return {"sequences": len(tasks), "bytes": int(sum(sizes)), "seconds": time.perf_counter() - start,
            "splits": {p: cfg.count(p) for p in parts}}


def _skimage_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scikit-image")
    except PackageNotFoundError:
        return "not installed"


def _readme(meta: dict) -> str:
    rows = "\n".join(f"| {p} | {s['list']} | {s['count']} | {s['frames']} | {s['seed']} |"
                     for p, s in meta["splits"].items())
    return f"""# Synthetic NL-tracking benchmark (generator {meta['generator']})

Written by `python -m kit.data.synthetic` (see the docstring of `kit/data/synthetic.py` for what it draws
and the annotation conventions). LaSOT layout: `<class>/<class>-<n>/img/%08d.jpg`, `groundtruth.txt`,
`full_occlusion.txt`, `out_of_view.txt`, `nlp.txt`; out-of-view boxes are `0,0,0,0`. Grounding-only images
are 1-frame sequences in the LaSOT root `grounding/`.

The test split is drawn with the fixed seed {meta['benchmark_seed']}: it is the benchmark.
Backgrounds: {meta['backgrounds']['package']} {meta['backgrounds']['version']} bundled CC0 / public-domain photos.

| split | list | sequences | frames | seed |
| --- | --- | --- | --- | --- |
{rows}
"""


# --- a trivial baseline ---------------------------------------------------------------------------------

def static_box_predictions(boxes) -> np.ndarray:
    """The "box stays where it started" baseline: the first box repeated for every frame, (N, 4) float64.
    Accepts ground-truth boxes (N, 4) or anything with a `.boxes` attribute (a `Sequence`)."""
    boxes = np.asarray(getattr(boxes, "boxes", boxes), dtype=np.float64)
    if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) == 0:
        raise ValueError(f"boxes must have shape (N, 4) with N >= 1, got {boxes.shape}")
    return np.repeat(boxes[:1], len(boxes), axis=0)


# --- command line ---------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> dict:
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(prog="python -m kit.data.synthetic",
                                     description="Write the synthetic NL-tracking benchmark in LaSOT's layout.")
    parser.add_argument("--root", required=True, type=Path, help="output folder, e.g. data/synthetic")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), choices=SPLITS)
    parser.add_argument("--workers", type=int, default=1, help="processes (one per core)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for f in dataclasses.fields(SyntheticConfig):
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name),
                            help=f"(default {getattr(defaults, f.name)})")
    args = parser.parse_args(argv)
    cfg = SyntheticConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SyntheticConfig)})
    summary = write_benchmark(args.root, cfg, args.splits, workers=args.workers, progress=not args.quiet)
    print(f"wrote {summary['sequences']} sequences ({summary['bytes'] / 2 ** 20:.1f} MiB) to {args.root} "
          f"in {summary['seconds']:.1f} s: {summary['splits']}")
    return summary


if __name__ == "__main__":
    main()
