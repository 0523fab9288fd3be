"""Sequences with real appearance, made offline from the photographs that pinned packages ship.

Three kinds, all written in LaSOT's layout (read by `kit.data.load_dataset("semireal", root, split=...)`):

* `camera`: a real photograph seen by a synthetic moving camera (pan, zoom, hand shake, motion blur, light
  changes). The target is a box of the photograph; its box in every frame is exact (the camera is a scale
  and a shift). With the hand-labelled `VALIDATION_PHOTOS` this is the real validation set; for training the
  target is a random region of a training photo.
* `views`: every frame an independently augmented view (shift, scale, aspect, light) of one photograph, so
  any two frames are the two views of a still-image pair, as trackers pre-train on still images.
* `cutout`: 2-4 cut-outs of real photographs (random masks: ellipse, rounded box, polygon) moving over a
  third photograph, changing scale, aspect and rotation, passing over one another. The sentence names the
  target by its dominant colour and its place among the cut-outs ("the green one on the left"), and is
  only kept when it picks the target alone in the first frame.

Validation and training never share a photograph: `VALIDATION_PHOTOS` are not in `TRAIN_PHOTOS`, nor in the
synthetic benchmark's backgrounds. Determinism: sequence i of a split comes from
`np.random.default_rng([seed, split code, i])` alone; same packages -> byte-identical files.

    python -m kit.data.semireal --root data/semireal --splits val            # the real validation sequences
    python -m kit.data.semireal --root data/semireal --splits train --train 600
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import math
import multiprocessing
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

GENERATOR_VERSION = "1.0"
SEED = 31337
SPLIT_CODES = {"train": 10, "val": 11}
FRAME_SIZE = {"train": (480, 270), "val": (480, 270)}   # (W, H)


@dataclass(frozen=True)
class Photo:
    package: str                    # an installed package that ships the file
    path: str                       # relative to the package folder
    box: tuple[int, int, int, int] | None = None   # labelled target (x,y,w,h), by eye
    sentence: str = ""


# Labelled by looking at each photograph; the boxes are tight around the named object.
VALIDATION_PHOTOS = {
    "motorcycle": Photo("skimage", "data/motorcycle_left.png", (508, 262, 178, 190),
                        "the front wheel of the red motorcycle"),
    "hopper": Photo("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", (152, 140, 213, 195),
                    "the face of the woman with glasses"),
    "cheetah": Photo("gradio", "media_assets/images/cheetah.jpg", (333, 117, 46, 45), "the head of the running cheetah"),
    "pagoda": Photo("sklearn", "datasets/images/china.jpg", (95, 28, 225, 112), "the top roof of the pagoda"),
    "flower": Photo("sklearn", "datasets/images/flower.jpg", (262, 172, 90, 90), "the centre of the orange flower"),
}
# Everything else the pinned packages ship that is a photograph (or photo-like texture).
TRAIN_PHOTOS = {
    name: Photo("skimage", f"data/{file}") for name, file in {
        "astronaut": "astronaut.png", "camera": "camera.png", "chelsea": "chelsea.png", "coffee": "coffee.png",
        "rocket": "rocket.jpg", "coins": "coins.png", "hubble": "hubble_deep_field.jpg", "ihc": "ihc.png",
        "retina": "retina.jpg", "color": "color.png", "brick": "brick.png", "grass": "grass.png",
        "gravel": "gravel.png", "moon": "moon.png", "cell": "cell.png"}.items()
} | {
    "tower": Photo("gradio", "media_assets/images/tower.jpg"),
    "groot": Photo("gradio", "media_assets/images/groot.jpeg"),
}
KINDS = ("camera", "views", "cutout")

COLOUR_NAMES = {"red": 0, "orange": 25, "yellow": 55, "green": 115, "cyan": 180, "blue": 220, "purple": 275,
                "pink": 325}


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """A photograph of VALIDATION_PHOTOS or TRAIN_PHOTOS as RGB uint8, read from its installed package."""
    photo = VALIDATION_PHOTOS.get(name) or TRAIN_PHOTOS[name]
    spec = importlib.util.find_spec(photo.package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"photo {name!r} comes from the package {photo.package!r}: install "
                                  f"requirements.txt")
    path = Path(spec.submodule_search_locations[0]) / photo.path
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: photo {name!r} not found in the installed {photo.package}")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image.setflags(write=False)
    return image


# --- the camera ------------------------------------------------------------------------------------------

def _smooth(rng: np.random.Generator, T: int, low: float, high: float, every=(10, 20)) -> np.ndarray:
    """A smooth random curve in [low, high] over T frames (cosine between keys drawn every 10-20 frames)."""
    spacing = int(rng.integers(*every))
    keys = rng.uniform(low, high, size=math.ceil(T / spacing) + 2)
    t = np.arange(T) / spacing
    i = t.astype(int)
    w = (1 - np.cos(np.pi * (t - i))) / 2
    return keys[i] * (1 - w) + keys[i + 1] * w


def _render(photo: np.ndarray, scale: np.ndarray, origin: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The camera view: frame pixel u = (p - origin) * scale (per axis), borders reflected."""
    m = np.array([[scale[0], 0, -origin[0] * scale[0]], [0, scale[1], -origin[1] * scale[1]]], np.float64)
    return cv2.warpAffine(photo, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)


def _to_frame(box, scale, origin) -> np.ndarray:
    x, y, w, h = box
    return np.array([(x - origin[0]) * scale[0], (y - origin[1]) * scale[1], w * scale[0], h * scale[1]])


def _photometric(frame: np.ndarray, gain: float, bias: float, blur: np.ndarray | None) -> np.ndarray:
    out = frame.astype(np.float32) * gain + bias
    if blur is not None and np.hypot(*blur) >= 2:   # motion blur along the camera's motion
        n = int(min(15, np.hypot(*blur)))
        k = np.zeros((n, n), np.float32)
        c = (n - 1) / 2
        d = blur / np.hypot(*blur)
        cv2.line(k, (int(round(c - d[0] * c)), int(round(c - d[1] * c))),
                 (int(round(c + d[0] * c)), int(round(c + d[1] * c))), 1.0, 1)
        out = cv2.filter2D(out, -1, k / k.sum())
    return np.clip(out, 0, 255).astype(np.uint8)


def camera_sequence(rng: np.random.Generator, photo: np.ndarray, box, T: int, size: tuple[int, int],
                    independent: bool = False, spread: float = 0.25) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames of `photo` seen by a moving camera and the target's exact box in each (float x,y,w,h).

    The camera keeps the target's centre at a slowly moving place of the frame (within `spread` of the
    middle: 0.25 = 25-75 % of each side) and
    its size between 15 % and 60 % of the frame height, within what the photograph allows; `independent`
    draws every frame anew (still-image pairs) and stretches the aspect by up to 15 %."""
    W, H = size
    ph, pw = photo.shape[:2]
    x, y, w, h = (float(v) for v in box)
    target = math.sqrt(w * h)
    if independent:
        fx, fy = rng.uniform(0.25, 0.75, T), rng.uniform(0.25, 0.75, T)
        rel = rng.uniform(0.2, 0.55, T)
        stretch = np.exp(rng.uniform(-0.15, 0.15, T))
        gain, bias = rng.uniform(0.7, 1.3, T), rng.uniform(-20, 20, T)
    else:
        fx, fy = _smooth(rng, T, 0.5 - spread, 0.5 + spread), _smooth(rng, T, 0.5 - spread, 0.5 + spread)
        rel = _smooth(rng, T, 0.18, 0.55)
        stretch = np.ones(T)
        gain, bias = _smooth(rng, T, 0.75, 1.25, (20, 40)), _smooth(rng, T, -15, 15, (20, 40))
        shake = rng.normal(0, 1.0, (T, 2))
    frames, boxes, prev = [], [], None
    for t in range(T):
        s = rel[t] * H / target                              # frame pixels per photo pixel
        s = max(s, W / pw, H / ph)                           # never show beyond the photograph ...
        scale = np.array([s * stretch[t], s / stretch[t]])
        scale = np.maximum(scale, [W / pw, H / ph])
        origin = np.array([x + w / 2 - fx[t] * W / scale[0], y + h / 2 - fy[t] * H / scale[1]])
        origin = np.clip(origin, 0, [pw - W / scale[0], ph - H / scale[1]])  # ... where it can be helped
        if not independent:
            origin = origin + shake[t] / scale
        blur = None if independent or prev is None else (prev - origin) * scale
        frames.append(_photometric(_render(photo, scale, origin, size), gain[t], bias[t], blur))
        boxes.append(_to_frame((x, y, w, h), scale, origin))
        prev = origin
    return frames, np.array(boxes)


# --- cut-outs ---------------------------------------------------------------------------------------------

def _mask(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A random soft mask filling most of a w x h box: ellipse, rounded box or convex-ish polygon."""
    m = np.zeros((h, w), np.uint8)
    kind = rng.integers(3)
    if kind == 0:
        cv2.ellipse(m, (w // 2, h // 2), (max(1, w // 2 - 1), max(1, h // 2 - 1)), 0, 0, 360, 255, -1)
    elif kind == 1:
        r = int(min(w, h) * rng.uniform(0.1, 0.35))
        cv2.rectangle(m, (r, 0), (w - 1 - r, h - 1), 255, -1)
        cv2.rectangle(m, (0, r), (w - 1, h - 1 - r), 255, -1)
        for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
            cv2.circle(m, (cx, cy), r, 255, -1)
    else:
        n = int(rng.integers(5, 10))
        ang = np.sort(rng.uniform(0, 2 * np.pi, n))
        rad = rng.uniform(0.7, 1.0, n)
        pts = np.stack([w / 2 + np.cos(ang) * rad * (w / 2 - 1), h / 2 + np.sin(ang) * rad * (h / 2 - 1)], 1)
        cv2.fillPoly(m, [pts.round().astype(np.int32)], 255)
    return cv2.GaussianBlur(m, (3, 3), 0).astype(np.float32) / 255


def colour_name(rgb_pixels: np.ndarray) -> str | None:
    """The dominant colour's name of some RGB pixels (N,3), or None when they are too gray or dark."""
    hsv = cv2.cvtColor(rgb_pixels.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
    keep = (hsv[:, 1] > 70) & (hsv[:, 2] > 50)
    if keep.mean() < 0.3:
        return None
    hue = hsv[keep, 0].astype(np.float64) * 360 / 256
    votes = {name: np.mean(np.abs((hue - h + 180) % 360 - 180) < 20) for name, h in COLOUR_NAMES.items()}
    name, share = max(votes.items(), key=lambda kv: kv[1])
    return name if share > 0.4 else None


def _place_words(boxes: np.ndarray, i: int) -> str | None:
    """'on the left' etc. when object i is the extreme one on that side by a clear margin."""
    cx, cy = boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2
    others = np.arange(len(boxes)) != i
    gap = 0.5 * np.sqrt(boxes[i, 2] * boxes[i, 3])
    for words, mine, rest in (("on the left", -cx[i], -cx[others]), ("on the right", cx[i], cx[others]),
                              ("at the top", -cy[i], -cy[others]), ("at the bottom", cy[i], cy[others])):
        if mine > rest.max() + gap:
            return words
    return None


def cutout_sequence(rng: np.random.Generator, T: int, size: tuple[int, int], photos: list[str]):
    """Frames with 2-4 real cut-outs over a photograph, the target's boxes (float x,y,w,h), the sentence and
    what it was made from (meta), or None when no sentence picks the target alone."""
    W, H = size
    bg_name, *sources = rng.choice(photos, size=5, replace=False)
    background, _ = camera_sequence(rng, load_photo(bg_name), _random_region(rng, load_photo(bg_name)), T, size)
    n = int(rng.integers(2, 5))
    objects = []
    for k in range(n):
        src = load_photo(sources[k % len(sources)])
        rx, ry, rw, rh = _random_region(rng, src)
        patch = np.ascontiguousarray(src[int(ry):int(ry + rh), int(rx):int(rx + rw)])
        side = rng.uniform(0.18, 0.4) * H
        aspect = rng.uniform(0.5, 2.0)
        base = np.array([side * math.sqrt(aspect), side / math.sqrt(aspect)])
        mask = _mask(rng, max(int(base[0]), 4), max(int(base[1]), 4))
        objects.append(dict(patch=patch, mask=mask, base=base,
                            cx=_smooth(rng, T, 0.15 * W, 0.85 * W), cy=_smooth(rng, T, 0.15 * H, 0.85 * H),
                            scale=_smooth(rng, T, 0.7, 1.3), squash=_smooth(rng, T, 0.85, 1.15),
                            angle=_smooth(rng, T, -20, 20), gain=_smooth(rng, T, 0.8, 1.2)))
    frames, all_boxes, alphas0 = [], np.zeros((T, n, 4)), []
    for t in range(T):
        frame = background[t].astype(np.float32)
        for k, o in enumerate(objects):
            w, h = o["base"] * o["scale"][t] * np.array([o["squash"][t], 1 / o["squash"][t]])
            w, h = max(int(w), 4), max(int(h), 4)
            img = cv2.resize(o["patch"], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) * o["gain"][t]
            alpha = cv2.resize(o["mask"], (w, h), interpolation=cv2.INTER_LINEAR)
            rot = cv2.getRotationMatrix2D((o["cx"][t], o["cy"][t]), float(o["angle"][t]), 1.0)
            place = np.array([[1, 0, o["cx"][t] - w / 2], [0, 1, o["cy"][t] - h / 2]])
            m = rot @ np.vstack([place, [0, 0, 1]])
            warped = cv2.warpAffine(img, m, (W, H), flags=cv2.INTER_LINEAR)
            a = cv2.warpAffine(alpha, m, (W, H), flags=cv2.INTER_LINEAR)[..., None]
            frame = frame * (1 - a) + warped * a
            if t == 0:
                alphas0.append(a[..., 0] > 0.5)
            ys, xs = np.nonzero(a[..., 0] > 0.5)
            if len(xs):
                all_boxes[t, k] = [xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()]
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    # the target: one at least 70 % unhidden in frame 0 that a sentence picks alone (later cut-outs are on top)
    first = frames[0]
    visible = [alphas0[k] & ~np.any(alphas0[k + 1:], axis=0) if k + 1 < n else alphas0[k] for k in range(n)]
    colours = [colour_name(first[v]) if v.sum() >= 16 else None for v in visible]
    for target in rng.permutation(n):
        if visible[target].sum() < 0.7 * max(alphas0[target].sum(), 1):
            continue
        place = _place_words(all_boxes[0], target)
        colour = colours[target]
        if colour and colours.count(colour) == 1:
            sentence = f"the {colour} one" + (f" {place}" if place and rng.random() < 0.5 else "")
        elif place:
            sentence = f"the {colour + ' ' if colour else ''}object {place}"
        else:
            continue
        meta = {"target": int(target), "colours": colours, "place": place,
                "first_boxes": all_boxes[0].astype(int).tolist(), "photos": [str(bg_name)] + [str(n) for n in sources]}
        return frames, all_boxes[:, target], sentence, meta
    return None


def _random_region(rng: np.random.Generator, photo: np.ndarray):
    """A random box of 10-45 % of the photograph's shorter side, aspect 1:2 to 2:1."""
    ph, pw = photo.shape[:2]
    side = rng.uniform(0.1, 0.45) * min(ph, pw)
    aspect = math.exp(rng.uniform(-math.log(2), math.log(2)))
    w, h = min(pw - 2, side * math.sqrt(aspect)), min(ph - 2, side / math.sqrt(aspect))
    return float(rng.uniform(0, pw - w)), float(rng.uniform(0, ph - h)), float(w), float(h)


# --- sequences and files ------------------------------------------------------------------------------------

@dataclass
class SemiRealSequence:
    name: str
    kind: str
    frames: list[np.ndarray]
    boxes: np.ndarray        # (T,4) integer x,y,w,h, zeros when out of view
    out_of_view: np.ndarray  # (T,) 0/1
    sentence: str
    meta: dict


def _finish(name, kind, frames, boxes, sentence, size, meta) -> SemiRealSequence:
    """Clip the exact boxes to the frame; out of view when less than a quarter of the box is inside."""
    W, H = size
    x0, y0 = np.clip(boxes[:, 0], 0, W), np.clip(boxes[:, 1], 0, H)
    x1, y1 = np.clip(boxes[:, 0] + boxes[:, 2], 0, W), np.clip(boxes[:, 1] + boxes[:, 3], 0, H)
    inside = (x1 - x0) * (y1 - y0)
    area = boxes[:, 2] * boxes[:, 3]
    out = (area <= 0) | (inside < 0.25 * np.maximum(area, 1e-9))
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], 1).round().astype(int)
    clipped[out] = 0
    return SemiRealSequence(name, kind, frames, clipped, out.astype(int), sentence, meta)


def make_sequence(split: str, index: int, frames: int | None = None) -> SemiRealSequence:
    """Sequence `index` of `split`. 'val': the labelled VALIDATION_PHOTOS, each seen by two camera paths
    (60 frames); 'train': camera / views / cutout in turn over TRAIN_PHOTOS (40 frames)."""
    rng = np.random.default_rng([SEED, SPLIT_CODES[split], index])
    size = FRAME_SIZE[split]
    if split == "val":
        names = sorted(VALIDATION_PHOTOS)
        photo_name = names[index % len(names)]
        photo = VALIDATION_PHOTOS[photo_name]
        T = frames or 60
        seq_frames, boxes = camera_sequence(rng, load_photo(photo_name), photo.box, T, size, spread=0.35)
        return _finish(f"{photo_name}-{index // len(names) + 1}", "camera", seq_frames, boxes, photo.sentence,
                       size, {"photo": photo_name, "labelled_box": photo.box})
    T = frames or 40
    kind = KINDS[index % len(KINDS)]
    names = sorted(TRAIN_PHOTOS)
    if kind == "cutout":
        for _ in range(20):
            made = cutout_sequence(rng, T, size, names)
            if made is not None:
                seq_frames, boxes, sentence, meta = made
                return _finish(f"{kind}-{index + 1}", kind, seq_frames, boxes, sentence, size, meta)
        kind = "camera"    # no unambiguous sentence in 20 scenes (rare): a camera sequence instead
    photo_name = names[rng.integers(len(names))]
    photo = load_photo(photo_name)
    region = _random_region(rng, photo)
    seq_frames, boxes = camera_sequence(rng, photo, region, T, size, independent=kind == "views")
    x, y, w, h = (int(v) for v in region)
    colour = colour_name(photo[y:y + h, x:x + w].reshape(-1, 3))
    sentence = f"the {colour} region" if colour else "the region in the box"
    return _finish(f"{kind}-{index + 1}", kind, seq_frames, boxes, sentence, size,
                   {"photo": photo_name, "region": [round(v, 2) for v in region]})


def write_sequence(root: Path, seq: SemiRealSequence, jpeg_quality: int = 90) -> None:
    d = root / seq.name.rsplit("-", 1)[0] / seq.name   # LaSOT: <class>/<class>-<n>
    if d.exists():
        shutil.rmtree(d)
    (d / "img").mkdir(parents=True)
    for i, frame in enumerate(seq.frames, start=1):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
        (d / "img" / f"{i:08d}.jpg").write_bytes(data.tobytes())
    (d / "groundtruth.txt").write_text("".join(f"{x},{y},{w},{h}\n" for x, y, w, h in seq.boxes.tolist()))
    (d / "out_of_view.txt").write_text(",".join(map(str, seq.out_of_view.tolist())) + "\n")
    (d / "full_occlusion.txt").write_text(",".join("0" for _ in seq.frames) + "\n")
    (d / "nlp.txt").write_text(seq.sentence + "\n")
    (d / "semireal.json").write_text(json.dumps(seq.meta, sort_keys=True) + "\n")


def _write_task(task) -> str:
    root, split, index = task
    cv2.setNumThreads(1)
    seq = make_sequence(split, index)
    write_sequence(Path(root), seq)
    return seq.name


def write_split(root: str | Path, split: str, count: int, workers: int = 1) -> list[str]:
    """Write `count` sequences of `split` under `root` and list them in `root/<split>.txt`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tasks = [(str(root), split, i) for i in range(count)]
    if workers > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            names = list(pool.imap(_write_task, tasks, chunksize=2))
    else:
        names = [_write_task(t) for t in tasks]
    (root / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    return names


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m kit.data.semireal", description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="data/semireal")
    p.add_argument("--splits", nargs="+", default=["val"], choices=sorted(SPLIT_CODES))
    p.add_argument("--train", type=int, default=600, help="training sequences (camera, views, cutout in turn)")
    p.add_argument("--val", type=int, default=2 * len(VALIDATION_PHOTOS), help="validation sequences")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args(argv)
    for split in args.splits:
        names = write_split(args.root, split, args.train if split == "train" else args.val, args.workers)
        print(f"{split}: {len(names)} sequences under {args.root}")


if __name__ == "__main__":
    main()
